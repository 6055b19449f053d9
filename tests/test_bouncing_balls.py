"""Specifications of the Bouncing Balls simulator: physics invariants and rendering."""

import numpy as np
import pytest

from tf_deepgifs.data import bouncing_balls as bb, splits

PHYSICS = bb.BallPhysics()


def _random_starts(num_sequences, num_balls, seed=0):
    starts = [
        bb.sample_initial_state(np.random.default_rng([seed, i]), num_balls)
        for i in range(num_sequences)
    ]
    return np.stack([p for p, _ in starts]), np.stack([v for _, v in starts])


def _assert_constant_over_time(values, **tolerance):
    """values: (S, T, ...); every frame must equal the first."""
    np.testing.assert_allclose(values, np.broadcast_to(values[:, :1], values.shape), **tolerance)


def _kinetic_energy(velocities, masses):
    return 0.5 * np.sum(masses[:, None] * velocities**2, axis=(-2, -1))


def test_initial_state_matches_rtrbm_generator():
    for i in range(50):
        positions, velocities = bb.sample_initial_state(np.random.default_rng(i), 3)
        assert np.sum(velocities**2) == pytest.approx(PHYSICS.speed_norm**2)
        assert np.all(positions - PHYSICS.radius >= 0)
        assert np.all(positions + PHYSICS.radius <= PHYSICS.box_size)
        gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
        assert np.all(gaps[np.triu_indices(3, 1)] >= 2 * PHYSICS.radius)


def test_balls_stay_inside_the_box():
    positions, velocities = _random_starts(64, 3)
    xs, vs = bb.simulate(positions, velocities, 200)
    # A wall is detected after a move, so an edge can pass it by one sub-step at most.
    overshoot = PHYSICS.substep_dt * np.max(np.linalg.norm(vs, axis=-1))
    assert np.all(xs - PHYSICS.radius >= -overshoot)
    assert np.all(xs + PHYSICS.radius <= PHYSICS.box_size + overshoot)


def test_wall_bounces_keep_a_lone_balls_speed_and_flip_its_velocity():
    positions, velocities = _random_starts(32, 1)
    xs, vs = bb.simulate(positions, velocities, 300)
    speeds = np.linalg.norm(vs, axis=-1)
    _assert_constant_over_time(speeds, rtol=1e-12)
    flips = np.sign(vs[:, 1:]) != np.sign(vs[:, :-1])
    assert flips.any(), "300 frames must include wall bounces"
    # A component only flips by negation: its magnitude is unchanged.
    np.testing.assert_allclose(np.abs(vs[:, 1:]), np.abs(vs[:, :-1]), rtol=1e-12)


@pytest.mark.parametrize("masses", [(1.0, 1.0), (1.0, 3.0)])
@pytest.mark.parametrize("aim", [0.0, 0.8])  # head-on, then off-centre (oblique)
def test_ball_collisions_conserve_momentum_and_energy(masses, aim):
    masses = np.array(masses)
    # Two balls meet in the middle of the box, far from any wall.
    positions = np.array([[[5.0 - aim, 2.0], [5.0, 8.0]]])
    velocities = np.array([[[0.0, 0.3], [0.0, -0.3]]])
    xs, vs = bb.simulate(positions, velocities, 9, masses=masses)
    assert np.all(xs - PHYSICS.radius > 0) and np.all(xs + PHYSICS.radius < PHYSICS.box_size)
    assert not np.allclose(vs[0, -1], vs[0, 0]), "the balls must have collided"
    momentum = np.sum(masses[:, None] * vs, axis=-2)  # (1, T, 2)
    _assert_constant_over_time(momentum, atol=1e-12)
    energy = _kinetic_energy(vs, masses)
    _assert_constant_over_time(energy, rtol=1e-12)


def test_energy_is_conserved_over_long_random_runs():
    positions, velocities = _random_starts(64, 3, seed=1)
    _, vs = bb.simulate(positions, velocities, 200)
    energy = _kinetic_energy(vs, np.ones(3))
    _assert_constant_over_time(energy, rtol=1e-9)


def test_sequences_played_backwards_are_sequences_the_simulator_makes():
    """Horizon tuning's `augment="reverse"` trains on sequences played backwards."""
    positions, velocities = _random_starts(500, 2)
    xs, vs = bb.simulate(positions, velocities, 20)
    # Started from the last frame with the velocity reversed. That is the velocity the
    # balls arrived with unless a bounce or collision changed it in the last frame.
    back, _ = bb.simulate(xs[:, -1], -vs[:, -1], 20)
    retraced = np.all(np.abs(back[:, ::-1] - xs) < 1e-9, axis=(1, 2, 3))
    arrived_unchanged = np.all(vs[:, -1] == vs[:, -2], axis=(1, 2))
    assert arrived_unchanged.mean() > 0.8
    # Contacts mid-sequence are retraced too; only two or more in one sub-step may not be.
    assert retraced[arrived_unchanged].mean() >= 0.98


def test_touching_balls_that_separate_are_not_turned_back():
    positions = np.array([[[5.0, 4.0], [5.0, 5.0]]])  # overlapping
    velocities = np.array([[[0.0, -0.2], [0.0, 0.2]]])  # moving apart
    _, vs = bb.simulate(positions, velocities, 2)
    np.testing.assert_array_equal(vs[0, 1], velocities[0])


def _brightness_centre(frame):
    rows, cols = np.indices(frame.shape)
    weight = frame.astype(np.float64)
    return np.array([np.sum(rows * weight), np.sum(cols * weight)]) / np.sum(weight)


def test_rendered_brightness_centre_is_the_stored_position():
    rngs = [splits.example_rng(0, "train", i) for i in range(16)]
    sequences = bb.generate(rngs, num_frames=20, num_balls=2, image_size=64)
    window = int(np.ceil(1.5 * sequences.radius))
    checked = 0
    for s in range(16):
        for t in range(20):
            centres = sequences.positions[s, t]
            if np.linalg.norm(centres[0] - centres[1]) < 2 * window + 2:
                continue  # overlapping windows: each ball's centroid is not separable
            for centre in centres:
                lo = np.maximum(np.round(centre).astype(int) - window, 0)
                hi = np.round(centre).astype(int) + window + 1
                patch = sequences.video[s, t, lo[0] : hi[0], lo[1] : hi[1], 0]
                found = _brightness_centre(patch) + lo
                assert np.linalg.norm(found - centre) < 1.0, (s, t, found, centre)
                checked += 1
    assert checked > 100


def test_generate_shapes_units_and_ranges():
    rngs = [splits.example_rng(0, "test", i) for i in range(3)]
    sequences = bb.generate(rngs, num_frames=7, num_balls=2, image_size=64)
    assert sequences.video.shape == (3, 7, 64, 64, 1) and sequences.video.dtype == np.uint8
    assert sequences.positions.shape == sequences.velocities.shape == (3, 7, 2, 2)
    assert sequences.radius == pytest.approx(1.2 * 64 / 10)
    assert sequences.video.max() == 255 and sequences.video.min() == 0
    # velocity (px per frame) predicts the next position when nothing bounces in between
    step = sequences.positions[:, 1:] - sequences.positions[:, :-1]
    agree = np.all(np.isclose(step, sequences.velocities[:, :-1], atol=1e-4), axis=-1)
    assert agree.mean() > 0.8
    # the sum of squared speeds is the RTRBM's 0.25 units^2 per sub-step, in px per frame
    pixels_per_frame = PHYSICS.speed_norm * 64 / 10 * PHYSICS.substeps * PHYSICS.substep_dt
    np.testing.assert_allclose(
        np.sqrt(np.sum(sequences.velocities[:, 0] ** 2, axis=(-2, -1))), pixels_per_frame, rtol=1e-5
    )


def test_same_seed_gives_the_same_sequence_whatever_it_is_batched_with():
    alone = bb.generate([splits.example_rng(7, "train", 5)], 20, 2, 64)
    batched = bb.generate([splits.example_rng(7, "train", i) for i in range(8)], 20, 2, 64)
    np.testing.assert_array_equal(alone.video[0], batched.video[5])
    np.testing.assert_array_equal(alone.positions[0], batched.positions[5])


def test_splits_and_seeds_give_different_sequences():
    def first(seed, split):
        return bb.generate([splits.example_rng(seed, split, 0)], 20, 2, 64).positions[0]

    assert not np.allclose(first(0, "train"), first(0, "test"))
    assert not np.allclose(first(0, "train"), first(0, "validation"))
    assert not np.allclose(first(0, "train"), first(1, "train"))


def test_impossible_packing_is_a_clear_error():
    physics = bb.BallPhysics(max_spawn_tries=50)
    with pytest.raises(ValueError, match="Could not place 40 balls"):
        bb.sample_initial_state(np.random.default_rng(0), 40, physics)
    with pytest.raises(ValueError, match="num_balls must be at least 1"):
        bb.sample_initial_state(np.random.default_rng(0), 0)
