"""What the command line needs before any settings exist: the values of choice-valued options and the
parsers of option strings (durations, metric lists). Cheap to import: ``nmt --help`` loads it.

Each choice is a ``Literal``: Typer shows it in ``--help`` and refuses other values while parsing
(exit 2); the settings dataclasses (``settings.py``) use the same types and check them again.
"""

from __future__ import annotations

import re
from typing import Literal

from nmt_cli.errors import UsageError

Cell = Literal["gru", "lstm"]
Placement = Literal["bahdanau", "post"]  # bahdanau: query s(t-1), context into the cell | post: query s(t)
OutputVocab = Literal["seen", "all"]
SubwordSides = Literal["both", "src"]
Optimizer = Literal["adam", "adamw"]
Schedule = Literal["auto", "constant", "plateau", "rsqrt", "linear", "cosine"]
ValidMetric = Literal["bleu", "chrf", "loss"]
Device = Literal["auto", "cpu", "cuda"]
Kernels = Literal["auto", "fast", "plain"]
DecayFrom = Literal[
    "last", "best"
]  # where --decay-patience decays from: the weights as they are, or the best validation's
SpmModel = Literal["unigram", "bpe"]
LongInput = Literal["crop", "split"]
AlignLevel = Literal["word", "piece"]
Quantize = Literal["none", "int8", "bf16", "fp16"]
WhichCheckpoint = Literal["best", "last"]
# sacreBLEU's BLEU tokenizers (sacrebleu.metrics.BLEU.TOKENIZERS; a test keeps the two equal).
Tokenize = Literal[
    "none", "zh", "13a", "intl", "char", "ja-mecab", "ko-mecab", "spm", "flores101", "flores200", "spBLEU-1K"
]
METRICS = ("bleu", "chrf", "chrf++", "ter")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'30m' -> 1800.0; '' -> 0.0 (no limit); a number (from a config file) is seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    if not text:
        return 0.0
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"--max-time: cannot read {text!r}; use e.g. 90s, 30m, 2h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_metrics(text: str) -> tuple[str, ...]:
    """``"bleu,chrf"`` -> ``("bleu", "chrf")``; unknown names are a usage error, repeats are dropped."""
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [key for key in keys if key not in METRICS]
    if unknown or not keys:
        raise UsageError(f"--metrics {text!r}: choose from {', '.join(METRICS)} (comma-separated)")
    return tuple(dict.fromkeys(keys))
