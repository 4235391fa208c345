"""The ``nmt`` command line: one module per command, each parsing its options, building its settings
(``nmt_cli.settings``) and calling one library function.

Nothing heavy is imported here or in the command modules at import time: ``nmt --help`` must not pay
for torch. Add a command by writing ``cli/NAME.py`` with a function and an ``EXAMPLES`` string and
registering it below. Option names follow one vocabulary (docs/cli.md; tests/test_options.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from nmt_cli.cli import demo as demo_corpus
from nmt_cli.cli import doctor, evaluate, export, helptext, prepare, runs, score, train, translate
from nmt_cli.cli.common import as_program, version_line

app = typer.Typer(
    name="nmt",
    cls=helptext.Nmt,
    help="Train, run and inspect attention RNN translators.",
    epilog="""
nmt demo-corpus -o corpus
nmt prepare --train corpus/train.en corpus/train.es --dev-size 500 -o data
nmt train data --out run --max-time 30m
echo "the cat sleeps" | nmt translate -m run --beam 5
nmt --install-completion    # then open a new shell: Tab completes
""",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(0)


@app.callback()
def nmt(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the versions and exit."),
    ] = None,
) -> None:
    """Train, run and inspect attention RNN translators.

    Data go to stdout, everything else (progress, tables, heatmaps, warnings) to stderr. Exit codes:
    0 ok, 1 bad data or a damaged run, 2 usage error, 3 quality gate missed (evaluate --fail-under),
    130 interrupted.
    """


def _command(fn: Callable[..., None], examples: str, name: str | None = None) -> None:
    app.command(name, cls=helptext.Command, epilog=examples)(fn)


_command(prepare.prepare, prepare.EXAMPLES)
_command(train.train, train.EXAMPLES)
_command(translate.translate, translate.EXAMPLES)
_command(evaluate.evaluate, evaluate.EXAMPLES)
_command(score.score, score.EXAMPLES)
_command(export.export, export.EXAMPLES)
_command(runs.average, runs.AVERAGE_EXAMPLES)
_command(runs.info, runs.INFO_EXAMPLES)
_command(doctor.doctor, doctor.EXAMPLES)
_command(demo_corpus.demo_corpus, demo_corpus.EXAMPLES, "demo-corpus")


def main() -> None:
    """The console script: run as a program (fast exit after a finished command)."""
    as_program()
    app()


if __name__ == "__main__":
    main()
