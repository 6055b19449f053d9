"""Tiny sizes for tests: the paper's architecture with narrow layers and short videos."""

import numpy as np

from tf_deepgifs.data import bouncing_balls, pixels
from tf_deepgifs.config import ModelConfig
from tf_deepgifs.data.splits import example_rng

TINY_MODEL = ModelConfig(encoder_filters=(4, 8, 8, 8), latent_dim=6, lstm_units=8,
                         discriminator_units=6)
# The same as command-line options of `python -m tf_deepgifs train`.
TINY_ARGS = ["--encoder-filters", "4,8,8,8", "--latent-dim", "6", "--lstm-units", "8",
             "--discriminator-units", "6"]


def ball_videos(batch=4, frames=6, seed=0):
    """float32 (batch, frames, 64, 64, 1) in [0, 1]: real Bouncing Balls sequences."""
    rngs = [example_rng(seed, "train", i) for i in range(batch)]
    video = bouncing_balls.generate(rngs, frames, 2, 64).video
    return pixels.from_uint8(video)
