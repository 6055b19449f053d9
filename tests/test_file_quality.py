"""`evaluation/file_quality.py`: an exported file's rollouts measured on test sequences, and
the bounds a smaller file is held to before it ships in the float file's place."""

import numpy as np
import pytest

from tf_deepgifs.data import arrays, bouncing_balls, pixels
from tf_deepgifs.evaluation import file_quality


class _Replay:
    """A stand-in generator whose rollout is the given frames: what rollout_quality reads."""

    context_frames, training_frames, noise_dim = 1, 5, 2

    def __init__(self, frames):
        self.frames, self.start = frames, 0

    def run(self, seeds, noise):
        assert noise.shape == (len(seeds), self.training_frames, self.noise_dim)
        batch = self.frames[self.start : self.start + len(seeds)]
        self.start += len(seeds)
        return batch


def test_the_truth_scores_as_the_truth_and_blank_frames_as_nothing():
    config = bouncing_balls.DATASET_CONFIGS["paper"]
    sequences = arrays.simulate(config, "test", 30, workers=1)
    data = {"video": sequences.video[:, :6], "positions": sequences.positions[:, :6],
            "radius": np.full(30, sequences.radius, np.float32)}
    truth = pixels.from_uint8(data["video"][:, 1:])
    scores = file_quality.rollout_quality(_Replay(truth), data)
    assert scores["apart_kept"] == 1.0 and scores["plausible"] > 0.95
    assert scores["centre_error_5"] < 0.5 and scores["centre_error_last"] < 0.5
    blank = file_quality.rollout_quality(_Replay(np.zeros_like(truth)), data)
    assert blank["plausible"] == 0.0 and blank["apart_kept"] == 0.0


FLOAT = {"plausible": 0.990, "apart_kept": 0.95, "centre_error_5": 2.0, "centre_error_last": 5.0}


@pytest.mark.parametrize("change, kept", [
    ({}, True),
    ({"plausible": 0.9851}, True),  # 0.49 points fewer
    ({"plausible": 0.9849}, False),  # 0.51
    ({"centre_error_5": 2.19}, True),
    ({"centre_error_5": 2.21}, False),
    ({"centre_error_last": 5.6}, False),
    ({"centre_error_last": float("nan")}, False),  # no ball found in the last frame
    ({"plausible": 1.0, "centre_error_5": 1.0}, True),  # better is fine
])
def test_a_smaller_file_is_held_to_half_a_point_and_a_tenth_of_the_float_files(change, kept):
    found = file_quality.shortfalls({**FLOAT, **change}, FLOAT)
    assert (found == []) == kept, found
