"""``nmt translate``: options -> decode settings -> ``translate.translate_stream``."""

from __future__ import annotations

from typing import Annotated

import typer

from nmt_cli.choices import AlignLevel, Device, LongInput, Quantize, WhichCheckpoint
from nmt_cli.cli.common import exit_now, options, renamed, run
from nmt_cli.cli.config import Config

IO, SEARCH, FORMAT, SPEED = "Input and output", "Search", "Output formats", "Speed"

Input = Annotated[
    str,
    typer.Argument(
        metavar="[FILE|-]", help="Input text, one sentence a line (default: stdin).", show_default=False
    ),
]
Model = Annotated[
    list[str],
    typer.Option(
        "--model",
        "-m",
        metavar="RUN|FILE",
        help="Run directory or checkpoint file; repeat for an ensemble (the models' log-probabilities "
        "averaged at each step; they must share their tokenizers).",
        rich_help_panel=IO,
    ),
]
Which = Annotated[
    WhichCheckpoint,
    typer.Option("--checkpoint", help="Which checkpoint of a run directory.", rich_help_panel=IO),
]
Output = Annotated[
    str,
    typer.Option("--output", "-o", metavar="FILE|-", help="Output file ('-' = stdout).", rich_help_panel=IO),
]
Strict = Annotated[
    bool,
    typer.Option(
        "--strict-utf8",
        help="Stop on invalid UTF-8 (default: replace it, with a warning).",
        rich_help_panel=IO,
    ),
]
Beam = Annotated[int, typer.Option("--beam", "-b", help="Beam size (1 = greedy).", rich_help_panel=SEARCH)]
Alpha = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        help="GNMT length-normalisation exponent for beam search (default: the run's, tuned on dev by "
        "train --tune-alpha, else 0.6).",
        show_default=False,
        rich_help_panel=SEARCH,
    ),
]
Nbest = Annotated[
    int,
    typer.Option(
        "--nbest",
        help="Write the K best hypotheses per line (Moses format: id ||| hyp ||| score; id 0-based).",
        rich_help_panel=SEARCH,
    ),
]
MaxSrcLen = Annotated[
    int, typer.Option("--max-src-len", help="Longest source, in pieces.", rich_help_panel=SEARCH)
]
Long = Annotated[
    LongInput,
    typer.Option(
        "--long-input",
        help="What to do past --max-src-len: crop, or split into parts (at most 64, the rest cropped). "
        "Only the first 16 characters a piece (x 64 with split) of a line are read.",
        rich_help_panel=SEARCH,
    ),
]
MaxLenRatio = Annotated[
    float, typer.Option("--max-len-ratio", help="Output pieces per source piece.", rich_help_panel=SEARCH)
]
MaxLen = Annotated[
    int, typer.Option("--max-len", help="Absolute cap on output pieces.", rich_help_panel=SEARCH)
]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="JSON on stdout: JSON Lines (id = 0-based line index, src, hyp, score, alignment).",
        rich_help_panel=FORMAT,
    ),
]
Matrix = Annotated[
    bool,
    typer.Option(
        "--attention-matrix", help="With --json: add the full soft attention matrix.", rich_help_panel=FORMAT
    ),
]
MatrixOld = Annotated[bool, typer.Option("--attention", hidden=True, help="Old name of --attention-matrix.")]
Align = Annotated[
    bool,
    typer.Option("--align", help="Append Pharaoh alignments (i-j) after ' ||| '.", rich_help_panel=FORMAT),
]
Level = Annotated[
    AlignLevel,
    typer.Option("--align-level", help="Alignments between words or pieces.", rich_help_panel=FORMAT),
]
Show = Annotated[
    bool,
    typer.Option(
        "--show-attention",
        help="Draw a heatmap per sentence on stderr (pieces; see --heatmap-words).",
        rich_help_panel=FORMAT,
    ),
]
Words = Annotated[
    bool,
    typer.Option(
        "--heatmap-words",
        help="Heatmaps over words: pieces merged, weights summed per source word.",
        rich_help_panel=FORMAT,
    ),
]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size",
        help="Sentences per batch (0 = for the device: 160 / beam on a CPU, 2048 / beam on a GPU).",
        rich_help_panel=SPEED,
    ),
]
Threads = Annotated[
    int, typer.Option("--threads", help="CPU threads (0 = torch's default).", rich_help_panel=SPEED)
]
Quant = Annotated[
    Quantize,
    typer.Option(
        "--quantize",
        help="none (fp32); int8 (int8 weights and products, CPU only: about 1.3x faster); "
        "bf16 (bf16 autocast: fast on CPUs with AMX and on GPUs); fp16 (fp16 autocast, GPU only).",
        rich_help_panel=SPEED,
    ),
]
DeviceOpt = Annotated[
    Device,
    typer.Option(
        "--device",
        help="Where to decode: auto (a CUDA GPU when one is visible, else the CPU), cpu or cuda.",
        rich_help_panel=SPEED,
    ),
]

EXAMPLES = """
echo "the cat sleeps" | nmt translate -m run
nmt translate -m run --beam 5 test.en -o test.hyp
nmt translate -m run1 -m run2 --beam 5 test.en > test.hyp     # an ensemble
nmt translate -m run --align --align-level word < test.en > test.aligned
head -n 3 test.en | nmt translate -m run --show-attention
"""


def translate(
    ctx: typer.Context,
    model: Model,
    input_file: Input = "-",
    output: Output = "-",
    beam: Beam = 1,
    alpha: Alpha = None,
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
    attention_old: MatrixOld = False,
    strict_utf8: Strict = False,
    threads: Threads = 0,
    quantize: Quant = "none",
    device: DeviceOpt = "auto",
    checkpoint: Which = "best",
    config: Config = None,
) -> None:
    """Translate lines from FILE or stdin; one output line per input line, always."""
    given = options(ctx)

    def go() -> None:
        renamed(given, "attention_old", "attention_matrix", "--attention", "--attention-matrix")
        from nmt_cli.settings import DecodeSettings, build
        from nmt_cli.translate import translate_stream

        translate_stream(list(model), input_file, output, build(DecodeSettings, given))

    run(go)
    exit_now()
