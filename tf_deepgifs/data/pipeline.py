"""A tf.data pipeline from a prepared TFDS builder to batches of examples, in stored order:
what evaluation streams through (training holds its split in memory: `arrays`)."""

import tensorflow as tf

from tf_deepgifs.data import pixels


def examples(builder, split, num_frames, batch_size, limit):
    """The first `limit` examples (0: all) of a split in stored order, batched as dicts
    of numpy arrays, for evaluation and model selection.

    "video" float32 (B, T, H, W, C) in [0, 1]; "index" int (B,); and, where the dataset
    stores them, "positions" (B, T, n, 2) (balls' centres, or digits' corners), "radius"
    (B,) (Bouncing Balls) and "labels" (B, n) (moving digits).
    """
    features = builder.info.features
    per_frame = [key for key in ("positions",) if key in features]
    per_example = [key for key in ("radius", "labels") if key in features]

    def select(example):
        kept = {"video": pixels.from_uint8(example["video"][:num_frames])}
        kept.update({key: example[key][:num_frames] for key in per_frame})
        kept.update({key: example[key] for key in per_example})
        return kept

    dataset = builder.as_dataset(split=split, shuffle_files=False)
    if limit:
        dataset = dataset.take(limit)
    dataset = dataset.map(select, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.enumerate().map(lambda i, example: {**example, "index": i})
    dataset = dataset.batch(batch_size).prefetch(2)
    return dataset.as_numpy_iterator()
