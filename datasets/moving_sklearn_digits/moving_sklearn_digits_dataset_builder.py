"""moving_sklearn_digits dataset: Moving MNIST's motion with scikit-learn's digits.

A stand-in for Moving MNIST (paper section 3.1) on machines that cannot download MNIST:
the 1,797 8 x 8 digits scikit-learn ships, upscaled to MNIST's 28 x 28, moving exactly
as the Moving MNIST builder's digits move. Named and reported as a stand-in, never as
MNIST.
"""

import dataclasses

import tensorflow_datasets as tfds

from tf_deepgifs.data import moving_mnist, small_digits


@dataclasses.dataclass(eq=False)
class MovingDigitsConfig(tfds.core.BuilderConfig):
    """What changes the written examples."""

    num_digits: int = 2  # as the paper's Moving MNIST
    num_frames: int = 20  # as the paper's Moving MNIST
    seed: int = 20181797  # any fixed value; each example's RNG is derived from it
    # Fewer sequences than Moving MNIST's 80,000: there are 1,438 training digits to draw.
    split_sizes: tuple = (("train", 40_000), ("validation", 5_000), ("test", 5_000))


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for moving_sklearn_digits."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [MovingDigitsConfig(name="standin", description="2 digits, 20 frames.")]
    DEFAULT_BUILDER_CONFIG_NAME = "standin"

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        return self.dataset_info_from_configs(
            features=moving_mnist.features(c.num_frames, c.num_digits),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # the digits ship with scikit-learn
        pools = small_digits.split_pools(*small_digits.load())
        c = self.builder_config
        return {split: self._generate_examples(split, size, *pools[split])
                for split, size in c.split_sizes}

    def _generate_examples(self, split, num_examples, images, labels):
        c = self.builder_config
        yield from moving_mnist.examples(c.seed, split, num_examples, images, labels,
                                         c.num_frames, c.num_digits)
