"""A run directory: what training writes into it, and what is read back and resumed.

Every stage (training on either backend, horizon tuning) writes the same files, and
`evaluate` and `export` read them back, so a run is resumed, evaluated and exported the
same way whoever wrote it; nothing here needs TensorFlow:

    config.json                     the resolved configuration and the preset's name
    checkpoints/step_<N>.weights.h5 models and both optimizers (Keras' own format)
    logs/history.jsonl              one line per logged step and per validation
    best.keras, best.json           the networks at the best validation score so far
    model.keras                     the networks at the end

and the model every stage builds (from scratch or from `TrainConfig.init_weights`), the
weights a finished or interrupted run is read back with, and the divergence check.
"""

import contextlib
import json
import os
import pathlib
import shutil
import time

import keras
import numpy as np

from tf_deepgifs.config import Config
from tf_deepgifs.errors import UserError
from tf_deepgifs.models import DeepGIF


class ConfigMismatchError(UserError):
    """The run directory holds a run of another configuration."""


class TrainingDivergedError(UserError):
    """A loss became NaN or infinite."""


def check_finite(logs, step, run_dir):
    """Stops training with the last good checkpoint's place when a loss is NaN or inf."""
    for name, value in logs.items():
        if not np.all(np.isfinite(value)):
            raise TrainingDivergedError(
                f"Step {step}: {name} became {value}; training stopped. The last good "
                f"checkpoint is in {os.path.join(run_dir, 'checkpoints')}."
            )


def default_run_dir(config, preset):
    return os.path.join("runs", f"{config.data.dataset.replace('/', '-')}-{preset}")


def write_config(run_dir, config, preset):
    """Writes config.json (with the preset's name), or checks that a resumed run has the
    same configuration."""
    path = pathlib.Path(run_dir) / "config.json"
    if path.exists():
        if Config.from_dict(json.loads(path.read_text())) != config:
            raise ConfigMismatchError(
                f"{run_dir} holds a run with another configuration ({path}); "
                "pass --run-dir to start a new run, or the same options to resume it."
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"preset": preset, **json.loads(config.to_json())},
                               indent=2, sort_keys=True))


class Checkpoints:
    """`step_<N>.weights.h5` files in a folder, the newest `keep` of them, each with the
    loop's own state beside it (`step_<N>.json`: seconds spent, the stage's selection state).

    Keras' own weights format: it holds the weights, BatchNorm's moving statistics and
    the optimizers, and loads on any backend. (tf.train.Checkpoint misses the layers
    Keras 3 keeps in Python lists, such as the BatchNorm layers of the conv blocks, and
    would reset them on resume.) Files are written under temporary names and renamed, the
    weights last: a checkpoint exists once its weights file does, and `remove_partial`
    clears what a killed run was half-way through writing.
    """

    def __init__(self, directory, keep):
        self.directory = pathlib.Path(directory)
        self.keep = keep

    def _steps(self):
        names = self.directory.glob("step_*.weights.h5") if self.directory.exists() else []
        return sorted(int(p.name[len("step_") : -len(".weights.h5")]) for p in names)

    def _path(self, step):
        return self.directory / f"step_{step}.weights.h5"

    def _state_path(self, step):
        return self.directory / f"step_{step}.json"

    def latest(self):
        steps = self._steps()
        return self._path(steps[-1]) if steps else None

    def save(self, model, step, state=None):
        """Writes `model`'s weights and optimizers at `step`, with the JSON-able `state`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f"partial_{step}.json"
        partial.write_text(json.dumps(state or {}))
        os.replace(partial, self._state_path(step))
        partial = self.directory / f"partial_{step}.weights.h5"
        model.save_weights(partial)
        os.replace(partial, self._path(step))
        for old in self._steps()[: -self.keep]:
            self._path(old).unlink()
            self._state_path(old).unlink(missing_ok=True)

    def state(self, step):
        """The state saved with the checkpoint of `step` ({} for checkpoints without one)."""
        path = self._state_path(step)
        return json.loads(path.read_text()) if path.exists() else {}

    def remove_partial(self):
        """Deletes files a killed run left half-written (they never become checkpoints)."""
        if self.directory.exists():
            for path in self.directory.glob("partial_*"):
                path.unlink()


def restore_latest(model, checkpoints, init_weights=None):
    """Loads the newest of `checkpoints` into `model`; returns (the step to resume at, the
    state saved with it).

    With no checkpoint yet, the networks start from `init_weights` (a DeepGIF .keras file:
    fine-tuning) where given, else as built (random), at step 0.
    """
    latest = checkpoints.latest()
    if latest:
        model.load_weights(latest)
        step = int(model.g_optimizer.iterations.numpy())
        return step, checkpoints.state(step)
    if init_weights:
        initialise_networks(model, init_weights)
    return 0, {}


def initialise_networks(model, path):
    """Copies the four networks' weights (BatchNorm statistics included) of the DeepGIF
    saved at `path` into `model`; the optimizers and the step start afresh.

    The training settings (context frames, mode, losses) may differ; the networks' sizes
    (`ModelConfig`) must not.
    """
    if not os.path.isfile(path):
        raise UserError(f"init_weights: no such file {path}.")
    try:
        source = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a file that is not a model
        raise UserError(f"init_weights: {path} is not a saved DeepGIF model ({error}).") from None
    if not isinstance(source, DeepGIF) or source.config != model.config:
        raise UserError(f"init_weights: {path} holds other networks than this run's "
                        "configuration describes (its model section must be the same).")
    for name in ("encoder", "decoder", "predictor", "discriminator"):
        getattr(model, name).set_weights(getattr(source, name).get_weights())


@contextlib.contextmanager
def dtype_policy(name):
    """Layers made inside compute with Keras dtype policy `name` ("float32",
    "mixed_bfloat16"); the global policy is restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(config, video_shape, scope=None, precision=None):
    """DeepGIF with its optimizers and all their variables, created inside `scope`.

    video_shape: (T, H, W, C) of one training video. scope: a context manager for the
    variables (a tf.distribute strategy's scope); None creates them plainly. precision:
    the layers' dtype policy; None takes the training's (`TrainConfig.precision`).
    Variables are float32 under every policy, so weights load across precisions.
    """
    t = config.train
    with scope or contextlib.nullcontext(), dtype_policy(precision or t.precision):
        keras.utils.set_random_seed(t.seed)  # the initial weights
        model = DeepGIF.from_configs(config.model, t)
        model.build((None,) + tuple(video_shape))
        model.compile(
            g_optimizer=keras.optimizers.Adam(t.g_learning_rate, t.adam_beta_1, t.adam_beta_2),
            d_optimizer=keras.optimizers.Adam(t.d_learning_rate, t.adam_beta_1, t.adam_beta_2),
        )
        model.build_optimizers()
    return model


def save_inference_model(model, video_shape, path):
    """Writes `model`'s networks alone (no optimizer) as a .keras file, for generation.

    A third of a checkpoint's size: Adam's two slots per weight stay behind.
    """
    twin = DeepGIF.from_config(model.get_config())
    twin.build((None,) + tuple(video_shape))
    twin.set_weights(model.get_weights())
    twin.save(path)


class History:
    """logs/history.jsonl: {"split", "step", losses...} per line, appended across resumes."""

    def __init__(self, run_dir):
        self.path = pathlib.Path(run_dir) / "logs" / "history.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, split, step, values, **extra):
        line = {"split": split, "step": step, **extra,
                **{name: float(value) for name, value in values.items()}}
        with self.path.open("a") as file:
            file.write(json.dumps(line) + "\n")

    def lines(self, split=None):
        """The lines written so far (of one split), as dicts."""
        if not self.path.exists():
            return []
        lines = [json.loads(line) for line in self.path.read_text().splitlines()]
        return [line for line in lines if split is None or line["split"] == split]

    def drop_after(self, step):
        """Forgets the lines of steps after `step`: a run resuming from step's checkpoint
        writes them again, so a killed and resumed run's history is an uninterrupted one's."""
        if self.path.exists():
            kept = [line for line in self.lines() if line["step"] <= step]
            self.path.write_text("".join(json.dumps(line) + "\n" for line in kept))


class TensorBoardScalars:
    """The same scalars for TensorBoard (`tensorboard --logdir runs`), in logs/<split>/.

    Written with TensorBoard's own event-file writer, which needs the `tensorboard`
    package but not TensorFlow, so both backends write them; where the package is
    missing (a GPU machine with JAX alone) they are skipped and history.jsonl holds them.
    """

    def __init__(self, run_dir, log=print):
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:
            log("TensorBoard logs skipped (no tensorboard package); logs/history.jsonl has "
                "every scalar.")
            self.writers = None
            return
        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self.writers = {split: EventFileWriter(str(pathlib.Path(run_dir) / "logs" / split))
                        for split in ("train", "validation")}

    def write(self, split, step, values):
        if self.writers is None:
            return
        summary = self._summary(value=[self._summary.Value(tag=name, simple_value=float(value))
                                       for name, value in values.items()])
        self.writers[split].add_event(self._event(step=step, wall_time=time.time(), summary=summary))
        self.writers[split].flush()

    def close(self):
        for writer in (self.writers or {}).values():
            writer.close()


class BestModel:
    """best.keras and best.json: the networks at the lowest validation score `key`
    (default the rollout MSE; `tune --select-on balls` passes its own score)."""

    def __init__(self, run_dir, video_shape, key="rollout"):
        self.directory = pathlib.Path(run_dir)
        self.video_shape = video_shape
        self.key = key
        (self.directory / "best.partial.keras").unlink(missing_ok=True)  # a killed run's
        record = self.directory / "best.json"
        self.loss = json.loads(record.read_text())[key] if record.exists() else np.inf

    def offer(self, model, step, validation):
        """Keeps the networks if they score lower than the best so far."""
        if validation[self.key] < self.loss:
            self.keep(model, step, validation)

    def keep(self, model, step, validation):
        """Keeps the networks whatever they score (the first candidates of a run)."""
        self.loss = validation[self.key]
        partial = self.directory / "best.partial.keras"
        save_inference_model(model, self.video_shape, partial)
        os.replace(partial, self.directory / "best.keras")
        (self.directory / "best.json").write_text(
            json.dumps({"step": step, **validation}, indent=2, sort_keys=True))


class RunError(UserError):
    """The run directory, or the weights given with it, cannot be used."""


def video_shape_of(config):
    """(T, H, W, C) of one of the run's training videos."""
    c = config.model
    return (config.data.num_frames, c.image_size, c.image_size, c.channels)


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
    latest = Checkpoints(os.path.join(run_dir, "checkpoints"), keep=1).latest()
    if latest is None:
        raise RunError(f"{run_dir} has neither model.keras nor a checkpoint.")
    return str(latest)


def load_model(config, weights):
    """The run's DeepGIF with the given weights (a .keras model or a .weights.h5 file)."""
    # float32 whatever the training's precision: exports and metrics are float32's.
    model = build_model(config, video_shape_of(config), precision="float32")
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
