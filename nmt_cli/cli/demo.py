"""``nmt demo-corpus``: write the embedded synthetic English-to-Spanish corpus."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.cli.common import run

Out = Annotated[Path, typer.Argument(help="Directory for train/dev/test .en/.es files.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the generator (same seed, same corpus).")]
TrainSize = Annotated[int, typer.Option("--train-size", help="Training pairs.")]
DevSize = Annotated[int, typer.Option("--dev-size", help="Dev pairs.")]
TestSize = Annotated[int, typer.Option("--test-size", help="Test pairs.")]


def demo_corpus(
    out: Out, seed: Seed = 13, n_train: TrainSize = 20000, n_dev: DevSize = 500, n_test: TestSize = 500
) -> None:
    """Write the embedded synthetic English-to-Spanish demo corpus."""

    def go() -> None:
        from nmt_cli.data.demo.grammar import write_demo_corpus

        counts = write_demo_corpus(out, seed=seed, n_train=n_train, n_dev=n_dev, n_test=n_test)
        sys.stderr.write(f"nmt: demo corpus written to {out}: {counts}\n")

    run(go)
