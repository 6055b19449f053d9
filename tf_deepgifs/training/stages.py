"""What a training stage is made of, for the loop (`loop.py`) and the backends.

A stage is a class with these attributes and methods (`joint_training.JointTraining`,
the paper's four networks and losses; `horizon_tuning.HorizonTuning`, the LSTM over the
horizon):

    model, players, seed, jit_compile     the DeepGIF; its `Player`s; noise seed; XLA
    schedule, selection, video_shape      `Schedule`; best.json's key; (T, H, W, C)
    init_weights, shown                   a .keras to start from; losses on the progress bar
    noise_streams()                       {name: (stream id, per-example shape)}
    batch(step) -> {name: array}          the global batch of step `step`, from (seed, step)
    losses(batch, noise, step, training)  {name: scalar or per-frame}, backend-portable
    start(backend, log)                   what it needs compiled before the first step
    validate(backend, step, log) -> {}    scores on the validation split
    after_validation(run_dir, step, backend)   e.g. a sample GIF
    state(), restore_state(state)         JSON-able state a resumed run needs
    finish(run_dir)                       model.keras
"""

import dataclasses
from typing import Any

import keras


@dataclasses.dataclass
class Player:
    """An optimizer, the variables it moves, and the loss (a key of `losses`) it lowers."""

    loss: str
    variables: list
    optimizer: Any


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When the loop validates, checkpoints and logs, in steps."""

    total_steps: int
    validate_every: int
    checkpoint_every: int
    keep_checkpoints: int
    log_every: int = 10  # each read-back waits for the device; the steps between do not
    validate_at_start: bool = False  # the source networks validated (and kept) at step 0


def learning_rate_schedule(options, rate=None):
    """Adam's learning rate: the constant `rate` (None: `options.learning_rate`), or its
    cosine decay to 0 over `options.steps` (the optimizer's iterations count the steps)."""
    rate = options.learning_rate if rate is None else rate
    if options.learning_rate_decay == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, options.steps)
    return rate
