"""Pixel ranges, converted here and nowhere else.

Every boundary of the project speaks one range, frames as float32 in [0, 1]: what the
data layer yields, what `DeepGIF` takes and returns, and what the exported generator's
contract says. Two other ranges exist behind those boundaries: stored datasets and GIF
files hold uint8 0..255, and inside the model the encoder reads and the decoder's tanh
writes [-1, 1] (the paper's networks, section 4.1.1).

Each function takes a NumPy array (and returns one) or a backend tensor (and returns one),
so the same conversion serves the data pipeline, the model on any backend and the figures.
"""

import numpy as np
from keras import ops

UINT8_MAX = 255.0


def _is_numpy(array):
    return isinstance(array, (np.ndarray, np.generic))


def from_uint8(pixels):
    """uint8 0..255 --> float32 [0, 1]."""
    if _is_numpy(pixels):
        return np.asarray(pixels, np.float32) / np.float32(UINT8_MAX)
    return ops.cast(pixels, "float32") / UINT8_MAX


def to_uint8(frames):
    """float [0, 1] --> uint8 0..255, rounded to the nearest level (clipped first)."""
    if _is_numpy(frames):
        return np.round(np.clip(frames, 0.0, 1.0) * UINT8_MAX).astype(np.uint8)
    return ops.cast(ops.round(ops.clip(frames, 0.0, 1.0) * UINT8_MAX), "uint8")


def to_network_range(frames):
    """[0, 1] --> [-1, 1], what the encoder and the discriminator read."""
    return frames * 2.0 - 1.0


def from_network_range(images):
    """[-1, 1], what the decoder's tanh writes --> [0, 1]."""
    return (images + 1.0) / 2.0
