"""UpsampleConv2D is UpSampling2D(2) then Conv2D(padding="same"), computed another way."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_deepgifs.models.upsample_conv import UpsampleConv2D, folding_matrix


def twin_layers(kernel_size, in_channels, filters, seed=0):
    """Our layer and the Conv2D it replaces, with the same random kernel and bias."""
    ours = UpsampleConv2D(filters, kernel_size)
    reference = keras.layers.Conv2D(filters, kernel_size, padding="same")
    ours.build((None, None, None, in_channels))
    reference.build((None, None, None, in_channels))
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in reference.get_weights()]
    ours.set_weights(weights)
    reference.set_weights(weights)
    return ours, reference


def upsample_then_conv(reference, inputs):
    return reference(keras.layers.UpSampling2D(2, interpolation="nearest")(inputs))


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_equals_upsampling_then_conv(kernel_size):
    ours, reference = twin_layers(kernel_size, in_channels=3, filters=4)
    inputs = np.random.default_rng(1).normal(size=(2, 5, 7, 3)).astype(np.float32)
    outputs = ours(inputs)
    assert outputs.shape == (2, 10, 14, 4)
    assert ours.compute_output_shape((2, 5, 7, 3)) == (2, 10, 14, 4)
    np.testing.assert_allclose(outputs, upsample_then_conv(reference, inputs), rtol=1e-5, atol=1e-5)


def test_gradients_equal_upsampling_then_conv():
    ours, reference = twin_layers(3, in_channels=3, filters=2)
    rng = np.random.default_rng(2)
    inputs = tf.constant(rng.normal(size=(3, 4, 4, 3)).astype(np.float32))
    upstream = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)

    def gradients(layer, forward):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            objective = tf.reduce_sum(forward(inputs) * upstream)
        return tape.gradient(objective, [inputs, layer.kernel, layer.bias])

    expected = gradients(reference, lambda x: upsample_then_conv(reference, x))
    for want, got in zip(expected, gradients(ours, ours)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_folding_conserves_every_tap():
    # Each output parity reads every original tap exactly once: the columns sum to 2.
    for kernel_size in (1, 3, 5, 7):
        folding = folding_matrix(kernel_size)
        assert folding.shape == (kernel_size + 1, kernel_size)
        np.testing.assert_array_equal(folding.sum(axis=0), 2.0)
    np.testing.assert_array_equal(folding_matrix(3), [[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])


def test_even_kernels_are_refused():
    with pytest.raises(ValueError, match="must be odd"):
        UpsampleConv2D(4, 2)


def test_config_round_trip():
    ours, _ = twin_layers(3, in_channels=2, filters=5)
    clone = UpsampleConv2D.from_config(ours.get_config())
    assert (clone.filters, clone.kernel_size, clone.strides, clone.padding) == (5, (3, 3), (1, 1), "same")


def test_same_function_on_the_torch_backend(tmp_path):
    """Backend-portable: the layer's keras.ops also match the pair under KERAS_BACKEND=torch."""
    pytest.importorskip("torch")
    script = textwrap.dedent("""
        import keras, numpy as np
        from tf_deepgifs.models.upsample_conv import UpsampleConv2D
        assert keras.backend.backend() == "torch"
        ours = UpsampleConv2D(4, 3)
        reference = keras.layers.Conv2D(4, 3, padding="same")
        for layer in (ours, reference):
            layer.build((None, None, None, 3))
        rng = np.random.default_rng(0)
        weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
        ours.set_weights(weights)
        reference.set_weights(weights)
        x = rng.normal(size=(2, 5, 6, 3)).astype("float32")
        want = keras.ops.convert_to_numpy(reference(keras.layers.UpSampling2D(2)(x)))
        got = keras.ops.convert_to_numpy(ours(x))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_a_kernel_folded_once_serves_many_calls():
    ours, _ = twin_layers(3, in_channels=3, filters=2)
    inputs = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype(np.float32)
    folded = ours.transposed_kernel()
    assert tuple(folded.shape) == (4, 4, 2, 3)
    np.testing.assert_allclose(ours(inputs, transposed_kernel=folded), ours(inputs), rtol=1e-6)
