"""Training the paper's model: `python -m tf_deepgifs train` (and `make train`).

The four networks trained together on the paper's losses (section 4.2): the generator
(encoder, decoder, LSTM) lowers `g_loss` with its Adam, the discriminator `d_loss` with
its own, from one forward pass. One stage of the training loop (`loop.py`), on
TensorFlow or JAX alike (KERAS_BACKEND):

    run_dir/config.json           the resolved configuration and the preset's name
    run_dir/checkpoints/          models and both optimizers, every `checkpoint_every`
                                  steps and at every validation (the end of an epoch)
    run_dir/logs/history.jsonl    the scalars (TensorBoard's too, in logs/train, logs/validation)
    run_dir/samples/epoch_NNN.gif ground truth beside generated, per epoch
    run_dir/best.keras, best.json the networks at the lowest validation rollout MSE
    run_dir/model.keras           the trained model, at the end

Run the same command again and it resumes from the last checkpoint: the step, the
weights, both optimizers and the data order (a function of seed and step) all continue
where they stopped.
"""

import os
import time

from tf_deepgifs.data import arrays, pixels
from tf_deepgifs.errors import UserError
from tf_deepgifs.models.deepgif import NOISE_STREAMS
from tf_deepgifs.training import backends, distribution, loop, samples
from tf_deepgifs.runs import run_directory
from tf_deepgifs.training.stages import Player, Schedule


class JointTraining:
    """The paper's training as a stage: DeepGIF.compute_losses, two players."""

    selection = "rollout"  # best.keras: the lowest validation MSE of the free rollout
    shown = ("g_loss", "d_loss", "reconstruction", "prediction")
    init_weights = None

    def __init__(self, config, model, train_videos, validation_videos, steps_per_epoch):
        t = config.train
        self.config, self.model = config, model
        self.seed, self.jit_compile = t.seed, t.jit_compile
        self.init_weights = t.init_weights
        self.train_videos, self.validation_videos = train_videos, validation_videos
        self.steps_per_epoch = steps_per_epoch
        self.video_shape = train_videos.shape[1:]
        self.players = [
            Player("g_loss", model.generator_variables, model.g_optimizer),
            Player("d_loss", model.discriminator.trainable_variables, model.d_optimizer),
        ]
        self.schedule = Schedule(
            total_steps=t.epochs * steps_per_epoch, validate_every=steps_per_epoch,
            checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints)

    def noise_streams(self):
        shapes = self.model.noise_shapes(self.video_shape[0])
        return {name: (NOISE_STREAMS[name], shape) for name, shape in shapes.items()}

    def batch(self, step):
        indices = arrays.batch_indices(self.seed, step, len(self.train_videos),
                                       self.config.train.batch_size, self.steps_per_epoch)
        return {"video": self.train_videos[indices]}

    def losses(self, batch, noise, step, training):
        videos = pixels.from_uint8(batch["video"])
        return self.model.compute_losses(videos, noise, training,
                                         self.model.sampling_probability(step))

    def start(self, backend, log):
        model = self.model
        self._validation_losses = backend.compile(
            lambda videos: model.validation_losses(pixels.from_uint8(videos)))
        self._generate = backend.compile(lambda videos: model(pixels.from_uint8(videos)))

    def validate(self, backend, step, log):
        """Every validation loss, averaged over the validation batches."""
        size = self.config.train.batch_size
        totals, batches = {}, 0
        for start in range(0, len(self.validation_videos) - size + 1, size):
            values = self._validation_losses(self.validation_videos[start : start + size])
            for name, value in values.items():
                totals[name] = totals.get(name, 0.0) + float(value)
            batches += 1
        return {name: total / batches for name, total in totals.items()}

    def after_validation(self, run_dir, step, backend):
        """samples/epoch_NNN.gif: validation videos beside their deterministic rollout."""
        videos = self.validation_videos[: self.config.train.sample_sequences]
        generated = pixels.to_uint8(self._generate(videos))
        folder = os.path.join(run_dir, "samples")
        os.makedirs(folder, exist_ok=True)
        epoch = -(-step // self.steps_per_epoch)
        samples.write_gif(os.path.join(folder, f"epoch_{epoch:03d}.gif"), samples.side_by_side(
            videos, generated, self.config.train.context_frames))

    def state(self):
        return {}

    def restore_state(self, state):
        del state  # everything is in the checkpoint's weights and the step

    def finish(self, run_dir):
        self.model.save(os.path.join(run_dir, "model.keras"))


def train(config, preset="paper", stop_after_minutes=None, stop_at_step=None, log=print,
          strategy=None):
    """Trains (or resumes) the run `config` describes; returns the run directory.

    stop_after_minutes / stop_at_step: end early with a checkpoint (the same command
    resumes), for a machine lent by the hour or a look at the first steps. strategy: a
    tf.distribute strategy to use instead of the one `distribution` picks (TensorFlow).
    """
    t = config.train
    if config.model.mixture_components:
        raise UserError("A mixture readout is trained on a trained run's networks: train "
                        "without --mixture-components, then `tune --mixture-components M`.")
    run_dir = t.run_dir or run_directory.default_run_dir(config, preset)
    devices = distribution.for_backend(strategy)
    if devices.chief:
        run_directory.write_config(run_dir, config, preset)
    train_videos = arrays.load(config.data, "train", log=log)["video"]
    validation_count = (t.validation_steps or 0) * t.batch_size
    validation_videos = arrays.load(config.data, "validation", validation_count, log)["video"]
    frame = (config.model.image_size, config.model.image_size, config.model.channels)
    if tuple(train_videos.shape[2:]) != frame:
        raise UserError(f"{config.data.dataset} has frames of {train_videos.shape[2:]} (H, W, C); "
                        f"the model is configured for {frame}: pass --image-size and --channels "
                        "to match.")
    steps_per_epoch = t.steps_per_epoch or len(train_videos) // t.batch_size
    if steps_per_epoch < 1 or len(validation_videos) < t.batch_size:
        raise UserError(f"The splits have fewer examples than one batch of {t.batch_size}.")
    if t.batch_size % devices.count:
        raise UserError(f"batch_size {t.batch_size} does not split over {devices.count} devices.")

    with devices.scope():
        model = run_directory.build_model(config, train_videos.shape[1:])
    stage = JointTraining(config, model, train_videos, validation_videos, steps_per_epoch)
    deadline = time.monotonic() + 60 * stop_after_minutes if stop_after_minutes else None
    if loop.run(stage, backends.make_backend(stage, devices), run_dir, devices, log,
                deadline, stop_at_step):
        log(f"The trained model is {os.path.join(run_dir, 'model.keras')}.")
    return run_dir

