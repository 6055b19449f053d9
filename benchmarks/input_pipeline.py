"""Sequences per second the training input delivers from a built dataset.

    python benchmarks/input_pipeline.py [--dataset bouncing_balls] [--data-dir DIR]
        [--sequences 2000] [--batch-size 32] [--batches 100]

Training reads the split into memory once (`tf_deepgifs.data.arrays.load`), then draws
each batch by index (`arrays.batch_indices`): both are timed. Compare the second with
what a train step consumes: batch_size / step time.
"""

import argparse
import json
import time

from tf_deepgifs.config import DataConfig
from tf_deepgifs.data import arrays


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="bouncing_balls")
    parser.add_argument("--data-dir")
    parser.add_argument("--sequences", type=int, default=2_000, help="read into memory")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    data = DataConfig(dataset=args.dataset, data_dir=args.data_dir)
    started = time.perf_counter()
    videos = arrays.load(data, "train", args.sequences, log=lambda line: None)["video"]
    loading = time.perf_counter() - started
    started = time.perf_counter()
    for step in range(args.batches):
        videos[arrays.batch_indices(0, step, len(videos), args.batch_size, len(videos) // args.batch_size)]
    drawing = time.perf_counter() - started
    load_rate = len(videos) / loading
    rate = args.batches * args.batch_size / drawing
    print(f"read into memory: {load_rate:.0f} sequences/s ({len(videos)} in {loading:.1f} s); "
          f"batches drawn: {rate:.0f} sequences/s ({args.batches} batches of {args.batch_size})")
    print(json.dumps({"benchmark": "input_pipeline", "dataset": args.dataset, "batch": args.batch_size,
                      "batches": args.batches, "sequences_per_second": rate,
                      "loaded": len(videos), "loaded_per_second": load_rate}))


if __name__ == "__main__":
    main()
