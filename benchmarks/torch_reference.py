"""The DeepGIFs train step in PyTorch, the original's framework: a benchmark reference.

    python benchmarks/torch_reference.py [--batch-size 32] [--frames 20] [--steps 3]
        [--channels-last] [--transposed-decoder]

The same networks, shapes and step as `tf_deepgifs` (the training loop's step, teacher
forced): encoder, LSTM and decoder trained on reconstruction + prediction + lambda_gan *
GAN + lambda_kl * KL, the discriminator on its BCE, each player's gradients from the same
forward pass, two Adam optimizers. Benchmark only: it is not trained or tested for
quality. Needs `benchmarks/requirements.txt` (torch, CPU build).

By default the decoder upsamples then convolves, as the original does. With
--transposed-decoder it computes each upsample + conv as one stride-2 transposed
convolution with the folded kernel, as tf_deepgifs' `UpsampleConv2D` does (same function,
2.25x fewer FLOPs): the comparison with both frameworks given the same arithmetic.
"""

import argparse
import importlib.util
import json
import pathlib
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _load_config_module():
    """tf_deepgifs/config.py on its own (it imports only the standard library): importing
    it through the package would load TensorFlow and Keras first (the package registers its
    models with Keras), seconds a PyTorch process has no use for."""
    path = pathlib.Path(__file__).resolve().parent.parent / "tf_deepgifs" / "config.py"
    spec = importlib.util.spec_from_file_location("tf_deepgifs_config", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # where dataclasses look a class's module up
    spec.loader.exec_module(module)
    return module


_config = _load_config_module()
ModelConfig, TrainConfig = _config.ModelConfig, _config.TrainConfig


def conv_block(in_channels, out_channels, c):
    """Stride-2 4 x 4 convolution (padding 1: Keras' "same" here), BatchNorm, LeakyReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, c.kernel_size, stride=2, padding=1),
        nn.BatchNorm2d(out_channels, eps=c.batchnorm_epsilon, momentum=1 - c.batchnorm_momentum),
        nn.LeakyReLU(c.leaky_relu_slope))


def trunk(c):
    widths = (c.channels,) + tuple(c.encoder_filters)
    return nn.Sequential(*[conv_block(a, b, c) for a, b in zip(widths[:-1], widths[1:])], nn.Flatten())


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        features = c.bottleneck_size**2 * c.encoder_filters[-1]
        self.trunk = trunk(c)
        self.mean = nn.Linear(features, c.latent_dim)
        self.log_variance = nn.Linear(features, c.latent_dim)

    def forward(self, frames):
        features = self.trunk(frames)
        return self.mean(features), self.log_variance(features)


class UpsampleConv(nn.Conv2d):
    """nn.Upsample(2) then this "same" Conv2d, as one stride-2 transposed convolution."""

    def __init__(self, in_channels, out_channels, kernel_size):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        # tf_deepgifs.models imports TensorFlow: only the --transposed-decoder run loads it.
        from tf_deepgifs.models.upsample_conv import folding_matrix

        self.register_buffer("folding", torch.from_numpy(folding_matrix(kernel_size)))

    def forward(self, x):
        # Conv2d's weight (out, in, d, e) folded to conv_transpose2d's (in, out, t, u).
        kernel = torch.einsum("td,ue,oide->iotu", self.folding, self.folding, self.weight)
        padding = (self.folding.shape[0] - 2) // 2
        return F.conv_transpose2d(x, kernel, self.bias, stride=2, padding=padding)


def upsample_conv(in_channels, out_channels, c, transposed):
    if transposed:
        return [UpsampleConv(in_channels, out_channels, c.decoder_kernel_size)]
    return [nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(in_channels, out_channels, c.decoder_kernel_size, padding=c.decoder_kernel_size // 2)]


class Decoder(nn.Module):
    def __init__(self, c, transposed=False):
        super().__init__()
        widths = list(reversed(c.encoder_filters))
        self.c, self.width = c, widths[0]
        self.project = nn.Linear(c.latent_dim, c.bottleneck_size**2 * widths[0])
        layers = []
        for i, out in enumerate(widths[1:] + [c.channels]):
            layers += upsample_conv(widths[i], out, c, transposed)
            if i < len(widths) - 1:
                layers += [nn.BatchNorm2d(out, eps=c.batchnorm_epsilon, momentum=1 - c.batchnorm_momentum),
                           nn.LeakyReLU(c.leaky_relu_slope)]
        self.body = nn.Sequential(*layers)

    def forward(self, latents):
        side = self.c.bottleneck_size
        return torch.tanh(self.body(self.project(latents).view(-1, self.width, side, side)))


class Predictor(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lstm = nn.LSTM(c.latent_dim, c.lstm_units, batch_first=True)
        self.readout = nn.Linear(c.lstm_units, c.latent_dim)

    def forward(self, latents):
        return self.readout(self.lstm(latents)[0])


class Discriminator(nn.Module):
    def __init__(self, c):
        super().__init__()
        features = c.bottleneck_size**2 * c.encoder_filters[-1]
        self.body = nn.Sequential(
            trunk(c), nn.Linear(features, c.discriminator_units),
            nn.BatchNorm1d(c.discriminator_units, eps=c.batchnorm_epsilon,
                           momentum=1 - c.batchnorm_momentum),
            nn.LeakyReLU(c.leaky_relu_slope), nn.Linear(c.discriminator_units, 1))

    def forward(self, frames):
        return self.body(frames)


class DeepGIF(nn.Module):
    def __init__(self, c=ModelConfig(), t=TrainConfig(), transposed_decoder=False):
        super().__init__()
        self.c, self.t = c, t
        self.encoder, self.decoder = Encoder(c), Decoder(c, transposed_decoder)
        self.predictor, self.discriminator = Predictor(c), Discriminator(c)
        self.generator_parameters = (list(self.encoder.parameters()) + list(self.decoder.parameters())
                                     + list(self.predictor.parameters()))
        betas = (t.adam_beta_1, t.adam_beta_2)
        self.g_optimizer = torch.optim.Adam(self.generator_parameters, t.g_learning_rate, betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), t.d_learning_rate, betas)

    def train_step(self, videos):
        """videos (B, T, C, H, W) in [-1, 1]; returns the generator's loss."""
        batch, frames = videos.shape[:2]
        k, flat = self.t.context_frames, videos.flatten(0, 1)
        mean, log_variance = self.encoder(flat)
        latents = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
        reconstructions = self.decoder(latents)
        next_latents = self.predictor(latents.view(batch, frames, -1)[:, :-1])
        predictions = self.decoder(next_latents[:, k - 1 :].flatten(0, 1))
        real = videos[:, k:].flatten(0, 1)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(torch.cat([predictions, reconstructions]))
        kl = torch.mean(-0.5 * torch.sum(1 + log_variance - mean**2 - log_variance.exp(), dim=-1))
        g_gan = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        g_loss = (F.mse_loss(reconstructions, flat) + F.mse_loss(predictions, real)
                  + self.t.lambda_gan * g_gan + self.t.lambda_kl * kl)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        discriminator_parameters = list(self.discriminator.parameters())
        g_gradients = torch.autograd.grad(g_loss, self.generator_parameters, retain_graph=True)
        d_gradients = torch.autograd.grad(d_loss, discriminator_parameters)
        for parameter, gradient in zip(self.generator_parameters + discriminator_parameters,
                                       g_gradients + d_gradients):
            parameter.grad = gradient
        self.g_optimizer.step()
        self.d_optimizer.step()
        return g_loss.detach()


def time_steps(batch_size, frames, steps, channels_last=False, transposed_decoder=False, seed=0):
    """(median seconds per train step after one warm-up step, all step times)."""
    torch.manual_seed(seed)
    model = DeepGIF(transposed_decoder=transposed_decoder)
    videos = torch.from_numpy(np.random.default_rng(seed).uniform(
        -1, 1, (batch_size, frames, 1, 64, 64)).astype(np.float32))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train_step(videos)  # warm-up: allocator, oneDNN primitives
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        model.train_step(videos)
        times.append(time.perf_counter() - started)
    return float(np.median(times)), times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--transposed-decoder", action="store_true")
    args = parser.parse_args()
    seconds, _ = time_steps(args.batch_size, args.frames, args.steps, args.channels_last,
                            args.transposed_decoder)
    print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads), batch "
          f"{args.batch_size} x {args.frames} frames: {seconds:.2f} s per step, "
          f"{args.batch_size * args.frames / seconds:.1f} frames/s (median of {args.steps})")
    print(json.dumps({"benchmark": "train_step", "framework": "pytorch", "version": torch.__version__,
                      "threads": torch.get_num_threads(), "channels_last": args.channels_last,
                      "transposed_decoder": args.transposed_decoder,
                      "batch": args.batch_size, "frames": args.frames, "seconds": seconds,
                      "steps": args.steps}))


if __name__ == "__main__":
    main()
