"""The latent-space LSTM (paper 4.1.2)."""

import keras

from tf_deepgifs.models.layers import as_model_config, config_dict, dense


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class Predictor(keras.Model):
    """One LSTM cell of 200 units and a Dense 200 -> latent_dim: the next frame's latent.

        z[t], (h[t-1], c[t-1]) --> LSTMCell --> h[t] --> Dense --> z[t+1]

    Stepped by its cell, so the same weights serve teacher-forced training (`call`, over a
    sequence) and the generation loop (`step`, one frame at a time). The state starts at
    zeros (the authors' code drew it at random; zeros make generation deterministic).

    Args:
      config: `ModelConfig` (or its dict form).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_model_config(config)
        self.cell = keras.layers.LSTMCell(self.config.lstm_units, name="lstm_cell")
        self.readout = dense(self.config.latent_dim, self.config, "readout")

    def build(self, input_shape):
        self.cell.build(input_shape)
        self.readout.build((input_shape[0], self.config.lstm_units))

    def initial_state(self, batch_size):
        """Zero (h, c), each (B, lstm_units)."""
        zeros = keras.ops.zeros((batch_size, self.config.lstm_units), dtype=self.compute_dtype)
        return [zeros, zeros]

    def step(self, latent, state, training=None):
        """latent (B, latent_dim), state [h, c] --> next latent (B, latent_dim), new state."""
        output, state = self.cell(latent, state, training=training)
        return self.readout(output), state

    def call(self, latents, training=None):
        """Teacher forcing: latents (B, T, latent_dim) --> next latents (B, T, latent_dim).

        Output t is the prediction of frame t + 1 from frames 0..t.
        """
        state = self.initial_state(keras.ops.shape(latents)[0])
        outputs = []
        for t in range(latents.shape[1]):
            prediction, state = self.step(latents[:, t], state, training=training)
            outputs.append(prediction)
        return keras.ops.stack(outputs, axis=1)

    def get_config(self):
        return {**super().get_config(), "config": config_dict(self.config)}
