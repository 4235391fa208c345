"""Resuming a run: reading its last checkpoint on rank 0, and checking it against this job.

Rerunning the same command on the same run directory continues the same run; settings given on the
command line that differ from the run's are refused unless they are stopping limits or speed knobs
(``TrainSettings.RESUMABLE_CHANGES``), or ``--force`` is given. A run resumes only with the number of
processes it was trained with (its batches and RNG states depend on it).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import torch

import nmt_cli.training.distributed as distributed
from nmt_cli import checkpoint, display, record, runfiles
from nmt_cli.data.encoded import DataDir
from nmt_cli.errors import NmtError, UsageError
from nmt_cli.record import ModelRecord, ResumeRecord
from nmt_cli.settings import OPTION_FIELDS, ModelSettings, TrainSettings, build, to_dict
from nmt_cli.training.distributed import Dist
from nmt_cli.training.rng import WORLD_SIZE


def load(run: Path, job: Dist, device: torch.device) -> ResumeRecord | None:
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


def best_weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    """The weights of update ``step``'s step file (kept from pruning as the best regular validation's),
    or, where a run written by an older version pruned it, best.pt's."""
    path = run / runfiles.step_name(step)
    if not path.exists():
        display.warn(f"{path.name} (the best validation) is gone: going back to best.pt instead")
        return record.load_model_record(run, "best", warn=display.warn).weights
    return record.model_record(checkpoint.load(path), str(path)).weights


def run_settings(
    saved: ModelRecord, model_cfg: ModelSettings, cfg: TrainSettings, explicit: Collection[str]
) -> tuple[ModelSettings, TrainSettings]:
    """Resuming: the run's saved settings, but those given on the command line (``explicit``), which
    ``check_settings`` then compares with the saved ones."""
    names = {OPTION_FIELDS.get(name, name) for name in explicit}
    model = {**to_dict(saved.model_settings), **{k: v for k, v in to_dict(model_cfg).items() if k in names}}
    given = to_dict(cfg)
    train = {**given, **{k: v for k, v in saved.train_settings.items() if k in given and k not in names}}
    return build(ModelSettings, model), build(TrainSettings, train)


def check_world(resumed: ResumeRecord, run: Path, job: Dist) -> None:
    """A run resumes only with the number of processes it was trained with (its batches, RNG states)."""
    saved = int(resumed.rng.get(WORLD_SIZE, 1))
    if saved != job.world:
        raise UsageError(
            f"{run} was trained with {_processes(saved)} and this job has {_processes(job.world)}; "
            f"resume it with {_processes(saved)} (torchrun --nproc_per_node, --nnodes) or use a new --out"
        )


def check_settings(
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


def _world_in_config(run: Path) -> int:
    try:
        return int(json.loads(runfiles.read_run_file(run / "config.json")).get("world_size", 1))
    except (OSError, NmtError, ValueError, TypeError, AttributeError):
        return 1


def _processes(n: int) -> str:
    return "1 process" if n == 1 else f"{n} processes"
