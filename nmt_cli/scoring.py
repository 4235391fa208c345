"""sacreBLEU scores with signatures: lines in, scores out. No files, no printing.

Every number comes from sacreBLEU's metric classes configured the way the ``sacrebleu`` command line
configures them, so a score here equals what ``sacrebleu`` prints for the same lines and options:

    sacrebleu REF -i HYP -m bleu chrf ter [-lc --chrf-lowercase] [-tok T]

Used by ``nmt evaluate`` and by validation during training (the same code, the same signatures).
"""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric

from nmt_cli import __version__
from nmt_cli.errors import DataError, UsageError
from nmt_cli.settings import ScoreSettings

Refs = list[list[str]]  # one stream per reference file: refs[k][i] is reference k of segment i
LOWER_IS_BETTER = frozenset({"ter"})


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


def make_metric(key: str, opts: ScoreSettings, sentence: bool = False) -> Metric:
    """A sacreBLEU metric configured like the sacrebleu CLI; sentence BLEU uses effective order (``-sl``)."""
    try:
        if key == "bleu":
            # force=True: nmt evaluate runs its own, broader tokenized-text check (warn_suspicious)
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


def format_score(score: float, width: int) -> str:
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
                formatted=format_score(result.score, opts.width),
                verbose=getattr(result, "_verbose", ""),
            )
        )
    return scores


def per_sentence_scores(hyps: Sequence[str], refs: Refs, opts: ScoreSettings) -> list[dict[str, Any]]:
    """One row per segment: ``{"id": 0-based line index, "bleu": ..., "chrf": ...}`` for each metric
    (ids are 0-based in every JSON output of nmt)."""
    metrics = {key: make_metric(key, opts, sentence=True) for key in opts.metrics}
    rows = []
    for i, hyp in enumerate(hyps):
        seg_refs = [stream[i] for stream in refs]
        row: dict[str, Any] = {"id": i}
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
        formatted=format_score(result.score, width),
        mean=float(result.mean),
        ci=float(result.ci),
        p_value=None if p is None else float(p),
    )


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


def versions() -> dict[str, str]:
    import sacrebleu

    return {"nmt": __version__, "sacrebleu": sacrebleu.__version__, "python": platform.python_version()}
