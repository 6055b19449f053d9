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

from tf_deepgifs.training import joint_training
from tf_deepgifs.training.stages import Schedule
from tf_deepgifs.training.tuning_validation import balls_of, validation_scores

KEEP_CHECKPOINTS = 2  # each checkpoint holds both players' Adam states


class Finetune(joint_training.JointTraining):
    """JointTraining on `config.finetune`'s schedule and batch, from `weights`."""

    def __init__(self, config, model, train_videos, validation, weights):
        """config: the run's; model: built and compiled as the paper's
        (`run_directory.build_model`); train_videos: uint8 (N, T, H, W, C); validation:
        `arrays.load`'s dict of the validation sequences the dynamics validate on;
        weights: the .keras the stage starts from."""
        options = config.finetune
        config = dataclasses.replace(config, train=dataclasses.replace(
            config.train, batch_size=options.batch_size, init_weights=str(weights)))
        shown = validation["video"][: config.train.sample_sequences]  # the sample GIFs'
        super().__init__(config, model, train_videos, shown,
                         steps_per_epoch=max(1, len(train_videos) // options.batch_size))
        self.validation = validation
        self.balls = balls_of(validation)
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
                                   self.config.dynamics.encode_batch_size, self.balls)
        if self.balls:
            scores["implausible"] = 1.0 - scores["plausible"]
        return scores
