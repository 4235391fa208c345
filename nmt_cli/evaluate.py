"""``nmt evaluate``: read hypotheses and references, guard them, score them (``scoring.py``), print.

Lines are read with :mod:`nmt_cli.textio` (split only on ``\\n``) and, as ``sacrebleu`` does, trailing
whitespace is stripped before scoring. Empty hypotheses are kept: they score zero, they are never dropped.
Unlike sacreBLEU's Python API, streams of different lengths are refused instead of silently truncated.
``evaluate -m`` (translate, then score) is composed by the command layer, which passes the translations in.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nmt_cli import display
from nmt_cli.errors import DataError, GateError, UsageError
from nmt_cli.scoring import (
    Comparison,
    Refs,
    Score,
    compare_systems,
    format_score,
    gate_failures,
    parse_fail_under,
    per_sentence_scores,
    score_corpus,
    versions,
)
from nmt_cli.settings import EvaluateSettings
from nmt_cli.textio import STDIN, read_all_lines, write_lines

Warn = Callable[[str], None]
# Hypotheses made once the references are read and checked (``evaluate -m``): refs -> (name, lines).
Produce = Callable[[Sequence[str], Refs], tuple[str, list[str]]]

# A space before ',' or '.', split clitics, Moses escapes or aggregated hyphens: the marks of tokenized text.
# (A space before '!', '?', ';' or ':' is correct French typography, so those do not count.)
_TOKENIZED = re.compile(r" [,.](?= |$)| n't\b| '(?:s|re|ve|ll|d|m)\b|&(?:apos|quot|amp|lt|gt);| @[-,.]@ ")
_SP_MARK = "\u2581"  # SentencePiece's word-boundary marker '▁'


# --- reading and guarding inputs -----------------------------------------------------------------------


def file_label(path: str) -> str:
    return STDIN if path == "-" else path


def segments(lines: Iterable[str]) -> list[str]:
    """Lines as sacreBLEU scores them: trailing whitespace stripped."""
    return [line.rstrip() for line in lines]


def read_segments(path: str, warn: Warn | None = None) -> list[str]:
    """Lines of a file (``-`` = stdin) as sacreBLEU scores them (see :func:`segments`)."""
    return segments(read_all_lines(path, warn=warn))


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


# --- output --------------------------------------------------------------------------------------------


def _dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def format_scores(scores: Sequence[Score], score_only: bool) -> list[str]:
    """``NAME = SCORE SIGNATURE`` per metric (four space-separated fields), or SCORE (``score_only``)."""
    if score_only:
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


def comparison_lines(cmp: Comparison, width: int, score_only: bool) -> list[str]:
    """Tab-separated rows (system, metric, score, mean, ci, p_value); the baseline's p_value is '-'."""
    lines = [] if score_only else [COMPARE_HEADER]
    for i, system in enumerate(cmp.systems):
        for key, row in cmp.results.items():
            r = row[i]
            p = "-" if r.p_value is None else f"{r.p_value:.4f}"
            cells = [
                system,
                cmp.names[key],
                r.formatted,
                format_score(r.mean, width),
                format_score(r.ci, width),
                p,
            ]
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
            cell = f"{r.formatted} ({format_score(r.mean, width)} ± {format_score(r.ci, width)})"
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


def check_settings(settings: EvaluateSettings, source: str | None = None) -> None:
    """Refuse option combinations that cannot work together (``source``: what ``-m`` translates)."""
    if not settings.refs:
        raise UsageError("give at least one reference file with -r/--ref")
    modes = [bool(settings.systems), source is not None, settings.hyp is not None]
    if sum(modes) > 1:
        raise UsageError("give hypotheses one way: a HYP file, -s/--system files, or -m/--model with --src")
    if settings.systems and len(settings.systems) < 2:
        raise UsageError("-s/--system needs at least two files: the baseline first, then systems to compare")
    if settings.systems and (settings.fail_under or settings.per_sentence):
        raise UsageError("--fail-under and --per-sentence score one system; drop them with -s/--system")
    inputs = [*settings.refs, *settings.systems]
    if source is not None:
        inputs.append(source)
    elif not settings.systems:
        inputs.append(settings.hyp or "-")
    if inputs.count("-") > 1:
        raise UsageError("only one input can be '-' (stdin)")
    if settings.bootstrap_samples < 1:
        raise UsageError("--bootstrap-samples must be at least 1")


def _emit(lines: Sequence[str], to_stderr: bool) -> None:
    if to_stderr:
        sys.stderr.write("".join(f"{line}\n" for line in lines))
        sys.stderr.flush()
    else:
        write_lines("-", lines)


def _evaluate_one(settings: EvaluateSettings, refs: Refs, produce: Produce | None, warn: Warn) -> None:
    opts = settings.score
    bars = parse_fail_under(settings.fail_under, opts.metrics)
    if produce is not None:
        hyp_name, hyps = produce(settings.refs, refs)
    else:
        hyp_name = settings.hyp or "-"
        hyps = read_segments(hyp_name, warn)
    check_lengths(hyp_name, len(hyps), settings.refs, refs)
    warn_suspicious(hyp_name, hyps, warn)
    scores = score_corpus(hyps, refs, opts)
    if settings.per_sentence:
        write_lines(settings.per_sentence, (_dumps(row) for row in per_sentence_scores(hyps, refs, opts)))
    if settings.json_out:
        lines = [_dumps(scores_json(scores, len(hyps), hyp_name, settings.refs, bars))]
    else:
        lines = format_scores(scores, settings.score_only)
    if settings.per_sentence == "-":  # stdout holds only the JSON Lines: the corpus scores go to stderr
        if not settings.quiet:
            _emit(lines, to_stderr=True)
    else:
        _emit(lines, to_stderr=False)
    failed = gate_failures(scores, bars)
    if failed:
        raise GateError(f"quality gate failed: {'; '.join(failed)}")


def _evaluate_systems(settings: EvaluateSettings, refs: Refs, warn: Warn) -> None:
    opts = settings.score
    systems = []
    for path in settings.systems:
        hyps = read_segments(path, warn)
        check_lengths(path, len(hyps), settings.refs, refs)
        warn_suspicious(path, hyps, warn)
        systems.append((file_label(path), hyps))
    cmp = compare_systems(systems, refs, opts, settings.bootstrap_samples)
    if not settings.quiet:
        print_comparison_table(cmp, opts.width)
    if settings.json_out:
        write_lines("-", [_dumps(comparison_json(cmp, len(refs[0]), settings.refs))])
    else:
        write_lines("-", comparison_lines(cmp, opts.width, settings.score_only))


def run_evaluate(
    settings: EvaluateSettings, produce: tuple[str, Produce] | None = None, warn: Warn = display.warn
) -> None:
    """The ``nmt evaluate`` command: read, guard, score, print; GateError when a bar is missed.

    ``produce`` = (source name, function): hypotheses made after the references are read and checked.
    """
    check_settings(settings, produce[0] if produce else None)
    parse_fail_under(settings.fail_under, settings.score.metrics)  # refuse a bad spec before reading
    refs = [read_segments(path, warn) for path in settings.refs]
    for name, stream in zip(settings.refs[1:], refs[1:], strict=True):
        check_lengths(settings.refs[0], len(refs[0]), [name], [stream])
    for name, stream in zip(settings.refs, refs, strict=True):
        warn_suspicious(name, stream, warn)
    if settings.systems:
        _evaluate_systems(settings, refs, warn)
    else:
        _evaluate_one(settings, refs, produce[1] if produce else None, warn)
