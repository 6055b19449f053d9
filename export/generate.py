"""Seed images to a GIF with the exported generator: ONNX Runtime, NumPy and imageio alone.

    python -m export.generate --model generator.onnx --seed ball.png --frames 19 --out ball.gif
    python -m export.generate --model generator.onnx --seed clip.gif --samples 4 --seed-value 0 \\
        --out four.gif

The seed is K image files (K is the model's number of context frames), or a GIF whose
first K frames are used. Colour images are converted to the model's channels and resized
to its frame size, with a note. The GIF shows the seed frames and then the generated
ones; with --samples S, S samples side by side, each from its own noise.

From Python, inside a service:

    generator = Generator("generator.onnx")
    frames = generator.generate(seed_frames, num_frames=19, samples=4,
                                rng=np.random.default_rng(0))  # (4, 19, 64, 64, C) in [0, 1]

This module imports neither TensorFlow nor tf_deepgifs: copy the `export` folder (this
file and `contract.py`) next to a generator.onnx and it runs wherever onnxruntime does;
a generator.tflite runs with LiteRT's interpreter (`litert.py`, the ai-edge-litert
package) in place of ONNX Runtime.
"""

import argparse
import os
import sys

import imageio.v3 as iio
import numpy as np
import onnxruntime
from PIL import Image  # installed with imageio, which reads and writes through it

from . import contract

MAX_FRAMES = 1_000  # frames per sample; each is 16 KiB per channel of float32
MAX_SAMPLES = 64
GIF_FPS = 5
PANEL_GAP = 2  # pixels between samples in the GIF
_GAP_LEVEL = 96  # their grey
# ITU-R BT.601 luma, what Pillow's "L" mode uses.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class GeneratorError(Exception):
    """Something the user can fix: a file, a model, an argument. Its message is one line."""


class Generator:
    """An exported DeepGIFs generator in ONNX Runtime: the step file of the current
    contract, looped here, or a file of the legacy contract (one graph, seed and noise in,
    frames out).

    Args:
      path: a generator.onnx written by `python -m tf_deepgifs export`.
      threads: ONNX Runtime's intra-op threads; None lets it choose (one per core).
    """

    def __init__(self, path, threads=None):
        if not os.path.isfile(path):
            raise GeneratorError(f"No model file {path}.")
        self.session = self.interpreter = None
        if str(path).endswith(".tflite"):
            self._open_tflite(path, threads)
        else:
            self._open_onnx(path, threads)
        self.legacy = self.metadata.get("contract") == contract.LEGACY_VERSION
        self._check_contract(path)
        sizes = {key: int(self.metadata[key]) for key in contract.INTEGER_KEYS
                 if key in self.metadata}
        self.context_frames, self.channels = sizes["context_frames"], sizes["channels"]
        self.image_size, self.latent_dim = sizes["image_size"], sizes["latent_dim"]
        self.training_frames = sizes["training_frames"]  # N the model was trained to generate
        self.noise_dim = sizes.get("noise_dim", self.latent_dim)
        self.state_size = sizes.get("state_size")
        # A legacy generator_fixed.onnx fixes N (an int in the noise input's shape).
        noise_frames = ({i.name: i for i in self.session.get_inputs()}[contract.NOISE].shape[1]
                        if self.legacy else None)
        self.fixed_frames = noise_frames if isinstance(noise_frames, int) else None

    def _open_onnx(self, path, threads):
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises several types for unreadable files
            raise GeneratorError(
                f"{path} is not an ONNX model ONNX Runtime can load ({_first_line(error)}).") from None
        self.metadata = self.session.get_modelmeta().custom_metadata_map
        self.inputs = sorted(i.name for i in self.session.get_inputs())
        self.outputs = sorted(o.name for o in self.session.get_outputs())

    def _open_tflite(self, path, threads):
        try:
            from . import litert
        except ImportError:
            raise GeneratorError(f"{path} needs LiteRT's interpreter: pip install "
                                 "ai-edge-litert.") from None
        try:
            self.interpreter, self.metadata, signatures = litert.load(path, threads)
        except Exception as error:  # LiteRT raises ValueError and RuntimeError
            raise GeneratorError(
                f"{path} is not a TFLite model LiteRT can load ({_first_line(error)}).") from None
        # Each signature reads one kind of input; together they take the step's inputs.
        parts = [signatures.get(name, {}) for name in contract.LITE_SIGNATURES]
        self.inputs = sorted({name for part in parts for name in part.get("inputs", [])})
        self.outputs = sorted({name for part in parts for name in part.get("outputs", [])})

    def _check_contract(self, path):
        inputs, outputs = self.inputs, self.outputs
        if self.legacy:
            expected = (sorted([contract.SEED, contract.NOISE]), [contract.FRAMES],
                        contract.LEGACY_METADATA_KEYS)
        else:
            expected = (sorted(contract.INPUTS), sorted(contract.OUTPUTS), contract.METADATA_KEYS)
        if (self.metadata.get("contract") not in (contract.CONTRACT_VERSION, contract.LEGACY_VERSION)
                or (inputs, outputs) != expected[:2]
                or any(key not in self.metadata for key in expected[2])):
            raise GeneratorError(
                f"{path} is not a DeepGIFs generator of contract {contract.CONTRACT_VERSION} "
                f"(or {contract.LEGACY_VERSION}): inputs {inputs}, outputs {outputs}, contract "
                f"{self.metadata.get('contract', 'missing')}; export it with "
                "`python -m tf_deepgifs export`.")

    @property
    def frame_shape(self):
        return (self.image_size, self.image_size, self.channels)

    def run(self, seeds, noise, on_step=None):
        """Seeds (B, K, H, W, C) and noise (B, N, noise_dim) --> frames (B, N, H, W, C).

        All float32; pixels in [0, 1]; noise standard normal, or zeros for the mean
        rollout: entry 0 samples the last seed frame's latent, entry n the generated frame
        n - 1's as it is read back. A legacy fixed-length file generates up to its N.
        `on_step`, if given, is called with a copy of each step's inputs ({name: array}).
        """
        seeds, noise = np.asarray(seeds, np.float32), np.asarray(noise, np.float32)
        if self.legacy:
            return self._run_legacy(seeds, noise)
        batch, wanted = noise.shape[:2]
        if self.interpreter:
            from .litert import LiteSteps
            steps = LiteSteps(self, batch, on_step)
        else:
            steps = BoundSteps(self, batch, on_step)
        for k in range(self.context_frames):  # the earlier seed frames read as their mean
            last = k == self.context_frames - 1
            steps.step(seeds[:, k], noise[:, 0] if last else None)
        frames = np.empty((batch, wanted) + self.frame_shape, np.float32)
        frames[:, 0] = steps.frame
        for n in range(1, wanted):  # each step reads back what the one before made
            steps.step(None, noise[:, n])
            frames[:, n] = steps.frame
        return frames

    @property
    def reads_back_frames(self):
        """Whether a step reads back the frame generated before (else its latent)."""
        return self.metadata.get("generation_feedback", "frames") == "frames"

    def _run_legacy(self, seeds, noise):
        wanted = noise.shape[1]
        if self.fixed_frames:
            if wanted > self.fixed_frames:
                raise GeneratorError(
                    f"this legacy model ({contract.LEGACY_VERSION}) generates at most "
                    f"{self.fixed_frames} frames ({wanted} asked); export it again with "
                    "`python -m tf_deepgifs export` for any number.")
            noise = np.pad(noise, ((0, 0), (0, self.fixed_frames - wanted), (0, 0)))
        return self.session.run([contract.FRAMES], {
            contract.SEED: seeds, contract.NOISE: noise})[0][:, :wanted]

    def generate(self, seed_frames, num_frames, samples=1, rng=None):
        """Samples `num_frames` frames after the seed.

        Args:
          seed_frames: (K, H, W, C) float in [0, 1], the model's frame shape.
          num_frames: N >= 1 frames to generate.
          samples: S rollouts of the same seed, each with its own noise.
          rng: `np.random.Generator` for the noise; None gives the deterministic (mean)
            rollout, the same for every sample.

        Returns:
          float32 (S, N, H, W, C) in [0, 1].
        """
        expected = (self.context_frames,) + self.frame_shape
        if tuple(np.shape(seed_frames)) != expected:
            raise GeneratorError(
                f"the seed must be {expected} frames, got {np.shape(seed_frames)}.")
        check_count("frames", num_frames, MAX_FRAMES)
        check_count("samples", samples, MAX_SAMPLES)
        shape = (samples, num_frames, self.noise_dim)
        if rng is None:
            noise = np.zeros(shape, np.float32)
        else:
            noise = rng.standard_normal(shape, np.float32)
        seeds = np.broadcast_to(np.asarray(seed_frames, np.float32), (samples,) + expected)
        return self.run(seeds, noise)


class BoundSteps:
    """The step file looped with ONNX Runtime's I/O binding: each step's outputs are
    written into the buffers the next step reads, so the loop copies no state and makes no
    arrays (what `session.run` would do at every step). Two sides of buffers take turns:
    a step reads one side and writes the other.

    Args:
      generator: a `Generator` of the step contract.
      batch: B sequences.
      on_step: optional, called with a copy of each step's inputs.
    """

    def __init__(self, generator, batch, on_step=None):
        self.session, self.reads_back_frames = generator.session, generator.reads_back_frames
        self.on_step = on_step
        self.sides = [{contract.FRAME: np.zeros((batch,) + generator.frame_shape, np.float32),
                       contract.LATENT: np.zeros((batch, generator.latent_dim), np.float32),
                       contract.STATE: np.zeros((batch, 2, generator.state_size), np.float32),
                       contract.NOISE: np.zeros((batch, generator.noise_dim), np.float32)}
                      for _ in range(2)]
        self.empty = {contract.FRAME: np.zeros((0,) + generator.frame_shape, np.float32),
                      contract.LATENT: np.zeros((0, generator.latent_dim), np.float32)}
        self.bindings = {}  # (side, input read) -> IOBinding
        self.side = 0  # the side the next step reads

    @property
    def frame(self):
        """(B, H, W, C): the frame the last step generated, valid until the next step."""
        return self.sides[self.side][contract.FRAME]

    def step(self, frame, noise):
        """One step reading `frame` (B, H, W, C), or with None what the step before made;
        `noise` (B, noise_dim), None for zeros."""
        side = self.sides[self.side]
        reads = contract.FRAME if frame is not None or self.reads_back_frames else contract.LATENT
        if frame is not None:
            side[contract.FRAME][...] = frame
        side[contract.NOISE][...] = 0 if noise is None else noise
        if self.on_step:
            self.on_step({name: (side[name] if name == reads or name not in self.empty
                                 else self.empty[name]).copy() for name in contract.INPUTS})
        self.session.run_with_iobinding(self._binding(self.side, reads))
        self.side = 1 - self.side

    def _binding(self, side, reads):
        if (side, reads) not in self.bindings:
            binding = self.session.io_binding()
            read, write = self.sides[side], self.sides[1 - side]
            for name in contract.INPUTS:
                empty = name in self.empty and name != reads  # the input this step does not read
                _bind(binding.bind_input, name, self.empty[name] if empty else read[name])
            for name, into in zip(contract.OUTPUTS, (contract.FRAME, contract.LATENT,
                                                      contract.STATE)):
                _bind(binding.bind_output, name, write[into])
            self.bindings[side, reads] = binding
        return self.bindings[side, reads]


def _bind(bind, name, array):
    """Binds a C-contiguous float32 array's memory itself (no copy) to an input or output."""
    bind(name, "cpu", 0, np.float32, array.shape, array.ctypes.data)


def _first_line(error):
    """A runtime's error message's first line, or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_count(name, value, maximum):
    if not isinstance(value, (int, np.integer)) or not 1 <= value <= maximum:
        raise GeneratorError(f"{name} must be a whole number from 1 to {maximum}, got {value}.")


# Seed images.

def read_frames(paths, count):
    """The first `count` frames of the image files in `paths`, in order (GIFs give all theirs).

    Returns a list of arrays as the files hold them: (H, W) or (H, W, channels), any dtype.
    """
    frames = []
    for path in paths:
        if not os.path.isfile(path):
            raise GeneratorError(f"No seed file {path}.")
        try:
            for frame in iio.imiter(path):
                frames.append(frame)
                if len(frames) == count:
                    return frames
        except Exception:  # imageio raises many types for files it cannot decode
            raise GeneratorError(f"{path} is not an image or GIF that imageio can read.") from None
    raise GeneratorError(
        f"The model needs {count} seed frame{'s' * (count > 1)}, and {', '.join(paths)} "
        f"gave {len(frames)}: pass {count} images or a GIF of at least {count} frames.")


def to_unit_range(frame):
    """An image of any integer dtype (or float in [0, 1]) --> float32 in [0, 1], (H, W, c)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3:
        raise GeneratorError(f"a seed image has shape {frame.shape}, not an image's.")
    if np.issubdtype(frame.dtype, np.integer):
        frame = frame.astype(np.float32) / np.iinfo(frame.dtype).max
    frame = np.clip(frame.astype(np.float32), 0.0, 1.0)
    if frame.shape[-1] in (2, 4):  # grey or RGB with alpha: composite over black
        frame = frame[..., :-1] * frame[..., -1:]
    return frame


def to_channels(frame, channels, notes):
    """(H, W, 1 or 3) --> (H, W, channels): RGB to grey by BT.601 luma, grey repeated."""
    have = frame.shape[-1]
    if have == channels:
        return frame
    if channels == 1:
        if not np.allclose(frame, frame[..., :1]):
            notes.add("converted the colour seed to grey")
        return (frame @ _LUMA)[..., None]
    return np.repeat(frame, channels, axis=-1)


def to_size(frame, size, notes):
    """(H, W, C) --> (size, size, C): centre-cropped to a square, then resized (box filter)."""
    height, width = frame.shape[:2]
    if (height, width) == (size, size):
        return frame
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = frame[top : top + side, left : left + side]
    notes.add(f"{'cropped and ' if height != width else ''}resized the {width}x{height} seed "
              f"to {size}x{size}")
    channels = [Image.fromarray(np.ascontiguousarray(square[..., c])) for c in range(square.shape[-1])]
    return np.stack([np.asarray(channel.resize((size, size), Image.Resampling.BOX))
                     for channel in channels], axis=-1)


def load_seed(paths, generator, notes):
    """The model's K seed frames from image files: float32 (K, H, W, C) in [0, 1]."""
    frames = read_frames(paths, generator.context_frames)
    converted = []
    for frame in frames:
        frame = to_channels(to_unit_range(frame), generator.channels, notes)
        converted.append(to_size(frame, generator.image_size, notes))
    return np.stack(converted)


# The GIF.

def to_uint8(frames):
    return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def gif_frames(seed, generated):
    """Seed then generated frames, samples side by side.

    seed (K, H, W, C) and generated (S, N, H, W, C), in [0, 1] --> uint8
    (K + N, H, S * (W + gap) - gap, C).
    """
    samples = generated.shape[0]
    videos = np.concatenate([np.broadcast_to(seed, (samples,) + seed.shape), generated], axis=1)
    videos = to_uint8(videos)
    _, frames, height, width, channels = videos.shape
    canvas = np.full((frames, height, samples * (width + PANEL_GAP) - PANEL_GAP, channels),
                     _GAP_LEVEL, np.uint8)
    for s in range(samples):
        left = s * (width + PANEL_GAP)
        canvas[:, :, left : left + width] = videos[s]
    return canvas


def check_output_path(path):
    """Fails before any work if `path` cannot be written as a GIF."""
    if not path.lower().endswith(".gif"):
        raise GeneratorError(f"The output must be a .gif file, got {path}.")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise GeneratorError(f"The output {path} is a folder.")
    if not os.path.isdir(folder):
        raise GeneratorError(f"The output's folder {folder} does not exist.")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise GeneratorError(f"Cannot write {path}: permission denied.")


def write_gif(path, frames, fps=GIF_FPS):
    """uint8 (T, H, W, C) to a looping GIF, written whole or not at all, with the
    permissions the user's umask gives a new file (as any file they write would get)."""
    folder, name = os.path.split(os.path.abspath(path))
    partial = os.path.join(folder, f".{name}.{os.getpid()}.partial.gif")
    try:
        iio.imwrite(partial, frames[..., 0] if frames.shape[-1] == 1 else frames,
                    extension=".gif", duration=1000 / fps, loop=0)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


# The command line.

def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m export.generate", description="Generate a GIF from seed images "
        "with an exported DeepGIFs generator (ONNX Runtime; no TensorFlow).")
    parser.add_argument("--model", required=True, help="generator.onnx (or generator_int8.onnx, "
                        "or generator.tflite, run by LiteRT) from `tf_deepgifs export`")
    parser.add_argument("--seed", required=True, nargs="+", metavar="IMAGE",
                        help="K seed images, or a GIF whose first K frames are used")
    parser.add_argument("--frames", type=int,
                        help="frames to generate (default: as many as the model was trained on)")
    parser.add_argument("--out", required=True, help="the GIF to write")
    parser.add_argument("--samples", type=int, default=1, help="samples side by side (default 1)")
    parser.add_argument("--seed-value", type=int, default=0,
                        help="seed of the sampling noise (default 0)")
    parser.add_argument("--deterministic", action="store_true",
                        help="no sampling noise: the mean rollout")
    parser.add_argument("--fps", type=float, default=GIF_FPS, help=f"GIF speed (default {GIF_FPS})")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: one per core)")
    return parser


def generate_gif(args, log):
    """Runs the command: checks everything it can before generating, then writes the GIF."""
    check_output_path(args.out)
    check_count("--samples", args.samples, MAX_SAMPLES)
    if args.frames is not None:
        check_count("--frames", args.frames, MAX_FRAMES)
    if not args.fps > 0:
        raise GeneratorError(f"--fps must be positive, got {args.fps}.")
    if args.threads is not None and args.threads < 1:
        raise GeneratorError(f"--threads must be at least 1, got {args.threads}.")
    generator = Generator(args.model, args.threads)
    notes = set()
    seed = load_seed(args.seed, generator, notes)
    for note in sorted(notes):
        log(f"note: {note}.")
    num_frames = args.frames or generator.training_frames
    rng = None if args.deterministic else np.random.default_rng(args.seed_value)
    generated = generator.generate(seed, num_frames, args.samples, rng)
    write_gif(args.out, gif_frames(seed, generated), args.fps)
    log(f"Wrote {args.out}: {generator.context_frames} seed + {num_frames} generated frames"
        f"{f', {args.samples} samples' if args.samples > 1 else ''}.")


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        generate_gif(args, lambda line: print(line, file=sys.stderr))
    except GeneratorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
