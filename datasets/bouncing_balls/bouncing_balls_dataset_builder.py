"""bouncing_balls dataset: N elastic balls bouncing in a square box (DeepGIFs section 3.1)."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from tf_deepgifs.data import bouncing_balls, encoding, splits


_PAPER = bouncing_balls.DATASET_CONFIGS["paper"]


@dataclasses.dataclass(eq=False)
class BouncingBallsConfig(tfds.core.BuilderConfig):
    """What changes the written examples (`bouncing_balls.DatasetConfig` documents each)."""

    num_balls: int = _PAPER.num_balls
    num_frames: int = _PAPER.num_frames
    image_size: int = _PAPER.image_size
    seed: int = _PAPER.seed
    split_sizes: tuple = _PAPER.split_sizes


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for bouncing_balls."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        BouncingBallsConfig(
            name=name, description=f"{c.num_balls} balls, 20 frames of 64 x 64.",
            **dataclasses.asdict(c),
        )
        for name, c in bouncing_balls.DATASET_CONFIGS.items()
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "paper"

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        per_ball = (c.num_frames, c.num_balls, 2)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "video": tfds.features.Video(
                        shape=(c.num_frames, c.image_size, c.image_size, 1)
                    ),
                    "positions": tfds.features.Tensor(shape=per_ball, dtype=np.float32),
                    "velocities": tfds.features.Tensor(shape=per_ball, dtype=np.float32),
                    "radius": tfds.features.Scalar(dtype=np.float32),
                }
            ),
            homepage="https://www.cs.toronto.edu/~ilya/code/2008/RTRBM.tar",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # procedurally generated: nothing to download
        return {
            split: self._generate_examples(split, size)
            for split, size in self.builder_config.split_sizes
        }

    def _generate_examples(self, split, num_examples):
        c = self.builder_config

        def generate(block):
            return bouncing_balls.generate(
                [splits.example_rng(c.seed, split, i) for i in block],
                num_frames=c.num_frames,
                num_balls=c.num_balls,
                image_size=c.image_size,
            )

        for index, sequences, k, frames in encoding.encoded_examples(num_examples, generate):
            yield index, {
                "video": frames,
                "positions": sequences.positions[k],
                "velocities": sequences.velocities[k],
                "radius": sequences.radius,
            }
