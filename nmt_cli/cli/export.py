"""``nmt export``: options -> ``export.artifact.export_run``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nmt_cli.cli.common import options, run
from nmt_cli.cli.config import Config
from nmt_cli.cli.runs import Quiet
from nmt_cli.cli.translate import Which
from nmt_cli.errors import UsageError

OUTPUT = "Output"

Model = Annotated[str, typer.Argument(metavar="RUN|FILE", help="Run directory or checkpoint file.")]
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE.pyz",
        show_default=False,
        help="Artifact to write (required): a Python zip application, run as python FILE.pyz.",
        rich_help_panel=OUTPUT,
    ),
]
Json = Annotated[
    bool,
    typer.Option(
        "--json", help="JSON on stdout: one object (output, bytes, from, checkpoint).", rich_help_panel=OUTPUT
    ),
]

EXAMPLES = """
nmt export run -o model.pyz
nmt export run --checkpoint last -o model-last.pyz --json
python model.pyz < test.es > test.hyp          # needs torch and sentencepiece, not nmt
python model.pyz --info | jq .model
"""


def export(
    ctx: typer.Context,
    model: Model,
    output: Output = None,
    checkpoint: Which = "best",
    json_out: Json = False,
    quiet: Quiet = False,
    config: Config = None,
) -> None:
    """Write a trained model and its tokenizers as one file that translates without nmt.

    The file holds the encoder and one decoder step as torch.export programs, the SentencePiece
    models and a small runner: python FILE.pyz reads lines on stdin (or a file) and writes
    translations on stdout, one per line, as nmt translate --beam 1 does. It needs Python, torch and
    sentencepiece.
    """
    given = options(ctx)

    def go() -> None:
        from nmt_cli.export.artifact import export_run

        if given["output"] is None:
            raise UsageError("missing option -o/--output (the .pyz file to write)")
        summary = export_run(str(given["model"]), str(given["output"]), str(given["checkpoint"]))
        if not quiet:
            sys.stderr.write(
                f"nmt: wrote {summary['output']} ({summary['bytes'] / 1e6:.1f} MB) from {summary['from']}; "
                f"translate with: python {summary['output']} < input > output\n"
            )
        if json_out:
            import json

            sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")

    run(go)
