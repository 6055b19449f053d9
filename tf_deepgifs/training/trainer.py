"""Training: `python -m tf_deepgifs train` (and `make train`) runs `train(config)`.

The run directory holds everything a run writes and needs to resume:

    config.json          the resolved configuration
    checkpoints/         models and optimizers, every `checkpoint_every` steps and per epoch
    logs/train, logs/validation   TensorBoard scalars
    logs/history.jsonl   the same scalars as JSON lines (TensorFlow-free readers)
    samples/epoch_NNN.gif         ground truth beside generated, per epoch
    best.keras, best.json         the networks at the lowest validation rollout loss
    model.keras          the trained model, at the end

Run the same command again and it resumes from the last checkpoint: the step counter,
the weights, both optimizers and the data order (a function of seed and epoch) all
continue where they stopped.
"""

import os
import time

import keras
import tensorflow as tf

from tf_deepgifs.data import pipeline, pixels, registry
from tf_deepgifs.errors import UserError
from tf_deepgifs.training import distribution, run_directory, samples
from tf_deepgifs.training.run_directory import Checkpoints, check_finite, default_run_dir, write_config

LOG_EVERY = 10  # steps between TensorBoard points


def build_model(config, strategy, video_shape):
    """DeepGIF with its optimizers, variables created under the strategy."""
    return run_directory.build_model(config, video_shape, strategy.scope())


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
    batch = next(iter(pipeline.videos(
        builder, "validation", config.train.sample_sequences, config.data.num_frames,
        config.train.seed)))
    generated = model(batch, training=False)
    samples.write_gif(path, samples.side_by_side(
        pixels.to_uint8(batch.numpy()), pixels.to_uint8(generated.numpy()),
        config.train.context_frames))


def write_scalars(writer, logs, step):
    with writer.as_default(step=step):
        for name, value in logs.items():
            tf.summary.scalar(name, value)


def train(config, preset="paper", stop_after_minutes=None):
    """Trains (or resumes) the run `config` describes; returns the run directory.

    stop_after_minutes: end early with a checkpoint (the same command resumes).
    """
    t = config.train
    deadline = time.monotonic() + 60 * stop_after_minutes if stop_after_minutes else None
    run_dir = t.run_dir or default_run_dir(config, preset)
    strategy = distribution.make_strategy()
    chief = distribution.is_chief(strategy)
    if chief:
        write_config(run_dir, config, preset)
    builder = registry.prepare(config.data)
    frame_shape = builder.info.features["video"].shape[1:]
    video_shape = (config.data.num_frames,) + tuple(frame_shape)
    steps_per_epoch = t.steps_per_epoch or builder.info.splits["train"].num_examples // t.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"The training split has fewer examples than one batch of {t.batch_size}.")
    total_steps = t.epochs * steps_per_epoch

    model = build_model(config, strategy, video_shape)
    checkpoints = Checkpoints(
        os.path.join(distribution.worker_dir(run_dir, strategy), "checkpoints"), t.keep_checkpoints)
    step = run_directory.restore_latest(model, checkpoints, t.init_weights)
    if step >= total_steps:
        print(f"{run_dir} has finished all {total_steps} steps already.")
        return run_dir
    if step:
        print(f"Resuming {run_dir} at step {step} of {total_steps}.")

    train_step = distributed(strategy, model, model.train_step, t.jit_compile)
    validation_step = distributed(strategy, model, model.test_step, t.jit_compile)
    writers = {name: tf.summary.create_file_writer(os.path.join(run_dir, "logs", name))
               for name in ("train", "validation")} if chief else {}
    history = run_directory.History(run_dir) if chief else None
    best = run_directory.BestModel(run_dir, video_shape) if chief else None
    run_started = time.monotonic()
    validation_batches = strategy.experimental_distribute_dataset(
        pipeline.videos(builder, "validation", t.batch_size, config.data.num_frames,
                              t.seed).take(t.validation_steps or -1))

    for epoch in range(step // steps_per_epoch, t.epochs):
        print(f"Epoch {epoch + 1}/{t.epochs}")
        done_in_epoch = step - epoch * steps_per_epoch
        batches = pipeline.videos(
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
                history.write("train", step, logs, seconds=time.monotonic() - run_started)
            if step % t.checkpoint_every == 0:
                checkpoints.save(model, step)
            if deadline and time.monotonic() > deadline:
                checkpoints.save(model, step)
                print(f"\nStopped at step {step} of {total_steps}; the same command resumes.")
                return run_dir
        checkpoints.save(model, step)
        validation = validate(model, validation_step, validation_batches)
        seconds = time.perf_counter() - started
        print("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in validation.items())
              + f" ({seconds:.0f} s for the epoch)")
        if chief:
            write_scalars(writers["validation"], validation, step)
            history.write("validation", step, validation)
            best.offer(model, step, validation)
            os.makedirs(os.path.join(run_dir, "samples"), exist_ok=True)
            write_sample(model, builder, config,
                         os.path.join(run_dir, "samples", f"epoch_{epoch + 1:03d}.gif"))

    if chief:
        model.save(os.path.join(run_dir, "model.keras"))
        print(f"Trained {total_steps} steps; the model is {os.path.join(run_dir, 'model.keras')}.")
    return run_dir
