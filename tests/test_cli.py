"""The command line's options: made from the configuration dataclasses, one way."""

import argparse

import pytest

from tf_deepgifs import cli, config


def _subcommands():
    parser = cli._parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_option_of_every_command_says_what_it_is(command):
    for action in _subcommands()[command]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and not action.help.startswith(f"{action.dest} ("), (command, action.dest)
        assert len(action.help.split()) >= 3, (command, action.dest, action.help)


def test_an_options_help_is_the_comment_beside_its_field():
    comments = cli.field_comments(config.TrainConfig)
    assert comments["keep_checkpoints"] == "the newest checkpoints kept; older ones are deleted"
    assert comments["mode"].startswith("teacher_forced: the paper;")  # lines above the field
    help_of = {a.dest: a.help for a in _subcommands()["tune"]._actions}
    assert help_of["validate_every"] == "steps between validations (and checkpoints) (default 500)"


@pytest.mark.parametrize("text, value", [("false", False), ("True", True)])
def test_booleans_read_true_and_false_as_said(text, value):
    args = cli._parser().parse_args(["train", "--jit-compile", text])
    assert cli.resolve_config(args).train.jit_compile is value


def test_a_bool_option_refuses_anything_else(capsys):
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["train", "--jit-compile", "no"])
    assert "expected true or false, got 'no'" in capsys.readouterr().err


def test_optional_fields_read_none_and_tuples_read_commas():
    args = cli._parser().parse_args(["train", "--steps-per-epoch", "none", "--encoder-filters",
                                     "4,8,8,8", "--validation-steps", "7"])
    resolved = cli.resolve_config(args)
    assert resolved.train.steps_per_epoch is None and resolved.train.validation_steps == 7
    assert resolved.model.encoder_filters == (4, 8, 8, 8)
    evaluated = cli._parser().parse_args(["evaluate", "--run-dir", "r", "--limit", "3"])
    assert cli.options_of(evaluated, config.EvaluationConfig).limit == 3
