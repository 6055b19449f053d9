"""DeepGIF: encoder, decoder, latent LSTM and discriminator trained together (paper 4).

The forward passes (`encode_sequence`, `rollout`, ...) and the losses (`compute_losses`,
`validation_losses`) use keras.ops and run on any backend. The model holds no training
step: the training loop (`tf_deepgifs/training/`) takes the steps on TensorFlow or JAX,
each player (generator, discriminator) moving its own variables with its own optimizer
(`compile(g_optimizer, d_optimizer)`).

Data flow, with K context frames and T frames per video:

    x[t] --Encoder--> mean, log_var --sample--> z[t]
    z[t], state --Predictor--> z_hat[t+1] --Decoder--> x_hat[t+1]
    teacher_forced: the next input is z[t+1] (the ground truth's encoding)
    rollout:        after the K context frames, the next input is the encoding of x_hat[t+1]
                    (or z_hat[t+1] itself, with ModelConfig.generation_feedback "latent")
    scheduled:      per sequence and step, the own frame with probability p (0 -> 1)

Generation is one step repeated (`generation_step`, the exported step file's cut): what
the LSTM reads and its state in, the next frame, its latent and the new state out. The
model's rollout, training's closed loop, horizon tuning and the exported generator all
take that step, and how a model feeds back (`next_input`) is said once.

Frames enter and leave the model in [0, 1] (`tf_deepgifs.data.pixels`); inside, the
encoder and the discriminator read and the decoder writes [-1, 1], and the losses are
computed there, as in the paper's code.

Generated frames are decoded (and re-encoded when fed back) with the BatchNorm layers'
moving statistics, in training too: generation has no batch to take statistics from, and
batch statistics would hide offsets in the predicted latents from training
(results/notes.md). Only the passes over real frames use and update batch statistics.
"""

from typing import NamedTuple

import keras
from keras import ops

from tf_deepgifs.models import losses
from tf_deepgifs.config import TRAINING_MODES
from tf_deepgifs.data import pixels
from tf_deepgifs.models.decoder import Decoder
from tf_deepgifs.models.discriminator import Discriminator
from tf_deepgifs.models.encoder import Encoder, sample_latent
from tf_deepgifs.models.layers import as_model_config, config_dict
from tf_deepgifs.models.predictor import Predictor, choose

# Independent random streams per train step: the latents' noise, the fed-back frames'
# noise, and scheduled sampling's coin flips.
NOISE_STREAMS = {"latent": 0, "feedback": 1, "coin": 2}
# The `training` flag of every decoder or encoder pass over generated frames, in training
# as in generation: BatchNorm with its moving statistics (see the module's doc).
GENERATING = False


class GenerationStep(NamedTuple):
    """What one `DeepGIF.generation_step` makes (shapes there)."""

    frame: object
    latent: object
    state: list
    mixture: object


@keras.saving.register_keras_serializable(package="tf_deepgifs")
class DeepGIF(keras.Model):
    """The LSTM-VAE-GAN of DeepGIFs.

    `call(videos)` is the deterministic generation users get: from the first K frames of
    `videos` (B, T, H, W, C) in [0, 1] it generates the remaining T - K frames,
    (B, T - K, H, W, C) in [0, 1], each generated frame fed back through the encoder
    (or, with `generation_feedback` "latent", each predicted latent as it is).

    Args:
      config: `ModelConfig` (or its dict form): the networks.
      context_frames: int, K ground-truth frames read before predicting. Default 1.
      mode: str, "teacher_forced", "rollout" or "scheduled" (see `TrainConfig.mode`).
      lambda_gan: float, weight of the generator's GAN loss. Default 1e-4.
      lambda_kl: float, weight of the KL term. Default 1e-8.
      lambda_latent: float, weight of the predicted latents' MSE to the encoder's means of
        the frames they predict (`TrainConfig.lambda_latent`). Default 0: the paper.
      scheduled_sampling_steps: int, steps until "scheduled" is fully rollout. Default 10000.
      seed: int, seed of the training noise. Default 0.
    """

    def __init__(
        self,
        config,
        context_frames=1,
        mode="teacher_forced",
        lambda_gan=1e-4,
        lambda_kl=1e-8,
        lambda_latent=0.0,
        scheduled_sampling_steps=10_000,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in TRAINING_MODES:
            raise ValueError(f"mode must be one of {', '.join(TRAINING_MODES)}, got '{mode}'.")
        self.config = as_model_config(config)
        self.encoder = Encoder(self.config, name="encoder")
        self.decoder = Decoder(self.config, name="decoder")
        self.predictor = Predictor(self.config, name="predictor")
        self.discriminator = Discriminator(self.config, name="discriminator")
        self.context_frames = context_frames
        self.mode = mode
        self.lambda_gan = lambda_gan
        self.lambda_kl = lambda_kl
        self.lambda_latent = lambda_latent
        self.scheduled_sampling_steps = scheduled_sampling_steps
        self.seed = seed

    @classmethod
    def from_configs(cls, model_config, train_config):
        """The model a `ModelConfig` and a `TrainConfig` describe."""
        return cls(
            model_config,
            context_frames=train_config.context_frames,
            mode=train_config.mode,
            lambda_gan=train_config.lambda_gan,
            lambda_kl=train_config.lambda_kl,
            lambda_latent=train_config.lambda_latent,
            scheduled_sampling_steps=train_config.scheduled_sampling_steps,
            seed=train_config.seed,
        )

    def build(self, input_shape):
        frame_shape = (None,) + tuple(input_shape[2:])
        self.encoder.build(frame_shape)
        self.decoder.build((None, self.config.latent_dim))
        self.predictor.build((None, self.config.latent_dim))
        self.discriminator.build(frame_shape)

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """g_optimizer trains encoder, decoder and predictor; d_optimizer the discriminator."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def get_compile_config(self):
        if not getattr(self, "g_optimizer", None):
            return None
        return {
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
        }

    def compile_from_config(self, config):
        self.compile(
            g_optimizer=keras.saving.deserialize_keras_object(config["g_optimizer"]),
            d_optimizer=keras.saving.deserialize_keras_object(config["d_optimizer"]),
        )
        if self.built:
            self.build_optimizers()

    def build_optimizers(self):
        """Creates the optimizers' slots now, so none are made inside a replica's step."""
        self.g_optimizer.build(self.generator_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def generator_variables(self):
        return (
            self.encoder.trainable_variables
            + self.decoder.trainable_variables
            + self.predictor.trainable_variables
        )

    # Forward passes (backend-portable).

    def encode_sequence(self, videos, noise, training=None):
        """videos (B, T, H, W, C) in [0, 1] --> mean, log_variance, z: each (B, T, L)."""
        batch, frames = ops.shape(videos)[0], videos.shape[1]
        mean, log_variance = self.encoder(
            self._flatten_time(pixels.to_network_range(videos)), training=training)
        mean = ops.reshape(mean, (batch, frames, -1))
        log_variance = ops.reshape(log_variance, (batch, frames, -1))
        return mean, log_variance, sample_latent(mean, log_variance, noise)

    def decode_latents(self, latents):
        """latents (B, L) --> frames (B, H, W, C) in [0, 1], as generation decodes them."""
        return pixels.from_network_range(self.decoder(latents, training=GENERATING))

    def teacher_forced(self, latents, training=None):
        """Ground-truth latents (B, T, L) --> predicted frames K..T-1 (B, T - K, H, W, C)
        in [-1, 1] and the latents they were decoded from (B, T - K, L)."""
        next_latents = self.predictor(latents[:, :-1], training=training)
        next_latents = next_latents[:, self.context_frames - 1 :]
        return self._decode_sequence(next_latents, GENERATING), next_latents

    def read_frame(self, frame, noise=None):
        """The latent the LSTM reads for a frame (B, H, W, C) in [-1, 1]: the encoder's,
        sampled with standard-normal `noise` (B, L), or its mean where noise is None. The
        encoder runs on its moving statistics (see the module's doc)."""
        mean, log_variance = self.encoder(frame, training=GENERATING)
        return mean if noise is None else sample_latent(mean, log_variance, noise)

    def next_input(self, frame, latent, noise=None):
        """What the LSTM reads after generating `frame` (B, H, W, C) in [-1, 1] from
        `latent` (B, L): the frame re-encoded (`generation_feedback` "frames", the paper's
        4.1) or the latent as it is ("latent")."""
        if self.config.generation_feedback == "latent":
            return latent
        return self.read_frame(frame, noise)

    def generation_step(self, state, frames=None, latents=None, noise=None, kernels=None,
                        training=None):
        """One step of generation, cut where the exported step file is (export/contract.py):

            [Encoder(frames) sampled; latents] --LSTM(state)--> z_n --Decoder--> x_n

        Every generating loop takes this step: `closed_loop` (so `rollout` and training),
        horizon tuning's rollouts and the exported step and rollout.

        Args:
          state: the LSTM's [h, c], each (B, lstm_units).
          frames: optional (F, H, W, C) in [-1, 1], read through the encoder.
          latents: optional (R, L), read as they are. The batch is the F frames, then the
            R latents: B = F + R.
          noise: optional (B, noise_dim) standard normal: a read frame's latent is sampled
            with its row's first latent_dim numbers, a mixture draws z_n's component with
            the rest (`ModelConfig.noise_dim`). None: the means, the likeliest component.
          kernels: the decoder's `transposed_kernels()`, folded once for many steps.

        Returns:
          `GenerationStep`: x_n (B, H, W, C) in [-1, 1] (decoded on moving statistics, see
          the module's doc), z_n (B, L), the new state, and a mixture's (logits, means,
          log standard deviations) (None without a mixture).
        """
        size = self.config.latent_dim
        reads = []
        if frames is not None:
            frame_noise = None if noise is None else noise[: ops.shape(frames)[0], :size]
            reads.append(self.read_frame(frames, frame_noise))
        if latents is not None:
            reads.append(latents)
        read = reads[0] if len(reads) == 1 else ops.concatenate(reads, axis=0)
        mixture = None
        if self.config.mixture_components:
            mixture, state = self.predictor.mixture_step(read, state, training=training)
            latent = choose(mixture[0], mixture[1], None if noise is None else noise[:, size:])
        else:
            latent, state = self.predictor.step(read, state, training=training)
        frame = self.decoder(latent, training=GENERATING, transposed_kernels=kernels)
        return GenerationStep(frame, latent, state, mixture)

    def closed_loop(self, context_latents, num_frames, noise=None, teacher_latents=None,
                    use_own=None, training=None):
        """Generates `num_frames` frames by `generation_step`: the context latents read,
        then each step's `next_input` fed back to the LSTM as an input, not as a path
        for gradients.

        Args:
          context_latents: (B, K, L) latents of the context frames, read first.
          num_frames: N frames to generate.
          noise: optional (B, N, noise_dim) standard normal, one row per generated frame:
            row n's first latent_dim numbers sample the latent read back from frame n - 1
            (row 0's are unused: the context latents are read as they are), the rest
            draw frame n's mixture component. None: the means, the likeliest components.
          teacher_latents: optional (B, N - 1, L) ground-truth latents of the frames
            generated at steps 0..N-2, fed instead of the own frame where `use_own` is False.
          use_own: optional bool (B, N - 1); None feeds the own frame everywhere.

        Returns:
          (B, N, H, W, C) frames in [-1, 1], the same in training and in generation, and
          the predicted latents they were decoded from (B, N, L).
        """
        size, last_context = self.config.latent_dim, context_latents.shape[1] - 1
        row = (lambda n: None) if noise is None else (lambda n: noise[:, n])
        kernels = self.decoder.transposed_kernels()  # folded once for all frames
        state = self.predictor.initial_state(ops.shape(context_latents)[0])
        for k in range(last_context + 1):
            step = self.generation_step(state, latents=context_latents[:, k], kernels=kernels,
                                        noise=row(0) if k == last_context else None,
                                        training=training)
            state = step.state
        frames, latents = [step.frame], [step.latent]
        for n in range(1, num_frames):
            read_noise = None if noise is None else noise[:, n, :size]
            fed_back = ops.stop_gradient(self.next_input(step.frame, step.latent, read_noise))
            if use_own is not None:
                fed_back = ops.where(use_own[:, n - 1, None], fed_back,
                                     teacher_latents[:, n - 1])
            step = self.generation_step(step.state, latents=fed_back, noise=row(n),
                                        kernels=kernels, training=training)
            frames.append(step.frame)
            latents.append(step.latent)
        return ops.stack(frames, axis=1), ops.stack(latents, axis=1)

    def rollout(self, context, num_frames, noise=None, training=False):
        """Generation: context frames (B, K, H, W, C) --> (B, num_frames, H, W, C), all in
        [0, 1].

        noise: optional (B, num_frames, noise_dim) standard-normal noise, one entry per
        step: entry 0 samples the last context frame's latent, entry n the latent of
        generated frame n - 1 (its first latent_dim numbers), and a mixture model's entry
        n draws the component of generated frame n (the rest; `ModelConfig.noise_dim`).
        None gives the deterministic rollout (z = mean, the most likely components).
        """
        batch, latent = ops.shape(context)[0], self.config.latent_dim
        if noise is None:
            noise = ops.zeros((batch, num_frames, self.config.noise_dim))
        mean, log_variance, _ = self.encode_sequence(
            context, ops.zeros((batch, context.shape[1], latent)), training)
        # Earlier context frames use their mean; the last one takes the first noise entry.
        last = sample_latent(mean[:, -1], log_variance[:, -1], noise[:, 0, :latent])
        context_latents = ops.concatenate([mean[:, :-1], last[:, None]], axis=1)
        frames, _ = self.closed_loop(context_latents, num_frames, noise, training=training)
        return pixels.from_network_range(frames)

    def _decode_sequence(self, latents, training=None):
        """latents (B, T, L) --> frames (B, T, H, W, C) in [-1, 1]."""
        batch, frames = ops.shape(latents)[0], latents.shape[1]
        images = self.decoder(ops.reshape(latents, (-1, latents.shape[-1])), training=training)
        return ops.reshape(images, (batch, frames) + tuple(images.shape[1:]))

    def call(self, videos, training=False):
        k = self.context_frames
        return self.rollout(videos[:, :k], videos.shape[1] - k, training=training)

    @staticmethod
    def _flatten_time(videos):
        return ops.reshape(videos, (-1,) + tuple(videos.shape[2:]))

    # Training: the losses, backend-portable; the training loop takes the steps
    # (tf_deepgifs/training/backends.py), on either backend.

    def _predict(self, latents, noise, training, sampling_probability):
        """Predicted frames K..T-1 (B, T - K, H, W, C) in the configured mode, and their
        latents (B, T - K, L)."""
        if self.mode == "teacher_forced":
            return self.teacher_forced(latents, training=training)
        k, frames = self.context_frames, latents.shape[1]
        use_own = None
        if self.mode == "scheduled":
            use_own = noise["coin"] < sampling_probability
        # The feedback stream samples the fed-back frames' latents (rows 1..N-1); the
        # training rollout takes the likeliest mixture component.
        rows = ops.pad(noise["feedback"],
                       [[0, 0], [1, 0], [0, self.config.noise_dim - self.config.latent_dim]])
        return self.closed_loop(
            latents[:, :k], frames - k, rows,
            teacher_latents=latents[:, k:-1], use_own=use_own, training=training,
        )

    def noise_shapes(self, frames):
        """Per-sequence shapes of the noise streams for videos of `frames` frames."""
        generated, latent = frames - self.context_frames, self.config.latent_dim
        return {
            "latent": (frames, latent),
            "feedback": (generated - 1, latent),
            "coin": (generated - 1,),
        }

    def sampling_probability(self, step):
        """Scheduled mode's chance of feeding the own frame at `step`: 0 rising to 1."""
        if self.mode != "scheduled":
            return 0.0
        progress = ops.cast(step, "float32") / float(self.scheduled_sampling_steps)
        return ops.minimum(1.0, progress)

    def compute_losses(self, videos, noise, training, sampling_probability):
        """Every loss and metric of one batch, as a dict of scalars (backend-portable).

        videos (B, T, H, W, C) in [0, 1]; noise: {stream: (B, ...)} of the shapes
        `noise_shapes` gives (standard normal; "coin" uniform in [0, 1)); the
        sampling probability is scheduled mode's chance of feeding the own frame. The
        losses compare frames in the networks' [-1, 1].
        """
        mean, log_variance, latents = self.encode_sequence(videos, noise["latent"], training)
        videos = pixels.to_network_range(videos)
        reconstructions = self._decode_sequence(latents, training)
        predictions, predicted_latents = self._predict(
            latents, noise, training, sampling_probability)
        real = self._flatten_time(videos[:, self.context_frames :])
        fake = ops.concatenate(
            [self._flatten_time(predictions), self._flatten_time(reconstructions)], axis=0
        )
        real_logits = self.discriminator(real, training=training)
        fake_logits = self.discriminator(fake, training=training)
        # Losses in float32 whatever the layers compute in (mixed precision).
        (mean, log_variance, reconstructions, predictions, predicted_latents, real_logits,
         fake_logits) = (ops.cast(x, "float32") for x in (
            mean, log_variance, reconstructions, predictions, predicted_latents, real_logits,
            fake_logits))
        values = {
            "reconstruction": losses.mean_squared_error(reconstructions, videos),
            "prediction": losses.mean_squared_error(predictions, videos[:, self.context_frames :]),
            "kl": losses.kl_divergence(mean, log_variance),
            "latent": losses.mean_squared_error(
                predicted_latents, ops.stop_gradient(mean[:, self.context_frames :])),
            "g_gan": losses.binary_cross_entropy(fake_logits, 1.0),
            "d_loss": losses.binary_cross_entropy(real_logits, 1.0)
            + losses.binary_cross_entropy(fake_logits, 0.0),
            "d_real_acc": losses.accuracy(real_logits, 1.0),
            "d_fake_acc": losses.accuracy(fake_logits, 0.0),
        }
        values["g_loss"] = (
            values["reconstruction"]
            + values["prediction"]
            + self.lambda_gan * values["g_gan"]
            + self.lambda_kl * values["kl"]
            + self.lambda_latent * values["latent"]
        )
        return values

    def validation_losses(self, videos):
        """Every loss with running BatchNorm statistics and z = mean, plus the free
        rollout's MSE (on [-1, 1], as the losses): a dict of scalars (backend-portable;
        both trainers validate with it). videos (B, T, H, W, C) in [0, 1]."""
        batch = ops.shape(videos)[0]
        zeros = {name: ops.zeros((batch,) + tuple(shape))
                 for name, shape in self.noise_shapes(videos.shape[1]).items()}
        values = self.compute_losses(videos, zeros, False, 1.0)
        generated = ops.cast(self(videos, training=False), "float32")
        values["rollout"] = losses.mean_squared_error(
            pixels.to_network_range(generated),
            pixels.to_network_range(videos[:, self.context_frames :]))
        return values

    def get_config(self):
        return {
            **super().get_config(),
            "config": config_dict(self.config),
            "context_frames": self.context_frames,
            "mode": self.mode,
            "lambda_gan": self.lambda_gan,
            "lambda_kl": self.lambda_kl,
            "lambda_latent": self.lambda_latent,
            "scheduled_sampling_steps": self.scheduled_sampling_steps,
            "seed": self.seed,
        }
