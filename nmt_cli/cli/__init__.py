"""The ``nmt`` command line: one module per command, each parsing its options, building its settings
(``nmt_cli.settings``) and calling one library function.

Nothing heavy is imported here or in the command modules at import time: ``nmt --help`` must not pay
for torch. Add a command by writing ``cli/NAME.py`` with a function and registering it below.
"""

from __future__ import annotations

import typer

from nmt_cli.cli import common, evaluate, prepare, runs, train, translate
from nmt_cli.cli import demo as demo_corpus

app = typer.Typer(
    name="nmt",
    cls=common.OneLineErrors,
    help="Train, run and inspect attention RNN translators.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(prepare.prepare)
app.command()(train.train)
app.command()(translate.translate)
app.command()(evaluate.evaluate)
app.command()(runs.average)
app.command()(runs.info)
app.command("demo-corpus")(demo_corpus.demo_corpus)


def main() -> None:
    """The console script: run as a program (fast exit after a finished command)."""
    common.as_program()
    app()


if __name__ == "__main__":
    main()
