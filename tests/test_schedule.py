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


def test_an_early_decay_starts_after_its_patience_and_reaches_the_floor_one_interval_later() -> None:
    cfg = TrainSettings(
        schedule="linear", lr=1e-3, min_lr=1e-5, max_steps=1000, valid_every=100, decay_patience=2
    )
    sched, plan = LrSchedule(cfg), LrSchedule(cfg)  # plan: the same schedule, never observed
    assert not sched.start_decay(0, 100, sched.lr(100))
    assert not sched.start_decay(1, 200, sched.lr(200))
    assert sched.lr(250) == plan.lr(250)  # one validation without a gain: still the planned curve
    at = sched.lr(300)
    assert sched.start_decay(2, 300, at)  # the second in a row: the decay starts here
    assert sched.lr(350) == pytest.approx(1e-5 + (at - 1e-5) * 0.5)
    assert sched.lr(400) == pytest.approx(1e-5)
    assert (sched.decayed(399), sched.decayed(400)) == (False, True)
    assert not sched.start_decay(3, 400, sched.lr(400))  # it starts once
    again = LrSchedule(cfg)  # what a resumed run reads back from its checkpoint
    again.load_state_dict(sched.state_dict())
    assert [again.lr(s) for s in range(300, 401)] == [sched.lr(s) for s in range(300, 401)]
    older = LrSchedule(cfg)  # a checkpoint written before --decay-patience existed
    older.load_state_dict({"scale": 1.0, "bad": 0})
    assert older.decay_from is None and older.lr(500) == plan.lr(500)


def test_an_early_decay_never_rises_above_the_planned_curve() -> None:
    cfg = TrainSettings(schedule="cosine", lr=1e-3, max_steps=440, valid_every=100, decay_patience=1)
    sched, plan = LrSchedule(cfg), LrSchedule(cfg)
    assert sched.start_decay(1, 400, sched.lr(400))  # too late to end before the limit: the plan ends first
    assert all(sched.lr(s) <= plan.lr(s) for s in range(400, 441))
    assert sched.lr(440) == 0.0 and not sched.decayed(440)


def test_decay_patience_needs_a_budgeted_schedule() -> None:
    with pytest.raises(UsageError, match="--decay-patience"):
        TrainSettings(decay_patience=2)  # no limit: plateau
    with pytest.raises(UsageError, match="--decay-patience"):
        TrainSettings(schedule="constant", max_steps=100, decay_patience=2)
    with pytest.raises(UsageError, match="--patience 2 stops the run first"):
        TrainSettings(max_steps=100, decay_patience=2, patience=2)
    assert TrainSettings(max_steps=100, decay_patience=2, patience=0).decay_patience == 2
    off = LrSchedule(TrainSettings(max_steps=100, valid_every=10))  # 0 (the default): the plan only
    assert not any(off.start_decay(n, 10 * n, 1e-3) for n in range(1, 11))
    assert off.decay_from is None and off.lr(50) == pytest.approx(1e-3)


def test_a_run_stops_when_its_early_decay_ends_and_resumes_exactly(data_dir: Path, tmp_path: Path) -> None:
    # Validations every 30 updates; the one at 60 made not to gain (a fault): the rate decays to 0 over
    # updates 61-90 and the run stops at 90, far before --max-steps 300. The second run is killed at 75,
    # mid-decay, and rerun.
    extra = ("--decay-patience", "1", "--save-every", "15", "--json")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    done = train(data_dir, straight, 300, "dev-stalls@60", *extra)
    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(done.stdout)
    assert (summary["stopped_by"], summary["step"]) == ("decayed", 90)
    killed = train(data_dir, resumed, 300, "dev-stalls@60,kill-after-save@75", *extra)
    assert killed.returncode == -9
    assert checkpoint.load(resumed, "last")["schedule"]["decay_from"][0] == 60
    again = train(data_dir, resumed, 300, None, *extra)
    assert again.returncode == 0, again.stderr.decode()
    assert (json.loads(again.stdout)["stopped_by"], json.loads(again.stdout)["step"]) == ("decayed", 90)
    a, b = losses(straight), losses(resumed)
    assert max(a) == 90 and [a[s] for s in range(61, 91)] == [b[s] for s in range(61, 91)]
    last = checkpoint.load(straight, "last")
    assert last["optimizer"]["param_groups"][0]["lr"] == 0.0
    wa, wb = last["model"], checkpoint.load(resumed, "last")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_decay_from_best_starts_from_the_best_weights_and_resumes_exactly(
    data_dir: Path, tmp_path: Path
) -> None:
    # The validation at 30 is the best so far (the first); the one at 60 is made not to gain: the rate
    # decays over updates 61-90 from the weights of 30, with Adam's moments restarted. The second run
    # is killed right after the checkpoint at 60 is written, and rerun.
    extra = (
        "--decay-patience",
        "1",
        "--decay-from",
        "best",
        "--save-every",
        "15",
        "--keep-last",
        "9",
        "--json",
    )
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    done = train(data_dir, straight, 300, "dev-stalls@60", *extra)
    assert done.returncode == 0, done.stderr.decode()
    assert (json.loads(done.stdout)["stopped_by"], json.loads(done.stdout)["step"]) == ("decayed", 90)
    at30, at45, at60 = (checkpoint.load(straight / f"step-{s:08d}.pt") for s in (30, 45, 60))
    assert all(torch.equal(at60["model"][k], at30["model"][k]) for k in at30["model"])
    assert not all(torch.equal(at45["model"][k], at30["model"][k]) for k in at30["model"])
    assert at60["optimizer"]["state"] == {} and at45["optimizer"]["state"] != {}
    killed = train(data_dir, resumed, 300, "dev-stalls@60,kill-after-save@60", *extra)
    assert killed.returncode == -9
    again = train(data_dir, resumed, 300, None, *extra)
    assert again.returncode == 0, again.stderr.decode()
    a, b = losses(straight), losses(resumed)
    assert max(b) == 90 and [a[s] for s in range(61, 91)] == [b[s] for s in range(61, 91)]
    wa, wb = checkpoint.load(straight, "last")["model"], checkpoint.load(resumed, "last")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_decay_from_best_needs_decay_patience() -> None:
    with pytest.raises(UsageError, match="--decay-from best"):
        TrainSettings(max_steps=100, decay_from="best")
    assert TrainSettings(max_steps=100, decay_patience=1, decay_from="best", patience=0).decay_from == "best"
