"""Horizon tuning: a trained run's LSTM trained on its own predictions over the horizon.

Section 6 of the paper traces drifting balls to teacher forcing (every step restarts
from the ground truth, so compounding errors are never penalised) and proposes training
over longer sequences. Doing that to the whole model, with the image MSE of a 17-frame
rollout, blurred every run we made (RESULTS.md). This stage does it in latent space:

    frozen encoder:  the split's frames --> latent means z, (N, T, L), computed once
    LSTM:            z[0..K-1] --> z_hat[K]; then feed(z_hat[t]) --> z_hat[t+1]
    loss:            mean (z_hat - z)^2 over all T - K frames
                     + first_frame_weight * image MSE of decoder(z_hat[K]) vs decoder(z[K])
                     + manifold_weight * mean (feed(z_hat) - z_hat)^2   ("frames" only)

With `augment="reverse"` each training sequence of a batch is read backwards with
probability 1/2: elastic bouncing is time-reversible (tests/test_bouncing_balls.py), and
a frame's z does not depend on its neighbours. Only the predictor's variables change; the
encoder, decoder and discriminator are the source run's. `feedback` says what `feed` is,
and the tuned run generates the same way (`ModelConfig.generation_feedback`), so users
get the rollout tuning trained. "latent" feeds the prediction itself (0.2 s a step of 128
on 2 CPU cores): generation then never re-encodes a frame. "frames" decodes and
re-encodes it, as the paper's generation does, with the gradient passed straight through
(0.45 s a step of 32). The round trip keeps a real frame's latent to 0.14 % of its
variance but moves a predicted one much more: the networks tuned on latents drifted
twice as far by the last frame when they generated through frames (results/notes.md).

Before the first step and every `validate_every` steps the validation sequences are
generated as users generate them, and best.keras keeps the best networks, the source's
included: by default those of the lowest MSE, as in a training run (the latent loss
falls steadily while the last frames can get worse, results/notes.md); with
`select_on="balls"` those whose balls are closest to the truth among the steps that
kept the source's right-ball count (as the source run generates), which the MSE lets the
frames stage trade away.
The output is an ordinary run directory (config.json, logs/history.jsonl, best.keras,
model.keras) that `evaluate` and `export` take as they take a training run. Until it
finishes it also holds tuning_checkpoint.npz, written at every validation: the same
command resumes an interrupted tuning from there (the split is encoded again) and ends
where an uninterrupted one would.
"""

import dataclasses
import json
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tf_deepgifs.data import ball_detector, pipeline, pixels, registry
from tf_deepgifs.training import run_directory
from tf_deepgifs.errors import UserError

TUNING_FILE = "tuning.json"  # the HorizonTuningConfig and where the networks came from
CHECKPOINT_FILE = "tuning_checkpoint.npz"  # the state at the last validation; gone when done


def split_batches(builder, split, num_frames, limit, batch_size):
    """The first `limit` videos of a split (0: all) in batches, float32 in [0, 1]."""
    taken = 0
    for videos in pipeline.videos(builder, split, batch_size, num_frames, seed=0):
        videos = videos[: limit - taken] if limit else videos
        taken += videos.shape[0]
        yield videos
        if limit and taken >= limit:
            return


def encode(model, batches):
    """Encoder means of videos (B, T, H, W, C) batches: float32 (N, T, latent_dim).

    Deterministic (z = mean), with BatchNorm's moving statistics, as generation encodes.
    """
    means = tf.function(lambda videos: model.encode_sequence(
        videos, tf.zeros(tf.concat([tf.shape(videos)[:2], [model.config.latent_dim]], 0)),
        training=False)[0])
    encoded = [means(videos).numpy() for videos in batches]
    if not encoded:
        raise UserError("No sequences to encode: the split is smaller than one batch.")
    return np.concatenate(encoded)


def latent_rollout(model, latents, context_frames):
    """The LSTM fed its own predictions as the model generates: latents (B, T, L) -->
    (predicted (B, T - K, L), fed back (B, T - K - 1, L)).

    After the K context latents, each prediction goes through `model.generation_step`
    and its next input is read: the prediction itself ("latent" feedback) or its frame
    re-encoded ("frames"), with the gradient passed as if that round trip were the
    identity (straight through). With the gradient of the frozen networks too, the LSTM
    learnt to make faint balls whose round trip lands near the truth, and the right
    count fell from 98% to 78% (results/notes.md).
    """
    state = model.predictor.initial_state(ops.shape(latents)[0])
    for k in range(context_frames):
        predicted, state = model.predictor.step(latents[:, k], state)
    predictions, fed_back = [predicted], []
    for _ in range(latents.shape[1] - context_frames - 1):
        _, next_input = model.generation_step(predicted)
        fed_back.append(ops.stop_gradient(next_input))
        straight_through = predicted + (fed_back[-1] - ops.stop_gradient(predicted))
        predicted, state = model.predictor.step(straight_through, state)
        predictions.append(predicted)
    return ops.stack(predictions, axis=1), ops.stack(fed_back, axis=1)


def horizon_losses(model, latents, context_frames, first_frame_weight, manifold_weight=0.0):
    """{"latent": per-frame latent MSE (T - K,), "first_frame": image MSE, "manifold":
    latent MSE of the fed-back inputs to the predictions they come from (0 with "latent"
    feedback), "loss": latent MSE + first_frame_weight * first_frame + manifold_weight *
    manifold}.

    latents (B, T, L): the encoder's means of real videos. The first frame's target is the
    decoder's rendering of the true latent, so no pixels are needed. The rollout feeds
    back as the model generates (`latent_rollout`). The manifold term pulls a prediction
    towards the latent of the frame it decodes to, where a real frame's latent already is
    (it survives the round trip to 0.14 % of its variance).
    """
    predicted, fed_back = latent_rollout(model, latents, context_frames)
    per_frame = ops.mean(ops.square(predicted - latents[:, context_frames:]), axis=(0, 2))
    first = model.decoder(predicted[:, 0], training=False)  # in [-1, 1], as the losses
    target = ops.stop_gradient(model.decoder(latents[:, context_frames], training=False))
    first_frame = ops.mean(ops.square(first - target))
    manifold = ops.mean(ops.square(fed_back - predicted[:, :-1]))
    loss = ops.mean(per_frame) + first_frame_weight * first_frame + manifold_weight * manifold
    return {"latent": per_frame, "first_frame": first_frame, "manifold": manifold, "loss": loss}


def reverse_some(latents, rng):
    """latents (B, T, L) with each sequence, with probability 1/2, in reverse time order.

    The rows to reverse are drawn from `rng` (the batch order's generator, so a resumed
    tuning draws what an uninterrupted one would).
    """
    backwards = rng.random(len(latents)) < 0.5
    return np.where(backwards[:, None, None], latents[:, ::-1], latents)


def learning_rate_schedule(options):
    """Adam's learning rate: the constant `options.learning_rate`, or its cosine decay to 0
    over `options.steps` (the optimizer's iterations count the steps taken)."""
    if options.learning_rate_decay == "cosine":
        return keras.optimizers.schedules.CosineDecay(options.learning_rate, options.steps)
    return options.learning_rate


class HorizonTuner:
    """Adam on the predictor's variables alone, one `step` per batch of latents."""

    def __init__(self, model, context_frames, options):
        self.model = model
        self.context_frames = context_frames
        self.weight = options.first_frame_weight
        self.manifold_weight = options.manifold_weight
        self.optimizer = keras.optimizers.Adam(learning_rate_schedule(options))
        self.variables = model.predictor.trainable_variables
        self.optimizer.build(self.variables)
        self.step = tf.function(self._step)
        self.validate = tf.function(self._losses)
        self.generate = tf.function(lambda videos: model(videos, training=False))

    def _losses(self, latents):
        return horizon_losses(self.model, latents, self.context_frames, self.weight,
                              self.manifold_weight)

    def _step(self, latents):
        with tf.GradientTape() as tape:
            values = self._losses(latents)
        gradients = tape.gradient(values["loss"], self.variables)
        self.optimizer.apply_gradients(zip(gradients, self.variables))
        return values


def validation_balls(builder, num_frames, count, batch_size):
    """The true ball centres of the first `count` validation sequences, in the stored
    order `split_batches` reads: (positions (count, T, n, 2) in pixels, radius in pixels),
    or None where the dataset does not store them."""
    if "positions" not in builder.info.features:
        return None
    batches = list(pipeline.examples(builder, "validation", num_frames, batch_size, count))
    return (np.concatenate([batch["positions"] for batch in batches]),
            float(batches[0]["radius"][0]))


def validation_scores(generate, batches, context_frames, balls=None):
    """The frames generated from the batches of videos (re-encoded and fed back, as
    shipped) against the truth: {"rollout": their MSE, what training runs select on too},
    and with `balls` (`validation_balls`) the ball detector's "centre_error" (px, mean
    over sequences and frames) and "right_count" (fraction of frames)."""
    errors, centre_errors, right_counts, start = [], [], [], 0
    for videos in batches:
        generated = generate(videos).numpy()
        errors.append(np.mean(np.square(pixels.to_network_range(generated) - pixels.to_network_range(
            videos[:, context_frames:].numpy()))))  # on [-1, 1], as training validates
        if balls is not None:
            positions = balls[0][start:start + len(generated), context_frames:]
            found = ball_detector.motion_metrics(generated.mean(axis=-1), positions, balls[1])
            centre_errors.append(found["centre_error"])
            right_counts.append(found["right_count"])
        start += len(generated)
    weights = [videos.shape[0] for videos in batches]
    scores = {"rollout": float(np.average(errors, weights=weights))}
    if balls is not None:
        scores["centre_error"] = float(np.nanmean(np.concatenate(centre_errors)))
        scores["right_count"] = float(np.mean(np.concatenate(right_counts)))
    return scores


def ball_selection_score(scores, least_right_count):
    """What `select_on` "balls" minimises: the mean centre error, or infinity where the
    right count fell below `least_right_count` (the source networks') or no ball was found."""
    if scores["right_count"] < least_right_count or np.isnan(scores["centre_error"]):
        return float("inf")
    return scores["centre_error"]


def summary(values):
    """Scalars for the log: the loss, the first-frame MSE, the latent MSE's mean and ends."""
    latent = np.asarray(values["latent"])
    return {"loss": float(values["loss"]), "first_frame": float(values["first_frame"]),
            "manifold": float(values["manifold"]),
            "latent": float(latent.mean()), "latent_first": float(latent[0]),
            "latent_last": float(latent[-1])}


class TuningCheckpoint:
    """tuning_checkpoint.npz: what an interrupted tuning resumes from.

    The predictor's weights, Adam's variables (its step count among them), the batch
    order's generator state and the small state `tune` keeps (step, the right count the
    ball selection compares with, seconds spent): enough for a resumed run to draw the
    same batches and end where an uninterrupted one would. Written under a temporary name
    and renamed, so a killed run never leaves half of one.
    """

    def __init__(self, run_dir):
        self.path = pathlib.Path(run_dir) / CHECKPOINT_FILE

    def exists(self):
        return self.path.exists()

    def save(self, tuner, order, **state):
        arrays = {f"predictor_{i}": w for i, w in enumerate(tuner.model.predictor.get_weights())}
        arrays.update({f"optimizer_{i}": v.numpy() for i, v in enumerate(tuner.optimizer.variables)})
        state = {**state, "batch_order": order.bit_generator.state}
        partial = self.path.with_name("tuning_checkpoint.partial.npz")
        with partial.open("wb") as file:
            np.savez(file, state=json.dumps(state), **arrays)
        os.replace(partial, self.path)

    def restore(self, tuner, order):
        """Loads the saved weights into `tuner` and the generator state into `order`;
        returns the rest of the state (step, least_right_count, seconds)."""
        with np.load(self.path) as saved:
            state = json.loads(str(saved["state"]))
            tuner.model.predictor.set_weights(
                [saved[f"predictor_{i}"] for i in range(len(tuner.model.predictor.weights))])
            for i, variable in enumerate(tuner.optimizer.variables):
                variable.assign(saved[f"optimizer_{i}"])
        order.bit_generator.state = state.pop("batch_order")
        return state

    def remove(self):
        self.path.unlink(missing_ok=True)


def generating_as_tuned(source_config, options):
    """The tuned run's Config: the source's, generating with the feedback it is tuned on
    (`ModelConfig.generation_feedback`), so that validation and users roll out what
    tuning trained."""
    model = dataclasses.replace(source_config.model, generation_feedback=options.feedback)
    return dataclasses.replace(source_config, model=model)


def source_right_count(source_config, source, videos, context_frames, balls):
    """The right-ball count of the source networks as the source run generates them:
    what `select_on="balls"` must keep when tuning changes how the networks generate."""
    source_model = run_directory.load_model(source_config, source)
    generate = tf.function(lambda batch: source_model(batch, training=False))
    return validation_scores(generate, videos, context_frames, balls)["right_count"]


def prepare_run_dir(source_dir, run_dir, config, preset, record):
    """Writes the new run's config.json (`generating_as_tuned`) and tuning.json, or finds
    in `run_dir` an unfinished tuning of the same networks with the same options; refuses
    the source and any other run. Returns whether there is a checkpoint to resume from.
    """
    source_dir, run_dir = pathlib.Path(source_dir), pathlib.Path(run_dir)
    if run_dir.resolve() == source_dir.resolve():
        raise UserError("--run-dir must be a new directory: tuning would overwrite the "
                        "source run's networks.")
    if (run_dir / "config.json").exists():
        return _check_unfinished_tuning(run_dir, config, preset, record)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_directory.write_config(run_dir, config, preset)
    (run_dir / TUNING_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
    return False


def _check_unfinished_tuning(run_dir, config, preset, record):
    tuning = run_dir / TUNING_FILE
    if (run_dir / "model.keras").exists() or not tuning.exists():
        raise UserError(f"{run_dir} already holds a run; pass a new --run-dir.")
    if json.loads(tuning.read_text()) != json.loads(json.dumps(record)):
        raise UserError(f"{run_dir} holds an unfinished tuning of other networks or options "
                        f"({tuning}); pass the same ones to resume it, or a new --run-dir.")
    run_directory.write_config(run_dir, config, preset)  # checks it is the one written before
    if TuningCheckpoint(run_dir).exists():
        return True
    for stale in ("logs/history.jsonl", "best.json", "best.keras"):  # stopped before step 0 ended
        (run_dir / stale).unlink(missing_ok=True)
    return False


def tune(source_dir, run_dir, options, weights=None, log=print):
    """Tunes the predictor of `source_dir`'s networks (`weights`, default its model.keras
    or newest checkpoint) and writes the run `run_dir`.

    The source networks are validated first (step 0) and compete too, so best.keras is
    never worse than them on the selection score. Returns the best score: the lowest
    validation rollout MSE, or with select_on "balls" `ball_selection_score`.
    """
    source_config, preset = run_directory.read_run(source_dir)
    config = generating_as_tuned(source_config, options)
    source = run_directory.weights_of(source_dir, weights)
    builder = registry.prepare(config.data)
    if options.select_on == "balls" and "positions" not in builder.info.features:
        raise UserError(f"--select-on balls needs the balls' true positions, which "
                        f"{config.data.dataset} does not store; use --select-on rollout.")
    record = {"source_run": str(source_dir), "source_weights": str(source),
              **dataclasses.asdict(options)}
    model = run_directory.load_model(config, source)
    resuming = prepare_run_dir(source_dir, run_dir, config, preset, record)
    k, frames = config.train.context_frames, config.data.num_frames
    video_shape = (frames,) + tuple(builder.info.features["video"].shape[1:])

    started, seconds_before = time.perf_counter(), 0.0

    def seconds():
        return seconds_before + time.perf_counter() - started

    training = encode(model, split_batches(builder, "train", frames, options.training_sequences,
                                           options.encode_batch_size))
    validation_videos = list(split_batches(
        builder, "validation", frames, options.validation_sequences, options.encode_batch_size))
    validation = tf.constant(encode(model, validation_videos))
    balls = validation_balls(builder, frames, len(validation), options.encode_batch_size)
    log(f"Encoded {len(training)} training and {len(validation)} validation sequences "
        f"in {time.perf_counter() - started:.0f} s.")

    tuner = HorizonTuner(model, k, options)
    history = run_directory.History(run_dir)
    best = run_directory.BestModel(run_dir, video_shape, key=options.select_on)
    checkpoint = TuningCheckpoint(run_dir)
    order = np.random.default_rng(options.seed)
    least_right_count = None

    def validate(step, train_loss=None):
        nonlocal least_right_count
        checked = {**summary(tuner.validate(validation)),
                   **validation_scores(tuner.generate, validation_videos, k, balls)}
        if options.select_on == "balls":
            if least_right_count is None and config == source_config:
                least_right_count = float(checked["right_count"])  # step 0 is the source
            elif least_right_count is None:  # step 0 generates otherwise than the source
                least_right_count = source_right_count(source_config, source,
                                                       validation_videos, k, balls)
                log(f"The source networks as the source run generates them: right count "
                    f"{least_right_count:.2%}, the least a selected step must keep.")
            checked["balls"] = ball_selection_score(checked, least_right_count)
        history.write("validation", step, checked)
        (best.keep if step == 0 else best.offer)(model, step, checked)
        balls_text = (f", centre error {checked['centre_error']:.2f} px, right count "
                      f"{checked['right_count']:.2%}" if balls is not None else "")
        trained = "" if train_loss is None else f"train loss {train_loss:.4f}; "
        log(f"step {step}: {trained}validation loss {checked['loss']:.4f} (latent {checked['latent']:.4f}, "
            f"first frame {checked['first_frame']:.5f}, manifold {checked['manifold']:.4f}), "
            f"rollout MSE {checked['rollout']:.4f}{balls_text}")
        checkpoint.save(tuner, order, step=step, least_right_count=least_right_count,
                        seconds=seconds())

    if resuming:
        state = checkpoint.restore(tuner, order)
        first_step, least_right_count = state["step"] + 1, state["least_right_count"]
        started, seconds_before = time.perf_counter(), state["seconds"]  # encoding counts once
        history.drop_after(state["step"])  # what was written after the checkpoint is redone
        log(f"Resuming at step {first_step} of {options.steps}.")
    else:
        validate(0)
        first_step = 1
    for step in range(first_step, options.steps + 1):
        batch = training[order.integers(0, len(training), options.batch_size)]
        if options.augment == "reverse":
            batch = reverse_some(batch, order)
        values = tuner.step(tf.constant(batch))
        loss = float(values["loss"])
        if not np.isfinite(loss):
            raise UserError(f"Step {step}: the loss became {loss}; tuning stopped (lower "
                            f"--learning-rate, in a new --run-dir). {run_dir}/best.keras "
                            "holds the best so far.")
        if step % options.validate_every and step != options.steps:
            continue
        history.write("train", step, summary(values), seconds=seconds())
        validate(step, loss)
    run_directory.save_inference_model(model, video_shape, pathlib.Path(run_dir) / "model.keras")
    checkpoint.remove()
    log(f"Tuned in {seconds():.0f} s; networks in {run_dir}/best.keras "
        f"(step {json.loads((pathlib.Path(run_dir) / 'best.json').read_text())['step']}).")
    return best.loss
