"""A finished (or interrupted) training run, read back: its configuration and weights.

What `export` and `evaluate` share: both take `--run-dir` (and optionally `--weights`)
and need the run's model with the weights it trained, in inference mode.
"""

import contextlib
import json
import os
import pathlib
import shutil

import keras
import tensorflow as tf

from tf_deepgifs import run_files
from tf_deepgifs.config import Config
from tf_deepgifs.errors import UserError


class RunError(UserError):
    """The run directory, or the weights given with it, cannot be used."""


def read_run(run_dir):
    """(Config, preset name) from the run's config.json."""
    path = pathlib.Path(run_dir) / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory (no config.json); "
                       "pass the --run-dir a training run wrote.")
    values = json.loads(path.read_text())
    return Config.from_dict(values), values.get("preset", "unknown")


def weights_of(run_dir, weights=None):
    """The weights to use: the given file, model.keras, or the newest checkpoint."""
    if weights:
        if not os.path.exists(weights):
            raise RunError(f"No weights file {weights}.")
        return weights
    finished = os.path.join(run_dir, "model.keras")
    if os.path.exists(finished):
        return finished
    latest = run_files.Checkpoints(os.path.join(run_dir, "checkpoints"), keep=1).latest()
    if latest is None:
        raise RunError(f"{run_dir} has neither model.keras nor a checkpoint.")
    return str(latest)


def load_model(config, weights):
    """The run's DeepGIF with the given weights (a .keras model or a .weights.h5 file)."""
    c = config.model
    video_shape = (config.data.num_frames, c.image_size, c.image_size, c.channels)
    # float32 whatever the training's precision: exports and metrics are float32's.
    model = run_files.build_model(config, video_shape, tf.distribute.get_strategy().scope(),
                                  precision="float32")
    try:
        if weights.endswith(".keras"):
            model.set_weights(keras.saving.load_model(weights).get_weights())
        else:
            model.load_weights(weights)
    except (ValueError, OSError) as error:
        reason = first_line(error).rstrip(":")
        raise RunError(f"{weights} does not hold this run's model ({reason}).") from None
    return model


def first_line(error):
    """An exception's message cut to its first line (Keras' run to dozens)."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


@contextlib.contextmanager
def replaced_when_done(folder):
    """Yields an empty `<folder>.partial` to write into; on success it replaces `folder`.

    If the block raises, the partial folder is removed and `folder` is left as it was:
    an interrupted export or evaluation never leaves files that look finished.
    """
    final = pathlib.Path(folder)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
