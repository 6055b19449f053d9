"""The GAN discriminator (paper 4.1.3)."""

import keras

from tf_deepgifs.models.layers import (
    ConvTrunk, as_model_config, batch_norm, config_dict, dense, leaky_relu,
)


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class Discriminator(keras.Model):
    """A frame to the logit that it is real.

    frames (B, 64, 64, C) in [-1, 1] --> the encoder's four conv blocks --> flatten
    --> Dense 95 --> BatchNorm --> LeakyReLU --> Dense 1 --> logits (B, 1).

    Args:
      config: `ModelConfig` (or its dict form).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = c = as_model_config(config)
        self.trunk = ConvTrunk(c, name="trunk")
        self.flatten = keras.layers.Flatten(name="flatten")
        self.hidden = dense(c.discriminator_units, c, "hidden")
        self.hidden_norm = batch_norm(c, "hidden_bn")
        self.hidden_activation = leaky_relu(c, "hidden_act")
        self.logit = dense(1, c, "logit")

    def build(self, input_shape):
        self.trunk.build(input_shape)
        features = self.flatten.compute_output_shape(self.trunk.compute_output_shape(input_shape))
        self.hidden.build(features)
        self.hidden_norm.build((features[0], self.config.discriminator_units))
        self.logit.build((features[0], self.config.discriminator_units))

    def call(self, frames, training=None):
        features = self.flatten(self.trunk(frames, training=training))
        hidden = self.hidden_activation(self.hidden_norm(self.hidden(features), training=training))
        return self.logit(hidden)

    def get_config(self):
        return {**super().get_config(), "config": config_dict(self.config)}
