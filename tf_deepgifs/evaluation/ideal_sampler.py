"""The ideal sampler: the yardstick of a generator that samples futures from one frame.

One seed frame shows where the balls are but not where they are going. The simulator
that made the data can do what a perfect generator would: start from the seed's true
ball positions, draw the velocities from its own prior (`bouncing_balls.sample_velocities`,
the distribution every sequence starts with), simulate and render. Its samples are as
good as sampling can be; the best of S of them is still far from the truth at later
frames, because S draws rarely land near the true velocities. `evaluate` measures it
like the model's samples (variants "ideal_best_of_S" and "ideal_samples").
"""

import numpy as np

from tf_deepgifs.data import bouncing_balls, pixels

IDEAL_SEED_OFFSET = 1_000_000  # its velocity streams: (seed, index, IDEAL_SEED_OFFSET + sample)


def ideal_samples(seed_positions, indices, samples, horizon, image_size, seed,
                  physics=bouncing_balls.BallPhysics()):
    """S futures per sequence from its seed frame's true ball positions.

    Args:
      seed_positions: (B, n, 2) the balls' centres in the last seed frame, in pixels.
      indices: (B,) the sequences' indices in the split; each (seed, index, sample) draws
        its own velocities, so a sequence's samples do not depend on the batch.
      samples: S.
      horizon: N frames after the seed.
      image_size: the frames' side in pixels.
      seed: of the velocity draws.
      physics: the simulator's constants.

    Returns:
      float32 (S, B, N, H, W, 1) in [0, 1], stored as the dataset stores frames (uint8).
    """
    positions = bouncing_balls.to_units(seed_positions, image_size, physics)
    futures = []
    for sample in range(samples):
        velocities = np.stack([
            bouncing_balls.sample_velocities(
                np.random.default_rng([seed, int(i), IDEAL_SEED_OFFSET + sample]),
                positions.shape[1], physics)
            for i in indices])
        futures.append(future_frames(positions, velocities, horizon, image_size, physics))
    return np.stack(futures)


def future_frames(positions, velocities, horizon, image_size, physics=bouncing_balls.BallPhysics()):
    """The N frames after a start state, simulated and rendered as the dataset's are:
    positions and velocities (B, n, 2) in units and units per sub-step --> float32
    (B, N, H, W, 1) in [0, 1], quantised to uint8 levels."""
    moved, _ = bouncing_balls.simulate(positions, velocities, horizon + 1, physics)
    frames = bouncing_balls.render(moved[:, 1:], image_size, physics)
    return pixels.from_uint8(bouncing_balls.to_uint8(frames))[..., None]
