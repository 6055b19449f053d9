"""A folder of the user's videos as clips: what the `video_folder` builder writes.

    folder/ a.gif, b.mp4, c.webm, d/ 0001.png 0002.png ...   (any depth)
        --> sources, each one file (or one folder of numbered frames)
        --> each source's frames (every `frame_step`-th), centre-cropped to a square,
            resized to `image_size`, grey or colour
        --> clips of `clip_frames` frames, starting every `stride` frames

Each source goes to one split, train, validation or test, by a stable hash of its path
relative to the folder: adding files never moves the clips of files already there from a
split to another. GIFs and still images are read with Pillow, MP4 and WebM with PyAV (its
wheels carry FFmpeg: no system install), both through imageio.
"""

import dataclasses
import hashlib
import os
import pathlib
import re

import imageio.v3 as iio
import numpy as np
from PIL import Image

VIDEO_SUFFIXES = (".gif", ".mp4", ".webm", ".mov", ".mkv", ".avi")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPLITS = ("train", "validation", "test")
_HASH_RANGE = 2**64
_NUMBER = re.compile(r"(\d+)")


@dataclasses.dataclass(frozen=True)
class ClipSettings:
    """How sources become clips (what a `video_folder` builder config says)."""

    clip_frames: int = 20  # frames per clip (T); the paper's sequences have 20
    stride: int = 10  # frames between the starts of consecutive clips of a source
    frame_step: int = 1  # keep every k-th frame of a source (a fast video slowed down)
    image_size: int = 64  # frames are centre-cropped, then resized to this square
    channels: int = 1  # 1: grey (BT.601 luma, Pillow's "L"); 3: colour
    # the share of sources in train, validation and test (by the hash of their path)
    split_ratios: tuple = (0.8, 0.1, 0.1)

    def __post_init__(self):
        if min(self.clip_frames, self.stride, self.frame_step, self.image_size) < 1:
            raise ValueError("clip_frames, stride, frame_step and image_size must be at least 1.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}.")
        if len(self.split_ratios) != 3 or min(self.split_ratios) < 0 or not np.isclose(
                sum(self.split_ratios), 1.0):
            raise ValueError(f"split_ratios must be three shares summing to 1, got {self.split_ratios}.")


def _natural_key(name):
    return [int(part) if part.isdigit() else part for part in _NUMBER.split(name)]


def sources(folder):
    """The sources under `folder`, sorted: video files, and folders of numbered frames
    (a folder whose files are all images counts as one source). [relative path]."""
    folder = pathlib.Path(folder)
    found = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories.sort()
        here = pathlib.Path(directory)
        images = [f for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
        if images and len(images) == len([f for f in files if not f.startswith(".")]) and here != folder:
            found.append(here.relative_to(folder).as_posix())
            continue
        found += [(here / f).relative_to(folder).as_posix() for f in files
                  if f.lower().endswith(VIDEO_SUFFIXES)]
    return sorted(found, key=_natural_key)


def manifest(folder):
    """What a build reads, to tell a changed folder: {relative path: [bytes, mtime ns]}
    of every file of every source."""
    folder = pathlib.Path(folder)
    record = {}
    for source in sources(folder):
        path = folder / source
        files = sorted(path.iterdir(), key=lambda p: _natural_key(p.name)) if path.is_dir() else [path]
        for file in files:
            stat = file.stat()
            record[file.relative_to(folder).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return record


def split_of(source, ratios):
    """The split a source belongs to, from a stable hash of its relative path alone."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / _HASH_RANGE
    bounds = np.cumsum(ratios)
    return SPLITS[min(int(np.searchsorted(bounds, position, side="right")), len(SPLITS) - 1)]


def read_frames(path):
    """A source's frames as they are stored: [uint8 (H, W) or (H, W, C)]. Raises
    ValueError for a file neither Pillow nor PyAV can read."""
    path = pathlib.Path(path)
    try:
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES)),
                           key=lambda p: _natural_key(p.name))
            return [iio.imread(p) for p in files]
        plugin = "pillow" if path.suffix.lower() == ".gif" else "pyav"
        return list(iio.imiter(path, plugin=plugin))
    except Exception as error:  # the readers raise many types for a damaged file
        raise ValueError(f"{path.name}: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None


def _to_square(frame, size, channels):
    """One stored frame --> uint8 (size, size, channels): centre-cropped, resized (box
    filter), grey by BT.601 luma or colour."""
    image = Image.fromarray(np.asarray(frame))
    image = image.convert("L" if channels == 1 else "RGB")  # alpha dropped, palettes read
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.BOX)
    array = np.asarray(image, np.uint8)
    return array[..., None] if channels == 1 else array


def clips(path, settings):
    """The clips of one source: uint8 (count, T, size, size, C) and their start frames
    (in the source's kept frames). Raises ValueError for an unreadable source; a source
    too short for one clip gives none."""
    kept = read_frames(path)[:: settings.frame_step]
    starts = list(range(0, len(kept) - settings.clip_frames + 1, settings.stride))
    if not starts:
        return np.zeros((0, settings.clip_frames, settings.image_size, settings.image_size,
                         settings.channels), np.uint8), []
    frames = np.stack([_to_square(f, settings.image_size, settings.channels) for f in kept])
    return np.stack([frames[s : s + settings.clip_frames] for s in starts]), starts
