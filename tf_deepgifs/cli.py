"""The command line: `python -m tf_deepgifs <command>`.

  data   build a dataset with `tfds build` (what `make data` runs)
  train  build the dataset if it is missing, then train (what `make train` runs);
         under KERAS_BACKEND=jax, the JAX trainer (Bouncing Balls, simulated in-process)
  export write a run's generator as SavedModel and ONNX, and verify them (`make export`)
  evaluate  measure a run on the test split: report and figures (`make evaluate`)
  tune   train a run's LSTM over the whole horizon in latent space, encoder and decoder
         frozen: a new run (`make tune`)
"""

import argparse
import dataclasses
import os
import sys
import typing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from tf_deepgifs.errors import UserError  # noqa: E402


def _add_data_arguments(parser, defaults):
    """--dataset, --data-dir, --manual-dir; `defaults` False leaves them to the preset."""
    default = {} if defaults else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--dataset",
        help="bouncing_balls or moving_mnist, optionally /config (bouncing_balls/three_balls)",
        **({"default": "bouncing_balls"} if defaults else default),
    )
    parser.add_argument("--data-dir", help="TFDS data directory (default: TFDS's own)", **default)
    parser.add_argument(
        "--manual-dir", help="folder with the MNIST IDX files, for moving_mnist offline", **default
    )


def _parse_field(field):
    """An argparse `type` for a config field: ints, floats, bools, tuples, None."""
    kind = field.type
    if typing.get_origin(kind) is typing.Union:  # Optional[X]
        kind = next(a for a in typing.get_args(kind) if a is not type(None))

    def parse(text):
        if text.lower() == "none" and field.default is None:
            return None
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")
            return text.lower() == "true"
        if kind is tuple:
            return tuple(int(v) for v in text.split(","))
        return kind(text)

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def _add_config_arguments(parser):
    from tf_deepgifs import config

    parser.add_argument("--preset", default=config.DEFAULT_PRESET, choices=sorted(config.PRESETS),
                        help=f"named configuration (default {config.DEFAULT_PRESET})")
    for name, (section, field) in config.fields_by_name().items():
        if name in ("dataset", "data_dir", "manual_dir"):
            continue  # added with the data arguments
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_parse_field(field),
                            default=argparse.SUPPRESS, help=f"{section} config (preset's value)")


def _parser():
    parser = argparse.ArgumentParser(prog="python -m tf_deepgifs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data_parser = commands.add_parser("data", help="build a dataset with tfds build")
    _add_data_arguments(data_parser, defaults=True)
    data_parser.add_argument(
        "--max-examples-per-split", type=int, help="write only this many per split (a quick look)"
    )
    train_parser = commands.add_parser("train", help="build the dataset if missing, then train")
    _add_data_arguments(train_parser, defaults=False)
    _add_config_arguments(train_parser)
    train_parser.add_argument(
        "--stop-after-minutes", type=float,
        help="stop with a checkpoint after this long (the same command resumes)")
    export_parser = commands.add_parser("export", help="export a run's generator (SavedModel, ONNX)")
    export_parser.add_argument("--run-dir", required=True, help="the training run to export")
    export_parser.add_argument(
        "--weights", help="a .keras or .weights.h5 file (default: model.keras, else the newest checkpoint)")
    export_parser.add_argument("--opset", type=int, help="ONNX opset (default 18)")
    _add_evaluate_parser(commands)
    _add_tune_parser(commands)
    return parser


def _add_tune_parser(commands):
    from tf_deepgifs.config import HorizonTuningConfig

    parser = commands.add_parser(
        "tune", help="train a run's LSTM over the whole horizon (a new run)")
    parser.add_argument("--from-run", required=True, help="the trained run whose networks to tune")
    parser.add_argument(
        "--weights", help="its .keras or .weights.h5 file (default: model.keras, else the newest checkpoint)")
    parser.add_argument("--run-dir", required=True, help="the new run's directory")
    for field in dataclasses.fields(HorizonTuningConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=field.type,
                            default=field.default, help=f"(default {field.default})")


def _add_evaluate_parser(commands):
    from tf_deepgifs.config import EvaluationConfig

    defaults = EvaluationConfig()
    parser = commands.add_parser("evaluate", help="measure a run on the test split")
    parser.add_argument("--run-dir", required=True, help="the training run to evaluate")
    parser.add_argument(
        "--weights", help="a .keras or .weights.h5 file (default: model.keras, else the newest checkpoint)")
    parser.add_argument("--data-dir", help="TFDS data directory (default: the run's)")
    helps = {
        "limit": "test sequences to evaluate, 0 for all",
        "samples": "stochastic rollouts per sequence for best-of-N, 0 for none",
        "sample_sequences": "sequences that get the samples (the first ones), 0 for all",
        "batch_size": "sequences per rollout call",
        "seed": "seed of the sampling noise",
        "strips": "test sequences drawn as frame strips",
        "traversal_dims": "latent dimensions in the traversal figure",
        "traversal_steps": "values per dimension in the traversal figure",
    }
    for name, text in helps.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name),
                            help=f"{text} (default {getattr(defaults, name)})")


def run_data(args):
    from tf_deepgifs.data import registry

    registry.build(args.dataset, args.data_dir, args.manual_dir, args.max_examples_per_split)


def resolve_config(args):
    """The preset with every option given on the command line applied."""
    from tf_deepgifs import config

    overrides = {name: value for name, value in vars(args).items() if name in config.fields_by_name()}
    try:
        return config.with_overrides(config.PRESETS[args.preset], overrides)
    except ValueError as error:
        raise UserError(str(error)) from None


def run_train(args):
    resolved = resolve_config(args)
    if os.environ.get("KERAS_BACKEND") == "jax":
        from tf_deepgifs.training import jax_trainer

        jax_trainer.train(resolved, args.preset, args.stop_after_minutes)
        return
    from tf_deepgifs.data import registry
    from tf_deepgifs.training import trainer

    registry.resolve(resolved.data.dataset)  # an unknown dataset fails before anything is built
    trainer.train(resolved, args.preset, args.stop_after_minutes)


def run_export(args):
    from tf_deepgifs_export import exporter

    opset = {} if args.opset is None else {"opset": args.opset}
    exporter.export_run(args.run_dir, args.weights, **opset)


def options_of(args, config_class):
    """A command's options dataclass from its arguments of the same names."""
    fields = [f.name for f in dataclasses.fields(config_class)]
    try:
        return config_class(**{name: getattr(args, name) for name in fields})
    except ValueError as error:
        raise UserError(str(error)) from None


def run_evaluate(args):
    from tf_deepgifs.evaluation import evaluate
    from tf_deepgifs.config import EvaluationConfig

    evaluate.evaluate(args.run_dir, options_of(args, EvaluationConfig), args.weights)


def run_tune(args):
    from tf_deepgifs.training import horizon_tuning
    from tf_deepgifs.config import HorizonTuningConfig

    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        raise UserError("tune runs on TensorFlow (tf.data, tf.function): unset KERAS_BACKEND.")
    options = options_of(args, HorizonTuningConfig)
    horizon_tuning.tune(args.from_run, args.run_dir, options, args.weights)


COMMANDS = {"data": run_data, "train": run_train, "export": run_export, "evaluate": run_evaluate,
            "tune": run_tune}


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
