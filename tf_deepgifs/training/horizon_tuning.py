"""Horizon tuning: a trained run's LSTM trained on its own predictions over the horizon.

Section 6 of the paper traces drifting balls to teacher forcing (every step restarts
from the ground truth, so compounding errors are never penalised) and proposes training
over longer sequences. Done to the whole model with the image MSE of the rollout, that
blurs the frames (results/notes.md). This stage does it in latent space:

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
get the rollout tuning trained. "latent" feeds the prediction itself: generation then
never re-encodes a frame. "frames" decodes and re-encodes it, as the paper's generation
does, with the gradient passed straight through; the round trip barely moves a real
frame's latent but moves a predicted one much more (results/notes.md). "truth" is
teacher forcing: the LSTM reads the true latents (one-step prediction, cheap and
well-conditioned) and the run then generates through frames, as the paper does.

With `mixture_components` M the tuned run's readout becomes a mixture of M Gaussians
(`Predictor`), each component starting as the source's readout: the loss is the negative
log-likelihood of each true latent (per dimension) plus the first frame's image MSE from
the component nearest the truth, and the rollout feeds back that nearest component.
From one seed frame the truth went one of the ways the mixture offers; following it
keeps the later steps' targets consistent, and the components learn the ways.

Before the first step and every `validate_every` steps the validation sequences are
generated as users generate them, and best.keras keeps the best networks, the source's
included: by default those of the lowest MSE, as in a training run (the latent loss
falls steadily while the last frames can get worse, results/notes.md); with
`select_on="balls"` those whose balls are closest to the truth among the steps that
kept the source's right-ball count (as the source run generates), which the MSE lets the
frames stage trade away.
It is a stage of the training loop (`loop.py`), on TensorFlow or JAX alike: the output
is an ordinary run directory (config.json, checkpoints/, logs/history.jsonl, best.keras,
model.keras) that `evaluate` and `export` take as they take a training run, plus
tuning.json (the options and the source networks). The same command resumes an
interrupted tuning from its last checkpoint (the split is encoded again) and ends where
an uninterrupted one would.
"""

import dataclasses
import json
import pathlib
import time

import keras
import numpy as np
from keras import ops

from tf_deepgifs.data import arrays, pixels
from tf_deepgifs.metrics import ball_detector
from tf_deepgifs.errors import UserError
from tf_deepgifs.models.predictor import mixture_log_likelihood, nearest_component
from tf_deepgifs.training import backends, distribution, loop, run_directory
from tf_deepgifs.training.stages import Player, Schedule

TUNING_FILE = "tuning.json"  # the HorizonTuningConfig and where the networks came from
KEEP_CHECKPOINTS = 2


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


def horizon_losses(model, latents, context_frames, first_frame_weight, manifold_weight=0.0,
                   teacher_forced=False, first_frame_sequences=0):
    """A mixture readout's are `mixture_horizon_losses`. Otherwise {"latent": per-frame latent MSE (T - K,), "first_frame": image MSE, "manifold":
    latent MSE of the fed-back inputs to the predictions they come from (0 with "latent"
    feedback), "loss": latent MSE + first_frame_weight * first_frame + manifold_weight *
    manifold}.

    latents (B, T, L): the encoder's means of real videos. The first frame's target is the
    decoder's rendering of the true latent, so no pixels are needed. The rollout feeds
    back as the model generates (`latent_rollout`). The manifold term pulls a prediction
    towards the latent of the frame it decodes to, where a real frame's latent already is
    (it survives the round trip to 0.14 % of its variance).
    """
    if model.config.mixture_components:
        return mixture_horizon_losses(model, latents, context_frames, first_frame_weight,
                                      first_frame_sequences)
    if teacher_forced:
        predicted = model.predictor(latents[:, :-1])[:, context_frames - 1:]
        fed_back = predicted[:, :-1]  # the truth is read, not the predictions: no manifold term
    else:
        predicted, fed_back = latent_rollout(model, latents, context_frames)
    per_frame = ops.mean(ops.square(predicted - latents[:, context_frames:]), axis=(0, 2))
    rows = first_frame_sequences or None
    first = model.decoder(predicted[:rows, 0], training=False)  # in [-1, 1], as the losses
    target = ops.stop_gradient(model.decoder(latents[:rows, context_frames], training=False))
    first_frame = ops.mean(ops.square(first - target))
    manifold = ops.mean(ops.square(fed_back - predicted[:, :-1]))
    loss = ops.mean(per_frame) + first_frame_weight * first_frame + manifold_weight * manifold
    return {"latent": per_frame, "first_frame": first_frame, "manifold": manifold, "loss": loss}


def mixture_rollout(model, latents, context_frames):
    """A mixture LSTM over the horizon: latents (B, T, L) --> its mixture for each of the
    T - K predicted frames: logits (B, T - K, M), means (B, T - K, M, L), log standard
    deviations (B, T - K, M). After the K context latents it reads back the component
    nearest the truth: from one seed frame the truth's direction is one of many the
    mixture offers, and the rollout goes on along the one the truth took."""
    predictor = model.predictor
    state = predictor.initial_state(ops.shape(latents)[0])
    for k in range(context_frames):
        mixture, state = predictor.mixture_step(latents[:, k], state)
    mixtures = [mixture]
    for t in range(context_frames, latents.shape[1] - 1):
        fed_back = nearest_component(mixture[1], latents[:, t])
        mixture, state = predictor.mixture_step(fed_back, state)
        mixtures.append(mixture)
    return tuple(ops.stack(part, axis=1) for part in zip(*mixtures))


def mixture_horizon_losses(model, latents, context_frames, first_frame_weight,
                           first_frame_sequences=0):
    """`horizon_losses` for a mixture readout: "nll", the negative log-likelihood of each
    true latent per dimension (T - K,), "latent", the nearest component's MSE to it
    (T - K,), "first_frame", the image MSE of the first frame decoded from its nearest
    component, and "loss": mean nll + first_frame_weight * first_frame."""
    logits, means, log_scales = mixture_rollout(model, latents, context_frames)
    targets = latents[:, context_frames:]
    batch, frames, size = ops.shape(targets)[0], targets.shape[1], targets.shape[2]
    flat_means = ops.reshape(means, (-1, means.shape[2], size))
    flat_targets = ops.reshape(targets, (-1, size))
    nll = -ops.reshape(mixture_log_likelihood(
        ops.reshape(logits, (-1, logits.shape[-1])), flat_means,
        ops.reshape(log_scales, (-1, log_scales.shape[-1])), flat_targets), (batch, frames))
    nearest = ops.reshape(nearest_component(flat_means, flat_targets), (batch, frames, size))
    rows = first_frame_sequences or None
    first = model.decoder(nearest[:rows, 0], training=False)
    target = ops.stop_gradient(model.decoder(targets[:rows, 0], training=False))
    first_frame = ops.mean(ops.square(first - target))
    per_frame_nll = ops.mean(nll, axis=0)
    loss = ops.mean(per_frame_nll) + first_frame_weight * first_frame
    return {"nll": per_frame_nll,
            "latent": ops.mean(ops.square(nearest - targets), axis=(0, 2)),
            "first_frame": first_frame, "manifold": ops.zeros(()), "loss": loss}


def with_mixture_readout(source, config, options):
    """The model of the tuned `config` (a mixture readout of M components) holding the
    `source` model's networks, each component starting as the source's readout with its
    kernel perturbed (`options.mixture_init_spread`, seeded by `options.seed`): equal
    weights, unit scales, every component already a working predictor."""
    model = run_directory.build_model(config, run_directory.video_shape_of(config),
                                      precision="float32")
    for name in ("encoder", "decoder", "discriminator"):
        getattr(model, name).set_weights(getattr(source, name).get_weights())
    model.predictor.cell.set_weights(source.predictor.cell.get_weights())
    kernel, bias = source.predictor.readout.get_weights()  # (U, L), (L,)
    m, size = config.model.mixture_components, config.model.latent_dim
    rng = np.random.default_rng(options.seed)
    spread = options.mixture_init_spread * kernel.std()
    mean_kernels = kernel[None] + spread * rng.standard_normal((m,) + kernel.shape)
    new_kernel = np.zeros((kernel.shape[0], m * (size + 2)), np.float32)
    new_bias = np.zeros(m * (size + 2), np.float32)
    # Readout columns: M logits, M x L means (component-major), M log standard deviations.
    new_kernel[:, m : m + m * size] = mean_kernels.transpose(1, 0, 2).reshape(kernel.shape[0], -1)
    new_bias[m : m + m * size] = np.tile(bias, m)
    model.predictor.readout.set_weights([new_kernel, new_bias])
    return model


def reverse_some(latents, rng):
    """latents (B, T, L) with each sequence, with probability 1/2, in reverse time order
    (the rows drawn from `rng`)."""
    backwards = rng.random(len(latents)) < 0.5
    return np.where(backwards[:, None, None], latents[:, ::-1], latents)


def learning_rate_schedule(options):
    """Adam's learning rate: the constant `options.learning_rate`, or its cosine decay to 0
    over `options.steps` (the optimizer's iterations count the steps taken)."""
    if options.learning_rate_decay == "cosine":
        return keras.optimizers.schedules.CosineDecay(options.learning_rate, options.steps)
    return options.learning_rate


def encode(encode_batch, videos, batch_size):
    """Encoder means of uint8 videos (N, T, H, W, C), `batch_size` at a time: float32
    (N, T, L). Deterministic (z = mean), BatchNorm on its moving statistics, as generation
    encodes. `encode_batch`: a compiled videos --> means."""
    if not len(videos):
        raise UserError("No sequences to encode: the split is empty.")
    return np.concatenate([encode_batch(videos[s : s + batch_size])
                           for s in range(0, len(videos), batch_size)])


def validation_scores(generate, videos, context_frames, batch_size, balls=None):
    """The frames generated from uint8 `videos` (as the run generates, `batch_size` at a
    time) against the truth: {"rollout": their MSE on [-1, 1], what training runs select
    on too}, and with `balls` ((positions (N, T, n, 2) px, radius px)) the ball
    detector's "centre_error" (px, mean over sequences and frames) and "right_count"
    (fraction of frames)."""
    errors, centre_errors, right_counts = [], [], []
    for start in range(0, len(videos), batch_size):
        batch = videos[start : start + batch_size]
        generated = generate(batch)
        truth = pixels.from_uint8(batch[:, context_frames:])
        errors.append(np.mean(np.square(pixels.to_network_range(generated)
                                        - pixels.to_network_range(truth)), axis=(1, 2, 3, 4)))
        if balls is not None:
            positions = balls[0][start : start + len(batch), context_frames:]
            found = ball_detector.motion_metrics(generated.mean(axis=-1), positions, balls[1])
            centre_errors.append(found["centre_error"])
            right_counts.append(found["right_count"])
    scores = {"rollout": float(np.mean(np.concatenate(errors)))}
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
    """Scalars for the log: the loss, the first-frame MSE, the latent MSE's mean and ends
    (and a mixture's mean negative log-likelihood)."""
    latent = np.asarray(values["latent"])
    scalars = {"loss": float(values["loss"]), "first_frame": float(values["first_frame"]),
               "manifold": float(values["manifold"]),
               "latent": float(latent.mean()), "latent_first": float(latent[0]),
               "latent_last": float(latent[-1])}
    if "nll" in values:
        scalars["nll"] = float(np.mean(values["nll"]))
    return scalars


class HorizonTuning:
    """Horizon tuning as a stage of the loop: one player, the LSTM, on encoded latents."""

    shown = ("loss", "latent", "first_frame")
    init_weights = None  # the model arrives with the source networks loaded
    jit_compile = False
    video_shape = None

    def __init__(self, config, options, model, train_videos, validation, source=None):
        """config: the tuned run's (`generating_as_tuned`); options: HorizonTuningConfig;
        model: the source networks with `tuning_optimizers` compiled; train_videos: uint8
        (N, T, H, W, C); validation: `arrays.load`'s dict of the validation split;
        source: (source Config, weights) for the right count "balls" selection keeps."""
        self.config, self.options, self.model = config, options, model
        self.seed, self.selection = options.seed, options.select_on
        self.context_frames = config.train.context_frames
        self.train_videos, self.validation = train_videos, validation
        self.source = source
        self.video_shape = train_videos.shape[1:]
        self.players = [Player("loss", model.predictor.trainable_variables, model.g_optimizer)]
        self.schedule = Schedule(
            total_steps=options.steps, validate_every=options.validate_every,
            checkpoint_every=options.validate_every, keep_checkpoints=KEEP_CHECKPOINTS,
            validate_at_start=True)
        self.least_right_count = None
        self.balls = ((validation["positions"], float(validation["radius"][0]))
                      if "radius" in validation else None)

    def noise_streams(self):
        return {}  # deterministic: every latent is the encoder's mean

    def start(self, backend, log):
        """Encodes both splits with the frozen encoder (again on a resumed run)."""
        model, size = self.model, self.options.encode_batch_size
        started = time.monotonic()
        encode_batch = backend.compile(lambda videos: model.encode_sequence(
            pixels.from_uint8(videos),
            ops.zeros(tuple(videos.shape[:2]) + (model.config.latent_dim,)), training=False)[0])
        self.latents = encode(encode_batch, self.train_videos, size)
        self.validation_latents = encode(encode_batch, self.validation["video"], size)
        log(f"Encoded {len(self.latents)} training and {len(self.validation_latents)} "
            f"validation sequences in {time.monotonic() - started:.0f} s.")
        self._losses = backend.compile(lambda latents: self._horizon_losses(latents))
        self._generate = backend.compile(lambda videos: model(pixels.from_uint8(videos)))
        self._backend = backend

    def _horizon_losses(self, latents):
        return horizon_losses(self.model, latents, self.context_frames,
                              self.options.first_frame_weight, self.options.manifold_weight,
                              self.options.feedback == "truth",
                              self.options.first_frame_sequences)

    def batch(self, step):
        rng = np.random.default_rng([self.seed, step])
        latents = self.latents[rng.integers(0, len(self.latents), self.options.batch_size)]
        if self.options.augment == "reverse":
            latents = reverse_some(latents, rng)
        return {"latents": latents}

    def losses(self, batch, noise, step, training):
        del noise, step, training  # the frozen networks run on their moving statistics
        return self._horizon_losses(batch["latents"])

    def validate(self, backend, step, log):
        scores = {**summary(self._losses(self.validation_latents)),
                  **validation_scores(self._generate, self.validation["video"],
                                      self.context_frames, self.options.encode_batch_size,
                                      self.balls)}
        if self.selection == "balls":
            if self.least_right_count is None:
                self.least_right_count = self._source_right_count(scores, backend, log)
            scores["balls"] = ball_selection_score(scores, self.least_right_count)
        return scores

    def _source_right_count(self, scores, backend, log):
        """The right count of the source networks as the source run generates them (step 0
        is the source networks; they generate otherwise when the feedback changed)."""
        source_config, weights = self.source
        if (source_config == self.config
                or source_config.train.context_frames != self.context_frames):
            return float(scores["right_count"])  # another K is another task: step 0's own
        source_model = run_directory.load_model(source_config, weights)
        generate = backend.compile(lambda videos: source_model(pixels.from_uint8(videos)))
        count = validation_scores(generate, self.validation["video"], self.context_frames,
                                  self.options.encode_batch_size, self.balls)["right_count"]
        log(f"The source networks as the source run generates them: right count "
            f"{count:.2%}, the least a selected step must keep.")
        return count

    def after_validation(self, run_dir, step, backend):
        del run_dir, step, backend

    def state(self):
        return {"least_right_count": self.least_right_count}

    def restore_state(self, state):
        self.least_right_count = state.get("least_right_count")

    def finish(self, run_dir):
        run_directory.save_inference_model(self.model, self.video_shape,
                                           pathlib.Path(run_dir) / "model.keras")


def compile_tuning_optimizers(model, options):
    """The model's generator optimizer becomes the tuning's Adam, built on the LSTM's
    variables alone (the checkpoints hold it); the discriminator's stays idle."""
    model.compile(g_optimizer=keras.optimizers.Adam(learning_rate_schedule(options)),
                  d_optimizer=keras.optimizers.Adam())
    model.g_optimizer.build(model.predictor.trainable_variables)


def generating_as_tuned(source_config, options):
    """The tuned run's Config: the source's, generating with the feedback it is tuned on
    (`ModelConfig.generation_feedback`), so that validation and users roll out what
    tuning trained."""
    source = source_config.model
    if (options.mixture_components and source.mixture_components
            and options.mixture_components != source.mixture_components):
        raise UserError(f"The source run's readout is a mixture of {source.mixture_components} "
                        f"components; tune it with --mixture-components "
                        f"{source.mixture_components} (or 0).")
    model = dataclasses.replace(
        source, generation_feedback="frames" if options.feedback == "truth" else options.feedback,
        mixture_components=options.mixture_components or source.mixture_components)
    train = dataclasses.replace(
        source_config.train,
        context_frames=options.context_frames or source_config.train.context_frames)
    try:
        return dataclasses.replace(source_config, model=model, train=train)
    except ValueError as error:
        raise UserError(str(error)) from None


def prepare_run_dir(source_dir, run_dir, config, preset, record):
    """Writes the new run's config.json (`generating_as_tuned`) and tuning.json, or finds
    in `run_dir` an unfinished tuning of the same networks with the same options (which
    the loop resumes); refuses the source and any other run."""
    source_dir, run_dir = pathlib.Path(source_dir), pathlib.Path(run_dir)
    if run_dir.resolve() == source_dir.resolve():
        raise UserError("--run-dir must be a new directory: tuning would overwrite the "
                        "source run's networks.")
    tuning = run_dir / TUNING_FILE
    if (run_dir / "config.json").exists():
        if (run_dir / "model.keras").exists() or not tuning.exists():
            raise UserError(f"{run_dir} already holds a run; pass a new --run-dir.")
        if json.loads(tuning.read_text()) != json.loads(json.dumps(record)):
            raise UserError(f"{run_dir} holds an unfinished tuning of other networks or "
                            f"options ({tuning}); pass the same ones to resume it, or a new "
                            "--run-dir.")
        run_directory.write_config(run_dir, config, preset)  # checks it is the same
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    run_directory.write_config(run_dir, config, preset)
    tuning.write_text(json.dumps(record, indent=2, sort_keys=True))


def tune(source_dir, run_dir, options, weights=None, log=print, stop_at_step=None):
    """Tunes the predictor of `source_dir`'s networks (`weights`, default its model.keras
    or newest checkpoint) into the run `run_dir`, or resumes that tuning.

    The source networks are validated first (step 0) and compete too, so best.keras is
    never worse than them on the selection score. Returns whether it finished.
    """
    source_config, preset = run_directory.read_run(source_dir)
    config = generating_as_tuned(source_config, options)
    source = run_directory.weights_of(source_dir, weights)
    validation = arrays.load(config.data, "validation", options.validation_sequences, log)
    if options.select_on == "balls" and "radius" not in validation:
        raise UserError(f"--select-on balls needs the balls' true positions, which "
                        f"{config.data.dataset} does not store; use --select-on rollout.")
    record = {"source_run": str(source_dir), "source_weights": str(source),
              **dataclasses.asdict(options)}
    devices = distribution.for_backend()
    with devices.scope():
        if config.model.mixture_components != source_config.model.mixture_components:
            model = with_mixture_readout(run_directory.load_model(source_config, source),
                                         config, options)
        else:
            model = run_directory.load_model(config, source)
        compile_tuning_optimizers(model, options)
    prepare_run_dir(source_dir, run_dir, config, preset, record)
    train_videos = arrays.load(config.data, "train", options.training_sequences, log)["video"]
    stage = HorizonTuning(config, options, model, train_videos, validation,
                          source=(source_config, source))
    finished = loop.run(stage, backends.make_backend(stage, devices), str(run_dir), devices,
                        log, stop_at_step=stop_at_step)
    if finished:
        best = json.loads((pathlib.Path(run_dir) / "best.json").read_text())
        log(f"Tuned; networks in {run_dir}/best.keras (step {best['step']}).")
    return finished
