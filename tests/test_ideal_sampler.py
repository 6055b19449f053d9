"""The ideal sampler: the simulator from one seed frame's true balls, velocities drawn
from its prior, the yardstick of stochastic generation."""

import numpy as np

from tf_deepgifs.data import bouncing_balls, pixels
from tf_deepgifs.data.splits import example_rng
from tf_deepgifs.evaluation import evaluate, ideal_sampler

HORIZON, SIZE = 8, 64


def _truth(count=6):
    return bouncing_balls.generate([example_rng(0, "test", i) for i in range(count)],
                                   HORIZON + 1, 2, SIZE)


def test_from_the_true_start_state_it_remakes_the_true_frames():
    truth = _truth()
    physics = bouncing_balls.BallPhysics()
    positions = bouncing_balls.to_units(truth.positions[:, 0], SIZE)
    per_frame = physics.substeps * physics.substep_dt * SIZE / physics.box_size
    velocities = truth.velocities[:, 0].astype(np.float64) / per_frame  # units per sub-step
    frames = ideal_sampler.future_frames(positions, velocities, HORIZON, SIZE)
    expected = pixels.from_uint8(truth.video[:, 1:])
    assert frames.shape == expected.shape == (6, HORIZON, SIZE, SIZE, 1)
    assert np.abs(frames - expected).max() <= 1 / 255 + 1e-6


def test_its_samples_start_at_the_seed_and_move_as_the_prior_says():
    truth = _truth()
    samples = ideal_sampler.ideal_samples(truth.positions[:, 0], np.arange(6), 5, HORIZON,
                                          SIZE, seed=0)
    assert samples.shape == (5, 6, HORIZON, SIZE, SIZE, 1)
    again = ideal_sampler.ideal_samples(truth.positions[:1, 0], np.arange(1), 5, HORIZON,
                                        SIZE, seed=0)
    np.testing.assert_array_equal(again[:, 0], samples[:, 0])  # per sequence, not per batch
    assert np.abs(samples[0] - samples[1]).max() > 0.5  # different futures
    # Every sample is a real future: the balls' total speed is the prior's, whatever the
    # direction drawn, and the first frame's balls are one frame's move from the seed's.
    physics = bouncing_balls.BallPhysics()
    per_frame = physics.substeps * physics.substep_dt * SIZE / physics.box_size
    true_speeds = np.linalg.norm(truth.velocities[:, 0], axis=-1)
    assert np.allclose(np.sqrt(np.sum(true_speeds ** 2, axis=-1)), physics.speed_norm * per_frame,
                       rtol=1e-4)
    balls = evaluate.TrueBalls(truth.positions[:, 1:], truth.radius,
                               pixels.from_uint8(truth.video[:, 1:]))
    curves = evaluate.Curves()
    evaluate.add_samples(curves, "ideal_best_of_5", pixels.from_uint8(truth.video[:, 1:]),
                         list(samples), balls, every="ideal_samples")
    result = curves.as_dict()
    assert result["ideal_samples"]["plausible"]["mean"] == [1.0] * HORIZON
    first = result["ideal_samples"]["centre_error"]["mean"][0]
    assert 0.5 * per_frame * physics.speed_norm < first < 2 * per_frame * physics.speed_norm
    best = np.array(result["ideal_best_of_5"]["centre_error"]["mean"])
    every = np.array(result["ideal_samples"]["centre_error"]["mean"])
    assert np.all(best[1:] <= every[1:]) and best[-1] < every[-1]
