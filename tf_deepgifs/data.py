"""The project's datasets as TFDS builders: where they live, how they are built and seeded.

Each dataset is a TFDS builder folder under `datasets/` in the repository. Users name
datasets by their short name (`bouncing_balls`, `moving_mnist`); the registered TFDS name
can differ, because TFDS already registers its own `moving_mnist` (the fixed Toronto test
file), so ours is registered as `deepgifs_moving_mnist`.
"""

import collections
import concurrent.futures
import dataclasses
import functools
import importlib
import os
import pathlib
import sys

import tensorflow as tf

from tf_deepgifs.errors import UnknownDatasetError
from tf_deepgifs.splits import SPLIT_IDS, example_rng  # noqa: F401 (data.example_rng)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DATASETS_DIR = REPO_ROOT / "datasets"


# Sequences simulated and PNG-encoded together when a builder writes examples.
GENERATION_CHUNK = 256
# Chunks made at once, in threads; more than the cores only adds memory.
GENERATION_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """A dataset users can name, and the TFDS builder folder that makes it."""

    name: str  # what users type: DATASET=<name>
    builder_name: str  # the TFDS registered name, also the folder under datasets/

    @property
    def builder_dir(self):
        return DATASETS_DIR / self.builder_name

    @property
    def module_name(self):
        return f"{self.builder_name}.{self.builder_name}_dataset_builder"


DATASETS = {
    "bouncing_balls": DatasetEntry("bouncing_balls", "bouncing_balls"),
    "moving_mnist": DatasetEntry("moving_mnist", "deepgifs_moving_mnist"),
}


def resolve(dataset):
    """Returns (entry, config name or None) for 'name' or 'name/config'."""
    name, _, config = dataset.partition("/")
    if name not in DATASETS:
        raise UnknownDatasetError(
            f"Unknown dataset '{name}': choose one of {', '.join(sorted(DATASETS))}."
        )
    return DATASETS[name], config or None


def builder_class(dataset):
    """Imports the TFDS `Builder` class of a dataset (registering it with TFDS).

    The module is imported as `<folder>.<folder>_dataset_builder` with `datasets/` on the
    path, the same name the `tfds build` CLI gives it, so it is registered only once.
    """
    entry, _ = resolve(dataset)
    if str(DATASETS_DIR) not in sys.path:
        sys.path.insert(0, str(DATASETS_DIR))
    return importlib.import_module(entry.module_name).Builder


def builder(dataset, data_dir=None):
    """The TFDS builder for 'name' or 'name/config', reading from `data_dir`."""
    _, config = resolve(dataset)
    kwargs = {"data_dir": data_dir}
    if config:
        kwargs["config"] = config
    return builder_class(dataset)(**kwargs)


def tfds_build_argv(dataset, data_dir=None, manual_dir=None, max_examples_per_split=None):
    """The `tfds build` command line that writes a dataset, as `make data` runs it."""
    entry, config = resolve(dataset)
    # Name the config: given a folder alone, `tfds build` writes every config.
    config = config or builder_class(dataset).DEFAULT_BUILDER_CONFIG_NAME
    argv = ["tfds", "build", str(entry.builder_dir), f"--config={config}"]
    if data_dir:
        argv.append(f"--data_dir={data_dir}")
    if manual_dir:
        argv.append(f"--manual_dir={manual_dir}")
    if max_examples_per_split is not None:
        argv.append(f"--max_examples_per_split={max_examples_per_split}")
    return argv


def build(dataset, data_dir=None, manual_dir=None, max_examples_per_split=None):
    """Runs the `tfds build` CLI on the dataset's builder folder, in this process.

    In-process rather than as a subprocess so that a `UserError` raised by a builder (a
    missing or corrupt MNIST file) reaches our CLI, which prints it as one line.

    Raises:
      UserError: the builder could not get its inputs.
      RuntimeError: `tfds build` exited non-zero for another reason.
    """
    from tensorflow_datasets.scripts.cli import main as tfds_cli

    argv = tfds_build_argv(dataset, data_dir, manual_dir, max_examples_per_split)
    saved_argv, sys.argv = sys.argv, argv
    try:
        tfds_cli.launch_cli()
    except SystemExit as exit_:  # absl's app.run always ends with sys.exit
        if exit_.code not in (None, 0):
            raise RuntimeError(f"`{' '.join(argv)}` failed with exit code {exit_.code}.")
    finally:
        sys.argv = saved_argv


def is_built(dataset, data_dir=None):
    """Whether the dataset (its default or named config, current version) is on disk."""
    return builder(dataset, data_dir).is_prepared()


def chunks(num_examples, size=GENERATION_CHUNK):
    """Yields `range`s covering 0..num_examples-1 in consecutive blocks of `size`."""
    for start in range(0, num_examples, size):
        yield range(start, min(start + size, num_examples))


def in_worker_threads(make_chunk, blocks, workers=GENERATION_WORKERS):
    """Yields `make_chunk(block)` for each block, in order, computed in worker threads.

    Simulating, rendering and PNG-encoding run in numpy and TensorFlow, which release the
    GIL, so the workers keep the cores busy while TFDS serialises in the calling thread.
    """
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending = collections.deque()
        for block in blocks:
            pending.append(pool.submit(make_chunk, block))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def encoded_examples(num_examples, generate):
    """Yields (index, sequences, k, frames) for examples 0..num_examples-1.

    `generate(block)` makes the sequences of a block of example indices (an object with
    `video`, uint8 (S, T, H, W, C)); blocks are generated and PNG-encoded in worker
    threads. `sequences` is the example's block, `k` its row there, `frames` its PNGs.
    """

    def make_chunk(block):
        sequences = generate(block)
        return block, sequences, encode_png_frames(sequences.video)

    for block, sequences, frames in in_worker_threads(make_chunk, chunks(num_examples)):
        for k, index in enumerate(block):
            yield index, sequences, k, frames[k]


def encode_png_frames(video):
    """PNG-encodes every frame of a batch of videos in one TensorFlow call.

    TFDS's Video feature would encode frame by frame (about five times slower); it also
    accepts already-encoded frames, which is what this returns.

    Args:
      video: uint8 (S, T, H, W, C).

    Returns:
      S lists of T `bytes`, each a PNG image.
    """
    num_sequences, num_frames = video.shape[:2]
    flat = _png_encoder()(video.reshape((-1,) + video.shape[2:])).numpy()
    return [list(flat[s * num_frames : (s + 1) * num_frames]) for s in range(num_sequences)]


@functools.cache
def _png_encoder():
    return tf.function(
        lambda frames: tf.map_fn(
            tf.image.encode_png, frames, fn_output_signature=tf.string, parallel_iterations=16
        ),
        reduce_retracing=True,
    )
