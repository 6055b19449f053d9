"""Helpers for tests: small fake data in the real file formats."""

import gzip
import pathlib

import numpy as np

from tf_deepgifs.data import moving_mnist


def write_idx(path, array):
    """Writes a uint8 array (1-D labels or 3-D images) as a gzip-compressed MNIST IDX file."""
    array = np.asarray(array, dtype=np.uint8)
    header = moving_mnist._IDX_MAGIC[array.ndim].to_bytes(4, "big")
    header += b"".join(n.to_bytes(4, "big") for n in array.shape)
    pathlib.Path(path).write_bytes(gzip.compress(header + array.tobytes()))


def fake_digits(count, seed=0, size=28):
    """`count` random disc 'digits' (uint8, count x size x size) and labels 0..9."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(8, size - 8, size=(count, 2, 1, 1))
    radii = rng.uniform(4, 8, size=(count, 1, 1))
    rows, cols = np.indices((size, size))
    discs = np.hypot(rows - centres[:, 0], cols - centres[:, 1]) < radii
    images = (discs * rng.integers(128, 256, size=(count, 1, 1))).astype(np.uint8)
    return images, rng.integers(0, 10, size=count).astype(np.uint8)


def write_fake_mnist(directory, train_count=60, test_count=20, seed=0):
    """Writes the four MNIST IDX files, with fake digits, into `directory`."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, count, offset in (("train", train_count, 0), ("t10k", test_count, 1)):
        images, labels = fake_digits(count, seed=seed + offset)
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return directory
