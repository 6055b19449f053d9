"""Whether generated digits stay the digits they were: what the paper saw going wrong with
Moving MNIST (digits morphing into others, section 5.2.2), measured.

A small classifier reads the 28 x 28 window at each digit's true place in each frame; a
frame's identity is the share of its digits read as their true label. The classifier is
a support-vector machine (scikit-learn's SVC, its defaults) trained on the dataset's own
training digits, each window brought back to the digits' source resolution (the centre
20 x 20, box-filtered to 8 x 8): on the true test frames it reads about nine digits in
ten (overlapping digits hide each other); copying the last seed frame leaves the windows
where the digits were, and reads few. Only datasets whose digits ship with the project
(the scikit-learn stand-in) have a reader here.
"""

import functools

import numpy as np
from PIL import Image

from tf_deepgifs.data import moving_mnist, small_digits


def features(windows):
    """Windows (M, 28, 28) in [0, 1] --> (M, 64): the digit's 20 x 20 box at 8 x 8."""
    margin = (small_digits.MNIST_SIZE - small_digits.DIGIT_BOX) // 2
    inner = np.asarray(windows, np.float32)[:, margin:-margin, margin:-margin]
    return np.stack([np.asarray(Image.fromarray(w).resize((8, 8), Image.Resampling.BOX))
                     for w in inner]).reshape(len(inner), -1)


@functools.cache
def reader_for(dataset):
    """A fitted classifier of 28 x 28 windows for `dataset`'s digits, or None."""
    if not dataset.startswith("moving_sklearn_digits"):
        return None
    from sklearn.svm import SVC

    images, labels = small_digits.split_pools(*small_digits.load())["train"]
    return SVC().fit(features(images / 255.0), labels)


def windows(frames, corners, size=moving_mnist.DigitMotion().digit_size):
    """The `size` x `size` window at each digit's corner: frames (B, N, H, W), corners
    (B, N, D, 2) (row, col, as rendered) --> (B, N, D, size, size)."""
    frames = np.asarray(frames)
    margin = size  # corners may leave the canvas by a little; pad so every window exists
    padded = np.pad(frames, ((0, 0), (0, 0), (margin, margin), (margin, margin)))
    rounded = moving_mnist.round_half_away(np.asarray(corners)) + margin
    batch, count, digits = rounded.shape[:3]
    out = np.empty((batch, count, digits, size, size), frames.dtype)
    for b in range(batch):
        for n in range(count):
            for d in range(digits):
                r, c = rounded[b, n, d]
                out[b, n, d] = padded[b, n, r : r + size, c : c + size]
    return out


def identity(reader, frames, corners, labels):
    """Per sequence and frame, the share of digits read as their label: frames (B, N, H, W)
    in [0, 1], corners (B, N, D, 2), labels (B, D) --> float (B, N)."""
    crops = windows(frames, corners)
    batch, count, digits = crops.shape[:3]
    read = reader.predict(features(crops.reshape((-1,) + crops.shape[3:])))
    read = read.reshape(batch, count, digits)
    return np.mean(read == np.asarray(labels)[:, None, :], axis=-1)
