"""Runs the training loop under JAX in a process of its own, as on a GPU machine without
TensorFlow (KERAS_BACKEND=jax; TensorFlow and TFDS are made unimportable first, so the
run fails if the JAX path needs them):

    python -m tests.jax_run train RUN_DIR [STOP_AT_STEP [PRECISION]]
    python -m tests.jax_run tune SOURCE_RUN RUN_DIR [STOP_AT_STEP]
    python -m tests.jax_run step OUT.npz ROWS   one step on the first ROWS of 4 sequences

STOP_AT_STEP > 0 stops the run once that many steps are done (it resumes when run
again). `step` lays the batch out over every local device (set
XLA_FLAGS=--xla_force_host_platform_device_count=2 for two) and saves the weights after it.
"""

import sys


NOT_INSTALLED = ("tensorflow", "tensorflow_datasets")


def _as_if_not_installed(names):
    """Makes these packages unimportable as an absent one is: `import` raises
    ModuleNotFoundError and importlib.util.find_spec answers None (what libraries that
    use them only if installed, such as etils under JAX's compilation cache, ask)."""
    for name in names:
        sys.modules[name] = None


def tiny_jax_config(run_dir, precision="float32"):
    """Scheduled sampling with K = 2, so the closed loop and all noise streams are used."""
    from tests.tiny import TINY_MODEL
    from tf_deepgifs.config import Config, DataConfig, TrainConfig

    return Config(
        model=TINY_MODEL,
        train=TrainConfig(mode="scheduled", context_frames=2, scheduled_sampling_steps=4,
                          batch_size=2, epochs=2, steps_per_epoch=3, validation_steps=1,
                          checkpoint_every=1, run_dir=run_dir, precision=precision),
        data=DataConfig(num_frames=4, max_examples_per_split=8),
    )


TINY_TUNING = dict(steps=4, batch_size=2, validate_every=2, validation_sequences=4,
                   encode_batch_size=4, learning_rate=0.05, select_on="balls")


def train(run_dir, stop_at_step=0, precision="float32"):
    from tf_deepgifs.training import joint_training

    joint_training.train(tiny_jax_config(run_dir, precision), "smoke",
                         stop_at_step=stop_at_step or None)


def tune(source_run, run_dir, stop_at_step=0):
    from tf_deepgifs.config import HorizonTuningConfig
    from tf_deepgifs.training import horizon_tuning

    horizon_tuning.tune(source_run, run_dir, HorizonTuningConfig(**TINY_TUNING),
                        stop_at_step=stop_at_step or None)


def step(out, rows):
    """One zero-noise SGD step of the paper's training on rows [:rows] of 4 sequences."""
    import keras
    import numpy as np

    from tests.tiny import ball_pixels
    from tf_deepgifs.config import Config, DataConfig, TrainConfig
    from tf_deepgifs.training import backends, distribution, joint_training
    from tf_deepgifs.runs import run_directory

    videos = ball_pixels(batch=4, frames=5)[:rows]
    config = tiny_jax_config(None)
    config = Config(model=config.model, data=DataConfig(num_frames=5),
                    train=TrainConfig(batch_size=rows))
    devices = distribution.jax_devices()
    with devices.scope():
        model = run_directory.build_model(config, videos.shape[1:])
        model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
        model.build_optimizers()
    stage = joint_training.JointTraining(config, model, videos, videos, steps_per_epoch=1)
    backend = backends.JaxBackend(stage, devices)
    backend.start()
    draw = backend._noise
    backend._noise = lambda step, size: {k: 0 * v for k, v in draw(step, size).items()}
    backend.train_step({"video": videos}, 0)
    backend.sync()
    np.savez(out, devices=devices.count,
             **{v.path.replace("/", "."): np.asarray(v.value) for v in model.weights})


if __name__ == "__main__":
    _as_if_not_installed(NOT_INSTALLED)
    command, *arguments = sys.argv[1:]
    arguments = [int(a) if a.isdigit() else a for a in arguments]
    {"train": train, "tune": tune, "step": step}[command](*arguments)
    assert all(sys.modules[name] is None for name in NOT_INSTALLED)
