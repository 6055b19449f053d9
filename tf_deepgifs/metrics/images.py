"""Per-frame image metrics of generated videos against ground truth.

Every function takes videos as float (B, N, H, W, C) with pixels in [0, 1] and returns
one value per sequence and frame, (B, N), so that curves over the horizon and best-of-N
selections are plain reductions over those arrays.

SSIM is TensorFlow's `tf.image.ssim` with its defaults, the settings of Wang et al.
(2004): an 11 x 11 Gaussian window of sigma 1.5, k1 = 0.01, k2 = 0.03, max_val 1 (pixels
in [0, 1]), "valid" filtering (no padding), averaged over the window positions and the
channels. `ssim` computes exactly that (tested against `tf.image.ssim` to 1e-5), with
the Gaussian window applied as two matrix products instead of an 11 x 11 depthwise
convolution: much faster on a CPU, where `tf.image.ssim` cost more than the rollout.
"""

import functools

import numpy as np
import tensorflow as tf

MAX_PIXEL = 1.0
SSIM_FILTER_SIZE = 11  # tf.image.ssim's defaults, named so the report can state them
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
# PSNR of identical frames is infinite; it is capped here so that means stay finite.
PSNR_CAP_DB = 100.0
# Larger is better for these; for MSE smaller is.
HIGHER_IS_BETTER = {"mse": False, "psnr": True, "ssim": True}


def _frames(videos):
    """(B, N, H, W, C) --> (B * N, H, W, C) float32, and (B, N)."""
    videos = tf.convert_to_tensor(videos, tf.float32)
    shape = tf.shape(videos)
    return tf.reshape(videos, tf.concat([[-1], shape[2:]], axis=0)), shape[:2]


def mse(truth, generated):
    """Mean squared pixel error per frame: (B, N)."""
    truth, leading = _frames(truth)
    generated, _ = _frames(generated)
    return tf.reshape(tf.reduce_mean(tf.square(truth - generated), axis=[1, 2, 3]), leading)


def psnr(truth, generated):
    """Peak signal-to-noise ratio per frame in dB, 10 log10(1 / MSE), capped: (B, N)."""
    error = mse(truth, generated)
    cap = MAX_PIXEL**2 / 10.0 ** (PSNR_CAP_DB / 10.0)
    return 10.0 * tf.math.log(MAX_PIXEL**2 / tf.maximum(error, cap)) / tf.math.log(10.0)


def ssim(truth, generated):
    """Structural similarity per frame (tf.image.ssim's, settings above): (B, N)."""
    truth, leading = _frames(truth)
    generated, _ = _frames(generated)
    return tf.reshape(_ssim_frames(truth, generated), leading)


@tf.function(reduce_retracing=True)
def _ssim_frames(x, y):
    """tf.image.ssim of frames (F, H, W, C) x2 --> (F,)."""
    height, width = x.shape[1], x.shape[2]
    rows, cols = tf.constant(_gaussian_window(height)), tf.constant(_gaussian_window(width))

    def window_mean(images):  # the Gaussian-weighted mean at every "valid" position
        return tf.einsum("ih,fhwc,jw->fijc", rows, images, cols)

    c1 = (SSIM_K1 * MAX_PIXEL) ** 2
    c2 = (SSIM_K2 * MAX_PIXEL) ** 2
    mean_x, mean_y = window_mean(x), window_mean(y)
    means_product = 2.0 * mean_x * mean_y
    means_squares = tf.square(mean_x) + tf.square(mean_y)
    luminance = (means_product + c1) / (means_squares + c1)
    contrast_structure = (2.0 * window_mean(x * y) - means_product + c2) / (
        window_mean(tf.square(x) + tf.square(y)) - means_squares + c2)
    return tf.reduce_mean(luminance * contrast_structure, axis=[1, 2, 3])


@functools.cache
def _gaussian_window(size):
    """(size - 10, size) float32: row i holds the normalised 1-D Gaussian at i..i+10.

    tf.image.ssim's 2-D window is the outer product of this 1-D one, so filtering rows
    then columns with it is the same 'valid' convolution.
    """
    offsets = np.arange(SSIM_FILTER_SIZE) - (SSIM_FILTER_SIZE - 1) / 2
    taps = np.exp(-0.5 * np.square(offsets) / SSIM_FILTER_SIGMA**2)
    taps /= taps.sum()
    window = np.zeros((size - SSIM_FILTER_SIZE + 1, size), np.float32)
    for i in range(len(window)):
        window[i, i : i + SSIM_FILTER_SIZE] = taps
    return window


METRICS = {"mse": mse, "psnr": psnr, "ssim": ssim}


def per_frame(truth, generated):
    """{metric name: (B, N) values} for every metric in METRICS."""
    return {name: metric(truth, generated) for name, metric in METRICS.items()}


def best_of(values, higher_is_better):
    """Best-of-N per sequence: values (S, B, N) of S samples --> (B, N).

    Each sequence keeps the sample whose mean over the horizon is best, with all of its
    frames (as SVG and OpenSTL report best-of-N): choosing per frame would stitch
    together frames of different samples and flatter the model.
    """
    score = tf.reduce_mean(values, axis=2)  # (S, B)
    best = tf.argmax(score, axis=0) if higher_is_better else tf.argmin(score, axis=0)
    return tf.gather(tf.transpose(values, [1, 0, 2]), best, axis=1, batch_dims=1)
