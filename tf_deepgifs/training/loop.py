"""The one training loop: every stage, on every backend, kills and resumes included.

Why a loop of our own rather than `model.fit` with callbacks: `fit` under JAX carries the
state of one optimizer (`model.optimizer`), and DeepGIF's two players each have their
own Adam, which checkpoints already hold; and Keras' `BackupAndRestore` resumes at the
start of an epoch, where our runs resume at the exact step they were checkpointed at
(the data order is a function of (seed, step), so a resumed run ends with the weights of
an uninterrupted one). Everything else a callback would do is a few lines here, the same
on both backends; what differs by backend is the step alone (`backends.py`).

A stage (`stages.Stage`) gives the model, its players and losses, its batches, its
validation and its schedule. The loop, per step:

    batch(step) --backend.train_step--> losses (read back every `log_every` steps,
    each step's checked for NaN/inf, naming the step) --> history.jsonl, TensorBoard
    every `validate_every` steps: validate --> history, best.keras, samples; checkpoint
    every `checkpoint_every` steps, and when stopped early: checkpoint

A checkpoint is written after everything its step writes, so resuming from it redoes
nothing and misses nothing: the history is cut back to its step, half-written files of a
kill are removed, and the same command ends where an uninterrupted run would.
"""

import time

import keras
import numpy as np

from tf_deepgifs.runs import run_directory


def _read(window):
    """The losses of the steps since the last log, read back: [{name: float}], per-frame
    losses averaged over their frames."""
    return [{name: float(np.mean(np.asarray(value))) for name, value in values.items()}
            for values in window]


def _mean(window):
    """Per-loss mean over the steps of a read window."""
    return {name: float(np.mean([values[name] for values in window])) for name in window[0]}


class StageProgress:
    """A Keras progress bar over one stage's steps, with its losses."""

    def __init__(self, total_steps):
        self.bar = keras.utils.Progbar(total_steps, stateful_metrics=["seconds"])

    def update(self, step, values):
        self.bar.update(step, list(values.items()))


def run(stage, backend, run_dir, devices, log=print, deadline=None, stop_at_step=None,
        progress=None):
    """Trains (or resumes) `stage` in `run_dir` until its last step, a deadline
    (`time.monotonic()` value) or `stop_at_step`. Returns whether it finished.
    progress: what shows the steps taken, `update(step, {name: loss})` (default: a
    progress bar over this stage's steps)."""
    schedule = stage.schedule
    checkpoints = run_directory.Checkpoints(
        f"{devices.writing_dir(run_dir)}/checkpoints", schedule.keep_checkpoints)
    checkpoints.remove_partial()
    restored = checkpoints.latest() is not None
    step, saved = run_directory.restore_latest(stage.model, checkpoints, stage.init_weights)
    if step >= schedule.total_steps:
        log(f"{run_dir} has finished all {schedule.total_steps} steps already.")
        return True
    stage.restore_state(saved.get("stage", {}))
    seconds_before, started = saved.get("seconds", 0.0), time.monotonic()

    def seconds():
        return seconds_before + time.monotonic() - started

    history = run_directory.History(run_dir) if devices.chief else None
    scalars = run_directory.TensorBoardScalars(run_dir, log) if devices.chief else None
    best = (run_directory.BestModel(run_dir, stage.video_shape, stage.selection)
            if devices.chief else None)
    if history:  # what was written after the checkpoint (or with none, at all) is redone
        history.drop_after(step if restored else -1)
    backend.start()
    stage.start(backend, log)

    window = saved.get("window", [])  # the losses of the steps since the last log

    def read_window():
        """The window read back, each of its steps checked for NaN/inf by its number."""
        nonlocal window
        window = _read(window)
        for offset, values in enumerate(window):
            run_directory.check_finite(values, step - len(window) + 1 + offset, run_dir)
        return window

    def checkpoint():
        backend.sync()
        checkpoints.save(stage.model, step, {"seconds": seconds(), "stage": stage.state(),
                                             "window": read_window()})

    def validate():
        backend.sync()
        scores = stage.validate(backend, step, log)
        if devices.chief:
            history.write("validation", step, scores, seconds=seconds())
            scalars.write("validation", step, scores)
            keep_anyway = step == 0  # a stage validating at step 0 starts from its source
            (best.keep if keep_anyway else best.offer)(stage.model, step, scores)
            stage.after_validation(run_dir, step, backend)
        after_bar = "\n" if 0 < step < schedule.total_steps else ""  # the progress bar's line
        log(f"{after_bar}step {step}: validation " + ", ".join(
            f"{name} {value:.4g}" for name, value in scores.items() if np.ndim(value) == 0))

    if step == 0 and schedule.validate_at_start:
        validate()
        checkpoint()
    log(f"{'Resuming' if step else 'Training'} {run_dir} at step {step} of "
        f"{schedule.total_steps} on {devices.count} {keras.backend.backend()} device(s).")
    progress = progress or StageProgress(schedule.total_steps)
    while step < schedule.total_steps:
        window.append(backend.train_step(stage.batch(step), step))
        step += 1
        validating = step % schedule.validate_every == 0 or step == schedule.total_steps
        stopping = (deadline is not None and time.monotonic() > deadline) or step == stop_at_step
        if step % schedule.log_every == 0 or validating or stopping:
            logged = _mean(read_window())
            if devices.chief:
                history.write("train", step, logged, seconds=seconds())
                scalars.write("train", step, logged)
            progress.update(step, {k: v for k, v in logged.items() if k in stage.shown})
            window = []
        if validating:
            validate()
        if validating or stopping or step % schedule.checkpoint_every == 0:
            checkpoint()
        if stopping and step < schedule.total_steps:
            log(f"\nStopped at step {step} of {schedule.total_steps}; the same command resumes.")
            return False
    if devices.chief:
        scalars.close()
        stage.finish(run_dir)
    log(f"Trained {schedule.total_steps} steps in {seconds():.0f} s; the networks of the best "
        f"validation are {run_dir}/best.keras.")
    return True
