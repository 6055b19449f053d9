"""A dataset split as NumPy arrays in memory: what training draws its batches from.

Two sources give the same sequences. Wherever TensorFlow Datasets is installed, the
prepared TFDS builder (built first if it is missing). Without it (a GPU machine with JAX
alone), Bouncing Balls is simulated here from the same (seed, split, index) generators
the builder uses; the other datasets need TFDS.

Held in memory as uint8: the paper's 80,000 training sequences of 20 x 64 x 64 take
6.6 GB. Batches are then drawn by index, so the data order is a function of (seed, step)
on every backend and a resumed run sees what an uninterrupted one would.
"""

import concurrent.futures
import multiprocessing
import os

import numpy as np

from tf_deepgifs.data import bouncing_balls
from tf_deepgifs.data.splits import example_rng
from tf_deepgifs.errors import UserError

SIMULATION_CHUNK = 1_000  # sequences per simulation task
READ_BATCH = 256  # sequences decoded from TFDS at a time


def load(data_config, split, limit=0, log=print):
    """The first `limit` examples of a split (0: all), as arrays.

    Returns {"video": uint8 (N, T, H, W, C)} with T = `data_config.num_frames`, plus, where
    the dataset stores them, "positions" float32 (N, T, n, 2) (Bouncing Balls: the balls'
    centres in pixels, with "radius" float32 (N,); moving digits: the digits' corners, with
    "labels" (N, n)).
    """
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        return _simulated(data_config, split, limit, log)
    return _from_tfds(data_config, split, limit, log)


def _from_tfds(data_config, split, limit, log):
    import tensorflow_datasets as tfds

    from tf_deepgifs.data import registry

    builder = registry.prepare(data_config, log)
    count = builder.info.splits[split].num_examples
    count = min(count, limit) if limit else count
    frames = data_config.num_frames
    features = builder.info.features
    # The balls' centres and radius (Bouncing Balls), or the digits' corners and labels.
    keys = ["video"] + [key for key in ("positions", "radius", "labels") if key in features]

    def select(example):
        kept = {key: example[key] for key in keys}
        kept["video"] = kept["video"][:frames]
        if "positions" in kept:
            kept["positions"] = kept["positions"][:frames]
        return kept

    dataset = builder.as_dataset(split=split, shuffle_files=False,
                                 read_config=tfds.ReadConfig(try_autocache=False))
    dataset = dataset.take(count).map(select).batch(READ_BATCH).prefetch(2)
    arrays, start = {}, 0
    for batch in tfds.as_numpy(dataset):
        if not arrays:  # allocated once: concatenating would hold the split twice
            arrays = {key: np.empty((count,) + value.shape[1:], value.dtype)
                      for key, value in batch.items()}
        for key, value in batch.items():
            arrays[key][start : start + len(value)] = value
        start += len(batch["video"])
    if not start:
        raise UserError(f"The {split} split of {data_config.dataset} is empty.")
    return arrays


def simulation_config(dataset):
    """The `bouncing_balls.DatasetConfig` of "bouncing_balls" or "bouncing_balls/<config>"."""
    name, _, config_name = dataset.partition("/")
    if name != "bouncing_balls":
        raise UserError(
            f"Without TensorFlow Datasets only Bouncing Balls can be made here (simulated); "
            f"'{dataset}' needs tensorflow-datasets installed."
        )
    config_name = config_name or "paper"
    if config_name not in bouncing_balls.DATASET_CONFIGS:
        raise UserError(f"bouncing_balls has no config '{config_name}'; choose one of "
                        f"{', '.join(bouncing_balls.DATASET_CONFIGS)}.")
    return bouncing_balls.DATASET_CONFIGS[config_name]


def _simulated(data_config, split, limit, log):
    config = simulation_config(data_config.dataset)
    if data_config.num_frames > config.num_frames:
        raise UserError(f"{data_config.dataset} has {config.num_frames} frames per sequence; "
                        f"the configuration asks for {data_config.num_frames}.")
    count = dict(config.split_sizes)[split]
    count = min(count, limit) if limit else count
    if data_config.max_examples_per_split:
        count = min(count, data_config.max_examples_per_split)
    sequences = simulate(config, split, count)
    log(f"Simulated {count} {split} sequences of {data_config.dataset}.")
    frames = data_config.num_frames
    return {"video": sequences.video[:, :frames],
            "positions": sequences.positions[:, :frames],
            "radius": np.full(count, sequences.radius, np.float32)}


def _simulate_chunk(config, split, indices):
    rngs = [example_rng(config.seed, split, i) for i in indices]
    return bouncing_balls.generate(rngs, config.num_frames, config.num_balls, config.image_size)


def simulate(config, split, count, workers=None):
    """Examples 0..count-1 of a split as `bouncing_balls.BallSequences`, simulated on
    `workers` processes (default: every CPU). Processes are spawned, not forked: JAX's
    threads do not survive a fork."""
    chunks = [range(start, min(start + SIMULATION_CHUNK, count))
              for start in range(0, count, SIMULATION_CHUNK)]
    workers = min(len(chunks), workers or os.cpu_count() or 1)
    if workers <= 1:
        parts = [_simulate_chunk(config, split, chunk) for chunk in chunks]
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(_simulate_chunk, [config] * len(chunks),
                                  [split] * len(chunks), chunks))
    return bouncing_balls.BallSequences(
        video=np.concatenate([p.video for p in parts]),
        positions=np.concatenate([p.positions for p in parts]),
        velocities=np.concatenate([p.velocities for p in parts]),
        radius=parts[0].radius)


def batch_indices(seed, step, count, batch_size, steps_per_epoch):
    """The examples of training step `step` (0-based): int (batch_size,).

    Each epoch of `steps_per_epoch` steps visits the split in a permutation drawn from
    (seed, epoch), wrapping around if an epoch asks for more than the split holds.
    """
    epoch, index = divmod(step, steps_per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(count)
    return order[np.arange(index * batch_size, (index + 1) * batch_size) % count]
