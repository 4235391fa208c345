"""``nmt translate``: options -> decode settings -> ``translate.translate_stream``."""

from __future__ import annotations

from typing import Annotated

import typer

from nmt_cli.choices import AlignLevel, LongInput, Quantize, WhichCheckpoint
from nmt_cli.cli.common import exit_now, options, run

Input = Annotated[str, typer.Argument(metavar="[FILE|-]", help="Input text, one sentence a line.")]
Model = Annotated[str, typer.Option("--model", "-m", help="Run directory or checkpoint file.")]
Output = Annotated[str, typer.Option("--output", "-o", help="Output file ('-' = stdout).")]
Beam = Annotated[int, typer.Option("--beam", "-b", help="Beam size (1 = greedy).")]
Alpha = Annotated[float, typer.Option("--alpha", help="GNMT length-normalisation exponent for beam search.")]
Nbest = Annotated[int, typer.Option("--nbest", help="Write the K best hypotheses per line (Moses format).")]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size", help="Sentences per batch (0 = 160 / beam, about 160 hypotheses at a time)."
    ),
]
MaxSrcLen = Annotated[int, typer.Option("--max-src-len", help="Longest source, in pieces.")]
Long = Annotated[
    LongInput,
    typer.Option(
        "--long-input",
        help="What to do past it: crop, or split into parts (at most 64, the rest cropped). Only the first "
        "16 characters a piece (x 64 with split) of a line are read.",
    ),
]
MaxLenRatio = Annotated[float, typer.Option("--max-len-ratio", help="Output pieces per source piece.")]
MaxLen = Annotated[int, typer.Option("--max-len", help="Absolute cap on output pieces.")]
Show = Annotated[
    bool,
    typer.Option(
        "--show-attention", help="Draw a heatmap per sentence on stderr (pieces; see --heatmap-words)."
    ),
]
Words = Annotated[
    bool,
    typer.Option(
        "--heatmap-words", help="Heatmaps over words: pieces merged, weights summed per source word."
    ),
]
Align = Annotated[bool, typer.Option("--align", help="Append Pharaoh alignments after ' ||| '.")]
Level = Annotated[AlignLevel, typer.Option("--align-level", help="Alignments between words or pieces.")]
Json = Annotated[bool, typer.Option("--json", help="Write JSON Lines (id, src, hyp, score, alignment).")]
Matrix = Annotated[bool, typer.Option("--attention", help="With --json: the full soft matrix.")]
Strict = Annotated[bool, typer.Option("--strict-utf8", help="Stop on invalid UTF-8.")]
Threads = Annotated[int, typer.Option("--threads", help="CPU threads (0 = torch default).")]
Quant = Annotated[
    Quantize,
    typer.Option(
        "--quantize",
        help="none, int8 (dynamic quantization) or bf16 (bf16 products: fast on CPUs with AMX).",
    ),
]
Which = Annotated[WhichCheckpoint, typer.Option("--checkpoint", help="Checkpoint of a run directory.")]


def translate(
    ctx: typer.Context,
    model: Model,
    input_file: Input = "-",
    output: Output = "-",
    beam: Beam = 1,
    alpha: Alpha = 0.6,
    nbest: Nbest = 1,
    batch_size: BatchSize = 0,
    max_src_len: MaxSrcLen = 250,
    long_input: Long = "crop",
    max_len_ratio: MaxLenRatio = 2.0,
    max_len: MaxLen = 400,
    show_attention: Show = False,
    heatmap_words: Words = False,
    align: Align = False,
    align_level: Level = "word",
    json_out: Json = False,
    attention_matrix: Matrix = False,
    strict_utf8: Strict = False,
    threads: Threads = 0,
    quantize: Quant = "none",
    checkpoint: Which = "best",
) -> None:
    """Translate lines from FILE or stdin; one output line per input line, always."""
    given = options(ctx)

    def go() -> None:
        from nmt_cli.settings import DecodeSettings, build
        from nmt_cli.translate import translate_stream

        translate_stream(model, input_file, output, build(DecodeSettings, given))

    run(go)
    exit_now()
