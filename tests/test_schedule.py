"""Learning-rate schedules; the budgeted ones (linear, cosine) end at --min-lr exactly at the limit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import run_nmt
from test_checkpoint import TRAIN, losses, train

from nmt_cli import checkpoint
from nmt_cli.errors import UsageError
from nmt_cli.settings import TrainSettings
from nmt_cli.training.schedule import LrSchedule


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_a_step_budget_decays_from_the_peak_to_the_floor_at_the_limit(kind: str) -> None:
    cfg = TrainSettings(schedule=kind, lr=1e-3, min_lr=1e-5, warmup=10, max_steps=110)  # type: ignore[arg-type]
    sched = LrSchedule(cfg)
    lrs = [sched.lr(step) for step in range(1, 111)]
    assert lrs[9] == pytest.approx(1e-3)  # the end of warm-up is the peak
    assert lrs[-1] == pytest.approx(1e-5)  # the floor, exactly at the last update
    after = lrs[10:]
    assert all(a > b for a, b in zip(after, after[1:]))  # decreasing all the way
    middle = sched.lr(60)  # half of the 100 updates after warm-up
    expect = 1e-5 + (1e-3 - 1e-5) * (0.5 if kind == "linear" else 0.5 * (1 + math.cos(math.pi / 2)))
    assert middle == pytest.approx(expect)


def test_a_time_budget_is_measured_in_seconds_and_the_first_limit_counts() -> None:
    sched = LrSchedule(TrainSettings(schedule="linear", lr=1e-3, max_seconds=600))
    assert sched.lr(5, elapsed=0.0) == pytest.approx(1e-3)
    assert sched.lr(5, elapsed=300.0) == pytest.approx(5e-4)
    assert sched.lr(10_000, elapsed=600.0) == 0.0
    both = LrSchedule(TrainSettings(schedule="linear", lr=1e-3, max_seconds=600, max_steps=100))
    assert both.lr(50, elapsed=60.0) == pytest.approx(5e-4)  # half the updates, a tenth of the time
    assert both.lr(10, elapsed=450.0) == pytest.approx(2.5e-4)  # the time is further along


def test_the_other_schedules_ignore_the_budget() -> None:
    for kind in ("constant", "plateau"):
        sched = LrSchedule(TrainSettings(schedule=kind, lr=1e-3, max_steps=100))  # type: ignore[arg-type]
        assert sched.lr(100, elapsed=1e9) == 1e-3


def test_a_budgeted_schedule_needs_a_limit_and_a_floor_below_the_peak() -> None:
    with pytest.raises(UsageError, match="--max-steps or --max-time"):
        TrainSettings(schedule="cosine")
    with pytest.raises(UsageError, match="--min-lr"):
        TrainSettings(schedule="linear", max_steps=10, lr=1e-3, min_lr=1e-3)


def test_linear_schedule_ends_at_the_floor_and_resumes_exactly(data_dir: Path, tmp_path: Path) -> None:
    extra = ("--schedule", "linear", "--warmup", "5")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(data_dir, straight, 60, None, *extra).returncode == 0
    killed = train(data_dir, resumed, 60, "kill-after-save@30", *extra)
    assert killed.returncode == -9
    again = train(data_dir, resumed, 60, None, *extra)
    assert again.returncode == 0, again.stderr.decode()
    a, b = losses(straight), losses(resumed)
    assert [a[s] for s in range(31, 61)] == [b[s] for s in range(31, 61)]
    last = checkpoint.load(straight, "last")
    assert last["optimizer"]["param_groups"][0]["lr"] == 0.0  # the floor, at --max-steps
    wa, wb = last["model"], checkpoint.load(resumed, "last")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_the_auto_schedule_plans_for_a_limit_and_keeps_plateau_without_one() -> None:
    plain = TrainSettings()
    assert (plain.schedule, plain.lr) == ("plateau", 1e-3)
    steps = TrainSettings(max_steps=1000)
    assert (steps.schedule, steps.lr, steps.warmup) == ("linear", 2e-3, 0)
    timed = TrainSettings(max_seconds=600.0)
    assert (timed.schedule, timed.lr) == ("linear", 2e-3)
    tuned = TrainSettings(max_steps=5000, init_from="run")  # fine-tuning keeps its own habits
    assert (tuned.schedule, tuned.lr) == ("plateau", 1e-3)
    assert TrainSettings(schedule="linear", max_steps=5000, init_from="run").lr == 1e-3
    assert TrainSettings(schedule="cosine", max_steps=5000).lr == 2e-3
    assert TrainSettings(schedule="constant", max_steps=5000).lr == 1e-3
    given = TrainSettings(max_steps=1000, lr=5e-4)
    assert (given.schedule, given.lr) == ("linear", 5e-4)
    assert (
        TrainSettings(max_epochs=3).schedule == "plateau"
    )  # epochs are no budget: early stopping may end it


def test_a_run_records_its_resolved_schedule_and_a_resume_keeps_it(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train(data_dir, run, 20).returncode == 0
    config = json.loads((run / "config.json").read_text())["train"]
    assert (config["schedule"], config["lr"]) == ("linear", 2e-3)
    assert checkpoint.load(run, "last")["optimizer"]["param_groups"][0]["lr"] == 0.0  # the floor at the limit
    old = tmp_path / "old"  # a run without a budget: plateau, and a later limit does not change that
    proc = run_nmt("train", str(data_dir), "--out", str(old), "--max-epochs", "1", *TRAIN)
    assert proc.returncode == 0, proc.stderr.decode()
    more = run_nmt("train", str(data_dir), "--out", str(old), "--max-steps", "40", "--max-epochs", "0", "-q")
    assert more.returncode == 0, more.stderr.decode()
    resumed = json.loads((old / "config.json").read_text())["train"]
    assert (resumed["schedule"], resumed["lr"], resumed["max_steps"]) == ("plateau", 1e-3, 40)
