"""The fused BatchNormalization is Keras' BatchNormalization, only faster."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_deepgifs.models.batch_norm import BatchNormalization

# Keras' layer with epsilon 1.001e-5: the fused kernel's floor (see BatchNormalization).
SETTINGS = dict(momentum=0.9, epsilon=1.001e-5)


def twin_layers(shape, seed=0):
    """Keras' layer and ours, built for `shape` with the same non-trivial variables."""
    rng = np.random.default_rng(seed)
    keras_layer, fused_layer = keras.layers.BatchNormalization(**SETTINGS), BatchNormalization(**SETTINGS)
    channels = shape[-1]
    values = [rng.uniform(0.5, 2.0, channels), rng.normal(size=channels),
              rng.normal(size=channels), rng.uniform(0.5, 2.0, channels)]
    for layer in (keras_layer, fused_layer):
        layer.build(shape)
        layer.set_weights([v.astype(np.float32) for v in values])
    return keras_layer, fused_layer


def forward_backward(layer, inputs, upstream):
    """Training-mode output, gradients for the input, gamma and beta; moving statistics after."""
    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs, training=True)
        objective = tf.reduce_sum(outputs * upstream)
    gradients = tape.gradient(objective, [inputs, layer.gamma, layer.beta])
    return [outputs] + gradients + [layer.moving_mean, layer.moving_variance]


@pytest.mark.parametrize("shape", [(6, 5, 7, 3), (9, 4), (2, 3, 4, 4, 2)])
def test_fused_training_equals_keras(shape):
    rng = np.random.default_rng(1)
    inputs = (rng.normal(size=shape) * 3 + 1).astype(np.float32)
    upstream = rng.normal(size=shape).astype(np.float32)
    keras_layer, fused_layer = twin_layers(shape)
    expected = forward_backward(keras_layer, inputs, upstream)
    actual = forward_backward(fused_layer, inputs, upstream)
    names = ["output", "input gradient", "gamma gradient", "beta gradient", "moving mean",
             "moving variance"]
    for name, want, got in zip(names, expected, actual):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    # The statistics really moved (momentum 0.9 toward the batch's).
    assert not np.allclose(np.asarray(fused_layer.moving_mean), twin_layers(shape)[1].moving_mean)


def test_fused_training_is_used_on_tensorflow():
    layer = BatchNormalization(**SETTINGS)
    layer.build((None, 4))

    @tf.function
    def graph_ops(inputs):
        return layer(inputs, training=True)

    graph = graph_ops.get_concrete_function(tf.TensorSpec((8, 4))).graph
    op_types = {op.type for op in graph.get_operations()}
    assert "FusedBatchNormV3" in op_types


def test_inference_uses_the_moving_statistics():
    keras_layer, fused_layer = twin_layers((5, 3))
    inputs = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(fused_layer(inputs, training=False),
                               keras_layer(inputs, training=False), rtol=1e-6)
