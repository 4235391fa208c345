"""``nmt score``: options -> pairs and decode settings -> ``forced.score_stream``."""

from __future__ import annotations

from typing import Annotated

import typer

from nmt_cli.cli.common import exit_now, options, run
from nmt_cli.cli.config import Config
from nmt_cli.cli.translate import SPEED, DeviceOpt, MaxSrcLen, Output, Quant, Strict, Threads, Which
from nmt_cli.errors import UsageError

IO, NBEST, FORMAT = "Input and output", "Rescoring an n-best list", "Output formats"

Inputs = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[SRC TGT | TSV | -]",
        help="Two line-aligned files, or one TSV of source TAB target (default: stdin).",
        show_default=False,
    ),
]
Models = Annotated[
    list[str],
    typer.Option(
        "--model",
        "-m",
        metavar="RUN|FILE",
        help="Run directory or checkpoint file; repeat to score with an ensemble.",
        rich_help_panel=IO,
    ),
]
Nbest = Annotated[
    str | None,
    typer.Option(
        "--nbest-list",
        metavar="FILE|-",
        help="Score a Moses n-best list (translate --nbest: id ||| hyp ||| score) against the one "
        "SRC argument; each line comes back with its score replaced by this model's.",
        rich_help_panel=NBEST,
    ),
]
Rerank = Annotated[
    bool,
    typer.Option(
        "--rerank",
        help="With --nbest-list: write only the best-scoring hypothesis of each source line.",
        rich_help_panel=NBEST,
    ),
]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size", help="Sentences per batch (pairs scored at once; 0 = 64).", rich_help_panel=SPEED
    ),
]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="JSON on stdout: JSON Lines, id (0-based), src, tgt, score (total), normalised "
        "(per piece), pieces.",
        rich_help_panel=FORMAT,
    ),
]

EXAMPLES = """
nmt score -m run test.es test.en > test.scores
paste test.es test.en | nmt score -m run --json
nmt translate -m run --beam 8 --nbest 8 test.es > nbest.txt
nmt score -m other --nbest-list nbest.txt --rerank test.es > reranked.hyp
"""


def score(
    ctx: typer.Context,
    model: Models,
    inputs: Inputs = None,
    output: Output = "-",
    nbest_file: Nbest = None,
    rerank: Rerank = False,
    json_out: Json = False,
    batch_size: BatchSize = 0,
    max_src_len: MaxSrcLen = 250,
    strict_utf8: Strict = False,
    threads: Threads = 0,
    quantize: Quant = "none",
    device: DeviceOpt = "auto",
    checkpoint: Which = "best",
    config: Config = None,
) -> None:
    """Print the model's log-probability of each target given its source (forced decoding): one
    line out per line in, for filtering, quality estimation and n-best reranking."""
    given = options(ctx)

    def go() -> None:
        from nmt_cli.forced import open_pairs, score_stream
        from nmt_cli.settings import DecodeSettings, build

        paths = list(given["inputs"] or [])
        if nbest_file is not None and len(paths) != 1:
            raise UsageError("--nbest-list FILE needs exactly one SRC argument: the source it translates")
        if nbest_file is None and len(paths) > 2:
            raise UsageError("give SRC TGT, one TSV file, or nothing (a TSV on stdin)")
        if rerank and nbest_file is None:
            raise UsageError("--rerank needs --nbest-list FILE")
        if rerank and json_out:
            raise UsageError("--rerank writes plain text: leave out --json")
        opts = build(DecodeSettings, {k: v for k, v in given.items() if k != "inputs"})
        score_stream(list(model), open_pairs(paths, nbest_file, opts), output, opts, rerank)

    run(go)
    exit_now()
