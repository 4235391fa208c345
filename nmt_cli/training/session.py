"""A training session: the model, optimizer, schedule and run state, built fresh or resumed.

Exact resume: an epoch's batch order is a pure function of (seed, epoch) (see batching.py), and a
checkpoint records the epoch, the position inside it, the RNG states, optimizer, schedule, best
score and patience (``record.ResumeRecord``). Rerunning the same command on the same run directory
continues the same run; changed settings are refused unless they are stopping limits or speed knobs.

Several processes (torchrun): the weights are initialised alike on every rank, then rank r seeds its
own RNGs with ``seed + r`` (different dropout masks; rank 0 draws what a single process draws). Only
rank 0 reads the run directory, which other machines may not see: it sends the resume record to the
other ranks. A checkpoint's RNG dict holds every rank's RNG states and the world size (``world_size``,
``ranks``; a checkpoint without them was written by one process), and a run resumes only with the
number of processes it was trained with.
"""

from __future__ import annotations

import json
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
from nmt_cli import __version__, checkpoint, display, faults, record, runfiles
from nmt_cli.batching import make_batches, shard
from nmt_cli.data.encoded import DataDir, EncodedSplit, IdPairs
from nmt_cli.data.sampling import sample_split
from nmt_cli.errors import CheckpointError, NmtError, UsageError
from nmt_cli.kernels.bf16 import BF16_WARNING, cpu_has_bf16_units
from nmt_cli.model import Seq2Seq, init_weights
from nmt_cli.record import ModelRecord, ResumeRecord, RunState
from nmt_cli.settings import OPTION_FIELDS, ModelSettings, TrainSettings, build, to_dict
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
        rng = _rng_states(self.job)
        if self.job.main:
            record.save(self.run_dir, self.resume_record(rng), self.state.step, is_best, self.cfg.keep_last)
            if faults.armed("kill-after-save", self.state.step):
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
            lambda: _best_weights(self.run_dir, step), self.job, self.device, failure
        )
        self.model.load_state_dict(weights)
        self.optimizer.state.clear()
        return step

    def resume_record(self, rng: dict[str, Any]) -> ResumeRecord:
        """The current step as a record, with ``rng`` the RNG states of every rank (``_rng_states``)."""
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
            rng=rng,
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
    resumed = _load_resume(run, job, device)
    if resumed is not None and explicit is not None:
        model_cfg, cfg = _run_settings(resumed.model, model_cfg, cfg, explicit)
    bf16 = _bf16_candidate(cfg, device, job.main)  # (after resuming: the run's own --bf16)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    init = init_from.load(cfg.init_from, tok) if cfg.init_from and resumed is None else None
    model_cfg, out_ids = _model_and_outputs(model_cfg, cfg, tok, train_split, init or resumed, explicit)
    if resumed is not None:
        _check_world(resumed, run, job)
        model_cfg = _check_resume(resumed.model, model_cfg, cfg, data, run, force)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = Seq2Seq(model_cfg)
    init_weights(model, cfg.seed)  # its own generator: the same weights on every rank
    _seed_rank(cfg.seed, job.rank)
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


def _run_settings(
    saved: ModelRecord, model_cfg: ModelSettings, cfg: TrainSettings, explicit: Collection[str]
) -> tuple[ModelSettings, TrainSettings]:
    """Resuming: the run's saved settings, but those given on the command line (``explicit``), which
    ``_check_resume`` then compares with the saved ones."""
    names = {OPTION_FIELDS.get(name, name) for name in explicit}
    model = {**to_dict(saved.model_settings), **{k: v for k, v in to_dict(model_cfg).items() if k in names}}
    given = to_dict(cfg)
    train = {**given, **{k: v for k, v in saved.train_settings.items() if k in given and k not in names}}
    return build(ModelSettings, model), build(TrainSettings, train)


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


def _seed_rank(seed: int, rank: int) -> None:
    """Rank r > 0 draws dropout masks (and other training randomness) from ``seed + r``.

    Called after the weights are initialised; rank 0 keeps the RNG state a single process has."""
    if rank:
        torch.manual_seed(seed + rank)
        random.seed(seed + rank)


def _check_batches(train: EncodedSplit, cfg: TrainSettings, job: Dist) -> None:
    """Refuse a training split with fewer batches than ranks before anything is built.

    The number of batches is the same in every epoch (only which sentences share a batch changes),
    so epoch 1 tells; ``shard`` raises the error, the same on every rank."""
    if job.world > 1:
        shard(make_batches(train.src_lengths, train.tgt_lengths, cfg.batch_tokens, cfg.seed, 1), 0, job.world)


def _load_resume(run: Path, job: Dist, device: torch.device) -> ResumeRecord | None:
    """The run's last checkpoint: rank 0 reads it and sends it to every other rank.

    Other machines may not see the run directory (node-local disks); rank 0 writes it, so its copy
    is the one to resume from. A failure to read it is raised on every rank, so that no rank waits
    for the others. For a checkpoint without a world size (older versions), rank 0 takes the one in
    the run's ``config.json`` (1 when there is none)."""

    def read() -> ResumeRecord | None:
        loaded = record.load_resume_record(run, warn=display.warn)
        if loaded is not None and WORLD_SIZE not in loaded.rng:
            loaded.rng[WORLD_SIZE] = _world_in_config(run)
        return loaded

    failure = f"{run}: rank 0 could not read the last checkpoint"
    return distributed.read_on_rank_0(read, job, device, failure)


def _best_weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    """The weights of update ``step``'s step file (kept from pruning as the best regular validation's),
    or, where a run written by an older version pruned it, best.pt's."""
    path = run / runfiles.step_name(step)
    if not path.exists():
        display.warn(f"{path.name} (the best validation) is gone: going back to best.pt instead")
        return record.load_model_record(run, "best", warn=display.warn).weights
    return record.model_record(checkpoint.load(path), str(path)).weights


def _world_in_config(run: Path) -> int:
    try:
        return int(json.loads(runfiles.read_run_file(run / "config.json")).get("world_size", 1))
    except (OSError, NmtError, ValueError, TypeError, AttributeError):
        return 1


def _check_world(resumed: ResumeRecord, run: Path, job: Dist) -> None:
    """A run resumes only with the number of processes it was trained with (its batches, RNG states)."""
    saved = int(resumed.rng.get(WORLD_SIZE, 1))
    if saved != job.world:
        raise UsageError(
            f"{run} was trained with {_processes(saved)} and this job has {_processes(job.world)}; "
            f"resume it with {_processes(saved)} (torchrun --nproc_per_node, --nnodes) or use a new --out"
        )


def _processes(n: int) -> str:
    return "1 process" if n == 1 else f"{n} processes"


def _check_resume(
    old: ModelRecord, model_cfg: ModelSettings, cfg: TrainSettings, data: DataDir, run: Path, force: bool
) -> ModelSettings:
    """The model settings to resume with; changed settings are refused (or, with --force, warned about)."""
    old_model = to_dict(old.model_settings)
    changed = [k for k, v in to_dict(model_cfg).items() if old_model.get(k) != v]
    if "restrict_output" in changed or ("out_vocab" in changed and old.data_sha256 == data.fingerprint):
        # The output layer's size and the pieces it scores come with the weights: not even --force.
        was = "seen" if old.model_settings.restrict_output else "all"
        raise UsageError(
            f"{run} was trained with --output-vocab {was} ({old.model_settings.out_vocab} output pieces); "
            f"the output vocabulary cannot change on resume, even with --force: use --output-vocab {was} "
            "or a new --out"
        )
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
    _set_rng_state(resumed.rng, session.job.rank)
    if session.job.rank and RANKS not in resumed.rng:  # saved by an older version: rank 0's states only
        _seed_rank(session.cfg.seed, session.job.rank)
    display.info(f"resuming {session.run_dir} at step {session.state.step} (epoch {session.state.epoch})")


# Keys of a checkpoint's RNG dict besides this process's states ("torch", "python", "cuda"):
# the number of processes that trained the run, and (with several) every rank's states, by rank.
WORLD_SIZE = "world_size"
RANKS = "ranks"


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _rng_states(job: Dist) -> dict[str, Any]:
    """The RNG dict of a checkpoint: rank 0's states (as one process saves them), the world size and,
    with several ranks, every rank's states. Collective: every rank calls it."""
    mine = _rng_state()
    if job.world == 1:
        return {**mine, WORLD_SIZE: 1}
    every = distributed.gather(mine, job)
    return {**every[0], WORLD_SIZE: job.world, RANKS: every}


def _set_rng_state(state: dict[str, Any], rank: int = 0) -> None:
    """Restore rank ``rank``'s RNG states (rank 0's top-level ones in checkpoints of one process)."""
    mine = state[RANKS][rank] if RANKS in state else state
    torch.set_rng_state(mine["torch"])
    random.setstate(mine["python"])
    if "cuda" in mine and torch.cuda.is_available():
        _set_cuda_rng_state(mine["cuda"], warn=rank == 0)


def _set_cuda_rng_state(states: list[torch.Tensor], warn: bool) -> None:
    """Restore the CUDA RNG states of the devices present (a checkpoint may come from a bigger machine)."""
    present = torch.cuda.device_count()
    if len(states) > present and warn:
        display.warn(
            f"the checkpoint holds the CUDA RNG states of {len(states)} devices and this machine has "
            f"{present}; the states of the other {len(states) - present} are not restored"
        )
    for index, state in enumerate(states[:present]):
        torch.cuda.set_rng_state(state, index)


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
