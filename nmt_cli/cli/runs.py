"""``nmt average`` and ``nmt info``: commands that read a run directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.cli.common import run

Run = Annotated[Path, typer.Argument(metavar="RUN", help="Run directory.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Checkpoint file to write.")]
Last = Annotated[int, typer.Option("--last", min=1, help="Average the last K kept checkpoints (K >= 1).")]
Json = Annotated[bool, typer.Option("--json", help="Print the run record as JSON on stdout.")]


def average(run_dir: Run, out: Out, last: Last = 3) -> None:
    """Average the weights of the last K checkpoints of a run into one checkpoint."""

    def go() -> None:
        from nmt_cli.record import average as average_checkpoints

        names = average_checkpoints(run_dir, last, out)
        sys.stderr.write(f"nmt: averaged {', '.join(names)} into {out}\n")

    run(go)


def info(run_dir: Run, json_out: Json = False) -> None:
    """Show a run: settings, checkpoints, and dev BLEU / loss over time."""

    def go() -> None:
        from nmt_cli.runinfo import show_run

        show_run(run_dir, json_out=json_out)

    run(go)
