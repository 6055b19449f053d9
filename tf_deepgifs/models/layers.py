"""Building blocks shared by the networks (backend-portable: keras.layers, keras.ops)."""

import dataclasses

import keras

from tf_deepgifs.config import ModelConfig
from tf_deepgifs.models.batch_norm import BatchNormalization
from tf_deepgifs.models.upsample_conv import UpsampleConv2D


def as_model_config(config):
    """A `ModelConfig` from a `ModelConfig` or its dict form (as `get_config` stores it)."""
    if isinstance(config, ModelConfig):
        return config
    values = dict(config)
    values["encoder_filters"] = tuple(values["encoder_filters"])
    return ModelConfig(**values)


def config_dict(config):
    """The JSON-friendly form of a `ModelConfig`, for `get_config`."""
    values = dataclasses.asdict(config)
    values["encoder_filters"] = list(values["encoder_filters"])
    return values


def xavier_uniform(gain):
    """Xavier (Glorot) uniform scaled by `gain`, as PyTorch's `xavier_uniform_(w, gain)`.

    Glorot uniform has variance 2 / (fan_in + fan_out); a gain g multiplies the standard
    deviation by g, so the variance scale is g^2.
    """
    return keras.initializers.VarianceScaling(scale=gain**2, mode="fan_avg", distribution="uniform")


def dense(units, config, name):
    return keras.layers.Dense(units, kernel_initializer=xavier_uniform(config.init_gain), name=name)


def conv(filters, kernel_size, strides, config, name):
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same",
        kernel_initializer=xavier_uniform(config.init_gain), name=name,
    )


def upsample_conv(filters, kernel_size, config, name):
    """x2 nearest-neighbour upsampling then a "same" Conv2D, in one layer (see its module)."""
    return UpsampleConv2D(
        filters, kernel_size, kernel_initializer=xavier_uniform(config.init_gain), name=name
    )


def batch_norm(config, name):
    """BatchNormalization with the authors' momentum and epsilon (fused on TensorFlow).

    Under a multi-device strategy each replica normalises by its own share of the batch.
    Keras' `synchronized=True` was tried: TensorFlow then starts the all-reduces of
    parallel branches (decoder, discriminator) in a different order on each replica and
    the step fails ("Shape mismatch in the collective instance").
    """
    return BatchNormalization(
        momentum=config.batchnorm_momentum, epsilon=config.batchnorm_epsilon, name=name
    )


def leaky_relu(config, name):
    return keras.layers.LeakyReLU(negative_slope=config.leaky_relu_slope, name=name)


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class ConvTrunk(keras.layers.Layer):
    """Stride-2 Conv2D -> BatchNormalization -> LeakyReLU, once per `encoder_filters` entry.

    The encoder's convolutions (paper 4.1.1), which the discriminator repeats (4.1.3).
    images (B, 64, 64, C) --> features (B, 4, 4, 256) with the paper's four blocks.

    Args:
      config: `ModelConfig` (or its dict form).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_model_config(config)
        c = self.config
        self.convs = [conv(w, c.kernel_size, 2, c, f"conv_{i}") for i, w in enumerate(c.encoder_filters)]
        self.norms = [batch_norm(c, f"bn_{i}") for i in range(len(c.encoder_filters))]
        self.activations = [leaky_relu(c, f"act_{i}") for i in range(len(c.encoder_filters))]

    def build(self, input_shape):
        shape = input_shape
        for conv_layer, norm in zip(self.convs, self.norms):
            conv_layer.build(shape)
            shape = conv_layer.compute_output_shape(shape)
            norm.build(shape)

    def call(self, images, training=None):
        x = images
        for conv_layer, norm, activation in zip(self.convs, self.norms, self.activations):
            x = activation(norm(conv_layer(x), training=training))
        return x

    def compute_output_shape(self, input_shape):
        for conv_layer in self.convs:
            input_shape = conv_layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self):
        return {**super().get_config(), "config": config_dict(self.config)}
