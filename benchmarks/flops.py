"""The arithmetic floor: floating-point operations of DeepGIF, counted from layer shapes.

    python benchmarks/flops.py [--batch-size 32] [--frames 20]

Convention: a multiply-add is 2 FLOPs; only convolutions, dense layers and the LSTM's
matmuls are counted (BatchNorm, activations, upsampling and the losses are memory-bound
and under 1 % of the total). A train step's backward pass costs twice its forward pass
(a gradient for the inputs and one for the weights of every layer), so a train step is
3 x its forward FLOPs. The machine's floor is its measured float32 matmul rate.

The decoder's upsample + conv blocks are counted as tf_deepgifs computes them (one
stride-2 transposed convolution with a (k+1) x (k+1) kernel per block, UpsampleConv2D);
the count for upsampling then convolving, as the original (and
benchmarks/torch_reference.py by default) computes the same function, is printed beside.
"""

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tf_deepgifs.config import ModelConfig  # noqa: E402

BACKWARD_FACTOR = 2  # backward FLOPs per forward FLOP


def conv_flops(height, width, in_channels, out_channels, kernel):
    """One image through a conv whose output is height x width."""
    return 2 * height * width * out_channels * kernel * kernel * in_channels


def encoder_trunk_flops(c):
    """The four stride-2 convolutions shared by the encoder and the discriminator."""
    total, side, channels = 0, c.image_size, c.channels
    for filters in c.encoder_filters:
        side //= 2
        total += conv_flops(side, side, channels, filters, c.kernel_size)
        channels = filters
    return total


def bottleneck_features(c):
    return c.bottleneck_size**2 * c.encoder_filters[-1]


def encoder_flops(c):
    """One frame to mean and log-variance."""
    return encoder_trunk_flops(c) + 2 * (2 * bottleneck_features(c) * c.latent_dim)


def upsample_conv_flops(side, in_channels, out_channels, kernel, folded=True):
    """x2 upsampling of a side x side input, then a "same" kernel x kernel convolution.

    folded: as a stride-2 transposed convolution, (kernel + 1)^2 taps per input pixel
    (tf_deepgifs); otherwise kernel^2 taps per pixel of the upsampled image.
    """
    if folded:
        return 2 * side * side * out_channels * (kernel + 1) ** 2 * in_channels
    return conv_flops(2 * side, 2 * side, in_channels, out_channels, kernel)


def decoder_flops(c, folded=True):
    """One latent to a frame (folded: see `upsample_conv_flops`)."""
    total = 2 * c.latent_dim * bottleneck_features(c)
    widths = list(reversed(c.encoder_filters))
    side, channels = c.bottleneck_size, widths[0]
    for out in widths[1:] + [c.channels]:
        total += upsample_conv_flops(side, channels, out, c.decoder_kernel_size, folded)
        side *= 2
        channels = out
    return total


def predictor_flops(c):
    """One LSTM step (four gates over input and hidden state) and its readout."""
    return 2 * (c.latent_dim + c.lstm_units) * 4 * c.lstm_units + 2 * c.lstm_units * c.latent_dim


def discriminator_flops(c):
    """One frame to its logit."""
    return (encoder_trunk_flops(c) + 2 * bottleneck_features(c) * c.discriminator_units
            + 2 * c.discriminator_units)


def generated_frame_flops(c, folded=True):
    """One frame of the rollout: decode, encode it back, one LSTM step."""
    return decoder_flops(c, folded) + encoder_flops(c) + predictor_flops(c)


@dataclasses.dataclass(frozen=True)
class StepCounts:
    """Forward passes of each network in one teacher-forced train step."""

    encoded: int  # every frame of every video
    decoded: int  # reconstructions of every frame, and predictions of frames K..T-1
    lstm_steps: int
    discriminated: int  # real frames K..T-1, and all fakes (predictions + reconstructions)


def step_counts(batch, frames, context_frames=1):
    generated = frames - context_frames
    return StepCounts(encoded=batch * frames, decoded=batch * (frames + generated),
                      lstm_steps=batch * (frames - 1),
                      discriminated=batch * (generated + generated + frames))


def train_step_flops(c, batch, frames, context_frames=1, folded=True):
    """Forward and backward of the whole teacher-forced step."""
    n = step_counts(batch, frames, context_frames)
    forward = (n.encoded * encoder_flops(c) + n.decoded * decoder_flops(c, folded)
               + n.lstm_steps * predictor_flops(c) + n.discriminated * discriminator_flops(c))
    return forward * (1 + BACKWARD_FACTOR)


def matmul_rate(size=2048, repeats=5):
    """The machine's float32 matmul FLOP/s through TensorFlow (best of `repeats`)."""
    import tensorflow as tf

    a = tf.random.stateless_normal((size, size), [0, 1])
    b = tf.random.stateless_normal((size, size), [2, 3])
    tf.linalg.matmul(a, b).numpy()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--matmul-size", type=int, default=2048)
    args = parser.parse_args()
    c = ModelConfig()
    step = train_step_flops(c, args.batch_size, args.frames)
    reference_step = train_step_flops(c, args.batch_size, args.frames, folded=False)
    print(f"per frame forward: encoder {encoder_flops(c) / 1e6:.1f} MFLOP, decoder "
          f"{decoder_flops(c) / 1e6:.1f} (upsampling then convolving: "
          f"{decoder_flops(c, folded=False) / 1e6:.1f}), LSTM step {predictor_flops(c) / 1e6:.2f}, "
          f"discriminator {discriminator_flops(c) / 1e6:.1f}")
    print(f"one generated frame: {generated_frame_flops(c) / 1e6:.1f} MFLOP")
    print(f"train step, batch {args.batch_size} x {args.frames} frames: {step / 1e9:.1f} GFLOP "
          f"(upsampling then convolving: {reference_step / 1e9:.1f})")
    rate = matmul_rate(args.matmul_size)
    print(f"machine: float32 matmul {rate / 1e9:.1f} GFLOP/s "
          f"({args.matmul_size} x {args.matmul_size}, TensorFlow)")
    print(json.dumps({"benchmark": "flops", "batch": args.batch_size, "frames": args.frames,
                      "train_step_flops": step, "reference_train_step_flops": reference_step,
                      "generated_frame_flops": generated_frame_flops(c),
                      "matmul_flops_per_second": rate, "matmul_size": args.matmul_size}))


if __name__ == "__main__":
    main()
