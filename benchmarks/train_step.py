"""Seconds per compiled DeepGIF train step (after tracing), median of several.

    python benchmarks/train_step.py [--batch-size 32] [--frames 20] [--mode teacher_forced]
        [--steps 3]
    KERAS_BACKEND=jax python benchmarks/train_step.py ...   the same step under JAX

Random videos of the paper's shape; the step is the training loop's, as `python -m
tf_deepgifs train` takes it (tf_deepgifs/training/backends.py), on the backend Keras
runs on and on every device it finds.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras  # noqa: E402  (after tf_deepgifs: it switches oneDNN on before TF loads)

from tf_deepgifs.config import Config, DataConfig, TrainConfig  # noqa: E402
from tf_deepgifs.runs import run_directory  # noqa: E402
from tf_deepgifs.training import backends, distribution, joint_training  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--mode", default="teacher_forced")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--jit-compile", action="store_true", help="compile the step with XLA")
    parser.add_argument("--precision", default="float32", help="float32 or mixed_bfloat16")
    args = parser.parse_args()
    config = Config(train=TrainConfig(batch_size=args.batch_size, mode=args.mode,
                                      precision=args.precision, jit_compile=args.jit_compile),
                    data=DataConfig(num_frames=args.frames))
    shape = (args.frames, 64, 64, 1)
    devices = distribution.for_backend()
    with devices.scope():
        model = run_directory.build_model(config, shape)
    videos = np.random.default_rng(0).integers(0, 256, (args.batch_size,) + shape, np.uint8)
    stage = joint_training.JointTraining(config, model, videos, videos, steps_per_epoch=1)
    backend = backends.make_backend(stage, devices)
    backend.start()

    def step(index):
        return float(backend.train_step({"video": videos}, index)["g_loss"])  # waits for it

    started = time.perf_counter()
    step(0)
    tracing = time.perf_counter() - started
    times = []
    for index in range(1, args.steps + 1):
        started = time.perf_counter()
        step(index)
        times.append(time.perf_counter() - started)
    seconds = float(np.median(times))
    print(f"{args.mode}, batch {args.batch_size} x {args.frames} frames: {seconds:.2f} s per step, "
          f"{args.batch_size * args.frames / seconds:.1f} frames/s (median of {args.steps}; "
          f"first call {tracing:.1f} s{', XLA' if args.jit_compile else ''}, {args.precision})")
    print(json.dumps({"benchmark": "train_step", "framework": keras.backend.backend(),
                      "version": keras.version(), "devices": devices.count,
                      "jit_compile": args.jit_compile, "precision": args.precision, "batch": args.batch_size, "frames": args.frames,
                      "seconds": seconds, "first_call": tracing, "steps": args.steps}))


if __name__ == "__main__":
    main()
