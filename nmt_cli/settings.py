"""Every command's settings, in one place: typed, frozen dataclasses.

The command line builds them from its parsed options in one call (:func:`build`: options named like
the fields); a config file will later build them the same way from a mapping. Choice-valued fields are
``Literal`` types from ``choices.py``: Typer checks them when the command line is parsed (a usage error,
exit 2, choices shown in ``--help``), and :func:`check_choices` checks them again for settings built any
other way.
Numeric ranges and combinations are checked in ``__post_init__`` (``UsageError``, exit 2).

``ModelSettings`` and ``TrainSettings`` are saved into every checkpoint (``dataclasses.asdict``) and read
back with :func:`build`, which ignores keys written by a newer version.

Imports nothing heavy; the command line imports it only when a command runs (dataclasses take a few
milliseconds to build, and ``nmt --help`` needs only ``choices.py``).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from nmt_cli.choices import (
    METRICS,
    AlignLevel,
    Cell,
    DecayFrom,
    Device,
    Kernels,
    LongInput,
    Optimizer,
    Placement,
    Quantize,
    Schedule,
    SpmModel,
    SubwordSides,
    Tokenize,
    ValidMetric,
    WhichCheckpoint,
)
from nmt_cli.errors import UsageError

S = TypeVar("S")


def build(cls: type[S], options: Mapping[str, Any], **derived: Any) -> S:
    """Settings ``cls`` from a mapping of values named like its fields (other keys are ignored).

    ``derived`` sets the few fields whose option is spelled for users rather than like the field
    (``--separate-vocab`` -> ``joint_vocab``). Used for parsed options and for saved configs alike.
    """
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{**{k: v for k, v in options.items() if k in names}, **derived})


def to_dict(settings: Any) -> dict[str, Any]:
    return asdict(settings)


_CHOICES: dict[type, dict[str, tuple[Any, ...]]] = {}


def _choices(cls: type) -> dict[str, tuple[Any, ...]]:
    """Field name -> allowed values, for every field typed with a Literal (or an optional one)."""
    if cls in _CHOICES:
        return _CHOICES[cls]
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        if len(args) == 1 and typing.get_origin(args[0]) is Literal:
            out[name] = typing.get_args(args[0])
        elif typing.get_origin(hint) is Literal:
            out[name] = typing.get_args(hint)
    _CHOICES[cls] = out
    return out


def check_minimums(settings: Any, minimums: dict[str, float]) -> None:
    """Refuse a field below its minimum, naming the option (``log_every`` -> ``--log-every``)."""
    for name, least in minimums.items():
        value = getattr(settings, name)
        if not value >= least:  # (also refuses NaN)
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} must be at least {least:g}, not {value!r}")


def check_choices(settings: Any) -> None:
    """Refuse a value outside its Literal choices (the command line refuses them while parsing)."""
    for name, allowed in _choices(type(settings)).items():
        value = getattr(settings, name)
        if value is not None and value not in allowed:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} must be one of {', '.join(map(str, allowed))}, not {value!r}")


# Command-line options whose settings field has another name (the rest share their name).
OPTION_FIELDS = {"max_time": "max_seconds", "output_vocab": "restrict_output"}


# ---------------------------------------------------------------------------------------------- prepare


@dataclass(frozen=True)
class SourceSettings:
    """Where the parallel data comes from (exactly one of train / tsv / hf)."""

    train: tuple[Path, Path] | None = None
    dev: tuple[Path, Path] | None = None
    test: tuple[Path, Path] | None = None
    tsv: Path | None = None
    columns: str = "0,1"
    hf: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    hf_dev_split: str | None = None
    hf_test_split: str | None = None
    streaming: bool = False
    src_lang: str | None = None
    tgt_lang: str | None = None

    def describe(self) -> dict[str, Any]:
        """The settings given, as JSON values (for the manifest)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value is None:
                continue
            if isinstance(value, tuple):
                value = [str(v) for v in value]
            out[key] = str(value) if isinstance(value, Path) else value
        return out


@dataclass(frozen=True)
class PrepareSettings:
    """Cleaning rules, tokenizer and held-out sizes of ``nmt prepare`` (recorded in the manifest)."""

    vocab_size: int = 8000
    joint_vocab: bool = True
    model_type: SpmModel = "unigram"
    character_coverage: float = 1.0
    byte_fallback: bool = True
    input_sentence_size: int = 1_000_000
    max_pieces: int = 200
    max_chars: int = 2000
    max_ratio: float = 3.0
    ratio_min_pieces: int = 10
    drop_copies: bool = True
    drop_duplicates: bool = True
    drop_overlap: bool = True
    dev_size: int = 0
    test_size: int = 0
    seed: int = 1

    def __post_init__(self) -> None:
        check_choices(self)
        check_minimums(
            self,
            {"vocab_size": 1, "input_sentence_size": 1, "max_pieces": 1, "max_chars": 1, "max_ratio": 1.0,
             "ratio_min_pieces": 0},
        )  # fmt: skip
        if not 0.0 < self.character_coverage <= 1.0:
            raise UsageError("--character-coverage must be in (0, 1]")

    def rule_texts(self) -> dict[str, str]:
        """What each rule means, with this run's thresholds (for the report)."""
        return {
            "bad_row": "TSV/CSV line without both columns, or unparsable",
            "empty": "a side is empty or whitespace-only",
            "control_chars": "a side holds a control character (other than tab)",
            "too_long_chars": f"a side has more than {self.max_chars} characters",
            "copy": "source is identical to target",
            "in_dev_test": "source is also a dev or test source",
            "duplicate": "exact repeat of an earlier pair",
            "too_long_pieces": f"a side has more than {self.max_pieces} pieces",
            "length_ratio": (
                f"the longer side has over {self.max_ratio:g}x the pieces of the shorter "
                f"(checked from {self.ratio_min_pieces} pieces)"
            ),
            "invalid_utf8": "invalid UTF-8 replaced with U+FFFD (pair kept)",
            "line_breaks": "line breaks inside a field replaced with spaces (pair kept)",
        }


# ---------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ModelSettings:
    """Architecture; together with the vocabulary sizes it rebuilds the model."""

    cell: Cell = "gru"
    attention: Placement = "post"  # (bahdanau until 7 December 2026: bench/budget.py, the README)
    input_feeding: bool = False  # feed the previous attentional output (post placement only)
    emb: int = 256
    enc_hidden: int = 256  # per direction
    dec_hidden: int = 512
    attn_dim: int = 512
    layers: int = 1
    dropout: float = 0.2
    tie_embeddings: bool = False
    bridge: bool = True
    restrict_output: bool = True  # output layer over the target pieces seen in training
    src_vocab: int = 0
    tgt_vocab: int = 0
    out_vocab: int = 0  # size of that output vocabulary (0 = tgt_vocab)

    def __post_init__(self) -> None:
        check_choices(self)
        if min(self.emb, self.enc_hidden, self.dec_hidden, self.attn_dim, self.layers) < 1:
            raise UsageError("model sizes and --layers must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError("--dropout must be in [0, 1)")


# ---------------------------------------------------------------------------------------------- train


# The defaults a run gets from its limit (bench/budget.py, the README's budget table): given
# --max-steps or --max-time, a new run decays linearly from 2e-3 to 0 exactly at the limit, which beat
# a constant 1e-3 with plateau halving on the Bible and Multi30k; without a limit (early stopping
# ends the run) and when fine-tuning (--init-from), it keeps 1e-3 with plateau halving.
DEFAULT_LR = 1e-3
BUDGET_LR = 2e-3


def resolve_budget(cfg: TrainSettings) -> None:
    """Fill in the ``auto`` schedule and the lr left unset (on the frozen settings, at construction)."""
    new = not cfg.init_from  # fine-tuning starts from trained weights: not the rate to start from scratch
    if cfg.schedule == "auto":
        limited = bool(cfg.max_steps or cfg.max_seconds)
        object.__setattr__(cfg, "schedule", "linear" if limited and new else "plateau")
    budgeted = cfg.schedule in ("linear", "cosine") and new
    if cfg.lr is None:
        object.__setattr__(cfg, "lr", BUDGET_LR if budgeted else DEFAULT_LR)


@dataclass(frozen=True)
class Sampling:
    """Subword regularisation (data/sampling.py): SentencePiece's alpha and nbest_size (-1: sample
    from every segmentation), on both sides or on the source only."""

    alpha: float
    nbest: int = -1
    target: bool = True


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation, validation and stopping."""

    batch_tokens: int = 2000
    accum: int = 1
    optimizer: Optimizer = "adam"
    lr: float | None = None  # None: BUDGET_LR under linear or cosine from scratch, else DEFAULT_LR
    warmup: int = 0
    schedule: Schedule = "auto"  # auto: linear with --max-steps or --max-time (not --init-from), else plateau
    min_lr: float = 0.0  # where linear and cosine end, at --max-steps or --max-time
    # 0.1: better dev BLEU in 10-minute budgets on the Bible, Multi30k and Tatoeba (README budget section)
    label_smoothing: float = 0.1
    subword_alpha: float = 0.0  # > 0: training pairs segmented afresh by sampling every epoch
    subword_nbest: int = -1
    subword_sides: SubwordSides = "both"
    clip: float = 1.0
    max_steps: int = 0
    max_epochs: int = 0
    max_seconds: float = 0.0
    valid_every: int = 500
    save_every: int = 0  # 0 = at every validation
    log_every: int = 100
    valid_metric: ValidMetric = "bleu"
    patience: int = 10
    decay_patience: int = 0  # > 0: the budgeted decay starts after this many validations without a gain
    decay_from: DecayFrom = (
        "last"  # best: the early decay starts from the best validation's weights, Adam restarted
    )
    keep_last: int = 3
    seed: int = 1
    threads: int = 0
    device: Device = "auto"
    bf16: bool | None = None  # None (auto): bf16 where a CPU has bf16 units and it is timed 1.1x faster
    kernels: Kernels = "auto"  # auto: timed on the first batch (training/autotune.py)
    max_nan_skips: int = 5
    init_from: str | None = None  # a run or checkpoint whose weights a new run starts from
    average_last: int = 0  # at the end: average the last K checkpoints, best.pt if better on dev
    tune_alpha: bool = False  # at the end: tune beam search's length penalty on dev

    def __post_init__(self) -> None:
        check_choices(self)
        resolve_budget(self)
        check_minimums(
            self,
            {"batch_tokens": 1, "accum": 1, "valid_every": 1, "log_every": 1, "keep_last": 1, "lr": 0.0,
             "warmup": 0, "clip": 0.0, "max_steps": 0, "max_epochs": 0, "max_seconds": 0.0, "save_every": 0,
             "patience": 0, "decay_patience": 0, "threads": 0, "max_nan_skips": 0, "average_last": 0},
        )  # fmt: skip
        if not self.peak_lr > 0.0:
            raise UsageError(f"--lr must be positive, not {self.lr!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError("--label-smoothing must be in [0, 1)")
        if self.subword_alpha < 0.0 or not (self.subword_nbest == -1 or self.subword_nbest >= 2):
            raise UsageError("--subword-alpha must be at least 0, --subword-nbest -1 or at least 2")
        if self.schedule in ("linear", "cosine") and not (self.max_steps or self.max_seconds):
            raise UsageError(
                f"--schedule {self.schedule} decays to --min-lr at the limit: give --max-steps or --max-time"
            )
        if self.decay_patience and self.schedule not in ("linear", "cosine"):
            raise UsageError(
                "--decay-patience starts a budgeted decay early: it needs --schedule linear or cosine "
                f"(the default with --max-steps or --max-time), not {self.schedule}"
            )
        if self.decay_from == "best" and not self.decay_patience:
            raise UsageError(
                "--decay-from best goes back to the best checkpoint when --decay-patience starts "
                "the decay early: give --decay-patience too"
            )
        if 0 < self.patience <= self.decay_patience:
            raise UsageError(
                f"--decay-patience {self.decay_patience} would never start: --patience {self.patience} "
                "stops the run first (give --patience above it, or 0)"
            )
        if self.average_last > self.keep_last:
            k = self.average_last
            raise UsageError(f"--average-last {k} needs --keep-last {k} or more")
        if not 0.0 <= self.min_lr < self.peak_lr:
            raise UsageError(f"--min-lr must be at least 0 and below --lr {self.lr}, not {self.min_lr!r}")

    @property
    def subword_sampling(self) -> Sampling | None:
        """How training pieces are sampled (None: the stored segmentation, every epoch)."""
        if not self.subword_alpha:
            return None
        return Sampling(self.subword_alpha, self.subword_nbest, self.subword_sides == "both")

    @property
    def peak_lr(self) -> float:
        """--lr as resolved (never None after construction)."""
        return self.lr if self.lr is not None else DEFAULT_LR

    # Keys that may change on resume without changing the run (stopping limits, speed knobs).
    RESUMABLE_CHANGES = (
        "max_steps",
        "max_epochs",
        "max_seconds",
        "threads",
        "device",
        "patience",
        "decay_patience",
        "decay_from",
        "log_every",
        "average_last",
        "tune_alpha",
        "kernels",
    )


# ---------------------------------------------------------------------------------------------- decode


# Measured on 2 cores (bible dev, benchmark model): beam 5 peaks at 24-32 sentences a batch, greedy at
# 128-160; both are about 160 rows (sentences x beam) in the decoder's matrix products.


DEFAULT_ALPHA = 0.6  # GNMT length normalisation, where a run has none tuned on dev


@dataclass(frozen=True)
class DecodeSettings:
    """How ``translate`` (and ``evaluate -m``, and validation) turn sources into output lines."""

    beam: int = 1
    alpha: float | None = None  # None: the run's tuned alpha (finish.json), else DEFAULT_ALPHA
    nbest: int = 1
    batch_size: int = 0  # sentences per batch; 0 = chosen for the device (devices.sentences_per_batch)
    max_src_len: int = 250
    long_input: LongInput = "crop"
    max_len_ratio: float = 2.0
    max_len: int = 400
    show_attention: bool = False
    heatmap_words: bool = False
    align: bool = False
    align_level: AlignLevel = "word"
    json_out: bool = False
    attention_matrix: bool = False
    strict_utf8: bool = False
    threads: int = 0
    quantize: Quantize = "none"
    checkpoint: WhichCheckpoint = "best"
    device: Device = "auto"

    def __post_init__(self) -> None:
        check_choices(self)
        if self.beam < 1 or self.nbest < 1 or self.batch_size < 0:
            raise UsageError("--beam and --nbest must be at least 1, --batch-size at least 0")
        if self.nbest > self.beam:
            raise UsageError(f"--nbest {self.nbest} needs --beam of at least {self.nbest}")
        if self.max_src_len < 1 or self.max_len < 1 or not self.max_len_ratio > 0:
            raise UsageError("--max-src-len, --max-len and --max-len-ratio must be positive")
        check_minimums(self, {"threads": 0})


# ---------------------------------------------------------------------------------------------- evaluate


@dataclass(frozen=True)
class ScoreSettings:
    """How to score; ``lowercase`` applies to BLEU and chrF, ``tokenize`` to BLEU (as in sacreBLEU)."""

    metrics: tuple[str, ...] = ("bleu", "chrf", "ter")
    lowercase: bool = False
    tokenize: Tokenize | None = None
    width: int = 1  # decimals, like sacrebleu's --width

    def __post_init__(self) -> None:
        check_choices(self)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise UsageError(f"--metrics: choose from {', '.join(METRICS)} (comma-separated)")
        if not 0 <= self.width <= 10:
            raise UsageError("--width must be between 0 and 10")


@dataclass(frozen=True)
class EvaluateSettings:
    """What ``nmt evaluate`` reads and writes. Hypotheses come from ``hyp`` or ``systems``; with
    ``evaluate -m`` the command layer translates first and passes the lines in."""

    refs: tuple[str, ...] = ()
    hyp: str | None = None
    systems: tuple[str, ...] = ()
    score: ScoreSettings = ScoreSettings()
    json_out: bool = False
    quiet: bool = False  # less on stderr (no comparison table, no corpus scores with --per-sentence -)
    score_only: bool = False  # only the numbers on stdout
    fail_under: str = ""
    per_sentence: str | None = None
    bootstrap_samples: int = 1000
