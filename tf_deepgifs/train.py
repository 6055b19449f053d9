"""Training: `python -m tf_deepgifs train` (and `make train`) runs `train(config)`.

The run directory holds everything a run writes and needs to resume:

    config.json          the resolved configuration
    checkpoints/         models and optimizers, every `checkpoint_every` steps and per epoch
    logs/train, logs/validation   TensorBoard scalars
    samples/epoch_NNN.gif         ground truth beside generated, per epoch
    model.keras          the trained model, at the end

Run the same command again and it resumes from the last checkpoint: the step counter,
the weights, both optimizers and the data order (a function of seed and epoch) all
continue where they stopped.
"""

import json
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from tf_deepgifs import data, distribution, input_pipeline, samples
from tf_deepgifs.config import Config
from tf_deepgifs.errors import UserError
from tf_deepgifs.models import DeepGIF

SMALL_DATA_DIR = "runs/tfds_small"  # where slices for quick checks are built
LOG_EVERY = 10  # steps between TensorBoard points


class TrainingDivergedError(UserError):
    """A loss became NaN or infinite."""


class ConfigMismatchError(UserError):
    """The run directory holds a run of another configuration."""


def default_run_dir(config, preset):
    return os.path.join("runs", f"{config.data.dataset.replace('/', '-')}-{preset}")


def data_dir_of(config):
    """The TFDS data directory: slices for quick checks get their own."""
    if config.data.data_dir or config.data.max_examples_per_split is None:
        return config.data.data_dir
    return os.path.abspath(SMALL_DATA_DIR)


def prepare_dataset(config):
    """The dataset's builder, building the data first if it is not there."""
    data_dir = data_dir_of(config)
    if not data.is_built(config.data.dataset, data_dir):
        print(f"Building {config.data.dataset} first (tfds build)...", flush=True)
        data.build(config.data.dataset, data_dir, config.data.manual_dir,
                   config.data.max_examples_per_split)
    return data.builder(config.data.dataset, data_dir)


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
    """`step_<N>.weights.h5` files in a folder, the newest `keep` of them.

    Keras' own weights format: it holds the weights, BatchNorm's moving statistics and
    both optimizers. (tf.train.Checkpoint misses the layers Keras 3 keeps in Python lists,
    such as the BatchNorm layers of the conv blocks, and would reset them on resume.)
    A file is written under a temporary name and renamed, so a killed run never leaves a
    half-written newest checkpoint.
    """

    def __init__(self, directory, keep):
        self.directory = pathlib.Path(directory)
        self.keep = keep

    def _steps(self):
        names = self.directory.glob("step_*.weights.h5") if self.directory.exists() else []
        return sorted(int(p.name[len("step_") : -len(".weights.h5")]) for p in names)

    def _path(self, step):
        return self.directory / f"step_{step}.weights.h5"

    def latest(self):
        steps = self._steps()
        return self._path(steps[-1]) if steps else None

    def save(self, model, step):
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f"partial_{step}.weights.h5"
        model.save_weights(partial)
        os.replace(partial, self._path(step))
        for old in self._steps()[: -self.keep]:
            self._path(old).unlink()


def build_model(config, strategy, video_shape):
    """DeepGIF with its optimizers, variables created under the strategy."""
    t = config.train
    with strategy.scope():
        keras.utils.set_random_seed(t.seed)  # the initial weights
        model = DeepGIF.from_configs(config.model, t)
        model.build((None,) + tuple(video_shape))
        model.compile(
            g_optimizer=keras.optimizers.Adam(t.g_learning_rate, t.adam_beta_1, t.adam_beta_2),
            d_optimizer=keras.optimizers.Adam(t.d_learning_rate, t.adam_beta_1, t.adam_beta_2),
        )
        model.build_optimizers()
    return model


def distributed(strategy, model, step_fn, jit_compile=False):
    """A compiled function running `step_fn` on every replica; returns the metrics.

    jit_compile: XLA-compile each replica's step (TrainConfig.jit_compile).
    """
    if jit_compile:
        step_fn = tf.function(step_fn, jit_compile=True)

    @tf.function
    def run(batch):
        names = strategy.run(step_fn, args=(batch,)).keys()
        # Read the trackers in cross-replica context: their sums span every replica.
        return {name: model.trackers[name].result() for name in names}

    return run


def check_finite(logs, step, run_dir):
    for name, value in logs.items():
        if not np.isfinite(value):
            raise TrainingDivergedError(
                f"Step {step}: {name} became {value}; training stopped. The last good "
                f"checkpoint is in {os.path.join(run_dir, 'checkpoints')}."
            )


def reset_trackers(model):
    for tracker in model.metrics:
        tracker.reset_state()


def validate(model, validation_step, batches):
    reset_trackers(model)
    logs = {}
    for batch in batches:
        logs = validation_step(batch)
    return {name: float(value) for name, value in logs.items()}


def write_sample(model, builder, config, path):
    """A GIF of `sample_sequences` validation videos beside their deterministic rollout."""
    batch = next(iter(input_pipeline.videos(
        builder, "validation", config.train.sample_sequences, config.data.num_frames,
        config.train.seed)))
    generated = model(batch, training=False)
    samples.write_gif(path, samples.side_by_side(
        input_pipeline.to_pixels(batch).numpy(), input_pipeline.to_pixels(generated).numpy(),
        config.train.context_frames))


def write_scalars(writer, logs, step):
    with writer.as_default(step=step):
        for name, value in logs.items():
            tf.summary.scalar(name, value)


def train(config, preset="paper"):
    """Trains (or resumes) the run `config` describes; returns the run directory."""
    t = config.train
    run_dir = t.run_dir or default_run_dir(config, preset)
    strategy = distribution.make_strategy()
    chief = distribution.is_chief(strategy)
    if chief:
        write_config(run_dir, config, preset)
    builder = prepare_dataset(config)
    frame_shape = builder.info.features["video"].shape[1:]
    video_shape = (config.data.num_frames,) + tuple(frame_shape)
    steps_per_epoch = t.steps_per_epoch or builder.info.splits["train"].num_examples // t.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"The training split has fewer examples than one batch of {t.batch_size}.")
    total_steps = t.epochs * steps_per_epoch

    model = build_model(config, strategy, video_shape)
    checkpoints = Checkpoints(
        os.path.join(distribution.worker_dir(run_dir, strategy), "checkpoints"), t.keep_checkpoints)
    if checkpoints.latest():
        model.load_weights(checkpoints.latest())
    step = int(model.g_optimizer.iterations.numpy())
    if step >= total_steps:
        print(f"{run_dir} has finished all {total_steps} steps already.")
        return run_dir
    if step:
        print(f"Resuming {run_dir} at step {step} of {total_steps}.")

    train_step = distributed(strategy, model, model.train_step, t.jit_compile)
    validation_step = distributed(strategy, model, model.test_step, t.jit_compile)
    writers = {name: tf.summary.create_file_writer(os.path.join(run_dir, "logs", name))
               for name in ("train", "validation")} if chief else {}
    validation_batches = strategy.experimental_distribute_dataset(
        input_pipeline.videos(builder, "validation", t.batch_size, config.data.num_frames,
                              t.seed).take(t.validation_steps or -1))

    for epoch in range(step // steps_per_epoch, t.epochs):
        print(f"Epoch {epoch + 1}/{t.epochs}")
        done_in_epoch = step - epoch * steps_per_epoch
        batches = input_pipeline.videos(
            builder, "train", t.batch_size, config.data.num_frames, t.seed, epoch,
            config.data.shuffle_buffer, repeat=True,
        ).take(steps_per_epoch).skip(done_in_epoch)
        progress = keras.utils.Progbar(steps_per_epoch, stateful_metrics=[m.name for m in model.metrics])
        reset_trackers(model)
        started = time.perf_counter()
        for batch in strategy.experimental_distribute_dataset(batches):
            logs = {name: float(value) for name, value in train_step(batch).items()}
            step += 1
            check_finite(logs, step, run_dir)
            progress.update(step - epoch * steps_per_epoch, list(logs.items()))
            if chief and step % LOG_EVERY == 0:
                write_scalars(writers["train"], logs, step)
            if step % t.checkpoint_every == 0:
                checkpoints.save(model, step)
        checkpoints.save(model, step)
        validation = validate(model, validation_step, validation_batches)
        seconds = time.perf_counter() - started
        print("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in validation.items())
              + f" ({seconds:.0f} s for the epoch)")
        if chief:
            write_scalars(writers["validation"], validation, step)
            os.makedirs(os.path.join(run_dir, "samples"), exist_ok=True)
            write_sample(model, builder, config,
                         os.path.join(run_dir, "samples", f"epoch_{epoch + 1:03d}.gif"))

    if chief:
        model.save(os.path.join(run_dir, "model.keras"))
        print(f"Trained {total_steps} steps; the model is {os.path.join(run_dir, 'model.keras')}.")
    return run_dir
