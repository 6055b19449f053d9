"""A tf.data pipeline from a prepared TFDS builder to batches of examples, in stored order:
what evaluation streams through (training holds its split in memory: `arrays`)."""

import tensorflow as tf

from tf_deepgifs.data import pixels


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
