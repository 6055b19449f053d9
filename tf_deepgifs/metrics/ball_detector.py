"""Finds the balls in Bouncing Balls frames, to measure generated motion (the paper saw
balls appear from nowhere and lose their shape; these numbers say how often and how much).

A ball is rendered as exp(-(d^2 / r^2)^4) (`bouncing_balls.render`): a disc whose
intensity falls through 0.5 at d = r (ln 2)^(1/8) = 0.955 r. The detector thresholds at
0.5, labels the connected regions of every frame at once (`scipy.ndimage.label`), and
takes each region's intensity-weighted centroid. Touching balls merge into one region of
about twice a ball's area: such a region counts as round(area / one ball's area) balls,
split by k-means on its pixels. Two touching balls make an elongated region (its long
axis over twice its short one); a round region under 2.5 balls' area is one grown ball
(generated balls swell), not two. Regions under a quarter of a ball's area are noise.

All frames are processed together: the only Python loops are over merged regions and
over the distinct ball counts, never over frames.

Splitting hides balls a generator fused together, so a second, simpler measure reads the
regions as they are (`regions`): pixels above 0.5, 4-connected, intensity-weighted
centres, nothing split or dropped. On it rest the checks that need no truth:
`plausible` (every region one ball's area, or two touching balls', and nothing else) and
`apart` (every ball its own region), and the balls' speeds between frames (`speeds`).
"""

import dataclasses
import itertools
import math

import numpy as np
from scipy import ndimage

THRESHOLD = 0.5  # intensity in [0, 1] above which a pixel belongs to a ball
MIN_AREA_FRACTION = 0.25  # of one ball's area: smaller regions are noise
MAX_BALLS = 8  # detections kept per frame (counts beyond are still counted)
KMEANS_ITERATIONS = 10  # enough for 2-3 touching discs to settle
# Regions of more balls' area than this are smears (an untrained or diverged model's
# frames), not touching balls: counted by area, not split (k-means there costs seconds).
MAX_SPLIT = 4
# Two touching discs: sqrt of the pixel covariance's eigenvalue ratio is about 2.3;
# a round blob's is 1. Below this, a region of under ROUND_BLOB_MAX_BALLS areas is one ball.
PAIR_ELONGATION = 1.6
ROUND_BLOB_MAX_BALLS = 2.5
# A rendered ball exceeds THRESHOLD out to this many radii.
_THRESHOLD_RADII = math.log(1.0 / THRESHOLD) ** (1.0 / 8.0)
# 8-connectivity within a frame, none across frames.
_IN_FRAME = np.zeros((3, 3, 3), bool)
_IN_FRAME[1] = True
# 4-connectivity within a frame (the simple measure's), none across frames.
_FOUR_IN_FRAME = np.zeros((3, 3, 3), bool)
_FOUR_IN_FRAME[1] = ndimage.generate_binary_structure(2, 1)
# The simple measure's areas, in balls' areas: one ball, or two touching balls.
ONE_BALL_AREAS = (0.6, 1.4)
TWO_BALL_AREAS = (1.4, 2.2)


@dataclasses.dataclass
class Detections:
    """What was found in F frames.

    counts: int (F,) balls per frame.
    centres: float (F, MAX_BALLS, 2) (row, col) pixel centres, NaN past counts[f].
    radii: float (F, MAX_BALLS) each ball's radius in pixels (from its area), NaN past it.
    """

    counts: np.ndarray
    centres: np.ndarray
    radii: np.ndarray


def ball_area(radius):
    """Pixels above THRESHOLD of one rendered ball of `radius` pixels."""
    return math.pi * (radius * _THRESHOLD_RADII) ** 2


def radius_of(area):
    """The rendering radius of a ball whose region above THRESHOLD has `area` pixels."""
    return np.sqrt(np.asarray(area) / math.pi) / _THRESHOLD_RADII


def detect(frames, radius):
    """Balls in frames (..., H, W) with intensities in [0, 1], of about `radius` pixels.

    Returns `Detections` over the frames flattened to (F,) = prod(...).
    """
    frames = np.asarray(frames, np.float32)
    height, width = frames.shape[-2:]
    frames = frames.reshape(-1, height, width)
    labels, num_regions = ndimage.label(frames > THRESHOLD, structure=_IN_FRAME)
    regions = _region_stats(frames, labels, num_regions)
    one_ball = ball_area(radius)
    kept = regions["area"] >= MIN_AREA_FRACTION * one_ball
    balls_in = np.maximum(np.round(regions["area"] / one_ball), 1).astype(int)
    round_blob = (regions["elongation"] < PAIR_ELONGATION) & (
        regions["area"] < ROUND_BLOB_MAX_BALLS * one_ball)
    balls_in[round_blob] = 1

    ball_frames, ball_centres, ball_radii = [], [], []
    single = kept & (balls_in == 1)
    ball_frames.append(regions["frame"][single])
    ball_centres.append(regions["centre"][single])
    ball_radii.append(radius_of(regions["area"][single]))
    for region in np.nonzero(kept & (balls_in > 1))[0]:  # merged regions only
        n = balls_in[region]
        if n <= MAX_SPLIT:
            pixels = np.argwhere(labels[regions["frame"][region]] == region + 1)
            centres = split_region(pixels, n)
        else:  # a smear, not touching balls: counted, all at its centroid
            centres = np.repeat(regions["centre"][region][None], n, axis=0)
        ball_frames.append(np.full(n, regions["frame"][region]))
        ball_centres.append(centres)
        ball_radii.append(np.full(n, radius_of(regions["area"][region] / n)))
    return _per_frame(len(frames), np.concatenate(ball_frames),
                      np.concatenate(ball_centres), np.concatenate(ball_radii))


def split_region(pixels, n):
    """Centres of n touching balls from their merged region's (row, col) pixels: k-means.

    Starts from the two ends of the region's longest axis (and, for n > 2, points
    between them), which for touching discs is where their centres lie.
    """
    pixels = pixels.astype(np.float64)
    mean = pixels.mean(axis=0)
    _, _, axes = np.linalg.svd(pixels - mean, full_matrices=False)
    along = (pixels - mean) @ axes[0]
    centres = mean + np.linspace(along.min(), along.max(), n + 2)[1:-1, None] * axes[0]
    for _ in range(KMEANS_ITERATIONS):
        nearest = np.argmin(((pixels[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        centres = np.stack([pixels[nearest == k].mean(axis=0) if np.any(nearest == k)
                            else centres[k] for k in range(n)])
    return centres


def _per_frame(num_frames, frame_of, centre_of, radius_of_ball):
    """Balls listed with their frame --> `Detections` (the first MAX_BALLS per frame)."""
    order = np.argsort(frame_of, kind="stable")
    frame_of, centre_of, radius_of_ball = frame_of[order], centre_of[order], radius_of_ball[order]
    counts = np.bincount(frame_of, minlength=num_frames)
    slot = np.arange(len(frame_of)) - (np.cumsum(counts) - counts)[frame_of]
    keep = slot < MAX_BALLS
    centres = np.full((num_frames, MAX_BALLS, 2), np.nan)
    radii = np.full((num_frames, MAX_BALLS), np.nan)
    centres[frame_of[keep], slot[keep]] = centre_of[keep]
    radii[frame_of[keep], slot[keep]] = radius_of_ball[keep]
    return Detections(counts=counts, centres=centres, radii=radii)


def matched_distance(centres, counts, truth):
    """Mean distance between detected and true centres under the best matching, per frame.

    Args:
      centres: (F, MAX_BALLS, 2) detected centres (`Detections.centres`).
      counts: (F,) detections per frame.
      truth: (F, n, 2) true centres, (row, col) pixels.

    Returns:
      float (F,): the mean over min(count, n) matched pairs of the pairing that minimises
      the total distance; NaN where nothing was detected.
    """
    num_frames, n = truth.shape[:2]
    result = np.full(num_frames, np.nan)
    usable = np.minimum(counts, MAX_BALLS)
    for c in map(int, np.unique(usable[usable > 0])):  # frames grouped by their count
        group = np.nonzero(usable == c)[0]
        distance = np.linalg.norm(centres[group, :c, None] - truth[group, None], axis=-1)  # (G, c, n)
        if c >= n:  # every true ball gets a distinct detection
            pairings = [distance[:, list(p), np.arange(n)].sum(-1)
                        for p in itertools.permutations(range(c), n)]
        else:  # every detection gets a distinct true ball
            pairings = [distance[:, np.arange(c), list(p)].sum(-1)
                        for p in itertools.permutations(range(n), c)]
        result[group] = np.min(pairings, axis=0) / min(c, n)
    return result


def _region_stats(frames, labels, num_regions):
    """Per region (label 1..R): frame index, area, intensity-weighted centroid, and
    elongation (sqrt of the ratio of its pixels' covariance eigenvalues, >= 1)."""
    foreground = np.flatnonzero(labels)  # the sums below skip the background
    flat = labels.ravel()[foreground]
    weights = frames.ravel()[foreground].astype(np.float64)
    frame_index, rows, cols = np.unravel_index(foreground, labels.shape)
    frame_index, rows, cols = (a.astype(np.float64) for a in (frame_index, rows, cols))
    size = num_regions + 1

    def region_sum(values=None):
        return np.bincount(flat, values, size)[1:]

    mass = region_sum(weights)
    area = region_sum()
    count = np.maximum(area, 1)
    mean_row, mean_col = region_sum(rows) / count, region_sum(cols) / count
    var_row = region_sum(rows * rows) / count - mean_row**2
    var_col = region_sum(cols * cols) / count - mean_col**2
    covariance = region_sum(rows * cols) / count - mean_row * mean_col
    half_gap = np.sqrt(((var_row - var_col) / 2) ** 2 + covariance**2)
    major, minor = (var_row + var_col) / 2 + half_gap, (var_row + var_col) / 2 - half_gap
    return {
        "frame": (region_sum(frame_index) / count).round().astype(int),
        "area": area,
        "centre": np.stack([region_sum(weights * rows), region_sum(weights * cols)], axis=-1)
        / np.maximum(mass, 1e-12)[:, None],
        "elongation": np.sqrt(major / np.maximum(minor, 1e-12)),
    }


# Motion metrics: name --> whether larger is better (None: neither, the truth's is the aim).
MOTION_HIGHER_IS_BETTER = {
    "right_count": True, "centre_error": False, "radius_drift": False,  # our detector's
    "plausible": True, "apart_kept": True, "region_centre_error": False,  # the regions'
    "speed": None,
}


def motion_metrics(frames, positions, radius, truth_apart=None):
    """How well the balls in generated frames follow the true balls, per frame.

    Args:
      frames: float (B, N, H, W) intensities in [0, 1].
      positions: float (B, N, n, 2) the true centres (row, col) in pixels of those frames.
      radius: the true ball radius in pixels.
      truth_apart: optional bool (B, N): where the true frame shows every ball as its own
        region (`apart` of the true frames' `regions`).

    Returns (each (B, N)), by our detector (`detect`, merged balls split):
      "right_count" 1.0 where exactly n balls were found, else 0.0; "centre_error" mean
      pixel distance of optimally matched centres; "radius_drift" mean |detected - true
      radius| in pixels (the last two NaN where no ball was found); and by the regions as
      they are (`regions`): "plausible" 1.0 where the frame is (`plausible`);
      "region_centre_error" as centre_error, of the regions' centres; "speed" the balls'
      mean displacement from the frame before (`mean_speeds`; NaN at the first); with
      `truth_apart`, "apart_kept" 1.0 where the balls are apart as in the truth, 0.0 where
      they are not, NaN where the truth's are not apart.
    """
    frames = np.asarray(frames)
    positions = np.asarray(positions, np.float64)
    leading = frames.shape[:2]
    truth = positions.reshape((-1,) + positions.shape[2:])
    num_true = positions.shape[2]
    found, seen = detect(frames, radius), regions(frames, radius)
    metrics = {
        "right_count": (found.counts == num_true).astype(np.float64),
        "centre_error": matched_distance(found.centres, found.counts, truth),
        "radius_drift": _nanmean_rows(np.abs(found.radii - radius)),
        "plausible": plausible(seen, num_true).astype(np.float64),
        "region_centre_error": matched_distance(seen.centres, seen.counts, truth),
        "speed": mean_speeds(found, leading[0]),
    }
    if truth_apart is not None:
        kept = apart(seen, num_true).astype(np.float64)
        metrics["apart_kept"] = np.where(np.ravel(truth_apart), kept, np.nan)
    return {name: values.reshape(leading) for name, values in metrics.items()}


def truth_apart(frames, radius, num_balls):
    """Where frames (B, N, H, W) show every ball as its own region: bool (B, N)."""
    frames = np.asarray(frames)
    return apart(regions(frames, radius), num_balls).reshape(frames.shape[:2])


def _nanmean_rows(values):
    """Mean over each row's non-NaN entries; NaN for a row with none (no warning)."""
    counts = np.sum(~np.isnan(values), axis=-1)
    sums = np.nansum(values, axis=-1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


# The simple measure: regions as they are.

def regions(frames, radius):
    """The regions above THRESHOLD of frames (..., H, W), 4-connected, none split or dropped.

    Returns `Detections` over the frames flattened to (F,), with `radii` holding each
    region's area in balls' areas (of `radius`) instead of a radius.
    """
    frames = np.asarray(frames, np.float32)
    height, width = frames.shape[-2:]
    frames = frames.reshape(-1, height, width)
    labels, num_regions = ndimage.label(frames > THRESHOLD, structure=_FOUR_IN_FRAME)
    stats = _region_stats(frames, labels, num_regions)
    return _per_frame(len(frames), stats["frame"], stats["centre"],
                      stats["area"] / ball_area(radius))


def _in(values, bounds):
    return (values >= bounds[0]) & (values <= bounds[1])


def plausible(found, num_balls):
    """Per frame of `regions`' result: whether each region is one ball's area (0.6 to 1.4
    times) or two touching balls' (1.4 to 2.2 times), there is no other region, and they
    hold `num_balls` balls. (F,) bool."""
    areas = found.radii  # in balls' areas; NaN past each frame's count
    one, two = _in(areas, ONE_BALL_AREAS), _in(areas, TWO_BALL_AREAS) & ~_in(areas, ONE_BALL_AREAS)
    present = ~np.isnan(areas)
    every_region_a_ball = np.all(one | two | ~present, axis=1) & (found.counts <= MAX_BALLS)
    return every_region_a_ball & (one.sum(axis=1) + 2 * two.sum(axis=1) == num_balls)


def apart(found, num_balls):
    """Per frame of `regions`' result: whether every ball is its own region, `num_balls`
    regions of one ball's area and nothing else. (F,) bool."""
    one = _in(found.radii, ONE_BALL_AREAS)
    return (found.counts == num_balls) & (one.sum(axis=1) == num_balls)


def mean_speeds(found, sequences):
    """The balls' mean speed in pixels per frame between frames t - 1 and t of each of
    `sequences` sequences (`found` holds their frames in order), the balls of one frame
    matched to those of the next (the pairing of least total distance). (S, T) float,
    NaN at t = 0 and where either frame has no ball."""
    frames = len(found.counts) // sequences
    centres = found.centres.reshape(sequences, frames, MAX_BALLS, 2)
    counts = found.counts.reshape(sequences, frames)
    result = np.full((sequences, frames), np.nan)
    earlier, later = centres[:, :-1].reshape(-1, MAX_BALLS, 2), centres[:, 1:].reshape(-1, MAX_BALLS, 2)
    count_before = np.minimum(counts[:, :-1].ravel(), MAX_BALLS)
    count_after = np.minimum(counts[:, 1:].ravel(), MAX_BALLS)
    moved = np.full(len(earlier), np.nan)
    for n in map(int, np.unique(count_before)):
        group = np.nonzero((count_before == n) & (count_after > 0))[0]
        if n and len(group):
            moved[group] = matched_distance(later[group], count_after[group], earlier[group, :n])
    result[:, 1:] = moved.reshape(sequences, frames - 1)
    return result
