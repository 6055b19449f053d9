"""Nearest-neighbour x2 upsampling then a "same" convolution, as one transposed convolution.

Upsampling by repetition then convolving with a k x k kernel computes each output pixel
from the low-resolution input alone: output row 2i + a (a = 0, 1) reads input rows
floor((2i + a + d - c) / 2) for the kernel's taps d = 0..k-1 (c = (k - 1) / 2), so taps
landing on the same input row add up. Folding them gives a stride-2 transposed
convolution whose kernel is a fixed linear map of the k x k one: the same function and
the same variables, without materialising the upsampled image, and with (k + 1)^2 instead
of 4 k^2 multiply-adds per input pixel (16 against 36 for the decoder's 3 x 3). What it
saves a training step: BENCHMARKS.md.
"""

import keras
import numpy as np


def folding_matrix(kernel_size):
    """(L, k) 0/1 matrix: row t of the transposed kernel sums the k-tap kernel's taps on it.

    L = k + 1 taps. With TensorFlow's "same" padding for a stride-2 transposed convolution
    (padding (L - 2) / 2 before), output 2i + a reads input row i - s through tap
    t = a + 2 s + (L - 2) / 2; tap d of the original kernel lands on
    s = -floor((a + d - c) / 2).
    """
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size {kernel_size} must be odd (symmetric 'same' padding).")
    centre, length = (kernel_size - 1) // 2, kernel_size + 1
    padding = (length - 2) // 2
    folding = np.zeros((length, kernel_size), np.float32)
    for parity in (0, 1):
        for tap in range(kernel_size):
            shift = -((parity + tap - centre) // 2)
            folding[parity + 2 * shift + padding, tap] += 1.0
    return folding


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class UpsampleConv2D(keras.layers.Conv2D):
    """`Conv2D(filters, k, padding="same")` applied to the input upsampled x2 (nearest).

    inputs (B, H, W, C_in) --> outputs (B, 2H, 2W, filters). The variables are the
    Conv2D's own (kernel (k, k, C_in, filters) and bias), so weights and checkpoints are
    those of `UpSampling2D(2)` followed by this Conv2D; only the arithmetic differs (tested
    equal to that pair). Channels-last, stride 1, odd k, no dilation or groups.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        for fixed in ("strides", "padding"):  # from a saved config: always 1 and "same"
            kwargs.pop(fixed, None)
        super().__init__(filters, kernel_size, strides=1, padding="same", **kwargs)
        if self.data_format != "channels_last" or self.dilation_rate != (1, 1) or self.groups != 1:
            raise ValueError("UpsampleConv2D supports channels_last, undilated, ungrouped kernels.")
        if self.kernel_size[0] != self.kernel_size[1]:
            raise ValueError(f"UpsampleConv2D needs a square kernel, got {self.kernel_size}.")
        self._folding = folding_matrix(self.kernel_size[0])

    def transposed_kernel(self):
        """(k+1, k+1, filters, C_in): the kernel in `ops.conv_transpose`'s layout."""
        folding = keras.ops.convert_to_tensor(self._folding, dtype=self.kernel.dtype)
        return keras.ops.einsum("td,ue,deio->tuoi", folding, folding, self.kernel)

    def call(self, inputs, transposed_kernel=None):
        """transposed_kernel: `transposed_kernel()`'s value, when the caller folded it once
        for many calls (a rollout's frames); by default it is folded here."""
        if transposed_kernel is None:
            transposed_kernel = self.transposed_kernel()
        outputs = keras.ops.conv_transpose(
            inputs, keras.ops.cast(transposed_kernel, inputs.dtype),
            strides=2, padding="same", data_format="channels_last")
        if self.use_bias:
            outputs = keras.ops.add(outputs, keras.ops.cast(self.bias, outputs.dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        double = lambda side: None if side is None else 2 * side
        return (batch, double(height), double(width), self.filters)
