"""The ball detector on rendered ground truth, where every answer is known."""

import numpy as np
import pytest

from tf_deepgifs.data import bouncing_balls, splits
from tf_deepgifs.metrics import ball_detector

PIXELS_PER_UNIT = 64 / bouncing_balls.BallPhysics().box_size


def _sequences(num_balls, count=40, frames=20, seed=3):
    rngs = [splits.example_rng(seed, "test", i) for i in range(count)]
    return bouncing_balls.generate(rngs, frames, num_balls, 64)


def _intensities(sequences):
    return sequences.video[..., 0].astype(np.float32) / 255.0


@pytest.mark.parametrize("num_balls", [2, 3])
def test_on_ground_truth_frames_every_ball_is_found_within_one_pixel(num_balls):
    sequences = _sequences(num_balls)
    found = ball_detector.motion_metrics(_intensities(sequences), sequences.positions,
                                         sequences.radius)
    np.testing.assert_array_equal(found["right_count"], 1.0)  # touching balls included
    assert np.max(found["centre_error"]) < 1.0
    assert np.max(found["radius_drift"]) < 0.5


def test_touching_balls_are_split_into_two():
    rows = np.array([[[5.0, 5.0 - 1.2], [5.0, 5.0 + 1.2]]])  # units: the discs touch
    frame = bouncing_balls.render(rows, 64)
    found = ball_detector.detect(frame, 7.68)
    assert found.counts.tolist() == [1 * 2]
    truth = bouncing_balls.to_pixels(rows, 64)
    distance = ball_detector.matched_distance(found.centres, found.counts, truth)
    assert distance[0] < 1.0


def test_fewer_detections_than_balls_are_matched_to_their_nearest_true_balls():
    truth = np.array([[[10.0, 10.0], [40.0, 40.0], [10.0, 50.0]]] * 2)  # (F=2, n=3, 2)
    centres = np.full((2, ball_detector.MAX_BALLS, 2), np.nan)
    centres[0, :2] = [[41.0, 40.0], [10.0, 52.0]]  # two found: 1 and 2 pixels off
    centres[1, :1] = [[13.0, 14.0]]  # one found: 5 pixels off
    distance = ball_detector.matched_distance(centres, np.array([2, 1]), truth)
    np.testing.assert_allclose(distance, [1.5, 5.0])


def _units(pixels):
    """Pixel-index coordinates back to box units (`bouncing_balls.to_pixels` inverted)."""
    return (np.asarray(pixels) + 0.5) / PIXELS_PER_UNIT


def test_a_shifted_copy_is_off_by_the_shift():
    sequences = _sequences(2, count=20)
    shift = np.array([3.0, 4.0])  # pixels: 5 pixels away
    moved = bouncing_balls.render(_units(sequences.positions + shift), 64)
    found = ball_detector.motion_metrics(moved, sequences.positions, sequences.radius)
    # Where the moved balls are inside the frame and apart, each is found 5 pixels off.
    inside = np.all((sequences.positions + shift > 8) & (sequences.positions + shift < 55), axis=(2, 3))
    apart = np.linalg.norm(sequences.positions[:, :, 0] - sequences.positions[:, :, 1], axis=-1) > 20
    assert (inside & apart).sum() > 100
    np.testing.assert_allclose(found["centre_error"][inside & apart], 5.0, atol=0.3)


def test_empty_frames_have_no_balls_and_no_distance():
    sequences = _sequences(2, count=2, frames=3)
    found = ball_detector.motion_metrics(np.zeros((2, 3, 64, 64)), sequences.positions,
                                         sequences.radius)
    np.testing.assert_array_equal(found["right_count"], 0.0)
    assert np.all(np.isnan(found["centre_error"])) and np.all(np.isnan(found["radius_drift"]))


def test_a_ball_from_nowhere_breaks_the_count_and_a_grown_ball_drifts():
    truth_units = np.array([[3.0, 3.0], [7.0, 7.0]])
    truth = np.broadcast_to(bouncing_balls.to_pixels(truth_units, 64), (1, 2, 2, 2))
    extra = bouncing_balls.render(np.array([[3.0, 3.0], [7.0, 7.0], [3.0, 7.0]]), 64)
    grown = bouncing_balls.render(truth_units, 64, bouncing_balls.BallPhysics(radius=1.5))
    found = ball_detector.motion_metrics(np.stack([extra, grown])[None], truth, 7.68)
    assert found["right_count"].tolist() == [[0.0, 1.0]]
    assert found["centre_error"][0, 0] < 0.5  # the two true balls still matched
    np.testing.assert_allclose(found["radius_drift"][0, 1], 1.5 * PIXELS_PER_UNIT - 7.68, atol=0.2)


def test_a_smeared_frame_is_counted_by_area_not_split():
    found = ball_detector.detect(np.ones((1, 64, 64)), 7.68)
    assert found.counts[0] == round(64 * 64 / ball_detector.ball_area(7.68))
    assert np.all(np.isfinite(found.centres[0]))  # all at the smear's centroid


def _disc_frame(centres, radius=7.68, size=64):
    """A frame of rendered discs at `centres` (row, col) px, intensities in [0, 1]."""
    rows, cols = np.indices((size, size))
    frame = np.zeros((size, size), np.float32)
    for r, c in centres:
        d2 = ((rows - r) ** 2 + (cols - c) ** 2) / radius**2
        frame = np.maximum(frame, np.exp(-(d2**4)))
    return frame


def test_a_frame_is_plausible_when_every_region_is_one_or_two_balls_and_nothing_else():
    radius = 7.68
    cases = {
        "two apart": ([(20, 20), (44, 44)], True, True),
        "two touching": ([(32, 26), (32, 40)], True, False),
        "one missing": ([(20, 20)], False, False),
        "three for two": ([(12, 12), (32, 32), (52, 52)], False, False),
        "a smear of three": ([(32, 20), (32, 32), (32, 44)], False, False),
    }
    frames = np.stack([_disc_frame(c) for c, _, _ in cases.values()])
    found = ball_detector.regions(frames, radius)
    assert list(ball_detector.plausible(found, 2)) == [p for _, p, _ in cases.values()]
    assert list(ball_detector.apart(found, 2)) == [a for _, _, a in cases.values()]
    speck = _disc_frame([(20, 20), (44, 44)])
    speck[2, 2] = 1.0  # one pixel above half: another region
    assert not ball_detector.plausible(ball_detector.regions(speck[None], radius), 2)[0]
    assert ball_detector.regions(speck[None], radius).counts[0] == 3  # nothing dropped


def test_the_balls_speed_is_their_displacement_between_frames():
    sequences = _sequences(2, count=16, frames=8)
    found = ball_detector.detect(_intensities(sequences), sequences.radius)
    speeds = ball_detector.mean_speeds(found, 16)
    assert speeds.shape == (16, 8) and np.all(np.isnan(speeds[:, 0]))
    true = np.linalg.norm(np.diff(sequences.positions, axis=1), axis=-1).mean(axis=-1)
    close = ~np.isnan(speeds[:, 1:])
    assert close.mean() > 0.95
    np.testing.assert_allclose(speeds[:, 1:][close], true[close], atol=0.5)
    assert abs(np.nanmean(speeds[:, 1:]) - true.mean()) < 0.05
