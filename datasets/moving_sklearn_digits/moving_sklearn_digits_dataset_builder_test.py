"""moving_sklearn_digits dataset tests: TFDS's builder checks on a tiny config."""

import tensorflow_datasets as tfds

from . import moving_sklearn_digits_dataset_builder

TINY_SPLITS = {"train": 4, "validation": 2, "test": 2}


class MovingSklearnDigitsTest(tfds.testing.DatasetBuilderTestCase):
    """Builds, reads back, counts examples, and checks that splits share no example."""

    DATASET_CLASS = moving_sklearn_digits_dataset_builder.Builder
    SPLITS = TINY_SPLITS
    BUILDER_CONFIG_NAMES_TO_TEST = [
        moving_sklearn_digits_dataset_builder.MovingDigitsConfig(
            name="tiny", split_sizes=tuple(TINY_SPLITS.items())),
    ]


if __name__ == "__main__":
    tfds.testing.test_main()
