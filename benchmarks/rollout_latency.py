"""Rollout latency of an exported generator: the step file against the legacy files and
the SavedModel.

    python benchmarks/rollout_latency.py --export-dir RUN/export [--legacy-dir DIR]
        [--frames 19,100] [--batches 1,32] [--rounds 5] [--threads N]
        [--runtimes step,legacy_loop,legacy_fixed,saved_model]

For each batch size and length: the median milliseconds of generating `frames` frames
from the model's seed frames (after a warm-up call), and frames per second, for

    step          generator.onnx, one step per call, looped by the runner users run
                  (export/generate.py), ONNX Runtime's CPU provider
    legacy_loop   the legacy looped file (one ONNX Loop over the frames), same options
    legacy_fixed  the legacy file unrolled for the trained horizon (its length only)
    saved_model   tf.saved_model.load(...).rollout, TensorFlow's default threads

Runtimes are interleaved, one call each per round, so a burst of load on the machine
falls on all of them. ONNX Runtime runs with `--threads` intra-op threads (default: the
machine's cores). This script imports TensorFlow alone (for the SavedModel), as a user
would: oneDNN only where TensorFlow turns it on by default or TF_ENABLE_ONEDNN_OPTS=1.
The last line is a JSON record for `benchmarks/run_all.py`.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tf_deepgifs_export import contract  # noqa: E402
from tf_deepgifs_export.generate import Generator  # noqa: E402

LEGACY_FILES = {"legacy_loop": "generator.onnx", "legacy_fixed": "generator_fixed.onnx"}


def interleaved_ms(calls, rounds):
    """{name: median ms} of `calls` run once each per round, after one warm-up call each."""
    times = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up: allocations, kernel selection
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: 1000 * float(np.median(values)) for name, values in times.items()}


def saved_model_caller(path, seed, noise):
    import tensorflow as tf

    rollout = tf.saved_model.load(path).signatures[contract.SIGNATURE]
    seed, noise = tf.constant(seed), tf.constant(noise)
    return lambda: rollout(seed=seed, noise=noise)[contract.FRAMES].numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", required=True, help="a run's export/ folder")
    parser.add_argument("--legacy-dir", help="the same model's legacy files (generator.onnx "
                        "looped, generator_fixed.onnx unrolled)")
    parser.add_argument("--frames", default="19,100", help="lengths to generate, comma-separated")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--runtimes", default="step,legacy_loop,legacy_fixed,saved_model")
    args = parser.parse_args()
    runtimes = args.runtimes.split(",")
    generators = {"step": Generator(os.path.join(args.export_dir, contract.ONNX_FILE), args.threads)}
    for name, file in LEGACY_FILES.items():
        if name in runtimes and args.legacy_dir:
            generators[name] = Generator(os.path.join(args.legacy_dir, file), args.threads)
    step = generators["step"]
    results = []
    for batch in (int(b) for b in args.batches.split(",")):
        for frames in (int(f) for f in args.frames.split(",")):
            rng = np.random.default_rng(0)
            seed = rng.random((batch, step.context_frames) + step.frame_shape, np.float32)
            noise = rng.standard_normal((batch, frames, step.noise_dim), np.float32)
            calls = {name: (lambda g=generator: g.run(seed, noise))
                     for name, generator in generators.items()
                     if name in runtimes and generator.fixed_frames in (None, frames)}
            if "saved_model" in runtimes:
                calls["saved_model"] = saved_model_caller(
                    os.path.join(args.export_dir, contract.SAVED_MODEL_DIR), seed, noise)
            for name, ms in interleaved_ms(calls, args.rounds).items():
                results.append({"runtime": name, "batch": batch, "frames": frames,
                                "ms": round(ms, 2), "ms_per_frame": round(ms / frames, 3),
                                "frames_per_second": round(batch * frames / ms * 1000, 1)})
                print(f"{name:12s} batch {batch:3d} x {frames:4d} frames: {ms:9.1f} ms "
                      f"({ms / frames:6.2f} ms a frame, {results[-1]['frames_per_second']:.0f} frames/s)")
    print(json.dumps({"benchmark": "rollout_latency", "onnx_threads": args.threads,
                      "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                      "rounds": args.rounds, "results": results}))


if __name__ == "__main__":
    main()
