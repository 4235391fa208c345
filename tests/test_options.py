"""Every choice-valued option refuses an unknown value while the command line is parsed.

Table-driven over the commands themselves: each option whose type is a Click Choice (a ``Literal`` in
``nmt_cli.settings``) is given a near-miss value; the run must end in a usage error (exit 2) that lists
the choices, before any library code runs. Comma-list options are checked alongside.
"""

from __future__ import annotations

import re
import typing

import pytest
import typer
from typer.testing import CliRunner

from nmt_cli import choices, settings
from nmt_cli.cli import app

runner = CliRunner()
COMMAND = typer.main.get_command(app)

# A minimal valid invocation of each command, to which one bad option is appended.
BASE = {
    "prepare": ["--out", "x", "--train", "a", "b"],
    "train": ["data", "--out", "run"],
    "translate": ["-m", "run"],
    "evaluate": ["-r", "ref", "hyp"],
    "score": ["-m", "run", "src", "tgt"],
    "export": ["run", "-o", "m.pyz"],
}


def literal_choices(param: object) -> tuple[str, ...] | None:
    """The choices of an option declared with a Literal (or an optional Literal) type, else None."""
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(getattr(param, "type", None), "choices", None)  # older Typer: a Click Choice
    if descriptor is not None:
        hint = descriptor.annotation
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) is not typing.Literal and len(args) == 1:
            hint = args[0]
        choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None
    return tuple(str(c) for c in choices) if choices else None


def choice_options() -> list[tuple[str, str, tuple[str, ...]]]:
    """(command, option flag, choices) for every choice-valued option of every command."""
    rows = []
    for name, command in COMMAND.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            choices = literal_choices(param)
            if choices and param.opts[0].startswith("--"):
                rows.append((name, param.opts[0], choices))
    return rows


CHOICES = choice_options()


def test_the_table_covers_every_choice_option() -> None:
    flags = {(command, flag) for command, flag, _ in CHOICES}
    expected = {
        ("prepare", "--model-type"),
        ("train", "--cell"),
        ("train", "--attention"),
        ("train", "--output-vocab"),
        ("train", "--optimizer"),
        ("train", "--schedule"),
        ("train", "--valid-metric"),
        ("train", "--device"),
        ("translate", "--long-input"),
        ("translate", "--align-level"),
        ("translate", "--quantize"),
        ("translate", "--checkpoint"),
        ("evaluate", "--tokenize"),
    }
    assert expected <= flags


@pytest.mark.parametrize(("command", "flag", "choices"), CHOICES, ids=[f"{c}{f}" for c, f, _ in CHOICES])
def test_unknown_choice_is_a_usage_error_listing_the_choices(
    command: str, flag: str, choices: tuple[str, ...]
) -> None:
    near_miss = next(c[:-1] + x for c in choices for x in "ex" if c[:-1] + x not in choices)  # 'sene'

    result = runner.invoke(app, [command, *BASE[command], flag, near_miss])
    assert result.exit_code == 2, result.output
    for choice in choices:
        assert repr(choice) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("command", "flag", "choices"), CHOICES, ids=[f"{c}{f}" for c, f, _ in CHOICES])
def test_help_shows_the_choices(command: str, flag: str, choices: tuple[str, ...]) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    text = re.sub(r"[│\s]+", " ", result.stdout)  # the help as one line, panel borders dropped
    assert f"Choices: {', '.join(choices)}." in text


@pytest.mark.parametrize("value", ["bleu,sene", "", "bleu;chrf"])
def test_unknown_metric_is_a_usage_error(value: str) -> None:
    result = runner.invoke(app, ["evaluate", "-r", "ref", "hyp", "--metrics", value])
    assert result.exit_code == 2
    assert "chrf++" in result.stderr


def test_tokenize_choices_are_sacrebleus() -> None:
    from sacrebleu.metrics import BLEU

    assert set(typing.get_args(choices.Tokenize)) == set(BLEU.TOKENIZERS)


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (settings.ModelSettings, "cell", "rnn"),
        (settings.TrainSettings, "schedule", "cosine"),
        (settings.DecodeSettings, "quantize", "int4"),
        (settings.PrepareSettings, "model_type", "word"),
        (settings.ScoreSettings, "tokenize", "moses"),
    ],
)
def test_settings_built_elsewhere_check_their_choices_too(cls: type, field: str, value: str) -> None:
    with pytest.raises(settings.UsageError, match=field.replace("_", "-")):
        settings.build(cls, {field: value})


def test_build_ignores_keys_it_does_not_know() -> None:
    built = settings.build(settings.ModelSettings, {"cell": "lstm", "written_by_a_newer_version": 1})
    assert built.cell == "lstm"


@pytest.mark.parametrize(
    "args",
    [["train", "data", "--out", "run", "--bogus"], ["translate"], ["evaluate", "-r"], ["nope"]],
)
def test_parse_errors_are_one_line_with_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("nmt: error: ") and result.stderr.count("\n") == 1
    assert "--help" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["train", "data", "--out", "run", "--log-every", "0"],
        ["train", "data", "--out", "run", "--threads", "-1"],
        ["train", "data", "--out", "run", "--keep-last", "0"],
        ["train", "data", "--out", "run", "--lr", "0"],
        ["train", "data", "--out", "run", "--lr", "nan"],
        ["train", "data", "--out", "run", "--max-steps", "-5"],
        ["translate", "-m", "run", "--threads", "-1"],
        ["translate", "-m", "run", "--max-len-ratio", "nan"],
        ["prepare", "--out", "x", "--train", "a", "b", "--vocab-size", "0"],
        ["prepare", "--out", "x", "--train", "a", "b", "--character-coverage", "0"],
        ["prepare", "--out", "x", "--train", "a", "b", "--max-ratio", "0.5"],
    ],
    ids=lambda args: " ".join(args[-2:]),
)
def test_out_of_range_numbers_are_one_line_usage_errors(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("nmt: error: --") and result.stderr.count("\n") == 1
    assert args[-2] in result.stderr
