"""The command line: `python -m tf_deepgifs <command>`, the top of the package.

  data      build a dataset with TFDS's download_and_prepare (what `make data` runs)
  train     build the dataset if it is missing, then train, on TensorFlow or, with
            KERAS_BACKEND=jax, on JAX (what `make train` runs)
  tune      train a run's LSTM over the whole horizon in latent space, encoder and decoder
            frozen: a new run (`make tune`), on either backend
  evaluate  measure a run on the test split: report and figures (`make evaluate`)
  export    write a run's generator as SavedModel and ONNX, and verify them (`make export`)

Every option of a command comes from a field of its configuration dataclass
(`tf_deepgifs/config.py`), its help from the comment beside the field: one place says
what an option is and what it defaults to. This module may import every layer and the
export package.
"""

import argparse
import ast
import dataclasses
import functools
import inspect
import sys
import typing

from tf_deepgifs import config
from tf_deepgifs.errors import UserError

WEIGHTS_HELP = ("a .keras or .weights.h5 file of the run (default: model.keras, else the "
                "newest checkpoint)")
DATA_FIELDS = ("dataset", "data_dir", "manual_dir", "max_examples_per_split")


@functools.cache
def field_comments(config_class):
    """{field name: the comment on its line and the comment lines just above it}."""
    lines = inspect.getsource(config_class).splitlines()
    comments = {}
    for node in ast.parse("\n".join(lines)).body[0].body:
        if not isinstance(node, ast.AnnAssign):
            continue
        above, row = [], node.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#"):
            above.insert(0, lines[row].strip().lstrip("#").strip())
            row -= 1
        inline = lines[node.end_lineno - 1].partition("  #")[2].strip()
        comments[node.target.id] = " ".join(above + ([inline] if inline else []))
    return comments


def parse_value(field):
    """An argparse `type` for a dataclass field: int, float, str, bool, tuple of ints, or
    any of them Optional ("none")."""
    kind = field.type
    optional = typing.get_origin(kind) is typing.Union
    if optional:
        kind = next(a for a in typing.get_args(kind) if a is not type(None))

    def parse(text):
        if optional and text.lower() == "none":
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


def add_options(parser, config_class, only=None, defaults=None, default_note=None, prefix=""):
    """One `--field-name` option per field of `config_class` (or of `only`), typed by the
    field, helped by its comment. defaults: the dataclass whose values are the defaults
    (None: the options are left out of the namespace unless given, for a preset to fill);
    default_note: what the help says the default is instead of a value; prefix: put before
    each option's name (`config.SECTIONS`)."""
    comments = field_comments(config_class)
    for field in dataclasses.fields(config_class):
        if only is not None and field.name not in only:
            continue
        value = getattr(defaults, field.name) if defaults is not None else argparse.SUPPRESS
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        note = default_note or f"default {shown}"
        name = prefix + field.name
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name,
                            type=parse_value(field), default=value,
                            help=f"{comments.get(field.name) or field.name} ({note})".replace("%", "%%"))


def _parser():
    parser = argparse.ArgumentParser(prog="python -m tf_deepgifs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="build a dataset")
    add_options(data, config.DataConfig, DATA_FIELDS, config.DataConfig())

    train = commands.add_parser("train", help="build the dataset if missing, then train")
    train.add_argument("--preset", default=config.DEFAULT_PRESET, choices=sorted(config.PRESETS),
                       help=f"the named configuration the other options change (default "
                            f"{config.DEFAULT_PRESET}; tf_deepgifs/config.py)")
    for section, prefix in config.SECTIONS.items():
        add_options(train, config.Config.__dataclass_fields__[section].type,
                    default_note="default: the preset's", prefix=prefix)
    train.add_argument("--stop-after-minutes", type=float,
                       help="stop with a checkpoint after this long (the same command resumes)")

    tune = commands.add_parser("tune", help="train a run's LSTM over the whole horizon (a new run)")
    tune.add_argument("--from-run", required=True, help="the trained run whose networks to tune")
    tune.add_argument("--weights", help=WEIGHTS_HELP)
    tune.add_argument("--run-dir", required=True, help="the new run's directory")
    add_options(tune, config.HorizonTuningConfig, defaults=config.HorizonTuningConfig())

    evaluate = commands.add_parser("evaluate", help="measure a run on the test split")
    evaluate.add_argument("--run-dir", required=True, help="the run to evaluate")
    evaluate.add_argument("--weights", help=WEIGHTS_HELP)
    add_options(evaluate, config.EvaluationConfig, defaults=config.EvaluationConfig())

    export = commands.add_parser("export", help="export a run's generator (SavedModel, ONNX)")
    export.add_argument("--run-dir", required=True, help="the run to export")
    export.add_argument("--weights", help=WEIGHTS_HELP)
    export.add_argument("--opset", type=int, help="ONNX opset (default 18)")
    return parser


def options_of(args, config_class):
    """A command's options dataclass from its arguments of the same names."""
    fields = [f.name for f in dataclasses.fields(config_class)]
    try:
        return config_class(**{name: getattr(args, name) for name in fields})
    except ValueError as error:
        raise UserError(str(error)) from None


def resolve_config(args):
    """The preset with every option given on the command line applied."""
    overrides = {name: value for name, value in vars(args).items()
                 if name in config.fields_by_name()}
    try:
        return config.with_overrides(config.PRESETS[args.preset], overrides)
    except ValueError as error:
        raise UserError(str(error)) from None


def run_data(args):
    from tf_deepgifs.data import registry

    registry.build(args.dataset, args.data_dir, args.manual_dir, args.max_examples_per_split)


def run_train(args):
    from tf_deepgifs.data import registry
    from tf_deepgifs.training import joint_training, staged_training

    resolved = resolve_config(args)
    registry.resolve(resolved.data.dataset)  # an unknown dataset fails before anything is built
    method = staged_training if resolved.train.method == "staged" else joint_training
    method.train(resolved, args.preset, args.stop_after_minutes)


def run_tune(args):
    from tf_deepgifs.training import horizon_tuning

    options = options_of(args, config.HorizonTuningConfig)
    horizon_tuning.tune(args.from_run, args.run_dir, options, args.weights)


def run_evaluate(args):
    from tf_deepgifs.evaluation import evaluate

    evaluate.evaluate(args.run_dir, options_of(args, config.EvaluationConfig), args.weights)


def run_export(args):
    from tf_deepgifs_export import exporter

    opset = {} if args.opset is None else {"opset": args.opset}
    exporter.export_run(args.run_dir, args.weights, **opset)


COMMANDS = {"data": run_data, "train": run_train, "tune": run_tune, "evaluate": run_evaluate,
            "export": run_export}


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
