"""What an exported step file generates, measured on the test split, and whether a smaller
file (8 bits) keeps the float file's quality: the rule publishing ships it by and
`benchmarks/formats.py` reports.

A generator here is anything with `run(seeds, noise)` and the step contract's
`context_frames`, `training_frames` and `noise_dim` (the runner's `Generator`, for one);
this module runs none itself, so the evaluation layer stays free of the runtimes.
"""

import warnings

import numpy as np

from tf_deepgifs.config import DataConfig
from tf_deepgifs.data import arrays, pixels
from tf_deepgifs.metrics import ball_detector

REPORTED_FRAME = 5  # the centre error's early generated frame, beside the last
ROLLOUT_BATCH = 100  # sequences a `run` call generates
# How far a smaller file may fall behind the float file and still ship in its place:
# plausible frames at most half a point fewer, centre errors at most a tenth larger.
PLAUSIBLE_POINTS_LOST = 0.005
CENTRE_ERROR_GROWTH = 1.10


def first_test_sequences(dataset, frames, count, data_dir=None):
    """uint8 videos and true balls of the first `count` test sequences of `dataset`,
    `frames` frames each (`arrays.load`'s dict)."""
    config = DataConfig(dataset=dataset, data_dir=data_dir, num_frames=frames)
    return arrays.load(config, "test", count, log=lambda line: None)


def rollout_quality(generator, data):
    """Plausible frames, balls apart where the truth's are (fractions), and the centre
    error (px) at REPORTED_FRAME and the last: the unsplit regions, over the deterministic
    rollout of `data`'s seeds (Bouncing Balls: its "positions" and "radius")."""
    k, horizon = generator.context_frames, generator.training_frames
    video = pixels.from_uint8(data["video"])
    generated = np.concatenate([
        generator.run(seeds, np.zeros((len(seeds), horizon, generator.noise_dim), np.float32))
        for seeds in (video[start : start + ROLLOUT_BATCH, :k]
                      for start in range(0, len(video), ROLLOUT_BATCH))])
    radius, balls = float(data["radius"][0]), data["positions"].shape[2]
    truth_apart = ball_detector.truth_apart(video[:, k:].mean(axis=-1), radius, balls)
    found = ball_detector.motion_metrics(generated.mean(axis=-1), data["positions"][:, k:],
                                         radius, truth_apart)
    with warnings.catch_warnings():  # a frame where no ball was found anywhere: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        error = np.nanmean(found["region_centre_error"], axis=0)
    return {"plausible": float(np.mean(found["plausible"])),
            "apart_kept": float(np.nanmean(found["apart_kept"])),
            "centre_error_5": float(error[REPORTED_FRAME - 1]),
            "centre_error_last": float(error[-1])}


def shortfalls(smaller, reference):
    """What keeps a smaller file's `rollout_quality` from standing in for the float file's
    (`reference`): a list of sentences, empty when it holds every bound."""
    found = []
    if smaller["plausible"] < reference["plausible"] - PLAUSIBLE_POINTS_LOST:
        found.append(f"plausible frames {smaller['plausible']:.2%} against "
                     f"{reference['plausible']:.2%}")
    for name, frame in (("centre_error_5", f"frame {REPORTED_FRAME}"), ("centre_error_last", "the last frame")):
        if not smaller[name] <= reference[name] * CENTRE_ERROR_GROWTH:  # NaN fails too
            found.append(f"centre error at {frame} {smaller[name]:.2f} px against "
                         f"{reference[name]:.2f}")
    return found
