"""The command line: `python -m tf_deepgifs <command>`.

  data   build a dataset with `tfds build` (what `make data` runs)
  train  build the dataset if it is missing, then train (what `make train` runs)
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from tf_deepgifs.errors import UserError  # noqa: E402


def _add_data_arguments(parser):
    parser.add_argument(
        "--dataset",
        default="bouncing_balls",
        help="bouncing_balls or moving_mnist, optionally /config (bouncing_balls/three_balls)",
    )
    parser.add_argument("--data-dir", help="TFDS data directory (default: TFDS's own)")
    parser.add_argument(
        "--manual-dir", help="folder with the MNIST IDX files, for moving_mnist offline"
    )


def _parser():
    parser = argparse.ArgumentParser(prog="python -m tf_deepgifs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data_parser = commands.add_parser("data", help="build a dataset with tfds build")
    _add_data_arguments(data_parser)
    data_parser.add_argument(
        "--max-examples-per-split", type=int, help="write only this many per split (a quick look)"
    )
    train_parser = commands.add_parser("train", help="build the dataset if missing, then train")
    _add_data_arguments(train_parser)
    return parser


def run_data(args):
    from tf_deepgifs import data

    data.build(args.dataset, args.data_dir, args.manual_dir, args.max_examples_per_split)


def run_train(args):
    from tf_deepgifs import data

    if not data.is_built(args.dataset, args.data_dir):
        print(f"Building {args.dataset} first (tfds build)...", flush=True)
        data.build(args.dataset, args.data_dir, args.manual_dir)
    location = data.builder(args.dataset, args.data_dir).data_dir
    print(
        f"The {args.dataset} dataset is ready in {location}. Training itself arrives with "
        "the models (issue 3); this command stops after the data for now."
    )


COMMANDS = {"data": run_data, "train": run_train}


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
