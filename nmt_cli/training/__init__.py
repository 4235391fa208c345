"""Training: ``train_model`` opens a session (fresh or resumed) and runs the loop in it.

Modules: ``session`` (model, optimizer and state, built fresh or from the last checkpoint),
``loop`` (updates and stopping), ``validation`` (dev scores, best, patience), ``objective`` (the
loss), ``schedule`` (learning rates), ``distributed`` (torchrun/DDP), ``metrics`` (metrics.jsonl).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import nmt_cli.training.distributed as distributed
import nmt_cli.training.loop as loop
from nmt_cli import checkpoint, display, runfiles
from nmt_cli.data.encoded import DataDir
from nmt_cli.doctor import cpu_report
from nmt_cli.record import RunState
from nmt_cli.settings import ModelSettings, TrainSettings
from nmt_cli.training import autotune
from nmt_cli.training.finish import finish_run
from nmt_cli.training.session import Session, open_session, versions
from nmt_cli.training.validation import Validator


def train_model(
    data: Path,
    run: Path,
    model_cfg: ModelSettings,
    cfg: TrainSettings,
    force: bool = False,
    quiet: bool = False,
    tensorboard: Path | None = None,
    explicit: Collection[str] = (),
) -> dict[str, Any]:
    """Train (or resume) into ``run``; returns a summary of the run (:func:`summary`)."""
    data_dir = DataDir(data)
    rank = int(os.environ.get("RANK", "0"))
    lock = checkpoint.run_lock(run) if rank == 0 else nullcontext()
    with distributed.scope(), lock:
        session = open_session(data_dir, run, model_cfg, cfg, force=force, explicit=explicit)
        autotune.choose(session, quiet)
        # Resumed, the session kept the lines up to its step; fresh, none: a run killed before its
        # first checkpoint wrote lines that this one writes again.
        session.metrics.truncate_after(session.state.step)
        if session.job.main:
            text = json.dumps(run_record(session), indent=2, sort_keys=True) + "\n"
            runfiles.write_run_file(run / "config.json", text.encode("utf-8"))
        with _tensorboard(session, tensorboard):
            state, validations, reason = loop.train(session, quiet)
        finished = finish_run(session, Validator(session), quiet)
    if session.job.main and not quiet:
        display.show_training_summary(run, validations)
    return {**summary(session, state, validations, reason), **({"finish": finished} if finished else {})}


@contextmanager
def _tensorboard(session: Session, logdir: Path | None) -> Iterator[None]:
    """With ``--tensorboard DIR``, rank 0 also writes every metrics record as TensorBoard scalars."""
    if logdir is None or not session.job.main:
        yield
        return
    from nmt_cli.training.tensorboard import TensorBoardLog

    log = TensorBoardLog(logdir, session.state.step)
    session.metrics.sinks.append(log)
    try:
        yield
    finally:
        session.metrics.sinks.remove(log)
        log.close()


def summary(
    session: Session, state: RunState, validations: list[dict[str, Any]], reason: str
) -> dict[str, Any]:
    """What ``train --json`` prints: where the run stands and why it stopped (``best``: what best.pt
    holds, the validation at the stop included when it beat the others)."""
    best = [v for v in validations if v.get("best")]
    metric = session.cfg.valid_metric
    return {
        "run": str(session.run_dir),
        "data": str(session.data.path),
        "step": state.step,
        "epoch": state.epoch,
        "elapsed": round(state.elapsed, 1),
        "stopped_by": reason,
        "valid_metric": session.cfg.valid_metric,
        "best": {"step": best[-1]["step"], "score": best[-1]["dev_loss" if metric == "loss" else metric]}
        if best
        else None,
        "last_validation": validations[-1] if validations else None,
        "checkpoints": {
            name: str(session.run_dir / f"{name}.pt")
            for name in ("best", "last")
            if os.path.lexists(session.run_dir / f"{name}.pt")
        },
        "parameters": session.model.num_parameters(),
        "versions": versions(),
    }


def run_record(session: Session) -> dict[str, Any]:
    """``config.json``: the resolved settings of the run, the precision it runs in and the machine it
    started on, for people and ``nmt info``."""
    cpu = cpu_report()
    return {
        "precision": {"bf16_asked": session.cfg.bf16, "bf16": session.bf16},
        "kernels": session.state.kernels,
        "machine": {
            "cpu": cpu["model"],
            "flags": cpu["flags"],
            "cores": cpu["cores"],
            "device": str(session.device),
        },
        "model": asdict(session.model_cfg),
        "train": asdict(session.cfg),
        "data": str(session.data.path.resolve()),
        "data_sha256": session.data.fingerprint,
        "parameters": session.model.num_parameters(),
        "versions": versions(),
        "world_size": session.job.world,
    }
