"""Training: ``train_model`` opens a session (fresh or resumed) and runs the loop in it.

Modules: ``session`` (model, optimizer and state, built fresh or from the last checkpoint),
``loop`` (updates and stopping), ``validation`` (dev scores, best, patience), ``objective`` (the
loss), ``schedule`` (learning rates), ``distributed`` (torchrun/DDP), ``metrics`` (metrics.jsonl).
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from pathlib import Path

import nmt_cli.training.distributed as distributed
import nmt_cli.training.loop as loop
from nmt_cli import checkpoint, display, runfiles
from nmt_cli.data.encoded import DataDir
from nmt_cli.record import RunState
from nmt_cli.settings import ModelSettings, TrainSettings
from nmt_cli.training.session import open_session, run_record


def train_model(
    data: Path,
    run: Path,
    model_cfg: ModelSettings,
    cfg: TrainSettings,
    force: bool = False,
    quiet: bool = False,
) -> RunState:
    """Train (or resume) into ``run``; returns the final run state."""
    data_dir = DataDir(data)
    rank = int(os.environ.get("RANK", "0"))
    lock = checkpoint.run_lock(run) if rank == 0 else nullcontext()
    with distributed.scope(), lock:
        session = open_session(data_dir, run, model_cfg, cfg, force=force)
        # Resumed, the session kept the lines up to its step; fresh, none: a run killed before its
        # first checkpoint wrote lines that this one writes again.
        session.metrics.truncate_after(session.state.step)
        if session.job.main:
            text = json.dumps(run_record(session), indent=2, sort_keys=True) + "\n"
            runfiles.write_run_file(run / "config.json", text.encode("utf-8"))
        state, validations = loop.train(session, quiet)
    if session.job.main:
        display.show_training_summary(run, validations)
    return state
