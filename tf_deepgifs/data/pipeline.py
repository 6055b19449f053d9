"""tf.data pipelines from the TFDS datasets to batches of videos the model trains on.

Each epoch's order is a function of (seed, epoch) alone, so a run resumed at any step
sees the same batches an uninterrupted run would.
"""

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_deepgifs.data import pixels


def videos(builder, split, batch_size, num_frames, seed, epoch=0, shuffle_buffer=0,
           repeat=False):
    """Batches of videos from a prepared TFDS builder.

    Args:
      builder: a prepared `tfds.core.DatasetBuilder`.
      split: "train", "validation" or "test".
      batch_size: the global batch size; the last partial batch is dropped.
      num_frames: frames kept from the start of each video.
      seed, epoch: the shuffling order is derived from both.
      shuffle_buffer: sequences in the shuffle buffer; 0 keeps the stored order.
      repeat: cycle over the split without end (for training epochs of fixed length).

    Returns:
      `tf.data.Dataset` of float32 (batch_size, num_frames, H, W, C) in [0, 1].
    """
    order_seed = seed * 1_000_003 + epoch
    shuffle = shuffle_buffer > 0
    dataset = builder.as_dataset(
        split=split,
        shuffle_files=shuffle,
        read_config=tfds.ReadConfig(shuffle_seed=order_seed, try_autocache=False),
    )
    dataset = dataset.map(lambda example: example["video"][:num_frames],
                          num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=order_seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(pixels.from_uint8, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    # Few TFDS shards: shard by element, not by file, over several workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def examples(builder, split, num_frames, batch_size, limit):
    """The first `limit` examples (0: all) of a split in stored order, batched as dicts
    of numpy arrays, for evaluation and model selection.

    "video" float32 (B, T, H, W, C) in [0, 1]; "index" int (B,); and, where the dataset
    stores them (Bouncing Balls), "positions" (B, T, n, 2) and "radius" (B,).
    """
    has_balls = "positions" in builder.info.features

    def select(example):
        kept = {"video": pixels.from_uint8(example["video"][:num_frames])}
        if has_balls:
            kept["positions"] = example["positions"][:num_frames]
            kept["radius"] = example["radius"]
        return kept

    dataset = builder.as_dataset(split=split, shuffle_files=False)
    if limit:
        dataset = dataset.take(limit)
    dataset = dataset.map(select, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.enumerate().map(lambda i, example: {**example, "index": i})
    dataset = dataset.batch(batch_size).prefetch(2)
    return dataset.as_numpy_iterator()
