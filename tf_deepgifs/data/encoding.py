"""Writing a builder's examples fast: sequences made and PNG-encoded in worker threads.

The builders under `datasets/` use these to turn simulated sequences into TFDS examples.
"""

import collections
import concurrent.futures
import functools
import os

import tensorflow as tf

# Sequences simulated and PNG-encoded together when a builder writes examples: at most
# GENERATION_CHUNK, and FIRST_CHUNK at first, doubling, so that a build capped at a few
# examples per split (--max-examples-per-split: TFDS stops reading there) makes little
# more than those.
GENERATION_CHUNK = 256
FIRST_CHUNK = 16
# Chunks made at once, in threads; more than the cores only adds memory.
GENERATION_WORKERS = max(1, min(4, os.cpu_count() or 1))


def chunks(num_examples, first=FIRST_CHUNK, largest=GENERATION_CHUNK):
    """Yields `range`s covering 0..num_examples-1 in consecutive blocks, the first of
    `first` examples, each next one twice the last, up to `largest`."""
    start, size = 0, first
    while start < num_examples:
        yield range(start, min(start + size, num_examples))
        start, size = start + size, min(2 * size, largest)


def in_worker_threads(make_chunk, blocks, workers=GENERATION_WORKERS):
    """Yields `make_chunk(block)` for each block, in order, computed in worker threads.

    Simulating, rendering and PNG-encoding run in numpy and TensorFlow, which release the
    GIL, so the workers keep the cores busy while TFDS serialises in the calling thread.
    A reader that stops early (closes this generator) cancels the blocks not yet started.
    """
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending = collections.deque()
        try:
            for block in blocks:
                pending.append(pool.submit(make_chunk, block))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


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
