"""video_folder dataset: clips of the user's own videos, read from the manual dir."""

import dataclasses
import logging

import numpy as np
import tensorflow_datasets as tfds

from tf_deepgifs.data import video_files
from tf_deepgifs.errors import UserError

MANIFEST = "manifest"  # the metadata key of what the build read


@dataclasses.dataclass(eq=False)
class VideoFolderConfig(tfds.core.BuilderConfig):
    """What changes the written clips (`video_files.ClipSettings` documents each)."""

    clip_frames: int = 20
    stride: int = 10
    frame_step: int = 1
    image_size: int = 64
    channels: int = 1
    split_ratios: tuple = (0.8, 0.1, 0.1)

    @property
    def settings(self):
        return video_files.ClipSettings(
            clip_frames=self.clip_frames, stride=self.stride, frame_step=self.frame_step,
            image_size=self.image_size, channels=self.channels, split_ratios=self.split_ratios)


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for video_folder."""

    NEEDS_MANUAL_DIR = True  # (the registry asks for one before TFDS would fail)
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Put your videos (GIF, MP4, WebM, or folders of numbered frames) in one folder and pass
    it as the manual dir: `make data DATASET=video_folder MANUAL_DIR=<folder>`.
    """
    BUILDER_CONFIGS = [
        VideoFolderConfig(name="grey", description="Grey clips, 20 frames of 64 x 64."),
        VideoFolderConfig(name="colour", description="Colour clips, 20 frames of 64 x 64.",
                          channels=3),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "grey"

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "video": tfds.features.Video(shape=(c.clip_frames, c.image_size, c.image_size,
                                                    c.channels)),
                "source": tfds.features.Text(),
                "start": tfds.features.Scalar(dtype=np.int32),
            }),
            metadata=tfds.core.MetadataDict(),
        )

    def changed_since_build(self, folder):
        """Whether `folder` differs from the one this prepared dataset was built from."""
        return self.info.metadata.get(MANIFEST) != video_files.manifest(folder)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        folder = dl_manager.manual_dir
        settings = self.builder_config.settings
        found = video_files.sources(folder)
        if not found:
            raise UserError(f"{folder} holds no video (GIF, MP4, WebM) and no folder of "
                            "numbered frames.")
        usable, skipped = {split: [] for split in video_files.SPLITS}, {"unreadable": 0, "too short": 0}
        for source in found:  # a first pass: which sources give clips (none kept in memory)
            try:
                _, starts = video_files.clips(folder / source, settings)
            except ValueError as error:
                skipped["unreadable"] += 1
                logging.warning("Skipped %s: cannot read it (%s).", source, error)
                continue
            if not starts:
                skipped["too short"] += 1
                logging.warning("Skipped %s: shorter than one clip of %d frames.", source,
                                settings.clip_frames)
                continue
            usable[video_files.split_of(source, settings.split_ratios)].append(source)
        logging.warning("Read %d sources of %s: %d unreadable and %d too short, skipped; %s.",
                        len(found), folder, skipped["unreadable"], skipped["too short"],
                        ", ".join(f"{len(s)} for {split}" for split, s in usable.items()))
        empty = [split for split, chosen in usable.items() if not chosen]
        if empty:
            raise UserError(
                f"No clip for the {' and '.join(empty)} split from {folder}: "
                + ", ".join(f"{len(s)} sources went to {split}" for split, s in usable.items())
                + f" (split_ratios {settings.split_ratios}, by a hash of each path); add videos.")
        self.info.metadata[MANIFEST] = video_files.manifest(folder)
        return {split: self._generate_examples(folder, chosen, settings)
                for split, chosen in usable.items()}

    def _generate_examples(self, folder, chosen, settings):
        for source in chosen:
            videos, starts = video_files.clips(folder / source, settings)
            for video, start in zip(videos, starts):
                yield f"{source}:{start}", {"video": video, "source": source, "start": start}
