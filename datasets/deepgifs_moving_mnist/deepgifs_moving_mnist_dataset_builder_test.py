"""deepgifs_moving_mnist dataset tests: TFDS's builder checks on fake MNIST IDX files."""

import shutil
import tempfile

import tensorflow_datasets as tfds

from tf_deepgifs.data import testing

from . import deepgifs_moving_mnist_dataset_builder

TINY_SPLITS = {"train": 4, "validation": 2, "test": 2}


class MovingMNISTTest(tfds.testing.DatasetBuilderTestCase):
    """Builds from fake manual IDX files, reads back, counts, checks splits are disjoint."""

    DATASET_CLASS = deepgifs_moving_mnist_dataset_builder.Builder
    SPLITS = TINY_SPLITS
    BUILDER_CONFIG_NAMES_TO_TEST = [
        deepgifs_moving_mnist_dataset_builder.MovingMNISTConfig(
            name="tiny", split_sizes=tuple(TINY_SPLITS.items()), validation_digits=20
        )
    ]

    # TFDS reads EXAMPLE_DIR when the class is collected, so the files are written here.
    EXAMPLE_DIR = str(testing.write_fake_mnist(tempfile.mkdtemp(prefix="fake_mnist_")))

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.EXAMPLE_DIR, ignore_errors=True)

if __name__ == "__main__":
    tfds.testing.test_main()
