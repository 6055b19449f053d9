"""Rollout latency of an exported generator: TF SavedModel against ONNX Runtime.

    python benchmarks/rollout_latency.py --export-dir RUN/export [--frames 19]
        [--batches 1,32] [--repeats 5] [--threads N] [--runtimes saved_model,onnx,onnx_fixed]

For each batch size: the median milliseconds of one call generating `frames` frames
from one seed frame per sequence (after a warm-up call), and frames per second, for

    saved_model   tf.saved_model.load(...).rollout, TensorFlow's default threads
    onnx          generator.onnx (the Loop over frames) in ONNX Runtime, CPU provider
    onnx_fixed    generator_fixed.onnx (the unrolled rollout), same session options

ONNX Runtime runs with `--threads` intra-op threads (default: the machine's cores).
This script imports TensorFlow alone, as a SavedModel user would: TensorFlow then uses
oneDNN only where it turns it on by default (CPUs with AVX-512 VNNI, BF16 or AMX) or where
TF_ENABLE_ONEDNN_OPTS=1 is set (as tf_deepgifs sets it).
The last line is a JSON record for `benchmarks/run_all.py`.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402

from tf_deepgifs_export import contract  # noqa: E402


def median_ms(call, repeats):
    call()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def inputs(metadata, batch, frames):
    k, size, channels = (int(metadata[key]) for key in ("context_frames", "image_size", "channels"))
    rng = np.random.default_rng(0)
    seed = rng.random((batch, k, size, size, channels), np.float32)
    noise = rng.standard_normal((batch, frames, int(metadata["latent_dim"])), np.float32)
    return seed, noise


def onnx_caller(path, threads, seed, noise):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {contract.SEED: seed, contract.NOISE: noise}
    return lambda: session.run([contract.FRAMES], feed)


def saved_model_caller(path, seed, noise):
    import tensorflow as tf

    rollout = tf.saved_model.load(path).signatures[contract.SIGNATURE]
    seed, noise = tf.constant(seed), tf.constant(noise)
    return lambda: rollout(seed=seed, noise=noise)[contract.FRAMES].numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", required=True, help="a run's export/ folder")
    parser.add_argument("--frames", type=int, help="frames per rollout (default: the trained horizon)")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--runtimes", default="saved_model,onnx,onnx_fixed")
    args = parser.parse_args()
    runtimes = args.runtimes.split(",")
    folder = args.export_dir
    onnx_path = os.path.join(folder, contract.ONNX_FILE)
    fixed_path = os.path.join(folder, contract.FIXED_ONNX_FILE)
    metadata = onnxruntime.InferenceSession(
        onnx_path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    frames = args.frames or int(metadata["training_frames"])
    results = []
    for batch in (int(b) for b in args.batches.split(",")):
        seed, noise = inputs(metadata, batch, frames)
        callers = {}
        if "saved_model" in runtimes:
            callers["saved_model"] = saved_model_caller(
                os.path.join(folder, contract.SAVED_MODEL_DIR), seed, noise)
        if "onnx" in runtimes:
            callers["onnx"] = onnx_caller(onnx_path, args.threads, seed, noise)
        if "onnx_fixed" in runtimes and frames == int(metadata["training_frames"]):
            callers["onnx_fixed"] = onnx_caller(fixed_path, args.threads, seed, noise)
        for name, call in callers.items():
            ms = median_ms(call, args.repeats)
            results.append({"runtime": name, "batch": batch, "frames": frames, "ms": round(ms, 1),
                            "frames_per_second": round(batch * frames / ms * 1000, 1)})
            print(f"{name:12s} batch {batch:3d} x {frames} frames: {ms:8.1f} ms "
                  f"({results[-1]['frames_per_second']:.0f} frames/s)")
    print(json.dumps({"benchmark": "rollout_latency", "onnx_threads": args.threads,
                      "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                      "repeats": args.repeats, "results": results}))


if __name__ == "__main__":
    main()
