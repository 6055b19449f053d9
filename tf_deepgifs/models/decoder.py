"""The decoder (paper 4.1.1: the encoder's inverse)."""

import keras

from tf_deepgifs.models.layers import (
    as_model_config, batch_norm, config_dict, dense, leaky_relu, upsample_conv,
)


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class Decoder(keras.Model):
    """Latents to frames.

    z (B, latent_dim) --> Dense to 4 x 4 x 256 (no BatchNorm or activation, as in the
    authors' code) --> [nearest-neighbour x2 upsampling, Conv2D, BatchNorm, LeakyReLU] for
    128, 64, 32 channels --> x2 upsampling, Conv2D to C channels (no BatchNorm), tanh
    --> frames (B, 64, 64, C) in [-1, 1]. Each upsampling and the conv after it are one
    `UpsampleConv2D` (the same function and variables, computed as a transposed conv).

    Args:
      config: `ModelConfig` (or its dict form).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = c = as_model_config(config)
        widths = list(reversed(c.encoder_filters))  # 256, 128, 64, 32
        self.project = dense(c.bottleneck_size**2 * widths[0], c, "project")
        self.reshape = keras.layers.Reshape((c.bottleneck_size, c.bottleneck_size, widths[0]))
        # Hidden blocks go down the encoder's widths; the last conv makes the channels.
        out_widths = widths[1:] + [c.channels]
        self.convs = [
            upsample_conv(w, c.decoder_kernel_size, c, f"conv_{i}")
            for i, w in enumerate(out_widths)
        ]
        self.norms = [batch_norm(c, f"bn_{i}") for i in range(len(out_widths) - 1)]
        self.activations = [leaky_relu(c, f"act_{i}") for i in range(len(out_widths) - 1)]

    def build(self, input_shape):
        self.project.build(input_shape)
        shape = self.reshape.compute_output_shape(self.project.compute_output_shape(input_shape))
        for i, conv_layer in enumerate(self.convs):
            conv_layer.build(shape)
            shape = conv_layer.compute_output_shape(shape)
            if i < len(self.norms):
                self.norms[i].build(shape)

    def transposed_kernels(self):
        """Each `UpsampleConv2D`'s folded kernel: fold once, pass to many calls (a rollout)."""
        return [conv_layer.transposed_kernel() for conv_layer in self.convs]

    def call(self, latents, training=None, transposed_kernels=None):
        """latents (B, L) --> frames (B, H, W, C); `transposed_kernels()` if already folded."""
        x = self.reshape(self.project(latents))
        kernels = transposed_kernels or [None] * len(self.convs)
        for i, (conv_layer, kernel) in enumerate(zip(self.convs, kernels)):
            x = conv_layer(x, transposed_kernel=kernel)
            if i < len(self.norms):
                x = self.activations[i](self.norms[i](x, training=training))
        return keras.ops.tanh(x)

    def get_config(self):
        return {**super().get_config(), "config": config_dict(self.config)}
