"""bouncing_balls dataset tests: TFDS's builder checks on a tiny config."""

import tensorflow_datasets as tfds

from . import bouncing_balls_dataset_builder

TINY_SPLITS = {"train": 4, "validation": 2, "test": 2}


class BouncingBallsTest(tfds.testing.DatasetBuilderTestCase):
    """Builds, reads back, counts examples, and checks that splits share no example."""

    DATASET_CLASS = bouncing_balls_dataset_builder.Builder
    SPLITS = TINY_SPLITS
    BUILDER_CONFIG_NAMES_TO_TEST = [
        bouncing_balls_dataset_builder.BouncingBallsConfig(
            name="tiny", split_sizes=tuple(TINY_SPLITS.items())
        ),
        bouncing_balls_dataset_builder.BouncingBallsConfig(
            name="tiny_three_balls", num_balls=3, split_sizes=tuple(TINY_SPLITS.items())
        ),
    ]


if __name__ == "__main__":
    tfds.testing.test_main()
