"""Sequences per second the training input pipeline delivers from a built dataset.

    python benchmarks/pipeline.py [--dataset bouncing_balls] [--data-dir DIR]
        [--batch-size 32] [--batches 100]

Compare with what a train step consumes: batch_size / step time.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tf_deepgifs.data import pipeline, registry  # noqa: E402
from tf_deepgifs.config import DataConfig  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="bouncing_balls")
    parser.add_argument("--data-dir")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    builder = registry.builder(args.dataset, args.data_dir)
    batches = pipeline.videos(
        builder, "train", args.batch_size, DataConfig().num_frames, seed=0,
        shuffle_buffer=DataConfig().shuffle_buffer, repeat=True)
    iterator = iter(batches)
    next(iterator)  # warm-up: opens files, fills the shuffle buffer
    started = time.perf_counter()
    for _ in range(args.batches):
        next(iterator)
    seconds = time.perf_counter() - started
    rate = args.batches * args.batch_size / seconds
    print(f"{rate:.0f} sequences/s ({args.batches} batches of {args.batch_size} in {seconds:.1f} s)")
    print(json.dumps({"benchmark": "input_pipeline", "dataset": args.dataset, "batch": args.batch_size,
                      "batches": args.batches, "sequences_per_second": rate}))


if __name__ == "__main__":
    main()
