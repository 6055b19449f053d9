"""Per-frame image metrics of generated videos against ground truth.

Every function takes videos as float (B, N, H, W, C) with pixels in [0, 1] and returns
one value per sequence and frame, (B, N), so that curves over the horizon and best-of-N
selections are plain reductions over those arrays.

SSIM is TensorFlow's `tf.image.ssim` with its defaults, the settings of Wang et al.
(2004): an 11 x 11 Gaussian window of sigma 1.5, k1 = 0.01, k2 = 0.03, max_val 1 (pixels
in [0, 1]), "valid" filtering (no padding), averaged over the window positions and the
channels.
"""

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
    """Structural similarity per frame (tf.image.ssim, settings above): (B, N)."""
    truth, leading = _frames(truth)
    generated, _ = _frames(generated)
    values = tf.image.ssim(truth, generated, max_val=MAX_PIXEL, filter_size=SSIM_FILTER_SIZE,
                           filter_sigma=SSIM_FILTER_SIGMA, k1=SSIM_K1, k2=SSIM_K2)
    return tf.reshape(values, leading)


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
