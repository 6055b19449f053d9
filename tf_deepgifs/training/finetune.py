"""The staged method's last stage: the paper's joint training, briefly (`FinetuneConfig`).

The autoencoder and the LSTM arrive trained apart (`staged_training.py`); this stage runs
the paper's own step on them (`joint_training.JointTraining`: the four networks, its
losses and its discriminator) for a few hundred steps, so that the decoder learns to draw
what the LSTM predicts. It is validated as the dynamics are, on the validation sequences
generated as users generate them (`tuning_validation.validation_scores`, the balls
counted by both detectors where the data stores them); best.keras is chosen on the
unsplit regions' plausible frames (the target the paper's model is held to), or on the
rollout's MSE for data without the balls.
"""

import dataclasses
import pathlib

import keras

from tf_deepgifs.runs import run_directory
from tf_deepgifs.training import joint_training
from tf_deepgifs.training.stages import Schedule, learning_rate_schedule
from tf_deepgifs.training.tuning_validation import balls_of, digits_of, validation_scores

KEEP_CHECKPOINTS = 2  # each checkpoint holds both players' Adam states


def freeze_batchnorm(model):
    """The encoder's and decoder's BatchNorm layers stop training: they normalise by their
    moving statistics, which stay as they are, and their scales and offsets stay too
    (Keras runs a non-trainable BatchNormalization in inference mode). The discriminator's
    train on, as in the paper's step."""
    for network in (model.encoder, model.decoder):
        # Keras has no public walk over a layer's nested layers
        for layer in network._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False


def compile_finetune_optimizers(model, config):
    """Both players' Adam at the paper's rates (`TrainConfig`), each decayed over the
    fine-tune's steps as `config.finetune` says; built now, as `build_model` builds them."""
    t, options = config.train, config.finetune
    model.compile(
        g_optimizer=keras.optimizers.Adam(learning_rate_schedule(options, t.g_learning_rate),
                                          t.adam_beta_1, t.adam_beta_2),
        d_optimizer=keras.optimizers.Adam(learning_rate_schedule(options, t.d_learning_rate),
                                          t.adam_beta_1, t.adam_beta_2))
    model.build_optimizers()


class Finetune(joint_training.JointTraining):
    """JointTraining on `config.finetune`'s schedule and batch, from `weights`."""

    def __init__(self, config, model, train_videos, validation, weights):
        """config: the run's; model: built as the paper's (`run_directory.build_model`),
        its optimizers compiled here; train_videos: uint8 (N, T, H, W, C); validation:
        `arrays.load`'s dict of the validation sequences the dynamics validate on;
        weights: the .keras the stage starts from."""
        options = config.finetune
        if options.freeze_batchnorm:
            freeze_batchnorm(model)
        compile_finetune_optimizers(model, config)
        config = dataclasses.replace(config, train=dataclasses.replace(
            config.train, batch_size=options.batch_size, init_weights=str(weights)))
        shown = validation["video"][: config.train.sample_sequences]  # the sample GIFs'
        super().__init__(config, model, train_videos, shown,
                         steps_per_epoch=max(1, len(train_videos) // options.batch_size))
        self.validation = validation
        self.balls = balls_of(validation)
        self.digits = digits_of(validation, config.data.dataset)
        # best.keras: the most plausible validation frames where the data has the balls
        # (the adversarial steps trade the balls' shapes against their speed back and
        # forth), else the lowest rollout MSE, as joint training chooses
        self.selection = "implausible" if self.balls else "rollout"
        self.schedule = Schedule(total_steps=options.steps, validate_every=options.validate_every,
                                 checkpoint_every=options.validate_every,
                                 keep_checkpoints=KEEP_CHECKPOINTS, validate_at_start=True)

    def validate(self, backend, step, log):
        scores = validation_scores(self._generate, self.validation["video"],
                                   self.config.train.context_frames,
                                   self.config.dynamics.encode_batch_size, self.balls,
                                   self.digits)
        if self.balls:
            scores["implausible"] = 1.0 - scores["plausible"]
        return scores

    def finish(self, run_dir):
        """model.keras: the networks alone. With the statistics frozen the optimizer covers
        fewer variables than a built model's would, and Keras would warn loading it."""
        run_directory.save_inference_model(self.model, self.video_shape,
                                           pathlib.Path(run_dir) / "model.keras")
