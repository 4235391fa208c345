"""Settings for models and training: frozen dataclasses, saved into every checkpoint."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from nmt_cli.errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture; together with the vocabulary sizes it rebuilds the model."""

    cell: str = "gru"  # gru | lstm
    attention: str = "bahdanau"  # bahdanau: query s(t-1), context into the cell | post: query s(t)
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
        if self.cell not in ("gru", "lstm"):
            raise UsageError(f"--cell must be gru or lstm, not {self.cell!r}")
        if self.attention not in ("bahdanau", "post"):
            raise UsageError(f"--attention must be bahdanau or post, not {self.attention!r}")
        if min(self.emb, self.enc_hidden, self.dec_hidden, self.attn_dim, self.layers) < 1:
            raise UsageError("model sizes and --layers must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError("--dropout must be in [0, 1)")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, validation and stopping."""

    batch_tokens: int = 2000
    accum: int = 1
    optimizer: str = "adam"
    lr: float = 1e-3
    warmup: int = 0
    schedule: str = "plateau"  # constant | plateau | rsqrt
    label_smoothing: float = 0.0
    clip: float = 1.0
    max_steps: int = 0
    max_epochs: int = 0
    max_seconds: float = 0.0
    valid_every: int = 500
    save_every: int = 0  # 0 = at every validation
    log_every: int = 100
    valid_metric: str = "bleu"  # bleu | chrf | loss
    patience: int = 10
    keep_last: int = 3
    seed: int = 1
    threads: int = 0
    device: str = "auto"
    bf16: bool = False
    max_nan_skips: int = 5

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw"):
            raise UsageError(f"--optimizer must be adam or adamw, not {self.optimizer!r}")
        if self.schedule not in ("constant", "plateau", "rsqrt"):
            raise UsageError(f"--schedule must be constant, plateau or rsqrt, not {self.schedule!r}")
        if self.valid_metric not in ("bleu", "chrf", "loss"):
            raise UsageError(f"--valid-metric must be bleu, chrf or loss, not {self.valid_metric!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"--device must be auto, cpu or cuda, not {self.device!r}")
        if self.batch_tokens < 1 or self.accum < 1 or self.valid_every < 1:
            raise UsageError("--batch-tokens, --accum and --valid-every must be positive")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError("--label-smoothing must be in [0, 1)")

    # Keys that may change on resume without changing the run (stopping limits, speed knobs).
    RESUMABLE_CHANGES = (
        "max_steps",
        "max_epochs",
        "max_seconds",
        "threads",
        "device",
        "patience",
        "log_every",
    )


def to_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config, ignoring unknown keys (written by a newer version)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'30m' -> 1800.0; '' -> 0.0 (no limit)."""
    if not text:
        return 0.0
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"--max-time: cannot read {text!r}; use e.g. 90s, 30m, 2h")
    return float(match.group(1)) * _UNITS[match.group(2)]
