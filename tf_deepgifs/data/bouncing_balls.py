"""Bouncing Balls: elastic balls in a square box, simulated and rendered with numpy.

The DeepGIFs data (paper section 3.1) came from Sutskever, Hinton and Taylor's RTRBM
generator (`bouncing_balls.py`, reached through the paper's refs [3] and [12]). This module
reproduces its physics and rendering, vectorised over many sequences at once, so the
TFDS builder, training and evaluation all share one simulator:

    initial state (per sequence, its own RNG) --> simulate() --> positions, velocities
                                                         \\--> render() --> video

Coordinates: arrays hold (row, col) pairs, the order of image indexing. The simulation
runs in box units (box of side `box_size`); `to_pixels` maps a point to pixel-index
coordinates, where the centre of pixel (i, j) is at (i, j).
"""

import dataclasses

import numpy as np

from tf_deepgifs.data.splits import example_rng


@dataclasses.dataclass(frozen=True)
class BallPhysics:
    """The RTRBM generator's constants, each under its own name there."""

    box_size: float = 10.0  # side of the square box in simulation units (SIZE)
    radius: float = 1.2  # every ball's radius in units (r); 7.68 px at 64 px
    mass: float = 1.0  # every ball's mass (m)
    speed_norm: float = 0.5  # sqrt(sum over balls of |v|^2) at the start, units per sub-step
    substeps: int = 2  # simulation sub-steps per frame (1 / eps)
    substep_dt: float = 0.5  # x += substep_dt * v at each sub-step (eps)
    spawn_low: float = 2.0  # start coordinates are spawn_low + spawn_span * U[0, 1),
    spawn_span: float = 8.0  # then rejected if a ball crosses a wall or overlaps another
    max_spawn_tries: int = 10_000  # rejection sampling gives up after this many draws

    def __post_init__(self):
        if self.radius <= 0 or self.box_size <= 2 * self.radius:
            raise ValueError(
                f"radius must be positive and fit the box; got radius={self.radius}, "
                f"box_size={self.box_size}."
            )
        if self.substeps < 1 or self.substep_dt <= 0:
            raise ValueError("substeps must be >= 1 and substep_dt positive.")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """What the `bouncing_balls` TFDS builder writes, per builder config name.

    Held here, not in the builder, so the JAX trainer makes the very same sequences from
    (seed, split, index) on a machine without TensorFlow Datasets.
    """

    num_balls: int = 2  # the paper's data: 2 balls
    num_frames: int = 20  # paper section 3.2: 20 frames
    image_size: int = 64  # paper section 3.2: 64 x 64
    seed: int = 20180601  # any fixed value; each example's RNG is derived from it
    split_sizes: tuple = (("train", 80_000), ("validation", 10_000), ("test", 10_000))


DATASET_CONFIGS = {"paper": DatasetConfig(), "three_balls": DatasetConfig(num_balls=3)}


@dataclasses.dataclass(frozen=True)
class BallSequences:
    """A batch of rendered sequences and the ground truth that made them.

    Attributes:
      video: uint8 (S, T, H, W, 1), pixel values 0..255.
      positions: float32 (S, T, N, 2), ball centres (row, col) in pixels.
      velocities: float32 (S, T, N, 2), ball velocities at each frame (row, col) in
        pixels per frame (before that frame's sub-steps and any collision in them).
      radius: ball radius in pixels.
    """

    video: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    radius: float


def sample_initial_state(rng, num_balls, physics=BallPhysics()):
    """Draws one sequence's start as the RTRBM generator does.

    Velocities are Gaussian, scaled so that the sum over balls of squared speeds is
    `speed_norm ** 2`. Positions are drawn until no ball crosses a wall or overlaps another.

    Args:
      rng: a `np.random.Generator`, owned by this one sequence.
      num_balls: N >= 1.
      physics: the constants.

    Returns:
      (positions, velocities), each float64 (N, 2) in units and units per sub-step.
    """
    if num_balls < 1:
        raise ValueError(f"num_balls must be at least 1, got {num_balls}.")
    velocities = sample_velocities(rng, num_balls, physics)
    for _ in range(physics.max_spawn_tries):
        positions = physics.spawn_low + physics.spawn_span * rng.random((num_balls, 2))
        if _is_valid_start(positions, physics):
            return positions, velocities
    raise ValueError(
        f"Could not place {num_balls} balls of radius {physics.radius} in a box of "
        f"side {physics.box_size} without overlap; use fewer or smaller balls."
    )


def _is_valid_start(positions, physics):
    r = physics.radius
    inside = np.all((positions - r >= 0) & (positions + r <= physics.box_size))
    gaps = np.linalg.norm(positions[:, None] - positions[None, :], axis=-1)
    apart = np.all(gaps[np.triu_indices(len(positions), k=1)] >= 2 * r)
    return bool(inside and apart)


def simulate(positions, velocities, num_frames, physics=BallPhysics(), masses=None):
    """Runs the simulation for many sequences at once.

    Each frame records the state, then takes `substeps` steps of: move every ball,
    bounce off walls (the velocity component turns inwards when a ball's edge is past a
    wall), then resolve ball-ball contacts pair by pair as 1-D elastic collisions along
    the line of centres. Momentum and kinetic energy are conserved by every collision.

    Args:
      positions: float (S, N, 2) start positions in units.
      velocities: float (S, N, 2) start velocities in units per sub-step.
      num_frames: T >= 1.
      physics: the constants.
      masses: optional float (N,) per-ball masses; every ball has `physics.mass` if None.

    Returns:
      (positions, velocities): float64 (S, T, N, 2), the state at each frame.
    """
    x = np.array(positions, dtype=np.float64)
    v = np.array(velocities, dtype=np.float64)
    num_sequences, num_balls, _ = x.shape
    if masses is None:
        masses = np.full(num_balls, physics.mass)
    xs = np.empty((num_sequences, num_frames, num_balls, 2))
    vs = np.empty_like(xs)
    for t in range(num_frames):
        xs[:, t], vs[:, t] = x, v
        for _ in range(physics.substeps):
            x += physics.substep_dt * v
            _bounce_off_walls(x, v, physics)
            _collide_pairs(x, v, masses, physics.radius)
    return xs, vs


def _bounce_off_walls(x, v, physics):
    r = physics.radius
    v[:] = np.where(x - r < 0, np.abs(v), v)
    v[:] = np.where(x + r > physics.box_size, -np.abs(v), v)


def _collide_pairs(x, v, masses, radius):
    """In-place elastic collision of every touching, approaching pair, in RTRBM order."""
    num_balls = x.shape[1]
    for i in range(num_balls):
        for j in range(i):
            offset = x[:, i] - x[:, j]  # (S, 2)
            distance = np.linalg.norm(offset, axis=-1, keepdims=True)
            normal = offset / np.maximum(distance, np.finfo(np.float64).tiny)
            v_i = np.sum(normal * v[:, i], axis=-1, keepdims=True)
            v_j = np.sum(normal * v[:, j], axis=-1, keepdims=True)
            # Only pairs that touch and still approach: a pair that is already
            # separating must not be turned back (the RTRBM code did, so balls could stick).
            hit = (distance < 2 * radius) & (v_i - v_j < 0)
            m_i, m_j = masses[i], masses[j]
            new_v_j = (2 * m_i * v_i + v_j * (m_j - m_i)) / (m_i + m_j)
            new_v_i = new_v_j + (v_j - v_i)
            v[:, i] += np.where(hit, normal * (new_v_i - v_i), 0.0)
            v[:, j] += np.where(hit, normal * (new_v_j - v_j), 0.0)


def to_pixels(units, image_size, physics=BallPhysics()):
    """Maps box units to pixel-index coordinates: pixel k covers units [k, k+1) * box / size."""
    return np.asarray(units) * (image_size / physics.box_size) - 0.5


def to_units(pixels, image_size, physics=BallPhysics()):
    """The inverse of `to_pixels`: pixel-index coordinates to box units."""
    return (np.asarray(pixels, np.float64) + 0.5) * (physics.box_size / image_size)


def sample_velocities(rng, num_balls, physics=BallPhysics()):
    """The start velocities `sample_initial_state` draws: Gaussian, scaled so that the sum
    over balls of squared speeds is `speed_norm ** 2`. float64 (N, 2), units per sub-step."""
    velocities = rng.standard_normal((num_balls, 2))
    return velocities * (physics.speed_norm / np.linalg.norm(velocities))


# A ball is drawn only within this many radii of its centre: beyond 1.5 radii its
# intensity exp(-(d^2 / r^2)^4) is below 1e-11, invisible even in float32.
RENDER_CUTOFF_RADII = 1.5


def render(positions, image_size, physics=BallPhysics()):
    """Draws each ball as exp(-(d^2 / r^2)^4), a disc with a soft edge; sums, clips to [0, 1].

    Each ball is evaluated in a square window around it and added into the frame, which
    gives the same frame as evaluating every pixel (see RENDER_CUTOFF_RADII) at a fraction
    of the cost: rendering is most of the time spent building a dataset.

    Args:
      positions: float (..., N, 2) ball centres in units.
      image_size: output side in pixels.
      physics: the constants (box size, radius).

    Returns:
      float32 (..., image_size, image_size) intensities in [0, 1].
    """
    positions = np.asarray(positions, dtype=np.float32)
    leading, num_balls = positions.shape[:-2], positions.shape[-2]
    centres = to_pixels(positions.reshape(-1, num_balls, 2), image_size, physics)  # (M, N, 2)
    radius = np.float32(physics.radius * image_size / physics.box_size)
    half = int(np.ceil(RENDER_CUTOFF_RADII * radius))
    window = 2 * half + 2
    pad = half + 2
    # Window origins, kept inside the padded frame (a ball far outside adds ~0 anyway).
    origins = np.clip(np.floor(centres).astype(np.int64) - half, -pad, image_size + pad - window)
    pixels = origins[..., None] + np.arange(window)  # (M, N, 2, window)
    d2 = np.square((pixels - centres[..., None]) / radius)
    d = d2[..., 0, :, None] + d2[..., 1, None, :]  # (M, N, window, window), d^2 / r^2
    np.square(d, out=d)
    np.square(d, out=d)
    np.negative(d, out=d)
    np.exp(d, out=d)
    side = image_size + 2 * pad
    frames = np.zeros((len(centres), side, side), dtype=np.float32)
    # windows[m, i, j] is the (window x window) block of frame m whose corner is (i, j).
    windows = np.lib.stride_tricks.sliding_window_view(
        frames, (window, window), axis=(1, 2), writeable=True
    )
    m = np.arange(len(centres))
    for ball in range(num_balls):
        corner = origins[:, ball] + pad
        windows[m, corner[:, 0], corner[:, 1]] += d[:, ball]  # one block per frame
    frames = np.minimum(frames[:, pad : pad + image_size, pad : pad + image_size], 1.0)
    return frames.reshape(leading + (image_size, image_size))


def to_uint8(intensity):
    """[0, 1] floats to 0..255 pixels, rounded."""
    return np.round(np.asarray(intensity) * 255).astype(np.uint8)


def generate(rngs, num_frames, num_balls, image_size, physics=BallPhysics()):
    """Simulates and renders one sequence per generator in `rngs`.

    Each sequence's start comes from its own generator, so a sequence does not depend on
    which others it is batched with.

    Args:
      rngs: iterable of `np.random.Generator`, one per sequence (S of them).
      num_frames: T frames per sequence.
      num_balls: N balls per sequence.
      image_size: frame side in pixels.
      physics: the constants.

    Returns:
      `BallSequences` for the S sequences.
    """
    starts = [sample_initial_state(rng, num_balls, physics) for rng in rngs]
    positions, velocities = simulate(
        np.stack([s[0] for s in starts]), np.stack([s[1] for s in starts]), num_frames, physics
    )
    video = to_uint8(render(positions, image_size, physics))[..., None]
    pixels_per_unit = image_size / physics.box_size
    frame_displacement = physics.substeps * physics.substep_dt  # units moved per frame per unit v
    return BallSequences(
        video=video,
        positions=to_pixels(positions, image_size, physics).astype(np.float32),
        velocities=(velocities * frame_displacement * pixels_per_unit).astype(np.float32),
        radius=float(physics.radius * pixels_per_unit),
    )


def dataset_videos(config, split, indices):
    """The videos of examples `indices` of a split, exactly as the TFDS builder writes them.

    config: `DatasetConfig`; split: "train", "validation" or "test".
    Returns uint8 (len(indices), T, H, W, 1).
    """
    rngs = [example_rng(config.seed, split, i) for i in indices]
    return generate(rngs, config.num_frames, config.num_balls, config.image_size).video
