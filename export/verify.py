"""Checks that the exported files generate what the trained model generates.

Each check runs the same inputs through two implementations and reports the largest
absolute pixel difference of every generated frame:

- the step file in ONNX Runtime (CPU), looped by the runner users run
  (`generate.Generator`), against the TensorFlow rollout function,
- the SavedModel, reloaded in a fresh Python process that imports TensorFlow alone,
  against the same function.

Inputs: seed frames of simulated Bouncing Balls (real images in [0, 1], whatever the
dataset: the check is of the arithmetic, not of the model's quality) and standard-normal
noise, at every (batch, N) of `cases`.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from . import contract, generate
from tf_deepgifs.data import bouncing_balls

# Max abs difference allowed at any pixel of any frame, pixels in [0, 1]: a quarter of an
# 8-bit grey level. Runtimes sum in other orders, and a trained rollout amplifies those
# float32 roundings frame after frame through its feedback loop (README.md, "Export and
# deployment"), so a bound fit for one frame is not.
TOLERANCE = 1 / (4 * 255)
VERIFICATION_SEED = 0
NUM_BALLS = 2
FORMATS = ("onnx_runtime", "saved_model")  # as named in the report


def verification_inputs(metadata, batch, num_frames, seed=VERIFICATION_SEED):
    """(seed frames, noise) for one check: float32 arrays of the contract's shapes."""
    k, channels = metadata["context_frames"], metadata["channels"]
    noise_dim = metadata.get("noise_dim", metadata["latent_dim"])
    rngs = [np.random.default_rng([seed, batch, num_frames, i]) for i in range(batch)]
    video = bouncing_balls.generate(rngs, k, NUM_BALLS, metadata["image_size"]).video
    frames = np.repeat(video.astype(np.float32) / 255.0, channels, axis=-1)
    noise = np.random.default_rng([seed, batch, num_frames]).standard_normal(
        (batch, num_frames, noise_dim)).astype(np.float32)
    return frames, noise


def rollout_fed(runner, seeds, noise, reference):
    """The runner's steps, each generated frame n > 1 made from `reference`'s frame n - 1
    rather than its own (the step file's state still its own): frames (B, N, H, W, C).
    For a model that reads back its frames (`Generator.reads_back_frames`)."""
    steps = generate.BoundSteps(runner, len(seeds))
    for k in range(runner.context_frames):
        steps.step(seeds[:, k], noise[:, 0] if k == runner.context_frames - 1 else None)
    frames = np.empty(reference.shape, np.float32)
    frames[:, 0] = steps.frame
    for n in range(1, reference.shape[1]):
        steps.step(reference[:, n - 1], noise[:, n])
        frames[:, n] = steps.frame
    return frames


def per_frame_error(expected, actual):
    """Max abs difference per generated frame: (B, N, H, W, C) x2 --> list of N floats."""
    if expected.shape != actual.shape:
        raise ValueError(f"shapes differ: {expected.shape} and {actual.shape}")
    return np.abs(expected - actual).max(axis=(0, 2, 3, 4)).tolist()


# Packages TensorFlow imports when they are installed (tf.lite's JAX converter, Keras'
# scikit-learn wrapper and pandas inputs) and a SavedModel never needs: absent in the
# fresh interpreter, as on a machine with TensorFlow alone.
NOT_NEEDED = ("jax", "sklearn", "pandas")

# Run by a fresh interpreter: only TensorFlow and NumPy, then proves it.
_SAVED_MODEL_SCRIPT = """
import sys
for name in {not_needed!r}:
    sys.modules[name] = None  # import raises ModuleNotFoundError, as if not installed
import numpy as np
import tensorflow as tf
saved_model, inputs, outputs = sys.argv[1:4]
rollout = tf.saved_model.load(saved_model).signatures[{signature!r}]
arrays = np.load(inputs)
results = {{}}
for name in sorted({{key.rsplit("_", 1)[0] for key in arrays}}):
    frames = rollout(seed=tf.constant(arrays[name + "_seed"]),
                     noise=tf.constant(arrays[name + "_noise"]))[{frames!r}]
    results[name] = frames.numpy()
np.savez(outputs, **results)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tf_deepgifs", "tf_deepgifs_export", "export"))
assert not leaked, f"the SavedModel needed {{leaked}}"
"""


def saved_model_in_fresh_process(saved_model, inputs):
    """Runs the SavedModel's rollout signature in a new interpreter on {name: (seed, noise)}.

    Returns {name: frames}. Raises RuntimeError with the child's error if it fails.
    """
    script = _SAVED_MODEL_SCRIPT.format(signature=contract.SIGNATURE, frames=contract.FRAMES,
                                        not_needed=NOT_NEEDED)
    with tempfile.TemporaryDirectory() as scratch:
        inputs_path = os.path.join(scratch, "inputs.npz")
        outputs_path = os.path.join(scratch, "outputs.npz")
        np.savez(inputs_path, **{f"{name}_{part}": array for name, (seed, noise) in inputs.items()
                                 for part, array in (("seed", seed), ("noise", noise))})
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        # It runs in the scratch folder (not the repository: nothing of it importable), so
        # a path relative to ours (`make export`'s default RUN=runs/...) is made absolute.
        result = subprocess.run([sys.executable, "-c", script, os.path.abspath(saved_model),
                                 inputs_path, outputs_path], env=env, capture_output=True,
                                text=True, cwd=scratch)
        if result.returncode != 0:
            raise RuntimeError(f"the SavedModel failed in a fresh process: {result.stderr[-2000:]}")
        with np.load(outputs_path) as outputs:
            return {name: outputs[name] for name in outputs}


def verify(rollout, onnx_path, saved_model, metadata, cases):
    """Compares the formats with `rollout` (the TF function) on every (batch, N) of cases.

    Returns a report: {"tolerance", "passed", "cases": [{batch, frames, fed, onnx_runtime,
    saved_model}]} where the formats' entries are per-frame max abs errors. The step file
    is looped by the runner on its own frames up to the trained horizon; past it, a model
    that reads back its frames is fed the TensorFlow rollout's (`fed` says which): each
    re-encoded frame amplifies the runtimes' float32 rounding, and over many frames a
    loop of correct steps drifts further than any per-frame bound.
    """
    runner = generate.Generator(onnx_path)
    inputs = {f"b{batch}_n{frames}": verification_inputs(metadata, batch, frames)
              for batch, frames in cases}
    reloaded = saved_model_in_fresh_process(saved_model, inputs)
    report_cases = []
    for (batch, frames), (name, (seed, noise)) in zip(cases, inputs.items()):
        expected = rollout(seed, noise)[contract.FRAMES].numpy()
        pinned = frames > runner.training_frames and runner.reads_back_frames
        looped = (rollout_fed(runner, seed, noise, expected) if pinned
                  else runner.run(seed, noise))
        report_cases.append({
            "batch": batch,
            "frames": frames,
            "fed": "the reference's frames" if pinned else "its own frames",
            "onnx_runtime": per_frame_error(expected, looped),
            "saved_model": per_frame_error(expected, reloaded[name]),
        })
    passed = all(max(case[fmt]) <= TOLERANCE for case in report_cases for fmt in FORMATS)
    return {"tolerance": TOLERANCE, "passed": passed, "cases": report_cases}


# A smaller file's (8-bit ONNX, TFLite float16) first generated frame may differ from the
# float file's by at most one grey level on average: fewer bits move every pixel a little,
# and a rollout then compounds it (the frames after are judged by the quality they keep,
# benchmarks/formats.py).
SMALLER_FIRST_FRAME_TOLERANCE = 1 / 255


def verify_smaller(float_path, smaller_paths, metadata, cases):
    """Compares smaller step files with the float one, all looped by the runner, on every
    (batch, N) of cases, the float file run once per case: {path: {"tolerance", "passed",
    "cases": [{batch, frames, mean_abs, max_abs}]}}, per-frame mean and max abs pixel
    differences."""
    float_runner = generate.Generator(float_path)
    runners = {path: generate.Generator(path) for path in smaller_paths}
    report_cases = {path: [] for path in smaller_paths}
    for batch, frames in cases:
        seed, noise = verification_inputs(metadata, batch, frames)
        expected = float_runner.run(seed, noise)
        for path, runner in runners.items():
            difference = np.abs(expected - runner.run(seed, noise))
            report_cases[path].append({"batch": batch, "frames": frames,
                                       "mean_abs": difference.mean(axis=(0, 2, 3, 4)).tolist(),
                                       "max_abs": difference.max(axis=(0, 2, 3, 4)).tolist()})
    return {path: {"tolerance": SMALLER_FIRST_FRAME_TOLERANCE, "cases": found,
                   "passed": all(case["mean_abs"][0] <= SMALLER_FIRST_FRAME_TOLERANCE
                                 for case in found)}
            for path, found in report_cases.items()}


def summary_lines(report):
    """One line per case: the worst frame of each format."""
    lines = []
    for case in report["cases"]:
        parts = []
        for fmt in (f for f in FORMATS if f in case):
            errors = case[fmt]
            worst = int(np.argmax(errors))
            parts.append(f"{fmt} max {max(errors):.2e} (frame {worst + 1}), last {errors[-1]:.2e}")
        lines.append(f"  batch {case['batch']:>2}, {case['frames']:>2} frames: " + "; ".join(parts))
    return lines


def smaller_summary_lines(report, label):
    """One line per case: a smaller file's mean abs difference at the first and last
    frame (none for a file not made)."""
    if report is None:
        return []
    return [f"  {label}, batch {case['batch']:>2}, {case['frames']:>2} frames: mean abs "
            f"{case['mean_abs'][0]:.2e} at frame 1, {case['mean_abs'][-1]:.2e} at the last"
            for case in report["cases"]]


def write_report(path, report):
    with open(path, "w") as file:
        json.dump(report, file, indent=2)
