"""scikit-learn's 1,797 handwritten digits (8 x 8, `sklearn.datasets.load_digits`) made
to look like MNIST's: a stand-in for MNIST where it cannot be downloaded, never MNIST.

    8 x 8, values 0..16 --> 0..255, resized to 20 x 20 (bicubic) --> centred in 28 x 28,
    as MNIST centres its 20 x 20 digits

`load_digits` has no splits: `split_pools` divides the images into train, validation and
test pools so that no image (no identical pixels either) is in two of them.
"""

import hashlib

import numpy as np
from PIL import Image

DIGIT_BOX = 20  # MNIST's digits fit a 20 x 20 box ...
MNIST_SIZE = 28  # ... centred in 28 x 28
SOURCE_MAX = 16  # load_digits' intensities are 0..16
POOL_SHARES = (0.8, 0.1, 0.1)  # of the images: train, validation, test
POOL_SEED = 2018  # any fixed value: which images go to which pool


def load():
    """The 1,797 digits as MNIST-sized images: (uint8 (N, 28, 28), labels uint8 (N,))."""
    from sklearn.datasets import load_digits  # ships its data: no download

    digits = load_digits()
    images = np.stack([upscale(image) for image in digits.images])
    return images, digits.target.astype(np.uint8)


def upscale(image):
    """One 8 x 8 digit (0..16) --> uint8 28 x 28, the digit in the centre 20 x 20."""
    scaled = Image.fromarray((np.asarray(image, np.float32) * (255 / SOURCE_MAX)).astype(np.float32))
    box = np.asarray(scaled.resize((DIGIT_BOX, DIGIT_BOX), Image.Resampling.BICUBIC))
    margin = (MNIST_SIZE - DIGIT_BOX) // 2
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    out[margin : margin + DIGIT_BOX, margin : margin + DIGIT_BOX] = box
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def split_pools(images, labels, shares=POOL_SHARES, seed=POOL_SEED):
    """{split: (images, labels)}: the images divided into train, validation and test, whole
    groups of identical images at a time, so no image is in two splits."""
    keys = [hashlib.sha256(image.tobytes()).hexdigest() for image in images]
    groups = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(groups))
    bounds = np.cumsum(shares)[:-1] * len(groups)
    split_of_group = {groups[g]: int(np.searchsorted(bounds, rank, side="right"))
                      for rank, g in enumerate(order)}
    pools = {}
    for index, split in enumerate(("train", "validation", "test")):
        chosen = np.array([i for i, key in enumerate(keys) if split_of_group[key] == index])
        pools[split] = (images[chosen], labels[chosen])
    return pools
