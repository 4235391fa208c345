"""A training session: the model, optimizer, schedule and run state, built fresh or resumed.

Exact resume: an epoch's batch order is a pure function of (seed, epoch) (see batching.py), and a
checkpoint records the epoch, the position inside it, the RNG states, optimizer, schedule, best
score and patience (``record.ResumeRecord``); ``resume`` reads it and checks it against this job,
``rng`` saves and restores the random number generators.

Several processes (torchrun): the weights are initialised alike on every rank, then rank r seeds its
own RNGs with ``seed + r`` (different dropout masks; rank 0 draws what a single process draws). Only
rank 0 reads the run directory, which other machines may not see: it sends the resume record to the
other ranks.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import nmt_cli.training.distributed as distributed
import nmt_cli.training.init_from as init_from
import nmt_cli.training.resume as resume
import nmt_cli.training.rng as rng
from nmt_cli import __version__, display, faults, record
from nmt_cli.batching import make_batches, shard
from nmt_cli.data.encoded import DataDir, EncodedSplit, IdPairs
from nmt_cli.data.sampling import sample_split
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
    bf16: bool = False  # bf16 autocast in effect: --bf16 (or, on a CPU, the default) where the device
    # has bf16 units and, on a CPU, bf16 timed faster than fp32 (training/autotune.py)
    _sampled: tuple[int, IdPairs] | None = field(default=None, init=False, repr=False)

    def epoch_split(self, epoch: int) -> IdPairs:
        """The training pairs as ``epoch`` sees them: as stored, or with --subword-alpha segmented by
        sampling for that epoch (data/sampling.py; kept while the epoch runs)."""
        how = self.cfg.subword_sampling
        if how is None:
            return self.train_split
        if self._sampled is None or self._sampled[0] != epoch:
            self._sampled = (epoch, sample_split(self.train_split, self.tok, how, self.cfg.seed, epoch))
        return self._sampled[1]

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches of ``epoch`` (index arrays into ``epoch_split(epoch)``), in order."""
        split = self.epoch_split(epoch)
        batches = make_batches(
            split.src_lengths, split.tgt_lengths, self.cfg.batch_tokens, self.cfg.seed, epoch
        )
        return shard(batches, self.job.rank, self.job.world)

    def save(self, is_best: bool) -> None:
        """Checkpoint the current step: every rank calls it (RNG states are gathered), rank 0 writes."""
        states = rng.states(self.job)
        if self.job.main:
            step, keep = self.state.step, self.cfg.keep_last
            record.save(self.run_dir, self.resume_record(states), step, is_best, keep)
            if faults.armed("kill-after-save", step):
                faults.kill_self()

    def restore_best(self) -> int:
        """Put the best regular validation's weights back into the model on every rank and restart
        the optimizer's moments (a fresh Adam); returns that validation's update.

        Its step file, not best.pt: a stop-time validation or ``--average-last`` may have replaced
        best.pt, and a run that never stopped would not have gone back to those weights. Rank 0 reads
        it and sends it to the other ranks (a failure is raised on every rank)."""
        step = self.state.best_step
        assert step is not None  # (a validation without a gain follows one with)
        failure = f"{self.run_dir}: rank 0 could not read the best validation's checkpoint"
        weights = distributed.read_on_rank_0(
            lambda: resume.best_weights(self.run_dir, step), self.job, self.device, failure
        )
        self.model.load_state_dict(weights)
        self.optimizer.state.clear()
        return step

    def resume_record(self, rng_states: dict[str, Any]) -> ResumeRecord:
        """The current step as a record, with ``rng_states`` those of every rank (``rng.states``)."""
        weights = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        model = ModelRecord(
            model_settings=self.model_cfg,
            weights=weights,
            spm_src=self.tok.src_proto,
            spm_tgt=self.tok.tgt_proto,
            train_settings=to_dict(self.cfg),
            data_sha256=self.data.fingerprint,
            versions=versions(),
        )
        return ResumeRecord(
            model=model,
            optimizer=self.optimizer.state_dict(),
            schedule=self.schedule.state_dict(),
            run_state=RunState(**self.state.__dict__),
            rng=rng_states,
        )


def open_session(
    data: DataDir,
    run: Path,
    model_cfg: ModelSettings,
    cfg: TrainSettings,
    force: bool,
    explicit: Collection[str] | None = None,
) -> Session:
    """Build the model and optimizer, fresh or from the run's last checkpoint (or, for a new run with
    ``--init-from``, from another run's weights).

    ``explicit``: the settings given on the command line (None: all of them). Resuming, the others
    are the run's own: ``nmt train DATA --out RUN`` alone continues RUN as it was started.
    """
    job = distributed.init()
    device = distributed.local_device(_device(cfg), job)
    tok, train_split = data.tokenizer(), data.split("train")
    _check_batches(train_split, cfg, job)
    resumed = resume.load(run, job, device)
    if resumed is not None and explicit is not None:
        model_cfg, cfg = resume.run_settings(resumed.model, model_cfg, cfg, explicit)
    bf16 = _bf16_candidate(cfg, device, job.main)  # (after resuming: the run's own --bf16)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    init = init_from.load(cfg.init_from, tok) if cfg.init_from and resumed is None else None
    model_cfg, out_ids = _model_and_outputs(model_cfg, cfg, tok, train_split, init or resumed, explicit)
    if resumed is not None:
        resume.check_world(resumed, run, job)
        model_cfg = resume.check_settings(resumed.model, model_cfg, cfg, data, run, force)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = Seq2Seq(model_cfg)
    init_weights(model, cfg.seed)  # its own generator: the same weights on every rank
    rng.seed_rank(cfg.seed, job.rank)
    model.generator.set_vocabulary(out_ids)
    if init is not None:
        init_from.load_weights(model, init, str(cfg.init_from))
    model.to(device)
    loss_module = distributed.wrap(LossModule(model, cfg.label_smoothing), device, job)
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=cfg.peak_lr, fused=True)
    metrics = MetricsLog(run / "metrics.jsonl", enabled=job.main)
    session = Session(
        data, run, cfg, model_cfg, job, device, tok, train_split, model, loss_module, optimizer,
        LrSchedule(cfg), RunState(), metrics, bf16,
    )  # fmt: skip
    if resumed is not None:
        _restore(session, resumed)
    return session


def _model_and_outputs(
    model_cfg: ModelSettings,
    cfg: TrainSettings,
    tok: Tokenizer,
    train: EncodedSplit,
    saved: ModelRecord | ResumeRecord | None,
    explicit: Collection[str] | None,
) -> tuple[ModelSettings, list[int]]:
    """The model settings with the data's sizes, and the piece ids the output layer scores. With
    ``--init-from`` both come from the checkpoint started from (``saved``: it, or the run's own last
    checkpoint on resume), widened by the new data's pieces at the start."""

    def sized(ids: list[int]) -> dict[str, int]:
        return {"src_vocab": tok.src_vocab_size, "tgt_vocab": tok.tgt_vocab_size, "out_vocab": len(ids)}

    base = saved.model if isinstance(saved, ResumeRecord) else saved
    if not cfg.init_from or base is None:
        out_ids = _output_vocabulary(model_cfg, cfg, tok, train)
        return build(ModelSettings, {**to_dict(model_cfg), **sized(out_ids)}), out_ids
    if isinstance(saved, ResumeRecord):  # the fine-tuning run's own, as it started
        out_ids = _saved_vocabulary(base)
    else:
        out_ids = init_from.output_vocabulary(base, _output_vocabulary(base.model_settings, cfg, tok, train))
    return init_from.model_settings(base.model_settings, model_cfg, explicit or (), sized(out_ids)), out_ids


def _saved_vocabulary(saved: ModelRecord) -> list[int]:
    """The output vocabulary a checkpoint's generator scores."""
    return [int(i) for i in saved.weights[init_from.OUT_IDS].tolist()]


def _device(cfg: TrainSettings) -> torch.device:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _output_vocabulary(
    model_cfg: ModelSettings, cfg: TrainSettings, tok: Tokenizer, train: EncodedSplit
) -> list[int]:
    """Piece ids the output layer scores: all, or the specials plus those seen in train targets
    (all when targets are sampled: a sampled segmentation uses pieces the stored one never does)."""
    if not model_cfg.restrict_output or (cfg.subword_sampling and cfg.subword_sampling.target):
        return list(range(tok.tgt_vocab_size))
    seen = np.unique(np.asarray(train.tgt_ids))
    return sorted({0, 1, 2, 3} | {int(i) for i in seen})


def _check_batches(train: EncodedSplit, cfg: TrainSettings, job: Dist) -> None:
    """Refuse a training split with fewer batches than ranks before anything is built.

    The number of batches is the same in every epoch (only which sentences share a batch changes),
    so epoch 1 tells; ``shard`` raises the error, the same on every rank."""
    if job.world > 1:
        shard(make_batches(train.src_lengths, train.tgt_lengths, cfg.batch_tokens, cfg.seed, 1), 0, job.world)


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
    rng.set_states(resumed.rng, session.job.rank)
    if session.job.rank and rng.RANKS not in resumed.rng:  # saved by an older version: rank 0's states only
        rng.seed_rank(session.cfg.seed, session.job.rank)
    display.info(f"resuming {session.run_dir} at step {session.state.step} (epoch {session.state.epoch})")


def _bf16_candidate(cfg: TrainSettings, device: torch.device, main: bool) -> bool:
    """Whether bf16 autocast is tried: ``--bf16`` unless it would be emulated; ``--fp32`` never; by
    default (auto) on a CPU with bf16 units when the kernels are timed (training/autotune.py then keeps
    it only if a first-batch pass is faster than in fp32)."""
    if cfg.bf16 is None:
        return device.type == "cpu" and cfg.kernels == "auto" and cpu_has_bf16_units()
    return cfg.bf16 and not _emulated_bf16(device, main)


def _emulated_bf16(device: torch.device, main: bool) -> bool:
    """True (and said once) when --bf16 would run emulated: a CPU without bf16 units, where a bf16
    product is ~30x slower than fp32 (2.2 against 119 GFLOP/s on an AVX2-only EPYC). Training then
    stays in fp32."""
    if device.type != "cpu" or cpu_has_bf16_units():
        return False
    if main:
        display.warn(
            f"--bf16: {BF16_WARNING}; training in fp32 instead (the same run, about 30x faster here)"
        )
    return True


def versions() -> dict[str, str]:
    """The versions a run records (checkpoints, config.json, train --json)."""
    return {"nmt": __version__, "torch": str(torch.__version__)}
