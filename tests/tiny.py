"""Tiny sizes for tests: the paper's architecture with narrow layers and short videos."""

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


def ball_pixels(batch=4, frames=6, seed=0):
    """uint8 (batch, frames, 64, 64, 1): the videos of `ball_videos`, as stored."""
    rngs = [example_rng(seed, "train", i) for i in range(batch)]
    return bouncing_balls.generate(rngs, frames, 2, 64).video


def started_joint_training(config, videos, strategy=None, model=None):
    """(stage, backend): the paper's training on uint8 `videos` (its training and validation
    split both), with its TensorFlow backend started on `strategy` (default: one device)."""
    from tf_deepgifs.training import backends, distribution, joint_training
    from tf_deepgifs.runs import run_directory

    devices = distribution.tensorflow_devices(strategy)
    if model is None:
        with devices.scope():
            model = run_directory.build_model(config, videos.shape[1:])
    stage = joint_training.JointTraining(config, model, videos, videos, steps_per_epoch=1)
    backend = backends.TensorFlowBackend(stage, devices)
    backend.start()
    stage.start(backend, log=lambda line: None)
    return stage, backend
