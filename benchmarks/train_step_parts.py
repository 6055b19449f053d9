"""Where a train step's time goes: each network's forward, and forward + backward, alone.

    python benchmarks/train_step_parts.py [--batch-size 32] [--frames 20]

Each network runs on as many frames as one teacher-forced step gives it (encoder: B x T;
decoder: B x (2T - K); discriminator: B x (3T - 2K)), in training mode, compiled; the
best of 2 timed calls. Beside each time: the FLOPs (benchmarks/flops.py) and the rate.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import flops  # noqa: E402
from tf_deepgifs.runs import run_directory  # noqa: E402  (before TF: it switches oneDNN on)
import tensorflow as tf  # noqa: E402
from tf_deepgifs.config import Config, DataConfig  # noqa: E402


def best_seconds(fn, argument, repeats=2):
    compiled = tf.function(fn)
    tf.nest.map_structure(lambda t: t.numpy(), compiled(argument))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), compiled(argument))
        times.append(time.perf_counter() - started)
    return min(times)


def forward_backward(network):
    """The network's forward pass and the gradients of a scalar of its outputs for its
    weights and its input (the decoder's and discriminator's input gradients flow on)."""

    def run(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = network(inputs, training=True)
            total = tf.add_n([tf.reduce_mean(t) for t in tf.nest.flatten(outputs)])
        return tape.gradient(total, [inputs] + network.trainable_variables)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    config = Config(data=DataConfig(num_frames=args.frames))
    c = config.model
    model = run_directory.build_model(config, (args.frames, 64, 64, 1))
    counts = flops.step_counts(args.batch_size, args.frames)
    rng = np.random.default_rng(0)
    parts = {
        "encoder": (model.encoder, rng.uniform(-1, 1, (counts.encoded, 64, 64, 1)), flops.encoder_flops(c)),
        "decoder": (model.decoder, rng.standard_normal((counts.decoded, c.latent_dim)), flops.decoder_flops(c)),
        "discriminator": (model.discriminator, rng.uniform(-1, 1, (counts.discriminated, 64, 64, 1)),
                          flops.discriminator_flops(c)),
    }
    results = []
    for name, (network, inputs, per_item) in parts.items():
        inputs = tf.constant(inputs, tf.float32)
        for kind, fn, factor in (("forward", lambda x, n=network: n(x, training=True), 1),
                                 ("forward+backward", forward_backward(network),
                                  1 + flops.BACKWARD_FACTOR)):
            seconds = best_seconds(fn, inputs)
            total = factor * per_item * len(inputs)
            results.append({"network": name, "pass": kind, "items": len(inputs), "seconds": seconds,
                            "flops": total, "flops_per_second": total / seconds})
            print(f"{name:14s} {kind:17s} x{len(inputs):5d}: {seconds * 1000:8.0f} ms, "
                  f"{total / 1e9:6.1f} GFLOP, {total / seconds / 1e9:5.1f} GFLOP/s")
    print(json.dumps({"benchmark": "train_step_parts", "batch": args.batch_size,
                      "frames": args.frames, "results": results}))


if __name__ == "__main__":
    main()
