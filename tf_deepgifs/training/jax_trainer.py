"""Training under JAX: `KERAS_BACKEND=jax python -m tf_deepgifs train ...`.

The same DeepGIF, the same losses (`DeepGIF.compute_losses`) and the same run directory
as the TensorFlow trainer (`train.py`), driven by a stateless train step compiled by XLA,
as in Keras' guide to custom train steps in JAX: variable values in, new values out.
It runs wherever JAX does, a GPU machine without TensorFlow included, and what it writes
loads into the TensorFlow model for `export`, `evaluate` and `generate`.

    run_dir/config.json, checkpoints/  as train.py writes them (resume with either backend)
    run_dir/logs/history.jsonl         one line per logged step and per validation
    run_dir/best.keras, best.json      the networks at the lowest validation rollout loss
    run_dir/model.keras                the model after the last step

Data: Bouncing Balls only, simulated in-process from the (seed, split, index) generators
the TFDS builder uses, so the sequences are the TFDS split's, pixel for pixel, with no
TensorFlow Datasets needed. Moving MNIST needs TFDS's MNIST download: train it with the
TensorFlow backend.

Where it differs from train.py, by design: the training noise comes from jax.random (the
same distributions, other numbers); each epoch visits the split in a permutation drawn
from (seed, epoch), not through a shuffle buffer; one device (no tf.distribute); scalars
go to a JSON-lines file, not TensorBoard (which needs TensorFlow).
"""

import concurrent.futures
import multiprocessing
import os
import time

import jax
import jax.numpy as jnp
import keras
import numpy as np

from tf_deepgifs.data import bouncing_balls, pixels
from tf_deepgifs.training import run_directory
from tf_deepgifs.errors import UserError
from tf_deepgifs.models.deepgif import NOISE_STREAMS

LOG_EVERY = 10  # steps between history lines (each one waits for the device)
SIMULATION_CHUNK = 1_000  # sequences per simulation task


def dataset_config(dataset):
    """The `bouncing_balls.DatasetConfig` of "bouncing_balls" or "bouncing_balls/<config>"."""
    name, _, config_name = dataset.partition("/")
    if name != "bouncing_balls":
        raise UserError(
            f"The JAX trainer simulates Bouncing Balls itself and cannot read '{dataset}': "
            "train it with the TensorFlow backend (leave KERAS_BACKEND unset)."
        )
    config_name = config_name or "paper"
    if config_name not in bouncing_balls.DATASET_CONFIGS:
        raise UserError(f"bouncing_balls has no config '{config_name}'; choose one of "
                        f"{', '.join(bouncing_balls.DATASET_CONFIGS)}.")
    return bouncing_balls.DATASET_CONFIGS[config_name]


def simulated_videos(config, split, count, workers=None):
    """The first `count` videos of a split, uint8 (count, T, H, W, 1), simulated on `workers`
    processes (default: every CPU). Processes are spawned, not forked: JAX's threads
    do not survive a fork."""
    chunks = [range(start, min(start + SIMULATION_CHUNK, count))
              for start in range(0, count, SIMULATION_CHUNK)]
    workers = min(len(chunks), workers or os.cpu_count() or 1)
    if workers <= 1:
        return np.concatenate([bouncing_balls.dataset_videos(config, split, c) for c in chunks])
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = pool.map(bouncing_balls.dataset_videos, [config] * len(chunks),
                         [split] * len(chunks), chunks)
        return np.concatenate(list(parts))


class JaxSteps:
    """DeepGIF's train and validation steps as pure functions of the variables' values.

    state: (generator values, discriminator values, non-trainable values (BatchNorm's
    moving statistics), g_optimizer values, d_optimizer values), lists of arrays in the
    order of `model.generator_variables`, `model.discriminator.trainable_variables`,
    `model.non_trainable_variables` and each optimizer's `variables`.
    """

    def __init__(self, model):
        self.model = model
        self.generator = list(model.generator_variables)
        self.discriminator = list(model.discriminator.trainable_variables)
        self.non_trainable = list(model.non_trainable_variables)
        self.optimizers = (model.g_optimizer, model.d_optimizer)
        self.train_step = jax.jit(self._train_step, donate_argnums=0)
        self.validation_step = jax.jit(self._validation_step)

    def _groups(self):
        """The variables a state holds values of, in its order."""
        return (self.generator, self.discriminator, self.non_trainable,
                self.optimizers[0].variables, self.optimizers[1].variables)

    def state(self):
        """Copies of the model's and optimizers' current values, as a state (the train
        step consumes its state's buffers, so the variables keep their own)."""
        return tuple([jnp.array(v.value) for v in group] for group in self._groups())

    def write_back(self, state):
        """Assigns a state's values to the model's and optimizers' variables."""
        for group, values in zip(self._groups(), state):
            for variable, value in zip(group, values):
                variable.assign(value)

    def _noise(self, step, batch, frames):
        """Per-step noise streams {name: (batch, ...)} from (model seed, step, stream)."""
        step_key = jax.random.fold_in(jax.random.key(self.model.seed), step)
        noise = {}
        for name, shape in self.model.noise_shapes(frames).items():
            key = jax.random.fold_in(step_key, NOISE_STREAMS[name])
            draw = jax.random.uniform if name == "coin" else jax.random.normal
            noise[name] = draw(key, (batch,) + tuple(shape))
        return noise

    def _mapping(self, generator, discriminator, non_trainable):
        """(variable, value) pairs for a keras.StatelessScope over the model's variables."""
        return (list(zip(self.generator, generator))
                + list(zip(self.discriminator, discriminator))
                + list(zip(self.non_trainable, non_trainable)))

    def _losses(self, generator, discriminator, non_trainable, videos, noise, probability):
        """Training-mode compute_losses with the given values; returns (losses, new
        non-trainable values)."""
        mapping = self._mapping(generator, discriminator, non_trainable)
        with keras.StatelessScope(state_mapping=mapping) as scope:
            values = self.model.compute_losses(videos, noise, True, probability)
        return values, [scope.get_current_value(v) for v in self.non_trainable]

    def _train_step(self, state, frames, step):
        """One update of both players: state, uint8 (B, T, H, W, C), step --> state, losses.

        As in DeepGIF.train_step, one forward pass; the generator's loss moves the
        generator's variables and the discriminator's loss the discriminator's.
        """
        generator, discriminator, non_trainable, g_slots, d_slots = state
        videos = pixels.from_uint8(frames)
        noise = self._noise(step, videos.shape[0], videos.shape[1])
        probability = self.model.sampling_probability(step)

        def objectives(generator, discriminator):
            values, updated = self._losses(generator, discriminator, non_trainable, videos,
                                           noise, probability)
            return (values["g_loss"], values["d_loss"]), (values, updated)

        (g_loss, _), backward, (values, non_trainable) = jax.vjp(
            objectives, generator, discriminator, has_aux=True)
        one, zero = jnp.ones_like(g_loss), jnp.zeros_like(g_loss)
        g_gradients, _ = backward((one, zero))
        _, d_gradients = backward((zero, one))
        generator, g_slots = self.optimizers[0].stateless_apply(g_slots, g_gradients, generator)
        discriminator, d_slots = self.optimizers[1].stateless_apply(
            d_slots, d_gradients, discriminator)
        return (generator, discriminator, non_trainable, g_slots, d_slots), values

    def _validation_step(self, state, frames):
        """`DeepGIF.validation_losses` with the state's values."""
        with keras.StatelessScope(state_mapping=self._mapping(*state[:3])):
            return self.model.validation_losses(pixels.from_uint8(frames))


def validate(steps, state, videos, batch_size):
    """Mean of each validation loss over `videos` in batches (the last partial one dropped)."""
    totals, batches = {}, 0
    for start in range(0, len(videos) - batch_size + 1, batch_size):
        values = steps.validation_step(state, videos[start : start + batch_size])
        for name, value in values.items():
            totals[name] = totals.get(name, 0.0) + float(value)
        batches += 1
    return {name: total / batches for name, total in totals.items()}


def train(config, preset="paper", stop_after_minutes=None, stop_at_step=None):
    """Trains (or resumes) the run `config` describes under JAX; returns the run directory.

    stop_after_minutes / stop_at_step: end early (checkpointed and validated; the same
    command resumes), for a time-limited machine or a look at the first steps.
    """
    t = config.train
    dataset = dataset_config(config.data.dataset)
    if config.data.num_frames > dataset.num_frames or config.model.image_size != dataset.image_size:
        raise UserError(
            f"{config.data.dataset} has {dataset.num_frames} frames of {dataset.image_size} px; "
            f"the configuration asks for {config.data.num_frames} of {config.model.image_size}."
        )
    run_dir = t.run_dir or run_directory.default_run_dir(config, preset)
    run_directory.write_config(run_dir, config, preset)
    deadline = time.monotonic() + 60 * stop_after_minutes if stop_after_minutes else np.inf

    sizes = dict(dataset.split_sizes)
    cap = config.data.max_examples_per_split or max(sizes.values())
    train_count = min(sizes["train"], cap)
    validation_count = min(sizes["validation"], cap,
                           (t.validation_steps or sizes["validation"]) * t.batch_size)
    started = time.monotonic()
    train_videos = simulated_videos(dataset, "train", train_count)[:, : config.data.num_frames]
    validation_videos = simulated_videos(
        dataset, "validation", validation_count)[:, : config.data.num_frames]
    print(f"Simulated {train_count} training and {validation_count} validation sequences "
          f"in {time.monotonic() - started:.0f} s.", flush=True)

    steps_per_epoch = t.steps_per_epoch or train_count // t.batch_size
    if steps_per_epoch < 1 or validation_count < t.batch_size:
        raise UserError(f"The splits have fewer examples than one batch of {t.batch_size}.")
    total_steps = t.epochs * steps_per_epoch
    video_shape = train_videos.shape[1:]
    model = run_directory.build_model(config, video_shape)
    checkpoints = run_directory.Checkpoints(os.path.join(run_dir, "checkpoints"), t.keep_checkpoints)
    step = run_directory.restore_latest(model, checkpoints, t.init_weights)
    if step >= total_steps:
        print(f"{run_dir} has finished all {total_steps} steps already.")
        return run_dir
    print(f"{'Resuming' if step else 'Training'} {run_dir} at step {step} of {total_steps} "
          f"on {jax.devices()[0].platform}.", flush=True)

    steps = JaxSteps(model)
    history, best = run_directory.History(run_dir), run_directory.BestModel(run_dir, video_shape)
    state = steps.state()

    def checkpoint_and_validate():
        steps.write_back(state)
        checkpoints.save(model, step)
        validation = validate(steps, state, validation_videos, t.batch_size)
        history.write("validation", step, validation)
        best.offer(model, step, validation)
        return validation

    stopping = False
    for epoch in range(step // steps_per_epoch, t.epochs):
        order = np.random.default_rng([t.seed, epoch]).permutation(train_count)
        epoch_started, first_step = time.monotonic(), step
        for index in range(step - epoch * steps_per_epoch, steps_per_epoch):
            batch = order[np.arange(index * t.batch_size, (index + 1) * t.batch_size) % train_count]
            state, values = steps.train_step(state, train_videos[batch], step)
            step += 1
            if step % LOG_EVERY == 0 or index == steps_per_epoch - 1:
                values = {name: float(value) for name, value in values.items()}
                run_directory.check_finite(values, step, run_dir)
                history.write("train", step, values, seconds=time.monotonic() - started)
            if step % t.checkpoint_every == 0 and index < steps_per_epoch - 1:
                steps.write_back(state)
                checkpoints.save(model, step)
            stopping = time.monotonic() > deadline or step == stop_at_step
            if stopping:
                break
        seconds = time.monotonic() - epoch_started
        validation = checkpoint_and_validate()
        print(f"Epoch {epoch + 1}/{t.epochs}, step {step}: "
              + ", ".join(f"{k} {v:.4g}" for k, v in validation.items())
              + f" ({(step - first_step) / max(seconds, 1e-9):.1f} steps/s)", flush=True)
        if stopping:
            print(f"Stopped at step {step} of {total_steps}; the same command resumes.")
            return run_dir

    model.save(os.path.join(run_dir, "model.keras"))
    print(f"Trained {total_steps} steps; the model is {os.path.join(run_dir, 'model.keras')}, "
          f"the best on validation {os.path.join(run_dir, 'best.keras')}.")
    return run_dir
