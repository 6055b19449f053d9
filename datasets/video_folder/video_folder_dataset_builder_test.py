"""video_folder dataset tests: TFDS's builder checks on the GIFs in dummy_data/."""

import tensorflow_datasets as tfds

from . import video_folder_dataset_builder

# Each dummy GIF has 8 frames: clips of 4 frames every 4 give 2 clips a GIF.
TINY = video_folder_dataset_builder.VideoFolderConfig(
    name="tiny", clip_frames=4, stride=4, image_size=16, channels=1)


class VideoFolderTest(tfds.testing.DatasetBuilderTestCase):
    """Builds from the manual dir, reads back, counts clips, and checks that splits share
    no example."""

    DATASET_CLASS = video_folder_dataset_builder.Builder
    SPLITS = {"train": 4, "validation": 2, "test": 2}
    BUILDER_CONFIG_NAMES_TO_TEST = [TINY]


if __name__ == "__main__":
    tfds.testing.test_main()
