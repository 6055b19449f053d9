"""Horizon tuning (`python -m tf_deepgifs tune`): a run's LSTM trained alone over the whole
horizon in the frozen latent space of its encoder, as section 6 proposes for drifting
balls, done where it is cheap.

The training and validation sequences are encoded once (`tuning_validation.encode`);
each step draws a batch of them and trains the predictor by `latent_dynamics`' losses,
fed as `HorizonTuningConfig.feedback` says (its own latents, its frames re-encoded, or
the truth); the tuned run then generates that way (`generating_as_tuned`). Validations
generate the validation sequences as users generate them and keep the best networks in
best.keras. The output is an ordinary run directory, plus tuning.json (the options and
the source networks); the same command resumes an interrupted tuning. What was tried,
and what it did: results/notes.md.
"""

import dataclasses
import json
import pathlib
import time

import keras
import numpy as np
from keras import ops

from tf_deepgifs.data import arrays, pixels
from tf_deepgifs.errors import UserError
from tf_deepgifs.training import backends, distribution, loop
from tf_deepgifs.runs import run_directory
from tf_deepgifs.training.stages import learning_rate_schedule
from tf_deepgifs.training.latent_dynamics import horizon_losses, reverse_some, summary
from tf_deepgifs.training.tuning_validation import (
    ball_selection_score, balls_of, digits_of, encode, validation_scores,
)
from tf_deepgifs.training.stages import Player, Schedule

TUNING_FILE = "tuning.json"  # the HorizonTuningConfig and where the networks came from
KEEP_CHECKPOINTS = 2


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
        self.balls = balls_of(validation)
        self.digits = digits_of(validation, config.data.dataset)

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
                                      self.balls, self.digits)}
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
