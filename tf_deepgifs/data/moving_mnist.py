"""Moving MNIST: MNIST digits moving in a square canvas, bouncing off its edges.

The DeepGIFs data (paper section 3.1) was made with Tencia Lee's adaptation (ref [11]) of
Srivastava et al.'s script (ref [17]). This module reproduces its motion, vectorised over
many sequences, and reads the standard MNIST IDX files:

    digits + trajectory (per sequence, its own RNG) --> trajectories() --> positions
                                                  \\--> render() --> video

Per digit, as in that script: direction uniform in [-pi, pi), speed an integer number of
pixels per frame, start corner uniform in [0, canvas - digit) on each axis; at each frame
the digit is drawn at its rounded position, then a velocity component is negated when the
next position would leave [-margin, canvas - digit + margin], then it moves. Digits pass
through each other: their pixels are added and clipped.

Coordinates are (row, col) of a digit's top-left corner in pixels.
"""

import dataclasses
import gzip
import zlib

import numpy as np

from tf_deepgifs.errors import IDXFormatError


@dataclasses.dataclass(frozen=True)
class DigitMotion:
    """The constants of the Srivastava / Tencia Lee script."""

    canvas_size: int = 64  # output frames are canvas_size x canvas_size
    digit_size: int = 28  # MNIST digits are 28 x 28
    min_speed: int = 2  # speed is an integer in [min_speed, max_speed] px per frame
    max_speed: int = 6  # (the script: randint(5) + 2)
    bounce_margin: float = 2.0  # a position may go this far past [0, canvas - digit]

    @property
    def travel(self):
        """How far the top-left corner ranges: canvas - digit (36 for the defaults)."""
        return self.canvas_size - self.digit_size


@dataclasses.dataclass(frozen=True)
class DigitSequences:
    """A batch of rendered sequences and the ground truth that made them.

    Attributes:
      video: uint8 (S, T, H, W, 1).
      positions: float32 (S, T, D, 2), each digit's top-left corner (row, col) in pixels
        before rounding; the digit is drawn at the rounded position.
      velocities: float32 (S, T, D, 2), each digit's move from frame t to t + 1 (row, col)
        in pixels per frame.
      digit_indices: int64 (S, D), indices of the digits in the image array they came from.
    """

    video: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    digit_indices: np.ndarray


def sample_start(rng, num_digits, num_images, motion=DigitMotion()):
    """Draws one sequence's digits, start corners and velocities.

    Args:
      rng: a `np.random.Generator`, owned by this one sequence.
      num_digits: D digits per sequence.
      num_images: how many digit images there are to choose from.
      motion: the constants.

    Returns:
      (digit_indices int64 (D,), positions float64 (D, 2), velocities float64 (D, 2)).
    """
    directions = rng.uniform(-np.pi, np.pi, size=num_digits)
    speeds = rng.integers(motion.min_speed, motion.max_speed + 1, size=num_digits)
    velocities = speeds[:, None] * np.stack([np.sin(directions), np.cos(directions)], axis=-1)
    positions = rng.uniform(0, motion.travel, size=(num_digits, 2))
    digit_indices = rng.integers(0, num_images, size=num_digits)
    return digit_indices, positions, velocities


def trajectories(positions, velocities, num_frames, motion=DigitMotion()):
    """Moves digits for `num_frames` frames, bouncing them off the canvas edges.

    Args:
      positions: float (S, D, 2) start corners.
      velocities: float (S, D, 2) start velocities, px per frame.
      num_frames: T.

    Returns:
      (positions, velocities) float64 (S, T, D, 2): the corner at each frame and the
      velocity that takes it to the next frame.
    """
    x = np.array(positions, dtype=np.float64)
    v = np.array(velocities, dtype=np.float64)
    xs = np.empty((x.shape[0], num_frames) + x.shape[1:])
    vs = np.empty_like(xs)
    low, high = -motion.bounce_margin, motion.travel + motion.bounce_margin
    for t in range(num_frames):
        xs[:, t] = x
        leaving = (x + v < low) | (x + v > high)
        v = np.where(leaving, -v, v)
        vs[:, t] = v
        x = x + v
    return xs, vs


def round_half_away(x):
    """Rounds as Python 2's round() did in the original script (0.5 -> 1, -2.5 -> -3)."""
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def render(digits, positions, motion=DigitMotion()):
    """Pastes each digit at its rounded corner; overlapping pixels are added and clipped.

    Args:
      digits: uint8 (S, D, digit, digit) digit images.
      positions: float (S, T, D, 2) corners.

    Returns:
      uint8 (S, T, canvas, canvas).
    """
    num_sequences, num_frames, num_digits, _ = positions.shape
    corners = round_half_away(positions)
    # A corner can sit `bounce_margin` past an edge: paste into a padded canvas, then crop.
    pad = int(np.ceil(motion.bounce_margin))
    if corners.min() < -pad or corners.max() > motion.travel + pad:
        raise ValueError("positions leave the canvas by more than the bounce margin.")
    side = motion.canvas_size + 2 * pad
    canvas = np.zeros((num_sequences, num_frames, side, side), dtype=np.int32)
    offsets = np.arange(motion.digit_size)
    s = np.arange(num_sequences)[:, None, None, None]
    t = np.arange(num_frames)[None, :, None, None]
    for d in range(num_digits):
        rows = (corners[:, :, d, 0:1] + pad + offsets)[..., :, None]  # (S, T, digit, 1)
        cols = (corners[:, :, d, 1:2] + pad + offsets)[..., None, :]  # (S, T, 1, digit)
        # One digit's pixels never repeat an index, so fancy-indexed += is exact.
        canvas[s, t, rows, cols] += digits[:, d, None, :, :]
    cropped = canvas[:, :, pad : pad + motion.canvas_size, pad : pad + motion.canvas_size]
    return np.minimum(cropped, 255).astype(np.uint8)


def generate(rngs, images, num_frames, num_digits=2, motion=DigitMotion()):
    """Makes one sequence per generator in `rngs`, choosing digits from `images`.

    Args:
      rngs: iterable of `np.random.Generator`, one per sequence (S of them).
      images: uint8 (num_images, digit, digit) digit images to choose from.
      num_frames: T.
      num_digits: D digits per sequence.

    Returns:
      `DigitSequences`.
    """
    starts = [sample_start(rng, num_digits, len(images), motion) for rng in rngs]
    digit_indices = np.stack([s[0] for s in starts])
    positions, velocities = trajectories(
        np.stack([s[1] for s in starts]), np.stack([s[2] for s in starts]), num_frames, motion
    )
    video = render(images[digit_indices], positions, motion)[..., None]
    return DigitSequences(
        video=video,
        positions=positions.astype(np.float32),
        velocities=velocities.astype(np.float32),
        digit_indices=digit_indices,
    )


def features(num_frames, num_digits, motion=DigitMotion()):
    """The TFDS features of a moving-digits example (what `examples` yields)."""
    import tensorflow_datasets as tfds

    per_digit = (num_frames, num_digits, 2)
    return tfds.features.FeaturesDict({
        "video": tfds.features.Video(shape=(num_frames, motion.canvas_size, motion.canvas_size, 1)),
        "labels": tfds.features.Sequence(tfds.features.ClassLabel(num_classes=10), length=num_digits),
        "digit_ids": tfds.features.Tensor(shape=(num_digits,), dtype=np.int64),
        "positions": tfds.features.Tensor(shape=per_digit, dtype=np.float32),
        "velocities": tfds.features.Tensor(shape=per_digit, dtype=np.float32),
    })


def examples(seed, split, num_examples, images, labels, num_frames, num_digits):
    """Yields (key, example) for examples 0..num_examples-1 of a split, each from its own
    generator (seed, split, index), digits drawn from `images` (uint8 (N, 28, 28)) with
    their `labels`: what a moving-digits builder writes."""
    from tf_deepgifs.data import encoding, splits

    def make_block(block):
        return generate([splits.example_rng(seed, split, i) for i in block], images,
                        num_frames=num_frames, num_digits=num_digits)

    for index, sequences, k, frames in encoding.encoded_examples(num_examples, make_block):
        ids = sequences.digit_indices[k]
        yield index, {
            "video": frames,
            "labels": labels[ids].astype(np.int64),
            "digit_ids": ids,
            "positions": sequences.positions[k],
            "velocities": sequences.velocities[k],
        }


# IDX magic numbers: 0x00000801 for labels (uint8, 1-D), 0x00000803 for images (uint8, 3-D).
_IDX_MAGIC = {1: 0x0801, 3: 0x0803}


def read_idx(path, ndim):
    """Reads an MNIST IDX file (gzip-compressed or not) into a uint8 array.

    Args:
      path: a path (str or `os.PathLike`), read with `etils.epath` so any TFDS file
        system works.
      ndim: 1 for a labels file, 3 for an images file.

    Returns:
      uint8 array of shape (count,) or (count, rows, cols).

    Raises:
      IDXFormatError: the file is not a readable IDX file with `ndim` dimensions.
    """
    from etils import epath

    raw = epath.Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise IDXFormatError(f"{path} is a damaged gzip file ({error}).") from None
    header_size = 4 + 4 * ndim
    if len(raw) < header_size or int.from_bytes(raw[:4], "big") != _IDX_MAGIC[ndim]:
        kind = "labels" if ndim == 1 else "images"
        raise IDXFormatError(f"{path} is not an MNIST IDX {kind} file (wrong magic number).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
    if body.size != np.prod(shape):
        raise IDXFormatError(
            f"{path} is truncated or corrupt: its header promises {np.prod(shape)} values "
            f"of shape {shape}, it holds {body.size}."
        )
    return body.reshape(shape)
