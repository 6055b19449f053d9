"""The VAE encoder (paper 4.1.1)."""

import keras

from tf_deepgifs.models.layers import ConvTrunk, as_model_config, config_dict, dense


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class Encoder(keras.Model):
    """Frames to the mean and log-variance of q(z | x).

    frames (B, 64, 64, C) in [-1, 1] --> four stride-2 conv blocks --> flatten (B, 4096)
    --> mean (B, latent_dim), log_variance (B, latent_dim).
    The latent is sampled as z = mean + exp(log_variance / 2) * eps (`sample_latent`).

    Args:
      config: `ModelConfig` (or its dict form).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_model_config(config)
        self.trunk = ConvTrunk(self.config, name="trunk")
        self.flatten = keras.layers.Flatten(name="flatten")
        self.mean_head = dense(self.config.latent_dim, self.config, "mean")
        self.log_variance_head = dense(self.config.latent_dim, self.config, "log_variance")

    def build(self, input_shape):
        self.trunk.build(input_shape)
        features = self.flatten.compute_output_shape(self.trunk.compute_output_shape(input_shape))
        self.mean_head.build(features)
        self.log_variance_head.build(features)

    def call(self, frames, training=None):
        features = self.flatten(self.trunk(frames, training=training))
        return self.mean_head(features), self.log_variance_head(features)

    def get_config(self):
        return {**super().get_config(), "config": config_dict(self.config)}


def sample_latent(mean, log_variance, noise):
    """z = mean + sigma * noise; noise standard normal, or zeros for z = mean.

    The noise is cast to the latents' dtype (bfloat16 under mixed precision).
    """
    return mean + keras.ops.exp(0.5 * log_variance) * keras.ops.cast(noise, mean.dtype)
