"""Training by stages: `python -m tf_deepgifs train` with `TrainConfig.method` "staged".

Not the paper's procedure but its model: the networks are taught one part at a time, where
each part is cheap, as World Models trains its VAE and then its MDN-RNN (Ha and
Schmidhuber, 2018):

    1. autoencoder  encoder and decoder on single frames        run_dir/autoencoder/
                    (`autoencoder.py`); at its end the latents'
                    statistics go into the predictor
    2. dynamics     the LSTM alone in their latent space, over   run_dir/dynamics/
                    the horizon, on the training sequences       (run_dir/ when no
                    encoded once (`horizon_tuning.HorizonTuning`) fine-tune follows)
    3. finetune     the paper's joint training, briefly, on all  run_dir/
                    four networks (`finetune.Finetune`)

All are stages of the one training loop (`loop.py`) on either backend, each resumable at
its last checkpoint: run the same command again and a finished stage is kept, an
unfinished one resumes where it stopped. One progress bar covers the whole run
(`WholeRunProgress`). The last stage writes the run directory, an ordinary one
(config.json, best.keras, model.keras, ...) that `evaluate`, `export` and `tune` take;
each stage's folder records where its networks came from (tuning.json, finetune.json).
"""

import dataclasses
import json
import pathlib
import time

import keras
import numpy as np

from tf_deepgifs.data import arrays, pixels
from tf_deepgifs.errors import UserError
from tf_deepgifs.runs import run_directory
from tf_deepgifs.training import (
    autoencoder, backends, distribution, finetune, horizon_tuning, latent_dynamics, loop,
)

AUTOENCODER_DIR = "autoencoder"  # inside the run directory
DYNAMICS_DIR = "dynamics"  # inside the run directory, when a fine-tune follows
FINETUNE_FILE = "finetune.json"  # the fine-tune's options and where its networks came from
# A training step costs about this many forward passes of its losses (the backward pass
# about twice the forward), for the whole run's estimate of what is left.
STEP_COST_IN_FORWARD_PASSES = 3.0


class WholeRunProgress:
    """One progress line over every stage of a run: the stage's step and losses, the
    whole run's share done and the time left.

    Each stage's steps are weighted by what one of them was measured to cost before the
    run (`plan`); the time left is the time spent so far scaled by the planned work left,
    so it corrects itself by the pace it sees. `stage(name)` gives the loop an object whose
    `update(step, values)` moves it.
    """

    def __init__(self, plan, write=None):
        self.plan = plan  # [(stage name, steps, seconds per step)], in order
        self.total = sum(steps * cost for _, steps, cost in plan)
        self.started = time.monotonic()
        self.done_at_start = None  # work done before this process (a resumed run)
        self.write = write or (lambda text: print(text, end="", flush=True))

    def stage(self, name):
        index = [entry[0] for entry in self.plan].index(name)
        before = sum(steps * cost for _, steps, cost in self.plan[:index])
        _, steps, cost = self.plan[index]
        progress = self

        class Update:
            def update(self, step, values):
                progress.show(name, step, steps, before + step * cost, values)

        return Update()

    def show(self, name, step, steps, done, values):
        if self.done_at_start is None:
            self.done_at_start, self.started = done, time.monotonic()
        share = done / self.total if self.total else 1.0
        losses = " ".join(f"{key} {value:.4g}" for key, value in values.items())
        elapsed, worked = time.monotonic() - self.started, done - self.done_at_start
        left = (f", about {elapsed / worked * (self.total - done) / 60:.0f} min left"
                if worked > 0 else "")
        self.write(f"\r{name} step {step}/{int(steps)}: {losses} | whole run {share:.0%}"
                   f"{left}   ")


def _timed(function, *args):
    """Seconds of one call of a compiled `function` after the call that traces it."""
    function(*args)
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def plan(model, config, backend, train_videos, log):
    """[(stage, steps, estimated seconds a step)] of the staged run: one forward pass of
    each stage timed on this machine, a training step costing STEP_COST_IN_FORWARD_PASSES
    of them (the fine-tune's losses include the discriminator's), and encoding the
    training sequences as one step."""
    ae, dynamics = config.autoencoder, config.dynamics
    noise = np.zeros((ae.batch_size, config.model.latent_dim), np.float32)
    frames = train_videos[:1, 0].repeat(ae.batch_size, axis=0)
    ae_losses = backend.compile(lambda f, n: autoencoder.reconstruction_losses(
        model, pixels.from_uint8(f), n, 0.0, False)["loss"])
    ae_step = STEP_COST_IN_FORWARD_PASSES * _timed(ae_losses, frames, noise)
    k = config.train.context_frames
    latents = np.zeros((dynamics.batch_size,) + train_videos.shape[1:2]
                       + (config.model.latent_dim,), np.float32)
    dynamics_losses = backend.compile(lambda z: latent_dynamics.horizon_losses(
        model, z, k, dynamics.first_frame_weight, dynamics.manifold_weight,
        dynamics.feedback == "truth", dynamics.first_frame_sequences)["loss"])
    dynamics_step = STEP_COST_IN_FORWARD_PASSES * _timed(dynamics_losses, latents)
    # Encoding reads every frame once, through the encoder alone: half the forward pass
    # of the autoencoder's batch.
    encoding = (ae_step / STEP_COST_IN_FORWARD_PASSES / 2) * train_videos.shape[0] * \
        train_videos.shape[1] / ae.batch_size
    result = [("autoencoder", ae.steps, ae_step), ("encoding", 1, encoding),
              ("dynamics", dynamics.steps, dynamics_step)]
    if config.finetune.steps:
        videos = train_videos[: config.finetune.batch_size]
        noise = {name: np.zeros((len(videos),) + shape, np.float32)
                 for name, shape in model.noise_shapes(videos.shape[1]).items()}
        joint_losses = backend.compile(lambda v, n: model.compute_losses(
            pixels.from_uint8(v), n, True, 0.0)["g_loss"])
        joint_step = STEP_COST_IN_FORWARD_PASSES * _timed(joint_losses, videos, noise)
        result.append(("finetune", config.finetune.steps, joint_step))
    log("Planned: " + ", ".join(f"{name} ~{steps * cost / 60:.0f} min"
                                for name, steps, cost in result)
        + f" (about {sum(steps * cost for _, steps, cost in result) / 60:.0f} min in all, "
        "validations aside).")
    return result


def train(config, preset, stop_after_minutes=None, log=print):
    """Trains (or resumes) the staged run `config` describes; returns the run directory."""
    t = config.train
    config = horizon_tuning.generating_as_tuned(config, config.dynamics)
    run_dir = pathlib.Path(t.run_dir or run_directory.default_run_dir(config, preset))
    ae_dir = run_dir / AUTOENCODER_DIR
    devices = distribution.for_backend()
    if devices.count > 1:
        raise UserError("The staged method trains on one device; its stages are small.")
    deadline = time.monotonic() + 60 * stop_after_minutes if stop_after_minutes else None
    run_directory.write_config(run_dir, config, preset)
    run_directory.write_config(ae_dir, config, preset)
    train_videos = arrays.load(config.data, "train", config.dynamics.training_sequences,
                               log)["video"]
    validation = arrays.load(config.data, "validation", config.dynamics.validation_sequences,
                             log)
    _check_frames(config, train_videos)

    model = run_directory.build_model(config, train_videos.shape[1:])
    autoencoder.compile_autoencoder_optimizers(model, config.autoencoder)
    stage = autoencoder.AutoencoderTraining(config, config.autoencoder, model, train_videos,
                                            validation)
    backend = backends.make_backend(stage, devices)
    backend.start()
    progress = WholeRunProgress(plan(model, config, backend, train_videos, log))
    stages = 3 if config.finetune.steps else 2
    weights = ae_dir / "model.keras"
    if not weights.exists():
        log(f"Stage 1 of {stages}: the autoencoder, on single frames ({ae_dir}).")
        if not loop.run(stage, backend, str(ae_dir), devices, log, deadline,
                        progress=progress.stage("autoencoder")):
            return run_dir

    dynamics_dir = run_dir / DYNAMICS_DIR if config.finetune.steps else run_dir
    log(f"\nStage 2 of {stages}: the LSTM in the autoencoder's latent space ({dynamics_dir}).")
    run_directory.write_config(dynamics_dir, config, preset)
    model = run_directory.load_model(config, str(weights))
    horizon_tuning.compile_tuning_optimizers(model, config.dynamics)
    _write_record(dynamics_dir / horizon_tuning.TUNING_FILE, ae_dir, weights, config.dynamics)
    stage = horizon_tuning.HorizonTuning(config, config.dynamics, model, train_videos,
                                         validation, source=(config, str(weights)))
    if not loop.run(stage, backends.make_backend(stage, devices), str(dynamics_dir), devices,
                    log, deadline, progress=progress.stage("dynamics")):
        return run_dir

    if config.finetune.steps:
        weights = dynamics_dir / "best.keras"
        log(f"\nStage 3 of 3: the paper's joint training from those networks ({run_dir}).")
        _write_record(run_dir / FINETUNE_FILE, dynamics_dir, weights, config.finetune)
        stage = finetune.Finetune(config, run_directory.build_model(config, train_videos.shape[1:]),
                                  train_videos, validation, weights)
        if not loop.run(stage, backends.make_backend(stage, devices), str(run_dir), devices,
                        log, deadline, progress=progress.stage("finetune")):
            return run_dir
    log(f"The trained model is {run_dir / 'model.keras'}; the selected networks "
        f"{run_dir / 'best.keras'}.")
    return run_dir


def _check_frames(config, videos):
    frame = (config.model.image_size, config.model.image_size, config.model.channels)
    if tuple(videos.shape[2:]) != frame:
        raise UserError(f"{config.data.dataset} has frames of {videos.shape[2:]} (H, W, C); "
                        f"the model is configured for {frame}: pass --image-size and "
                        "--channels to match.")


def _write_record(path, source_dir, weights, options):
    """A stage's record of its options and its source: tuning.json as `tune` writes it,
    or finetune.json."""
    record = {"source_run": str(source_dir), "source_weights": str(weights),
              **dataclasses.asdict(options)}
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
