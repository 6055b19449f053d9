"""deepgifs_moving_mnist dataset: two MNIST digits moving in 64 x 64 (DeepGIFs section 3.1).

Registered as `deepgifs_moving_mnist` because TFDS's own `moving_mnist` is the fixed
10,000-sequence Toronto test file; `DATASET=moving_mnist` in this project reaches this one.
"""

import dataclasses

import numpy as np
from etils import epath
import tensorflow_datasets as tfds

from tf_deepgifs.data import moving_mnist
from tf_deepgifs.errors import IDXFormatError, MissingMNISTError

# The standard MNIST IDX files, as distributed and as TFDS's `mnist` downloads them.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclasses.dataclass(eq=False)
class MovingMNISTConfig(tfds.core.BuilderConfig):
    """What changes the written examples: digit count, length, sizes, digit pools, seed."""

    num_digits: int = 2  # paper section 3.1: two digits
    num_frames: int = 20  # paper section 3.2: 20 frames of 64 x 64
    seed: int = 20180602  # any fixed value; each example's RNG is derived from it
    split_sizes: tuple = (("train", 80_000), ("validation", 10_000), ("test", 10_000))
    # Validation draws from the last `validation_digits` MNIST training digits and train
    # from the others, so no digit image is shared between train and validation.
    validation_digits: int = 10_000


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for deepgifs_moving_mnist."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [MovingMNISTConfig(name="paper", description="2 digits, 20 frames.")]
    DEFAULT_BUILDER_CONFIG_NAME = "paper"
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Optional, for machines without internet: put the four standard MNIST IDX files
    {', '.join(f for pair in MNIST_FILES.values() for f in pair)}
    in the manual directory (`<data_dir>/downloads/manual/` by default, or pass
    `--manual_dir`). Without them the builder downloads TFDS's own `mnist` dataset.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        return self.dataset_info_from_configs(
            features=moving_mnist.features(c.num_frames, c.num_digits),
            homepage="https://www.cs.toronto.edu/~nitish/unsupervised_video/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        mnist = self._load_mnist(dl_manager)
        c = self.builder_config
        train_images, train_labels = mnist["train"]
        cut = len(train_images) - c.validation_digits
        if cut < 1:
            raise MissingMNISTError(
                f"The MNIST training set has {len(train_images)} images; {c.validation_digits} "
                "go to validation and at least one must be left for train. Use the full MNIST."
            )
        pools = {
            "train": (train_images[:cut], train_labels[:cut]),
            "validation": (train_images[cut:], train_labels[cut:]),
            "test": mnist["test"],
        }
        return {
            split: self._generate_examples(split, size, *pools[split])
            for split, size in c.split_sizes
        }

    def _load_mnist(self, dl_manager):
        """MNIST {split: (images uint8 (N, 28, 28), labels uint8 (N,))}, manual files first."""
        manual_dir = _configured_manual_dir(dl_manager)
        if any((manual_dir / f).exists() for f in _all_files()):
            return _read_manual_mnist(manual_dir)
        print(
            f"No MNIST IDX files in {manual_dir}: downloading TFDS's `mnist` instead "
            "(offline, this fails after a few minutes of retries; put the files there "
            "to skip the download).",
            flush=True,
        )
        try:
            return _download_tfds_mnist(self.data_dir_root)
        except Exception as error:  # any download failure: say what to do instead
            raise MissingMNISTError(
                "MNIST digits are needed: TFDS's `mnist` could not be downloaded "
                f"({type(error).__name__}) and there are no manual files. Put "
                f"{', '.join(_all_files())} in {manual_dir} (or pass --manual_dir to "
                "tfds build)."
            ) from error

    def _generate_examples(self, split, num_examples, images, labels):
        c = self.builder_config
        yield from moving_mnist.examples(c.seed, split, num_examples, images, labels,
                                         c.num_frames, c.num_digits)


def _all_files():
    return [f for pair in MNIST_FILES.values() for f in pair]


def _configured_manual_dir(dl_manager):
    """The manual directory TFDS was given (or its default), whether or not it exists.

    `dl_manager.manual_dir` raises when the folder is missing or empty, and its path is
    what the error message must name, so it is read from the manager's field.
    """
    try:
        return dl_manager.manual_dir
    except AssertionError:
        return epath.Path(dl_manager._manual_dir)  # pylint: disable=protected-access


def _read_manual_mnist(manual_dir):
    missing = [f for f in _all_files() if not (manual_dir / f).exists()]
    if missing:
        raise MissingMNISTError(
            f"Incomplete MNIST in {manual_dir}: {', '.join(missing)} missing "
            f"(all of {', '.join(_all_files())} are needed)."
        )
    result = {}
    for split, (images_file, labels_file) in MNIST_FILES.items():
        images = moving_mnist.read_idx(manual_dir / images_file, ndim=3)
        labels = moving_mnist.read_idx(manual_dir / labels_file, ndim=1)
        if len(images) != len(labels):
            raise IDXFormatError(
                f"{manual_dir / images_file} has {len(images)} images but "
                f"{manual_dir / labels_file} has {len(labels)} labels."
            )
        result[split] = (images, labels)
    return result


def _download_tfds_mnist(data_dir):
    """TFDS's `mnist` (downloaded and prepared once in `data_dir`), as numpy arrays."""
    mnist = tfds.builder("mnist", data_dir=data_dir)
    mnist.download_and_prepare()
    result = {}
    for split in MNIST_FILES:
        examples = tfds.as_numpy(mnist.as_dataset(split=split, batch_size=-1))
        result[split] = (examples["image"][..., 0], examples["label"].astype(np.uint8))
    return result
