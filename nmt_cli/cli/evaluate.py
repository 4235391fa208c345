"""``nmt evaluate``: score translations; with ``-m`` translate first (``translate`` then ``evaluate``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from nmt_cli.choices import Device, Quantize, Tokenize, WhichCheckpoint, parse_metrics
from nmt_cli.cli.common import options, parsed, run
from nmt_cli.cli.config import Config
from nmt_cli.errors import UsageError

if TYPE_CHECKING:
    from nmt_cli.settings import DecodeSettings

INPUT, METRICS, OUTPUT, TRANSLATE = "Input", "Metrics", "Output", "Translate first (-m)"

Hyp = Annotated[
    str | None,
    typer.Argument(metavar="[HYP|-]", help="Hypotheses, one a line (default: stdin).", show_default=False),
]
Refs = Annotated[
    list[str] | None,
    typer.Option(
        "--ref",
        "-r",
        metavar="FILE",
        help="Reference file, line-aligned with HYP; repeat for several references.",
        rich_help_panel=INPUT,
    ),
]
Systems = Annotated[
    list[str] | None,
    typer.Option(
        "--system",
        "-s",
        metavar="FILE",
        help="Compare systems (paired bootstrap): repeat; the first is the baseline.",
        rich_help_panel=INPUT,
    ),
]
Metrics = Annotated[
    str,
    typer.Option(
        "--metrics",
        parser=parsed(lambda t: ",".join(parse_metrics(t))),
        metavar="LIST",
        help="Comma-separated: bleu, chrf, chrf++, ter.",
        rich_help_panel=METRICS,
    ),
]
Lowercase = Annotated[
    bool,
    typer.Option(
        "--lowercase",
        help="Case-insensitive BLEU and chrF (TER is case-insensitive anyway).",
        rich_help_panel=METRICS,
    ),
]
Tok = Annotated[
    Tokenize | None,
    typer.Option(
        "--tokenize",
        help="BLEU tokenizer, as sacrebleu's --tokenize (default 13a).",
        rich_help_panel=METRICS,
    ),
]
Samples = Annotated[
    int,
    typer.Option(
        "--bootstrap-samples",
        help="Resamples for the paired bootstrap test (with -s).",
        rich_help_panel=METRICS,
    ),
]
Width = Annotated[
    int, typer.Option("--width", "-w", help="Decimals printed (sacrebleu's --width).", rich_help_panel=OUTPUT)
]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="JSON on stdout: one object with scores, signatures, segments, versions.",
        rich_help_panel=OUTPUT,
    ),
]
ScoreOnly = Annotated[
    bool,
    typer.Option(
        "--score-only",
        help="Print only the numbers, one per metric (sacrebleu's --score-only).",
        rich_help_panel=OUTPUT,
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Less on stderr: no comparison table (-s), no corpus scores with --per-sentence -. "
        "Warnings and errors still show.",
        rich_help_panel=OUTPUT,
    ),
]
FailUnder = Annotated[
    str,
    typer.Option(
        "--fail-under",
        metavar="BARS",
        help="Exit 3 when a score misses its bar, e.g. bleu=25,chrf=50. Bars are minimums, except for ter: "
        "a maximum, so ter=60 fails when TER > 60.",
        rich_help_panel=OUTPUT,
    ),
]
PerSentence = Annotated[
    str | None,
    typer.Option(
        "--per-sentence",
        metavar="FILE|-",
        help="Write sentence scores as JSON Lines (id = 0-based line index, bleu, chrf...); "
        "with - they take stdout and the corpus scores go to stderr.",
        rich_help_panel=OUTPUT,
    ),
]
Model = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        metavar="RUN|FILE",
        help="Run directory or checkpoint file: translate --src with it, then score "
        "(repeat for an ensemble).",
        rich_help_panel=TRANSLATE,
    ),
]
Src = Annotated[
    str | None,
    typer.Option(
        "--src", metavar="FILE|-", help="Source file to translate (with -m).", rich_help_panel=TRANSLATE
    ),
]
SaveHyps = Annotated[
    str | None,
    typer.Option(
        "--save-hyps",
        metavar="FILE",
        help="Also write the translations to this file.",
        rich_help_panel=TRANSLATE,
    ),
]
Beam = Annotated[int, typer.Option("--beam", "-b", help="Beam size (1 = greedy).", rich_help_panel=TRANSLATE)]
Alpha = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        help="GNMT length-normalisation exponent for beam search (default: the run's, tuned on dev by "
        "train --tune-alpha, else 0.6).",
        show_default=False,
        rich_help_panel=TRANSLATE,
    ),
]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size",
        help="Sentences per batch (0 = for the device: 160 / beam on a CPU, 2048 / beam on a GPU).",
        rich_help_panel=TRANSLATE,
    ),
]
MaxLenRatio = Annotated[
    float,
    typer.Option("--max-len-ratio", help="Output pieces per source piece.", rich_help_panel=TRANSLATE),
]
Threads = Annotated[
    int, typer.Option("--threads", help="CPU threads (0 = torch's default).", rich_help_panel=TRANSLATE)
]
DeviceOpt = Annotated[
    Device,
    typer.Option(
        "--device",
        help="Where to decode with -m: auto (a CUDA GPU when one is visible, else the CPU), cpu or cuda.",
        rich_help_panel=TRANSLATE,
    ),
]
Quant = Annotated[
    Quantize,
    typer.Option(
        "--quantize",
        help="How -m decodes: none (fp32); int8 (int8 weights and products, CPU only); bf16 (autocast); "
        "fp16 (autocast, GPU only).",
        rich_help_panel=TRANSLATE,
    ),
]
Which = Annotated[
    WhichCheckpoint,
    typer.Option("--checkpoint", help="Which checkpoint of -m's run directories.", rich_help_panel=TRANSLATE),
]

EXAMPLES = """
nmt evaluate -r test.es test.hyp
nmt evaluate -r test.es --score-only --metrics bleu < test.hyp
nmt evaluate -r test.es -m run --src test.en --beam 5 --fail-under bleu=25
nmt evaluate -r test.es -s base.hyp -s new.hyp --json > compare.json
"""


def evaluate(
    ctx: typer.Context,
    hyp: Hyp = None,
    refs: Refs = None,
    systems: Systems = None,
    metrics: Metrics = "bleu,chrf,ter",
    lowercase: Lowercase = False,
    tokenize: Tok = None,
    width: Width = 1,
    json_out: Json = False,
    score_only: ScoreOnly = False,
    quiet: Quiet = False,
    fail_under: FailUnder = "",
    per_sentence: PerSentence = None,
    bootstrap_samples: Samples = 1000,
    model: Model = None,
    src: Src = None,
    save_hyps: SaveHyps = None,
    beam: Beam = 1,
    alpha: Alpha = None,
    batch_size: BatchSize = 0,
    max_len_ratio: MaxLenRatio = 2.0,
    threads: Threads = 0,
    device: DeviceOpt = "auto",
    quantize: Quant = "none",
    checkpoint: Which = "best",
    config: Config = None,
) -> None:
    """Score translations with sacreBLEU (BLEU, chrF, TER), each with its signature.

    Output (stdout), one line per metric: NAME = SCORE SIGNATURE, e.g.
    'BLEU = 34.5 nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0'. SCORE is printed as the
    sacrebleu command line prints it for the same files and options. With -s: tab-separated rows
    'system metric score mean ci p_value' (header first, p_value '-' for the baseline) and a table on stderr.

    Exit codes: 0 ok, 1 bad data (missing file, line counts differ), 2 usage error, 3 --fail-under missed.
    """
    given = options(ctx)
    run(lambda: _evaluate(given))


def _evaluate(given: dict[str, object]) -> None:
    from nmt_cli.evaluate import run_evaluate
    from nmt_cli.settings import DecodeSettings, EvaluateSettings, ScoreSettings, build

    score = build(ScoreSettings, given, metrics=tuple(str(given["metrics"]).split(",")))
    settings = build(
        EvaluateSettings,
        given,
        refs=tuple(_paths(given["refs"])),
        systems=tuple(_paths(given["systems"])),
        score=score,
    )
    model, src, save_hyps = given["model"] or None, given["src"], given["save_hyps"]
    if model is None and src is None and save_hyps is None:
        run_evaluate(settings)
        return
    if not (model and src):
        raise UsageError("-m/--model and --src go together (and --save-hyps needs both)")
    decode = build(DecodeSettings, given)
    run_evaluate(settings, (str(src), lambda names, refs: _translated(given, decode, names, refs)))


def _paths(value: object) -> list[str]:
    """A repeatable option's values (None when not given)."""
    return [str(v) for v in value] if isinstance(value, list) else []


def _translated(
    given: dict[str, object], decode: DecodeSettings, ref_names: Sequence[str], refs: list[list[str]]
) -> tuple[str, list[str]]:
    """``-m``: translate --src (after checking it lines up with the references), save if asked.

    The source is read once: it may be stdin or a pipe (``--src -``, ``--src <(zcat x.gz)``).
    """
    from nmt_cli import display
    from nmt_cli.evaluate import check_lengths, segments
    from nmt_cli.textio import read_all_lines, write_lines
    from nmt_cli.translate import translate_lines

    src = str(given["src"])
    lines = read_all_lines(src, strict=decode.strict_utf8, warn=display.warn)
    check_lengths(src, len(lines), ref_names, refs)
    hyps = translate_lines(_paths(given["model"]), lines, decode)
    if given["save_hyps"]:
        write_lines(str(given["save_hyps"]), hyps)
    return src, segments(hyps)
