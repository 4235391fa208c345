"""What a checkpoint holds, typed: the only module that knows the keys of a checkpoint file.

A checkpoint describes itself: weights, the settings that rebuild the model, the tokenizer, versions
and, in step files, everything an exact resume needs. ``checkpoint.py`` moves these dicts to and from
disk (atomic writes, hashes, the manifest); this module turns them into records and back:

- :func:`load_model_record` for inference (``translate``, ``evaluate -m``): weights, settings, tokenizer;
- :func:`load_resume_record` for training: the same plus optimizer, schedule, run state and RNG states.

On disk (format 1) a checkpoint is a dict with the keys of :func:`to_payload`; ``best.pt`` omits the
training-only ones (``optimizer``, ``schedule``, ``rng``) so that a cold start reads a third of the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nmt_cli import checkpoint, runfiles
from nmt_cli.errors import CheckpointError, UsageError
from nmt_cli.settings import ModelSettings, build
from nmt_cli.tokenizer import reusable

Warn = Callable[[str], None]
TRAINING_ONLY = ("optimizer", "schedule", "rng")


@dataclass
class RunState:
    """Everything besides weights, optimizer and schedule that an exact resume needs.

    ``best_score``, ``bad_validations`` and ``history`` are the regular validations' (what best,
    patience and the plateau schedule decide on); ``best_saved`` is the score of the checkpoint in
    ``best.pt``, which a stop-time validation may have improved on (None: the same as ``best_score``,
    as in checkpoints written before it existed). ``window_loss``/``window_tokens`` sum the training
    loss since the last regular validation, so a resumed run reports the same ``train_loss``.
    """

    step: int = 0
    epoch: int = 1
    batch_in_epoch: int = 0
    best_score: float | None = None
    bad_validations: int = 0
    elapsed: float = 0.0
    nan_skips: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_saved: float | None = None
    window_loss: float = 0.0
    window_tokens: int = 0
    kernels: dict[str, Any] = field(default_factory=dict)  # training/autotune.py's choice, kept on resume

    @property
    def best_step(self) -> int | None:
        """The update of the best regular validation (None before the first one with dev scores)."""
        return max((h["step"] for h in self.history if h.get("best")), default=None)


@dataclass(frozen=True)
class ModelRecord:
    """What translation needs: the model's settings and weights, and the tokenizer it was trained with."""

    model_settings: ModelSettings
    weights: dict[str, Tensor]
    spm_src: bytes
    spm_tgt: bytes
    train_settings: dict[str, Any]  # as saved (a newer version may have written more keys)
    data_sha256: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    averaged_from: list[str] | None = None


@dataclass(frozen=True)
class ResumeRecord:
    """A step file: the model record plus the training state at that step."""

    model: ModelRecord
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    run_state: RunState
    rng: dict[str, Any]


def to_payload(record: ModelRecord | ResumeRecord) -> dict[str, Any]:
    """The dict saved on disk (``torch.save`` with tensors, bytes and plain values only)."""
    model = record.model if isinstance(record, ResumeRecord) else record
    payload: dict[str, Any] = {
        "format": checkpoint.FORMAT,
        "model_config": asdict(model.model_settings),
        "train_config": model.train_settings,
        "model": model.weights,
        "spm_src": model.spm_src,
        "spm_tgt": model.spm_tgt,
        "data_sha256": model.data_sha256,
        "versions": model.versions,
    }
    if model.averaged_from is not None:
        payload["averaged_from"] = model.averaged_from
    if isinstance(record, ResumeRecord):
        payload.update(
            optimizer=record.optimizer,
            schedule=record.schedule,
            run_state=record.run_state.__dict__.copy(),
            rng=record.rng,
        )
    return payload


def model_record(payload: dict[str, Any], where: str) -> ModelRecord:
    """The inference part of a loaded checkpoint dict."""
    try:
        return ModelRecord(
            model_settings=build(ModelSettings, payload["model_config"]),
            weights=payload["model"],
            spm_src=payload["spm_src"],
            spm_tgt=payload["spm_tgt"],
            train_settings=payload.get("train_config", {}),
            data_sha256=payload.get("data_sha256"),
            versions=payload.get("versions", {}),
            averaged_from=payload.get("averaged_from"),
        )
    except KeyError as err:
        raise CheckpointError(f"{where}: not an nmt checkpoint (no {err.args[0]!r})") from None


def resume_record(payload: dict[str, Any], where: str) -> ResumeRecord:
    """A loaded step file as a resume record."""
    try:
        return ResumeRecord(
            model=model_record(payload, where),
            optimizer=payload["optimizer"],
            schedule=payload["schedule"],
            run_state=RunState(**payload["run_state"]),
            rng=payload["rng"],
        )
    except KeyError as err:
        raise CheckpointError(f"{where}: a checkpoint without training state ({err.args[0]!r})") from None
    except TypeError:  # run_state is no dict, or has fields this version does not know
        raise CheckpointError(f"{where}: a training state this version cannot resume") from None


def load_model_record(model_path: Path | str, which: str = "best", warn: Warn | None = None) -> ModelRecord:
    """A run directory's best/last checkpoint (falling back to older good ones), or a checkpoint file."""
    return model_record(checkpoint.load(Path(model_path), which, warn=warn), str(model_path))


def tokenizer_of(path: Path) -> tuple[bytes, bytes]:
    """The (source, target) SentencePiece models of a run directory or checkpoint file (the best
    checkpoint's), a data directory (spm.model, or spm.src.model and spm.tgt.model) or a .model file
    (both sides); a UsageError when ``path`` is none of these or the models are not nmt's."""
    where = f"--tokenizer {path}"
    if path.is_file() and path.suffix == ".model":
        proto = reusable(path.read_bytes(), where)
        return proto, proto
    if (path / "spm.model").is_file():
        proto = reusable((path / "spm.model").read_bytes(), where)
        return proto, proto
    if (path / "spm.src.model").is_file() and (path / "spm.tgt.model").is_file():
        src, tgt = ((path / f"spm.{side}.model").read_bytes() for side in ("src", "tgt"))
        return reusable(src, where), reusable(tgt, where)
    if path.is_file() or (path / "config.json").exists() or (path / checkpoint.MANIFEST).exists():
        rec = load_model_record(path)
        return reusable(rec.spm_src, where), reusable(rec.spm_tgt, where)
    raise UsageError(f"{where}: not a run directory, a checkpoint, a data directory or a .model file")


def load_resume_record(run: Path, warn: Warn | None = None) -> ResumeRecord | None:
    """The run's last checkpoint as a resume record; None when the run has none yet."""
    if checkpoint.read_manifest(run).get("last") is None:
        return None
    return resume_record(checkpoint.load(run, "last", warn=warn), str(run))


def save(run: Path, record: ResumeRecord, step: int, is_best: bool, keep_last: int) -> Path:
    """Save a step file (and best.pt, slim, when ``is_best``) through ``checkpoint.save``."""
    assert_finite(record.model.weights)
    payload = to_payload(record)
    slim = {k: v for k, v in payload.items() if k not in TRAINING_ONLY}
    best = record.run_state.best_step  # kept: --decay-from best goes back to it
    also_keep = () if best is None else (runfiles.step_name(best),)
    return checkpoint.save(run, payload, slim, step, is_best, keep_last, also_keep)


def assert_finite(weights: dict[str, Tensor]) -> None:
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"refusing to save a checkpoint: parameter {name} is not finite")


def averaged_record(run: Path, last: int) -> tuple[list[str], ModelRecord]:
    """The mean weights of the last ``last`` (at least 1: a UsageError otherwise) kept checkpoints of
    ``run`` as a model record (settings and tokenizer of the newest one), and the names averaged,
    oldest first."""
    names, payloads = checkpoint.last_kept(run, last)
    records = [model_record(p, str(run / n)) for n, p in zip(names, payloads, strict=True)]
    newest = records[-1]
    weights = {}
    for key, tensor in newest.weights.items():
        if tensor.is_floating_point():
            weights[key] = torch.stack([r.weights[key].float() for r in records]).mean(0).to(tensor.dtype)
        else:
            weights[key] = tensor
    assert_finite(weights)
    return names, ModelRecord(**{**newest.__dict__, "weights": weights, "averaged_from": names})


def average(run: Path, last: int, out: Path) -> dict[str, Any]:
    """Average the last ``last`` kept checkpoints of ``run`` into ``out``: a self-contained model
    checkpoint without training state. Returns a summary: ``{"output", "run", "checkpoints" (names
    averaged, oldest first)}``.
    """
    names, averaged = averaged_record(run, last)
    checkpoint.write_file(out, to_payload(averaged))
    return {"output": str(out), "run": str(run), "checkpoints": names}


def promote_best(run: Path, model: ModelRecord, step: int) -> None:
    """Make ``model`` (e.g. an average that scored better on dev) the run's ``best.pt``."""
    checkpoint.replace_best(run, to_payload(model), step)


FINISH_FILE = "finish.json"  # what a run's finishing did (training/finish.py), e.g. the tuned alpha


def tuned_alpha(model_path: str | Path) -> float | None:
    """The length penalty tuned on dev that a run directory's finish.json holds (None: none, or not a
    run directory)."""
    try:
        data = json.loads((Path(model_path) / FINISH_FILE).read_text(encoding="utf-8"))
        return float(data["length_penalty"]["alpha"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
