"""The 8-bit step file: generator.onnx quantized by ONNX Runtime's own tools.

    generator_int8.onnx   the same inputs, outputs and metadata as generator.onnx; the
                          convolutions, transposed convolutions and matrix products in
                          8 bits (QDQ format), the rest in float32

Static quantization (`onnxruntime.quantization.quantize_static`): weights int8 per output
channel, activations uint8 with ranges calibrated on the inputs of every step of
deterministic rollouts from seed frames of the model's dataset, read by the runner users
run (`generate.Generator`). Each activation's range is the percentile calibrator's (ONNX
Runtime's, 99.999 % of the values): a few extreme values of the calibration rollouts do
not stretch the range every other value is quantized in, as with the extremes (MinMax);
the rollouts' plausible frames fall less (results/notes.md). Where the steps' inputs
differ in shape (a model that reads its frames, then its latents, each step's other
input an empty batch) the extremes' calibrator does it: ONNX Runtime's histogram
calibrators stack each tensor's values over the steps and fail on differing shapes
(onnxruntime issue 18792). Dynamic quantization leaves the decoder's transposed
convolutions in float32, which keeps the file at over twice a third of the float file's
size (results/notes.md).
"""

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)

from .generate import Generator

QUANTIZED_OPS = ("Conv", "ConvTranspose", "MatMul")


class _Feeds(CalibrationDataReader):
    """The recorded step inputs, one feed at a time, as ONNX Runtime's calibrator asks."""

    def __init__(self, feeds):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def calibration_feeds(float_path, seeds, num_frames):
    """The inputs of every step of the float file's deterministic rollouts: seeds
    (B, K, H, W, C) in [0, 1], `num_frames` generated each; a list of {name: array}."""
    generator = Generator(float_path)
    feeds = []
    noise = np.zeros((len(seeds), num_frames, generator.noise_dim), np.float32)
    generator.run(seeds, noise, on_step=feeds.append)
    return feeds


def quantize(float_path, quantized_path, seeds, num_frames):
    """Writes the 8-bit step file of `float_path`, calibrated on rollouts of `seeds`,
    with the float file's metadata_props (the quantizer adds a key of its own)."""
    quantize_on(float_path, quantized_path, calibration_feeds(float_path, seeds, num_frames))


def calibration_method(feeds):
    """Percentile where every feed's inputs have the same shapes, else MinMax (the module's
    docstring says why)."""
    shapes = {tuple((name, np.shape(value)) for name, value in sorted(feed.items()))
              for feed in feeds}
    return CalibrationMethod.Percentile if len(shapes) == 1 else CalibrationMethod.MinMax


def quantize_on(float_path, quantized_path, feeds):
    """Writes `float_path` quantized (QUANTIZED_OPS in 8 bits, QDQ), its activations'
    ranges calibrated (`calibration_method`) on `feeds` ({input name: array} each), its
    metadata_props the float file's."""
    quantize_static(str(float_path), str(quantized_path), _Feeds(feeds),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    op_types_to_quantize=list(QUANTIZED_OPS),
                    calibrate_method=calibration_method(feeds))
    quantized = onnx.load(str(quantized_path))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(onnx.load(str(float_path)).metadata_props)
    onnx.save(quantized, str(quantized_path))
