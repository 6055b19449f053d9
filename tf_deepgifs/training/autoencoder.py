"""The staged method's first stage: the encoder and decoder as an autoencoder on frames.

A joint step (`joint_training.py`) runs the encoder, decoder and discriminator over every
frame of 32 sequences to teach networks most of whose work is to draw one frame. Here
they learn that alone, one frame at a time, as World Models trains its VAE before its
dynamics (Ha and Schmidhuber, 2018):

    frame x (B, H, W, C) --Encoder--> mean, log_var --sample--> z --Decoder--> x_hat
    loss = MSE(x_hat, x) + lambda_KL * KL(q(z | x) || N(0, 1))          (paper 4.2)

The frames are drawn by index from the training sequences held in memory, from (seed,
step), so a resumed run sees what an uninterrupted one would. Validation reconstructs
frames of the validation sequences with the moving BatchNorm statistics and z = mean, as
generation decodes: their MSE (what best.keras is chosen on) and, where the data holds
the balls, how far the balls drawn are from the true ones.
"""

import os

import keras
import numpy as np
from keras import ops

from tf_deepgifs.data import pixels
from tf_deepgifs.metrics import ball_detector, digit_identity
from tf_deepgifs.models import losses
from tf_deepgifs.models.encoder import sample_latent
from tf_deepgifs.runs import run_directory
from tf_deepgifs.training.stages import Player, Schedule, learning_rate_schedule
from tf_deepgifs.training.tuning_validation import digits_of, psnr

NOISE_STREAM = 0  # the latents' sampling noise
# Validation reads every VALIDATION_FRAME_STRIDE-th frame of each validation sequence:
# neighbouring frames differ by a few pixels and would say the same.
VALIDATION_FRAME_STRIDE = 4
# Training sequences whose frames' latents give the statistics the predictor reads them by
# (`Predictor.set_latent_statistics`): 10,000 frames for 95 means and deviations.
STATISTICS_SEQUENCES = 500


def compile_autoencoder_optimizers(model, options):
    """The model's generator optimizer becomes the stage's Adam, built on the encoder's
    and decoder's variables (the checkpoints hold it); the discriminator's stays idle."""
    model.compile(g_optimizer=keras.optimizers.Adam(learning_rate_schedule(options)),
                  d_optimizer=keras.optimizers.Adam())
    model.g_optimizer.build(autoencoder_variables(model))


def autoencoder_variables(model):
    return model.encoder.trainable_variables + model.decoder.trainable_variables


def reconstruction_losses(model, frames, noise, lambda_kl, training):
    """{"reconstruction": MSE on [-1, 1], "kl", "loss"} of frames (B, H, W, C) in [0, 1];
    noise (B, L) standard normal samples z (zeros: z = mean)."""
    images = pixels.to_network_range(frames)
    mean, log_variance = model.encoder(images, training=training)
    reconstructed = model.decoder(sample_latent(mean, log_variance, noise), training=training)
    reconstruction = losses.mean_squared_error(ops.cast(reconstructed, "float32"), images)
    kl = losses.kl_divergence(ops.cast(mean, "float32"), ops.cast(log_variance, "float32"))
    return {"reconstruction": reconstruction, "kl": kl, "loss": reconstruction + lambda_kl * kl}


def validation_frames(validation, dataset):
    """Every VALIDATION_FRAME_STRIDE-th frame of the validation split (`arrays.load`'s
    dict) of `dataset`: uint8 frames (F, H, W, C), and where stored the balls ((F, 1, n, 2)
    px, radius) or the digits (corners (F, 1, n, 2), labels (F, n), reader), else None."""
    video = validation["video"][:, ::VALIDATION_FRAME_STRIDE]
    frames = video.reshape((-1,) + video.shape[2:])

    def per_frame(positions):  # (N, T, n, 2) --> (F, 1, n, 2), as the frames are taken
        kept = positions[:, ::VALIDATION_FRAME_STRIDE]
        return kept.reshape((-1, 1) + kept.shape[2:])

    balls = digits = None
    if "radius" in validation:
        balls = per_frame(validation["positions"]), float(validation["radius"][0])
    if (found := digits_of(validation, dataset)) is not None:
        corners, labels, reader = found
        taken = video.shape[1]
        digits = per_frame(corners), np.repeat(labels, taken, axis=0), reader
    return frames, balls, digits


class AutoencoderTraining:
    """The autoencoder as a stage of the loop (`loop.py`): one player, encoder and decoder."""

    selection = "reconstruction"  # best.keras: the lowest validation reconstruction MSE
    shown = ("reconstruction",)
    init_weights = None
    jit_compile = False

    def __init__(self, config, options, model, train_videos, validation):
        """config: the run's Config; options: AutoencoderConfig; model: a DeepGIF with
        `compile_autoencoder_optimizers`; train_videos: uint8 (N, T, H, W, C);
        validation: `arrays.load`'s dict of the validation sequences."""
        self.config, self.options, self.model = config, options, model
        self.seed = options.seed
        self.train_videos = train_videos
        self.video_shape = train_videos.shape[1:]
        self.frames, self.balls, self.digits = validation_frames(validation, config.data.dataset)
        self.players = [Player("loss", autoencoder_variables(model), model.g_optimizer)]
        self.schedule = Schedule(
            total_steps=options.steps, validate_every=options.validate_every,
            checkpoint_every=options.validate_every,
            keep_checkpoints=config.train.keep_checkpoints)

    def noise_streams(self):
        return {"latent": (NOISE_STREAM, (self.config.model.latent_dim,))}

    def batch(self, step):
        """uint8 frames (B, H, W, C) of random training sequences, at random times."""
        rng = np.random.default_rng([self.seed, step])
        size = self.options.batch_size
        sequences = rng.integers(0, len(self.train_videos), size)
        times = rng.integers(0, self.train_videos.shape[1], size)
        return {"frame": self.train_videos[sequences, times]}

    def losses(self, batch, noise, step, training):
        del step
        return reconstruction_losses(self.model, pixels.from_uint8(batch["frame"]),
                                     noise["latent"], self.config.train.lambda_kl, training)

    def start(self, backend, log):
        model = self.model

        def reconstruct(frames):
            images = pixels.to_network_range(pixels.from_uint8(frames))
            mean, _ = model.encoder(images, training=False)
            return pixels.from_network_range(ops.cast(model.decoder(mean, training=False),
                                                      "float32"))

        def encode(frames):
            mean, _ = model.encoder(pixels.to_network_range(pixels.from_uint8(frames)),
                                    training=False)
            return ops.cast(mean, "float32")

        self._reconstruct = backend.compile(reconstruct)
        self._encode = backend.compile(encode)

    def validate(self, backend, step, log):
        """The validation frames reconstructed: {"reconstruction": MSE on [-1, 1], "psnr":
        dB on [0, 1]} and, with the balls, "region_centre_error" (px) and "plausible"
        (`ball_detector.motion_metrics`, regions as they are); with the digits, "identity"
        (the share read as their own label, `digit_identity`)."""
        del backend, step, log
        size = self.options.validation_batch_size
        reconstructed = np.concatenate([self._reconstruct(self.frames[start : start + size])
                                        for start in range(0, len(self.frames), size)])
        truth = pixels.from_uint8(self.frames)
        error = float(np.mean(np.square(reconstructed - truth)))
        scores = {"reconstruction": 4.0 * error,  # the loss's range, [-1, 1], is twice as wide
                  "psnr": float(psnr(error))}
        if self.balls is not None:
            found = ball_detector.motion_metrics(reconstructed[:, None].mean(axis=-1),
                                                 *self.balls)
            scores["region_centre_error"] = float(np.nanmean(found["region_centre_error"]))
            scores["plausible"] = float(np.mean(found["plausible"]))
        if self.digits is not None:
            corners, labels, reader = self.digits
            scores["identity"] = float(np.mean(digit_identity.identity(
                reader, reconstructed[:, None].mean(axis=-1), corners, labels)))
        return scores

    def after_validation(self, run_dir, step, backend):
        del run_dir, step, backend

    def state(self):
        return {}

    def restore_state(self, state):
        del state

    def finish(self, run_dir):
        """model.keras, with the latents' statistics recorded in the predictor where it
        reads normalised latents (`ModelConfig.latent_normalization`)."""
        if self.config.model.latent_normalization:
            self.model.predictor.set_latent_statistics(self.training_latents())
        run_directory.save_inference_model(self.model, self.video_shape,
                                           os.path.join(run_dir, "model.keras"))

    def training_latents(self):
        """The encoder's means of every frame of the first STATISTICS_SEQUENCES training
        sequences: (F, L)."""
        video = self.train_videos[:STATISTICS_SEQUENCES]
        frames = video.reshape((-1,) + video.shape[2:])
        size = self.options.validation_batch_size
        return np.concatenate([self._encode(frames[start : start + size])
                               for start in range(0, len(frames), size)])
