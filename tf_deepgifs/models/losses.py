"""The DeepGIFs objective's terms (paper 4.2), backend-portable with keras.ops.

    L_G = L_rec + L_pred + lambda_gan * L_gan + lambda_KL * L_KL
    L_D = BCE(D(real), 1) + BCE(D(fake), 0)
"""

import keras
from keras import ops


def mean_squared_error(predicted, target):
    """Mean over every element (PyTorch's MSELoss default), a scalar."""
    return ops.mean(ops.square(predicted - target))


def kl_divergence(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, 1)) summed over latent dims, averaged over the rest.

    Closed form: -0.5 * sum(1 + log_variance - mean^2 - exp(log_variance)).
    """
    per_latent = 1.0 + log_variance - ops.square(mean) - ops.exp(log_variance)
    return ops.mean(-0.5 * ops.sum(per_latent, axis=-1))


def binary_cross_entropy(logits, label):
    """Mean BCE of logits (N, 1) against a constant label, 1.0 (real) or 0.0 (fake)."""
    targets = ops.full_like(logits, label)
    return ops.mean(keras.losses.binary_crossentropy(targets, logits, from_logits=True))


def accuracy(logits, label):
    """Fraction of logits on the side of 0 that `label` (1.0 or 0.0) calls right."""
    said_real = ops.cast(logits > 0, "float32")
    return ops.mean(said_real if label == 1.0 else 1.0 - said_real)
