"""The latent-space LSTM (paper 4.1.2), with an optional mixture-density readout."""

import math

import keras
import numpy as np
from keras import ops

from tf_deepgifs.models.layers import as_model_config, config_dict, dense

# A standard-normal number u maps to a uniform one by its CDF, kept inside (0, 1) so the
# Gumbel transform -log(-log u) stays finite in float32.
UNIFORM_MARGIN = 1e-6
# Log standard deviations of the mixture's components are kept in this range: below, the
# likelihood of a latent that one component fits exactly grows without bound.
LOG_SCALE_RANGE = (-7.0, 5.0)
# A latent dimension the encoder leaves (nearly) constant is read with at least this scale.
LATENT_STD_FLOOR = 1e-3


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class Predictor(keras.Model):
    """One LSTM cell of 200 units and a Dense readout: the next frame's latent.

        z[t], (h[t-1], c[t-1]) --> LSTMCell --> h[t] --> Dense --> z[t+1]

    With `ModelConfig.mixture_components` M > 0, the readout gives a mixture of M
    isotropic Gaussians over z[t+1] (M logits, M means, M log standard deviations; a
    mixture-density network, Bishop 1994) instead of one latent, and a step generates the
    mean of one component, drawn with the step's noise (`choose`): zero noise takes the
    most likely component. Means, not draws from the Gaussians, keep generated latents
    where real frames' latents lie.

    Stepped by its cell, so the same weights serve teacher-forced training (`call`, over a
    sequence) and the generation loop (`step`, one frame at a time). The state starts at
    zeros (the authors' code drew it at random; zeros make generation deterministic).

    Args:
      config: `ModelConfig` (or its dict form).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_model_config(config)
        self.components = self.config.mixture_components
        self.cell = keras.layers.LSTMCell(self.config.lstm_units, name="lstm_cell")
        if self.components:
            width = self.components * (self.config.latent_dim + 2)
            self.readout = dense(width, self.config, "mixture_readout")
        else:
            self.readout = dense(self.config.latent_dim, self.config, "readout")

    def build(self, input_shape):
        self.cell.build(input_shape)
        self.readout.build((input_shape[0], self.config.lstm_units))
        if self.config.latent_normalization:
            size = self.config.latent_dim
            self.latent_mean = self.add_weight((size,), "zeros", trainable=False,
                                               name="latent_mean")
            self.latent_std = self.add_weight((size,), "ones", trainable=False,
                                              name="latent_std")

    def set_latent_statistics(self, latents):
        """Records the per-dimension mean and standard deviation of latents (..., L), the
        scale the LSTM reads and writes in (`ModelConfig.latent_normalization`)."""
        flat = np.reshape(np.asarray(latents, np.float32), (-1, self.config.latent_dim))
        self.latent_mean.assign(flat.mean(axis=0))
        self.latent_std.assign(np.maximum(flat.std(axis=0), LATENT_STD_FLOOR))

    def _normalised(self, latent):
        if not self.config.latent_normalization:
            return latent
        return (latent - ops.cast(self.latent_mean, latent.dtype)) / ops.cast(self.latent_std, latent.dtype)

    def _as_latents(self, values):
        """The readout's values (..., L) as latents: scaled back where normalised."""
        if not self.config.latent_normalization:
            return values
        return (values * ops.cast(self.latent_std, values.dtype)
                + ops.cast(self.latent_mean, values.dtype))

    def initial_state(self, batch_size):
        """Zero (h, c), each (B, lstm_units)."""
        zeros = keras.ops.zeros((batch_size, self.config.lstm_units), dtype=self.compute_dtype)
        return [zeros, zeros]

    def mixture_step(self, latent, state, training=None):
        """A mixture model's step: latent (B, latent_dim), state [h, c] --> ((logits (B, M),
        means (B, M, latent_dim), log standard deviations (B, M)), new state)."""
        output, state = self.cell(self._normalised(latent), state, training=training)
        readout = self.readout(output)
        m, size = self.components, self.config.latent_dim
        logits = readout[:, :m]
        means = self._as_latents(ops.reshape(readout[:, m : m + m * size], (-1, m, size)))
        log_scales = ops.clip(readout[:, m + m * size :], *LOG_SCALE_RANGE)
        return (logits, means, log_scales), state

    def step(self, latent, state, training=None, noise=None):
        """latent (B, latent_dim), state [h, c] --> next latent (B, latent_dim), new state.

        noise: a mixture model's (B, M) standard normal drawing the component (`choose`);
        None or zeros take the most likely one. Unused without a mixture.
        """
        if not self.components:
            output, state = self.cell(self._normalised(latent), state, training=training)
            return self._as_latents(self.readout(output)), state
        (logits, means, _), state = self.mixture_step(latent, state, training=training)
        return choose(logits, means, noise), state

    def call(self, latents, training=None):
        """Teacher forcing: latents (B, T, latent_dim) --> next latents (B, T, latent_dim).

        Output t is the prediction of frame t + 1 from frames 0..t (a mixture's most
        likely component).
        """
        state = self.initial_state(keras.ops.shape(latents)[0])
        outputs = []
        for t in range(latents.shape[1]):
            prediction, state = self.step(latents[:, t], state, training=training)
            outputs.append(prediction)
        return keras.ops.stack(outputs, axis=1)

    def get_config(self):
        return {**super().get_config(), "config": config_dict(self.config)}


def choose(logits, means, noise=None):
    """The mean of one component per row: logits (B, M), means (B, M, L), noise (B, M)
    standard normal or None --> (B, L).

    The Gumbel-max trick: argmax(logits + g) with g = -log(-log u) draws component m with
    probability softmax(logits)[m] when u is uniform; here u = Phi(noise), the standard
    normal's CDF, so the generator takes the same standard-normal noise as the encoder's
    sampling, and zero noise (u = 1/2, the same g for every component) gives the most
    likely component.
    """
    scores = logits
    if noise is not None:
        noise = ops.cast(noise, logits.dtype)
        uniform = 0.5 * (1.0 + ops.erf(noise / math.sqrt(2.0)))
        uniform = ops.clip(uniform, UNIFORM_MARGIN, 1.0 - UNIFORM_MARGIN)
        scores = logits - ops.log(-ops.log(uniform))
    return ops.sum(first_maximum(scores)[:, :, None] * means, axis=1)


def first_maximum(scores):
    """(B, M) --> (B, M): 1 at each row's first maximum, 0 elsewhere. Made of comparisons
    and a cumulative sum rather than argmax, whose TensorFlow form (a sign-bit Bitcast)
    ONNX cannot express."""
    is_max = ops.cast(scores >= ops.max(scores, axis=-1, keepdims=True), scores.dtype)
    return is_max * ops.cast(ops.equal(ops.cumsum(is_max, axis=-1), 1.0), scores.dtype)


def mixture_log_likelihood(logits, means, log_scales, target):
    """log p(target) under the mixture, per latent dimension: (B,) for logits (B, M),
    means (B, M, L), log standard deviations (B, M) and target (B, L)."""
    size = target.shape[-1]
    squared = ops.sum(ops.square(target[:, None, :] - means), axis=-1)
    log_gaussians = (-0.5 * size * math.log(2.0 * math.pi) - size * log_scales
                     - 0.5 * squared * ops.exp(-2.0 * log_scales))
    log_weights = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    return ops.logsumexp(log_weights + log_gaussians, axis=-1) / size


def nearest_component(means, target):
    """The mean of the component nearest `target` (B, L), per row: (B, L)."""
    squared = ops.sum(ops.square(target[:, None, :] - means), axis=-1)
    return ops.sum(first_maximum(-squared)[:, :, None] * means, axis=1)
