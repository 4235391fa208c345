"""``nmt demo-corpus``: write the embedded synthetic English-to-Spanish corpus."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.cli.common import options, renamed, run
from nmt_cli.cli.config import Config
from nmt_cli.errors import UsageError

Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        show_default=False,
        help="Directory for train/dev/test .en/.es files (required).",
        rich_help_panel="Output",
    ),
]
OutOld = Annotated[Path | None, typer.Argument(hidden=True, help="Old place of --out.")]
CORPUS = "Corpus"
Seed = Annotated[
    int,
    typer.Option(
        "--seed", help="Random seed of the generator (same seed, same corpus).", rich_help_panel=CORPUS
    ),
]
TrainSize = Annotated[int, typer.Option("--train-size", help="Training pairs.", rich_help_panel=CORPUS)]
DevSize = Annotated[int, typer.Option("--dev-size", help="Dev pairs.", rich_help_panel=CORPUS)]
TestSize = Annotated[int, typer.Option("--test-size", help="Test pairs.", rich_help_panel=CORPUS)]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Less on stderr: no summary line.", rich_help_panel="Output")
]

EXAMPLES = """
nmt demo-corpus -o corpus
nmt demo-corpus -o small --train-size 2000 --seed 7
"""


def demo_corpus(
    ctx: typer.Context,
    out_old: OutOld = None,
    out: Out = None,
    seed: Seed = 13,
    n_train: TrainSize = 20000,
    n_dev: DevSize = 500,
    n_test: TestSize = 500,
    quiet: Quiet = False,
    config: Config = None,
) -> None:
    """Write the embedded synthetic English-to-Spanish demo corpus (a toy grammar; seconds to learn)."""
    given = options(ctx)

    def go() -> None:
        from nmt_cli.data.demo.grammar import write_demo_corpus

        renamed(given, "out_old", "out", "a positional DIR", "-o/--out DIR")
        if given["out"] is None:
            raise UsageError("missing option -o/--out (the directory to write)")
        where = Path(str(given["out"]))
        counts = write_demo_corpus(where, seed=seed, n_train=n_train, n_dev=n_dev, n_test=n_test)
        if not quiet:
            sys.stderr.write(f"nmt: demo corpus written to {where}: {counts}\n")

    run(go)
