"""A training session: the model, optimizer, schedule and run state, built fresh or resumed.

Exact resume: an epoch's batch order is a pure function of (seed, epoch) (see batching.py), and a
checkpoint records the epoch, the position inside it, the RNG states, optimizer, schedule, best
score and patience (``record.ResumeRecord``). Rerunning the same command on the same run directory
continues the same run; changed settings are refused unless they are stopping limits or speed knobs.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import nmt_cli.training.distributed as distributed
from nmt_cli import __version__, display, faults, record
from nmt_cli.batching import make_batches, shard
from nmt_cli.data.encoded import DataDir, EncodedSplit
from nmt_cli.errors import CheckpointError, UsageError
from nmt_cli.kernels.bf16 import BF16_WARNING, cpu_has_bf16_units
from nmt_cli.model import Seq2Seq, init_weights
from nmt_cli.record import ModelRecord, ResumeRecord, RunState
from nmt_cli.settings import ModelSettings, TrainSettings, build, to_dict
from nmt_cli.tokenizer import Tokenizer
from nmt_cli.training.distributed import Dist
from nmt_cli.training.metrics import MetricsLog
from nmt_cli.training.objective import LossModule
from nmt_cli.training.schedule import LrSchedule


@dataclass
class Session:
    """Everything one training process works with."""

    data: DataDir
    run_dir: Path
    cfg: TrainSettings
    model_cfg: ModelSettings
    job: Dist
    device: torch.device
    tok: Tokenizer
    train_split: EncodedSplit
    model: Seq2Seq
    loss_module: nn.Module  # the model's loss, DDP-wrapped when there are several ranks
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    state: RunState
    metrics: MetricsLog

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches of ``epoch`` (index arrays into the training split), in order."""
        split = self.train_split
        batches = make_batches(
            split.src_lengths, split.tgt_lengths, self.cfg.batch_tokens, self.cfg.seed, epoch
        )
        return shard(batches, self.job.rank, self.job.world)

    def save(self, is_best: bool) -> None:
        """Checkpoint the current step (rank 0 only)."""
        if self.job.main:
            record.save(self.run_dir, self.resume_record(), self.state.step, is_best, self.cfg.keep_last)
            if faults.armed("kill-after-save", self.state.step):
                faults.kill_self()

    def resume_record(self) -> ResumeRecord:
        weights = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        model = ModelRecord(
            model_settings=self.model_cfg,
            weights=weights,
            spm_src=self.tok.src_proto,
            spm_tgt=self.tok.tgt_proto,
            train_settings=to_dict(self.cfg),
            data_sha256=self.data.fingerprint,
            versions={"nmt": __version__, "torch": str(torch.__version__)},
        )
        return ResumeRecord(
            model=model,
            optimizer=self.optimizer.state_dict(),
            schedule=self.schedule.state_dict(),
            run_state=RunState(**self.state.__dict__),
            rng=_rng_state(),
        )


def open_session(
    data: DataDir, run: Path, model_cfg: ModelSettings, cfg: TrainSettings, force: bool
) -> Session:
    """Build the model and optimizer, fresh or from the run's last checkpoint."""
    job = distributed.init()
    device = distributed.local_device(_device(cfg), job)
    if cfg.bf16 and device.type == "cpu" and not cpu_has_bf16_units():
        display.warn(f"--bf16: {BF16_WARNING}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tok, train_split = data.tokenizer(), data.split("train")
    out_ids = _output_vocabulary(model_cfg, tok, train_split)
    sizes = {"src_vocab": tok.src_vocab_size, "tgt_vocab": tok.tgt_vocab_size, "out_vocab": len(out_ids)}
    model_cfg = build(ModelSettings, {**to_dict(model_cfg), **sizes})
    resumed = record.load_resume_record(run, warn=display.warn)
    if resumed is not None:
        model_cfg = _check_resume(resumed.model, model_cfg, cfg, data, run, force)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = Seq2Seq(model_cfg)
    init_weights(model, cfg.seed)
    model.generator.set_vocabulary(out_ids)
    model.to(device)
    loss_module = distributed.wrap(LossModule(model, cfg.label_smoothing), device, job)
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=cfg.lr, fused=True)
    metrics = MetricsLog(run / "metrics.jsonl", enabled=job.main)
    session = Session(
        data, run, cfg, model_cfg, job, device, tok, train_split, model, loss_module, optimizer,
        LrSchedule(cfg), RunState(), metrics,
    )  # fmt: skip
    if resumed is not None:
        _restore(session, resumed)
    return session


def _device(cfg: TrainSettings) -> torch.device:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _output_vocabulary(model_cfg: ModelSettings, tok: Tokenizer, train: EncodedSplit) -> list[int]:
    """Piece ids the output layer scores: all, or the specials plus those seen in train targets."""
    if not model_cfg.restrict_output:
        return list(range(tok.tgt_vocab_size))
    seen = np.unique(np.asarray(train.tgt_ids))
    return sorted({0, 1, 2, 3} | {int(i) for i in seen})


def _check_resume(
    old: ModelRecord, model_cfg: ModelSettings, cfg: TrainSettings, data: DataDir, run: Path, force: bool
) -> ModelSettings:
    """The model settings to resume with; changed settings are refused (or, with --force, warned about)."""
    old_model = to_dict(old.model_settings)
    changed = [k for k, v in to_dict(model_cfg).items() if old_model.get(k) != v]
    changed += [
        k
        for k, v in to_dict(cfg).items()
        if k not in TrainSettings.RESUMABLE_CHANGES and old.train_settings.get(k) != v
    ]
    if old.data_sha256 != data.fingerprint:
        changed.append("data")
    if changed and not force:
        raise UsageError(
            f"{run} was trained with other settings ({', '.join(changed)}); "
            "use the same options, a new --out, or --force"
        )
    if changed:
        display.warn(f"resuming with changed settings: {', '.join(changed)}")
    return old.model_settings if "data" not in changed else model_cfg


def _restore(session: Session, resumed: ResumeRecord) -> None:
    try:
        session.model.load_state_dict(resumed.model.weights)
    except RuntimeError as err:  # --force across data with other vocabulary sizes
        first = str(err).strip().splitlines()[-1].strip()
        raise CheckpointError(
            f"{session.run_dir}: the last checkpoint does not fit this model ({first})"
        ) from None
    session.optimizer.load_state_dict(resumed.optimizer)
    session.schedule.load_state_dict(resumed.schedule)
    session.state = resumed.run_state
    _set_rng_state(resumed.rng)
    session.metrics.truncate_after(session.state.step)
    display.info(f"resuming {session.run_dir} at step {session.state.step} (epoch {session.state.epoch})")


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def run_record(session: Session) -> dict[str, Any]:
    """``config.json``: the resolved settings of the run, for people and ``nmt info``."""
    return {
        "model": asdict(session.model_cfg),
        "train": asdict(session.cfg),
        "data": str(session.data.path.resolve()),
        "data_sha256": session.data.fingerprint,
        "parameters": session.model.num_parameters(),
        "versions": {"nmt": __version__, "torch": str(torch.__version__)},
        "world_size": session.job.world,
    }
