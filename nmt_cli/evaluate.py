"""sacreBLEU scores with signatures: corpus scores, quality gates, sentence scores, paired bootstrap.

Every number comes from sacreBLEU's metric classes configured the way the ``sacrebleu`` command line
configures them, so a score printed here equals what ``sacrebleu`` prints for the same files and options:

    nmt evaluate -r REF HYP --metrics bleu,chrf,ter [--lowercase] [--tokenize T]
    sacrebleu REF -i HYP -m bleu chrf ter [-lc --chrf-lowercase] [-tok T]

Lines are read with :mod:`nmt_cli.textio` (split only on ``\\n``) and, as ``sacrebleu`` does, trailing
whitespace is stripped before scoring. Empty hypotheses are kept: they score zero, they are never dropped.
Unlike sacreBLEU's Python API, streams of different lengths are refused instead of silently truncated.
"""

from __future__ import annotations

import json
import math
import platform
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric

from nmt_cli import __version__, display
from nmt_cli.errors import DataError, GateError, UsageError
from nmt_cli.settings import ScoreSettings
from nmt_cli.textio import read_all_lines, write_lines

Warn = Callable[[str], None]
Refs = list[list[str]]  # one stream per reference file: refs[k][i] is reference k of segment i

METRIC_KEYS = ("bleu", "chrf", "chrf++", "ter")
DEFAULT_METRICS = "bleu,chrf,ter"
LOWER_IS_BETTER = frozenset({"ter"})
# A space before ',' or '.', split clitics, Moses escapes or aggregated hyphens: the marks of tokenized text.
# (A space before '!', '?', ';' or ':' is correct French typography, so those do not count.)
_TOKENIZED = re.compile(r" [,.](?= |$)| n't\b| '(?:s|re|ve|ll|d|m)\b|&(?:apos|quot|amp|lt|gt);| @[-,.]@ ")
_SP_MARK = "\u2581"  # SentencePiece's word-boundary marker '▁'


@dataclass(frozen=True)
class Score:
    """One corpus-level score. ``formatted`` is the score as the sacrebleu CLI prints it at ``width``."""

    key: str  # bleu, chrf, chrf++ or ter
    name: str  # sacreBLEU's name: BLEU, chrF2, chrF2++, TER
    score: float
    signature: str
    formatted: str
    verbose: str = ""  # BLEU's n-gram precisions and brevity penalty


@dataclass(frozen=True)
class PairedScore:
    """A system's score in a paired bootstrap test; ``p_value`` is None for the baseline."""

    score: float
    formatted: str
    mean: float
    ci: float
    p_value: float | None


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap results: ``results[key][i]`` belongs to ``systems[i]``; systems[0] is the baseline."""

    systems: list[str]
    names: dict[str, str]
    signatures: dict[str, str]
    results: dict[str, list[PairedScore]]
    n_samples: int


@dataclass(frozen=True)
class TranslateRequest:
    """Translate ``src`` with ``model`` first, with the same options as ``nmt translate``."""

    model: str
    src: str
    beam: int = 1
    alpha: float = 0.6
    batch_size: int = 0
    max_len_ratio: float = 2.0
    threads: int = 0
    save_hyps: str | None = None


@dataclass(frozen=True)
class EvaluateRequest:
    """Everything ``nmt evaluate`` was asked to do, still as the user spelled it."""

    refs: list[str]
    hyp: str | None = None
    systems: list[str] = field(default_factory=list)
    translate: TranslateRequest | None = None
    metrics: str = DEFAULT_METRICS
    lowercase: bool = False
    tokenize: str | None = None
    width: int = 1
    json_out: bool = False
    quiet: bool = False
    fail_under: str = ""
    per_sentence: str | None = None
    bootstrap_samples: int = 1000


# --- parsing user options ------------------------------------------------------------------------------


def parse_metrics(text: str) -> tuple[str, ...]:
    """``"bleu,chrf"`` -> ``("bleu", "chrf")``; unknown names are a usage error, repeats are dropped."""
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [key for key in keys if key not in METRIC_KEYS]
    if unknown or not keys:
        raise UsageError(f"--metrics {text!r}: choose from {', '.join(METRIC_KEYS)} (comma-separated)")
    return tuple(dict.fromkeys(keys))


def check_tokenize(name: str | None) -> str | None:
    """Refuse a BLEU tokenizer sacreBLEU does not know."""
    if name is not None and name not in BLEU.TOKENIZERS:
        raise UsageError(f"--tokenize {name!r}: choose from {', '.join(BLEU.TOKENIZERS)}")
    return name


def parse_fail_under(text: str, metrics: Sequence[str]) -> dict[str, float]:
    """``"bleu=25,ter=60"`` -> ``{"bleu": 25.0, "ter": 60.0}``. For ter the bar is a maximum."""
    bars: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, _, value = (s.strip() for s in part.partition("="))
        key = key.lower()
        try:
            bar = float(value)
        except ValueError:
            bar = math.nan
        if not math.isfinite(bar):
            raise UsageError(f"--fail-under {part!r}: expected METRIC=NUMBER, e.g. bleu=25")
        if key not in metrics:
            raise UsageError(f"--fail-under {key}: not among the scored metrics ({', '.join(metrics)})")
        bars[key] = bar
    return bars


def gate_failures(scores: Sequence[Score], bars: dict[str, float]) -> list[str]:
    """Describe every score that misses its bar (below it, or above it for TER); [] when all pass."""
    failed = []
    for s in scores:
        bar = bars.get(s.key)
        if bar is None:
            continue
        if s.key in LOWER_IS_BETTER and s.score > bar:
            failed.append(f"{s.name} {s.score:.4f} > {bar:g}")
        elif s.key not in LOWER_IS_BETTER and s.score < bar:
            failed.append(f"{s.name} {s.score:.4f} < {bar:g}")
    return failed


# --- reading and guarding inputs -----------------------------------------------------------------------


def file_label(path: str) -> str:
    return "<stdin>" if path == "-" else path


def read_segments(path: str, warn: Warn | None = None) -> list[str]:
    """Lines of a file (``-`` = stdin) with trailing whitespace stripped, as ``sacrebleu`` strips them."""
    return [line.rstrip() for line in read_all_lines(path, warn=warn)]


def _n_lines(n: int) -> str:
    return f"{n} line" if n == 1 else f"{n} lines"


def check_lengths(hyp_name: str, n_hyps: int, ref_names: Sequence[str], refs: Refs) -> None:
    """Refuse streams of different lengths (sacreBLEU's API would silently score a prefix)."""
    for name, stream in zip(ref_names, refs, strict=True):
        if len(stream) != n_hyps:
            raise DataError(
                f"line counts differ: {file_label(hyp_name)} has {_n_lines(n_hyps)}, "
                f"{file_label(name)} has {_n_lines(len(stream))}"
            )
    if n_hyps == 0:
        raise DataError(f"{file_label(hyp_name)}: no lines to score")


def tokenized_count(lines: Sequence[str]) -> int:
    """How many lines carry marks of tokenized text (`` ,`` `` .`` `` n't`` ``&apos;`` ...)."""
    return sum(1 for line in lines if _TOKENIZED.search(line))


def warn_suspicious(name: str, lines: Sequence[str], warn: Warn) -> None:
    """Warn when text looks tokenized or still holds SentencePiece markers; both distort every metric."""
    nonempty = sum(1 for line in lines if line)
    tokenized = tokenized_count(lines)
    if tokenized and tokenized >= min(100, max(1, nonempty // 10)):
        warn(
            f"{file_label(name)}: {tokenized} of {nonempty} lines look tokenized (' ,' ' .' \" n't\"); "
            "scores of tokenized text are not comparable, detokenize first"
        )
    pieces = sum(1 for line in lines if _SP_MARK in line)
    if pieces:
        warn(
            f"{file_label(name)}: {pieces} of {nonempty} lines hold SentencePiece markers '{_SP_MARK}'; "
            "decode the pieces before scoring"
        )


# --- scoring -------------------------------------------------------------------------------------------


def make_metric(key: str, opts: ScoreSettings, sentence: bool = False) -> Metric:
    """A sacreBLEU metric configured like the sacrebleu CLI; sentence BLEU uses effective order (``-sl``)."""
    try:
        if key == "bleu":
            # force=True: we run our own, broader tokenized-text check (warn_suspicious)
            return BLEU(
                lowercase=opts.lowercase, tokenize=opts.tokenize, force=True, effective_order=sentence
            )
        if key in ("chrf", "chrf++"):
            return CHRF(word_order=2 if key == "chrf++" else 0, lowercase=opts.lowercase)
        return TER()  # sacreBLEU's (TERCOM's) defaults: case-insensitive
    except ImportError as err:
        raise UsageError(f"--tokenize {opts.tokenize}: needs an extra package: {err}") from None
    except OSError as err:
        raise DataError(f"--tokenize {opts.tokenize}: {err}") from None


def _format(score: float, width: int) -> str:
    return f"{score:.{width}f}"


def score_corpus(hyps: Sequence[str], refs: Refs, opts: ScoreSettings) -> list[Score]:
    """Corpus-level scores, one per metric in ``opts.metrics``, each with its signature."""
    scores = []
    for key in opts.metrics:
        metric = make_metric(key, opts)
        result = metric.corpus_score(hyps, refs)
        scores.append(
            Score(
                key=key,
                name=result.name,
                score=float(result.score),
                signature=metric.get_signature().format(),
                formatted=_format(result.score, opts.width),
                verbose=getattr(result, "_verbose", ""),
            )
        )
    return scores


def per_sentence_scores(hyps: Sequence[str], refs: Refs, opts: ScoreSettings) -> list[dict[str, Any]]:
    """One row per segment: ``{"id": line number (1-based), "bleu": ..., "chrf": ...}`` for each metric."""
    metrics = {key: make_metric(key, opts, sentence=True) for key in opts.metrics}
    rows = []
    for i, hyp in enumerate(hyps):
        seg_refs = [stream[i] for stream in refs]
        row: dict[str, Any] = {"id": i + 1}
        row.update({key: float(m.sentence_score(hyp, seg_refs).score) for key, m in metrics.items()})
        rows.append(row)
    return rows


def compare_systems(
    systems: Sequence[tuple[str, Sequence[str]]], refs: Refs, opts: ScoreSettings, n_samples: int
) -> Comparison:
    """sacreBLEU's paired bootstrap resampling test (``--paired-bs``); ``systems[0]`` is the baseline.

    The seed is sacreBLEU's: ``SACREBLEU_SEED`` (default 12345) and it is part of each signature.
    """
    from sacrebleu.significance import PairedTest

    metrics = {key: make_metric(key, opts) for key in opts.metrics}
    test = PairedTest(list(systems), metrics, references=refs, test_type="bs", n_samples=n_samples)
    signatures, table = test()
    columns = [name for name in table if name != "System"]  # one per metric, in our order
    names = dict(zip(opts.metrics, columns, strict=True))
    return Comparison(
        systems=[name for name, _ in systems],
        names=names,
        signatures={key: signatures[name].format() for key, name in names.items()},
        results={key: [_paired(r, opts.width) for r in table[name]] for key, name in names.items()},
        n_samples=n_samples,
    )


def _paired(result: Any, width: int) -> PairedScore:
    p = result.p_value
    return PairedScore(
        score=float(result.score),
        formatted=_format(result.score, width),
        mean=float(result.mean),
        ci=float(result.ci),
        p_value=None if p is None else float(p),
    )


# --- output --------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import sacrebleu

    return {"nmt": __version__, "sacrebleu": sacrebleu.__version__, "python": platform.python_version()}


def _dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def format_scores(scores: Sequence[Score], quiet: bool) -> list[str]:
    """``NAME = SCORE SIGNATURE`` per metric (four space-separated fields), or just SCORE with ``quiet``."""
    if quiet:
        return [s.formatted for s in scores]
    return [f"{s.name} = {s.formatted} {s.signature}" for s in scores]


def scores_json(
    scores: Sequence[Score], n_segments: int, hyp_name: str, ref_names: Sequence[str], bars: dict[str, float]
) -> dict[str, Any]:
    """The ``--json`` object for one system: ``score`` rounded like sacrebleu's JSON, ``score_exact`` not."""
    entries = {
        s.key: {
            "name": s.name,
            "score": float(s.formatted),
            "score_exact": s.score,
            "signature": s.signature,
            "verbose": s.verbose,
        }
        for s in scores
    }
    for s in scores:
        if s.key in bars:
            failed = bool(gate_failures([s], bars))
            entries[s.key]["fail_under"] = {"bar": bars[s.key], "passed": not failed}
    return {
        "hypotheses": file_label(hyp_name),
        "references": [file_label(name) for name in ref_names],
        "n_segments": n_segments,
        "n_refs": len(ref_names),
        "scores": entries,
        "versions": versions(),
    }


COMPARE_HEADER = "system\tmetric\tscore\tmean\tci\tp_value"


def comparison_lines(cmp: Comparison, width: int, quiet: bool) -> list[str]:
    """Tab-separated rows (system, metric, score, mean, ci, p_value); the baseline's p_value is '-'."""
    lines = [] if quiet else [COMPARE_HEADER]
    for i, system in enumerate(cmp.systems):
        for key, row in cmp.results.items():
            r = row[i]
            p = "-" if r.p_value is None else f"{r.p_value:.4f}"
            cells = [system, cmp.names[key], r.formatted, _format(r.mean, width), _format(r.ci, width), p]
            lines.append("\t".join(cells))
    return lines


def comparison_json(cmp: Comparison, n_segments: int, ref_names: Sequence[str]) -> dict[str, Any]:
    """The ``--json`` object for a paired bootstrap comparison."""
    systems = []
    for i, system in enumerate(cmp.systems):
        scores = {
            key: {
                "name": cmp.names[key],
                "score": float(row[i].formatted),
                "score_exact": row[i].score,
                "mean": row[i].mean,
                "ci": row[i].ci,
                "p_value": row[i].p_value,
            }
            for key, row in cmp.results.items()
        }
        systems.append({"system": system, "baseline": i == 0, "scores": scores})
    return {
        "test": "paired-bootstrap",
        "n_samples": cmp.n_samples,
        "n_segments": n_segments,
        "n_refs": len(ref_names),
        "references": [file_label(name) for name in ref_names],
        "signatures": cmp.signatures,
        "systems": systems,
        "versions": versions(),
    }


def print_comparison_table(cmp: Comparison, width: int) -> None:
    """The human view of a comparison, on stderr (Rich): score (mean ± 95% CI) and p-value per cell."""
    from rich.table import Table
    from rich.text import Text

    console = display.console()
    table = Table(title=f"Paired bootstrap resampling ({cmp.n_samples} resamples)")
    table.add_column("System", justify="right")
    for key in cmp.results:
        table.add_column(f"{cmp.names[key]} (μ ± 95% CI)", justify="center")
    for i, system in enumerate(cmp.systems):
        cells = [Text(f"Baseline: {system}" if i == 0 else system, style="yellow" if i == 0 else "")]
        for row in cmp.results.values():
            r = row[i]
            cell = f"{r.formatted} ({_format(r.mean, width)} ± {_format(r.ci, width)})"
            if r.p_value is not None:
                cell += f"\n(p = {r.p_value:.4f}){'*' if r.p_value < 0.05 else ''}"
            cells.append(Text(cell))
        table.add_row(*cells)
    console.print(table)
    console.print(
        "p < 0.05 (*): the difference from the baseline is unlikely to be chance "
        "(it does not say which system is better).",
        highlight=False,
        markup=False,
    )
    for key, signature in cmp.signatures.items():
        console.print(f" - {cmp.names[key]:<8} {signature}", highlight=False, markup=False)


# --- the command ---------------------------------------------------------------------------------------


def _check_request(req: EvaluateRequest) -> None:
    """Refuse option combinations that cannot work together."""
    if not req.refs:
        raise UsageError("give at least one reference file with -r/--ref")
    if req.translate is not None and not (req.translate.model and req.translate.src):
        raise UsageError("-m/--model and --src go together (and --save-hyps needs both)")
    modes = [bool(req.systems), req.translate is not None, req.hyp is not None]
    if sum(modes) > 1:
        raise UsageError("give hypotheses one way: a HYP file, -s/--system files, or -m/--model with --src")
    if req.systems and len(req.systems) < 2:
        raise UsageError("-s/--system needs at least two files: the baseline first, then systems to compare")
    if req.systems and (req.fail_under or req.per_sentence):
        raise UsageError("--fail-under and --per-sentence score one system; drop them with -s/--system")
    inputs = [*req.refs, *req.systems]
    if req.translate is not None:
        inputs.append(req.translate.src)
    elif not req.systems:
        inputs.append(req.hyp or "-")
    if inputs.count("-") > 1:
        raise UsageError("only one input can be '-' (stdin)")
    if req.bootstrap_samples < 1:
        raise UsageError("--bootstrap-samples must be at least 1")
    if not 0 <= req.width <= 10:
        raise UsageError("--width must be between 0 and 10")


def _translate(tr: TranslateRequest, refs: Refs, ref_names: Sequence[str]) -> list[str]:
    """Translate the source (after checking it lines up with the references), optionally saving the output."""
    from nmt_cli.settings import DecodeSettings
    from nmt_cli.translate import translate_file_to_list

    check_lengths(tr.src, len(read_all_lines(tr.src)), ref_names, refs)
    opts = DecodeSettings(
        beam=tr.beam,
        alpha=tr.alpha,
        batch_size=tr.batch_size,
        max_len_ratio=tr.max_len_ratio,
        threads=tr.threads,
    )
    hyps = translate_file_to_list(tr.model, tr.src, opts)
    if tr.save_hyps:
        write_lines(tr.save_hyps, hyps)
    return [line.rstrip() for line in hyps]


def _emit(lines: Sequence[str], to_stderr: bool) -> None:
    if to_stderr:
        sys.stderr.write("".join(f"{line}\n" for line in lines))
        sys.stderr.flush()
    else:
        write_lines("-", lines)


def _evaluate_one(req: EvaluateRequest, opts: ScoreSettings, refs: Refs, warn: Warn) -> None:
    bars = parse_fail_under(req.fail_under, opts.metrics)
    if req.translate is not None:
        hyp_name, hyps = req.translate.src, _translate(req.translate, refs, req.refs)
    else:
        hyp_name = req.hyp or "-"
        hyps = read_segments(hyp_name, warn)
    check_lengths(hyp_name, len(hyps), req.refs, refs)
    warn_suspicious(hyp_name, hyps, warn)
    scores = score_corpus(hyps, refs, opts)
    if req.per_sentence:
        write_lines(req.per_sentence, (_dumps(row) for row in per_sentence_scores(hyps, refs, opts)))
    if req.json_out:
        lines = [_dumps(scores_json(scores, len(hyps), hyp_name, req.refs, bars))]
    else:
        lines = format_scores(scores, req.quiet)
    _emit(lines, to_stderr=req.per_sentence == "-")  # stdout then holds only the JSON Lines
    failed = gate_failures(scores, bars)
    if failed:
        raise GateError(f"quality gate failed: {'; '.join(failed)}")


def _evaluate_systems(req: EvaluateRequest, opts: ScoreSettings, refs: Refs, warn: Warn) -> None:
    systems = []
    for path in req.systems:
        hyps = read_segments(path, warn)
        check_lengths(path, len(hyps), req.refs, refs)
        warn_suspicious(path, hyps, warn)
        systems.append((file_label(path), hyps))
    cmp = compare_systems(systems, refs, opts, req.bootstrap_samples)
    if not req.quiet:
        print_comparison_table(cmp, opts.width)
    if req.json_out:
        write_lines("-", [_dumps(comparison_json(cmp, len(refs[0]), req.refs))])
    else:
        write_lines("-", comparison_lines(cmp, opts.width, req.quiet))


def run_evaluate(req: EvaluateRequest, warn: Warn = display.warn) -> None:
    """The ``nmt evaluate`` command: read, guard, score, print; GateError when a bar is missed."""
    _check_request(req)
    opts = ScoreSettings(
        metrics=parse_metrics(req.metrics),
        lowercase=req.lowercase,
        tokenize=check_tokenize(req.tokenize),
        width=req.width,
    )
    parse_fail_under(req.fail_under, opts.metrics)  # refuse a bad spec before reading anything
    refs = [read_segments(path, warn) for path in req.refs]
    for name, stream in zip(req.refs[1:], refs[1:], strict=True):
        check_lengths(req.refs[0], len(refs[0]), [name], [stream])
    for name, stream in zip(req.refs, refs, strict=True):
        warn_suspicious(name, stream, warn)
    if req.systems:
        _evaluate_systems(req, opts, refs, warn)
    else:
        _evaluate_one(req, opts, refs, warn)
