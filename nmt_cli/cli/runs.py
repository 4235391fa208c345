"""``nmt average`` and ``nmt info``: commands that read a run directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.cli.common import options, renamed, run
from nmt_cli.cli.config import Config
from nmt_cli.errors import UsageError

OUTPUT = "Output"

Run = Annotated[Path, typer.Argument(metavar="RUN", help="Run directory.")]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        show_default=False,
        help="Checkpoint file to write (required).",
        rich_help_panel=OUTPUT,
    ),
]
OutputOld = Annotated[Path | None, typer.Option("--out", hidden=True, help="Old name of --output.")]
Last = Annotated[
    int,
    typer.Option("--last", min=1, help="Average the last K kept checkpoints.", rich_help_panel="Checkpoints"),
]
AverageJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="JSON on stdout: one object (output, checkpoints averaged, steps, versions).",
        rich_help_panel=OUTPUT,
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Less on stderr: no summary line.", rich_help_panel=OUTPUT)
]
InfoJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="JSON on stdout: one object (config, checkpoints, validations, training log).",
        rich_help_panel=OUTPUT,
    ),
]
Csv = Annotated[
    bool,
    typer.Option(
        "--csv",
        help="CSV on stdout: one row per logged step (step, epoch, train loss, dev loss, BLEU, chrF...).",
        rich_help_panel=OUTPUT,
    ),
]

AVERAGE_EXAMPLES = """
nmt average run --last 5 -o run/averaged.pt
nmt average run -o averaged.pt --json | jq .checkpoints
nmt translate -m run/averaged.pt --beam 5 < test.en > test.hyp
"""

INFO_EXAMPLES = """
nmt info run
nmt info run --json | jq .checkpoints.best
nmt info run --csv > curve.csv
"""


def average(
    ctx: typer.Context,
    run_dir: Run,
    output: Output = None,
    output_old: OutputOld = None,
    last: Last = 3,
    json_out: AverageJson = False,
    quiet: Quiet = False,
    config: Config = None,
) -> None:
    """Average the weights of the last K checkpoints of a run into one checkpoint.

    The average of the last few checkpoints often translates better than any one of them.
    """
    given = options(ctx)

    def go() -> None:
        from nmt_cli.record import average as average_checkpoints

        renamed(given, "output_old", "output", "--out", "-o/--output")
        if given["output"] is None:
            raise UsageError("missing option -o/--output (the checkpoint file to write)")
        summary = average_checkpoints(run_dir, last, Path(str(given["output"])))
        if not quiet:
            names = ", ".join(summary["checkpoints"])
            sys.stderr.write(f"nmt: averaged {names} into {summary['output']}\n")
        if json_out:
            import json
            import platform

            import torch

            from nmt_cli import __version__

            summary["versions"] = {
                "nmt": __version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
            }
            sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")

    run(go)


def info(run_dir: Run, json_out: InfoJson = False, csv_out: Csv = False, config: Config = None) -> None:
    """Show a run on stdout: settings, checkpoints, and the training and dev curves.

    For people, a summary and a table of the validations; --json and --csv for scripts and plots.
    """

    def go() -> None:
        from nmt_cli.runinfo import show_run

        if json_out and csv_out:
            raise UsageError("give --json or --csv, not both")
        show_run(run_dir, fmt="json" if json_out else "csv" if csv_out else "table")

    run(go)
