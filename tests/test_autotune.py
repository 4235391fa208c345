"""Kernel choice by measurement (--kernels auto): the faster of each kernel pair on the run's first
batch, kept for the run; a kernel made slower loses; timing leaves no trace in the training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import train_tiny

import nmt_cli.attention as attention
import nmt_cli.kernels.gru as gru
import nmt_cli.kernels.xent as xent
import nmt_cli.training.autotune as autotune
from nmt_cli import checkpoint


def slowed(fn: Any, times: int = 4) -> Any:
    """``fn`` doing its work ``times`` times: genuinely slower, same result."""

    def slow(*args: Any, **kwargs: Any) -> Any:
        for _ in range(times - 1):
            fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return slow


def kernels_of(run: Path) -> dict[str, Any]:
    return json.loads((run / "config.json").read_text())["kernels"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("kernel", ["gru", "attention", "loss"])
def test_a_slowed_fast_kernel_loses_to_its_plain_twin(
    kernel: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One kernel slowed at a time: a slowed attention kernel also runs in both of the GRU pair's passes
    # (and the other way round), which would shrink the measured ratio towards the 1.2 margin.
    if kernel == "gru":
        monkeypatch.setattr(gru, "bidirectional", slowed(gru.bidirectional, 25))  # (a small part of a pass)
    elif kernel == "attention":
        monkeypatch.setattr(attention, "additive_scores", slowed(attention.additive_scores, 25))
    else:
        monkeypatch.setattr(xent, "linear_cross_entropy", slowed(xent.linear_cross_entropy, 25))
    run = train_tiny(data_dir, tmp_path / "run", steps=2, valid_every=2, kernels="auto")
    chosen = kernels_of(run)
    plain = autotune.PLAIN[kernel]
    assert chosen[kernel] == plain
    fast_ms, plain_ms = chosen["timed_ms"][kernel]
    assert fast_ms > autotune.MARGIN * plain_ms
    assert checkpoint.load(run, "last")["run_state"]["kernels"][kernel] == plain
    # Resumed, the run keeps its choice (the kernels round differently), whatever a new timing says.
    monkeypatch.undo()
    train_tiny(data_dir, run, steps=4, valid_every=2, kernels="auto")
    assert checkpoint.load(run, "last")["run_state"]["kernels"][kernel] == plain


def test_every_candidate_is_timed_and_recorded(data_dir: Path, tmp_path: Path) -> None:
    run = train_tiny(data_dir, tmp_path / "run", steps=1, valid_every=1, kernels="auto")
    chosen = kernels_of(run)
    assert set(chosen["timed_ms"]) == {"gru", "attention", "loss"}
    assert chosen["gru"] in ("scan", "nn.GRU") and chosen["attention"] in ("blocked", "plain")
    assert chosen["loss"] in ("fused", "plain")
    lstm = train_tiny(data_dir, tmp_path / "lstm", steps=1, valid_every=1, kernels="auto", cell="lstm")
    assert set(kernels_of(lstm)["timed_ms"]) == {"attention", "loss"}  # no GRU, nothing to choose there


def test_timing_leaves_no_trace(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = autotune._best_time

    def fast_wins(model: Any, kernels: dict[str, Any], work: Any) -> float:
        real(model, kernels, work)  # the passes run (RNG drawn, gradients made), then a fixed verdict
        return 1.0 if set(kernels.values()) <= set(autotune.FAST.values()) else 2.0

    monkeypatch.setattr(autotune, "_best_time", fast_wins)
    timed = train_tiny(data_dir, tmp_path / "timed", steps=6, valid_every=3, kernels="auto", dropout=0.3)
    fixed = train_tiny(data_dir, tmp_path / "fixed", steps=6, valid_every=3, kernels="fast", dropout=0.3)
    assert kernels_of(timed)["gru"] == "scan"
    a, b = checkpoint.load(timed, "last")["model"], checkpoint.load(fixed, "last")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def precision_times_faster(monkeypatch: pytest.MonkeyPatch, faster: str, by: float = 2.0) -> None:
    """A CPU with bf16 units on which ``faster`` ("bf16" or "fp32") wins the precision timing ``by``
    times (every candidate still runs, so the timing's work and its traces are real)."""
    import nmt_cli.training.session as session_module

    monkeypatch.setattr(session_module, "cpu_has_bf16_units", lambda: True)
    real = autotune._best_time

    def verdict(model: Any, kernels: dict[str, Any], work: Any) -> float:
        real(model, kernels, work)
        return 1.0 if kernels.get("precision", faster) == faster else by

    monkeypatch.setattr(autotune, "_best_time", verdict)


@pytest.mark.parametrize("faster", ["bf16", "fp32"])
def test_bf16_is_taken_only_when_it_times_faster(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    faster: str,
) -> None:
    precision_times_faster(monkeypatch, faster)
    run = train_tiny(data_dir, tmp_path / "run", steps=2, valid_every=2, kernels="auto", bf16=True)
    config = json.loads((run / "config.json").read_text())
    assert config["kernels"]["precision"] == faster
    assert config["precision"] == {"bf16_asked": True, "bf16": faster == "bf16"}
    assert ("training in fp32" in capsys.readouterr().err) == (faster == "fp32")
    if faster == "fp32":  # the very fp32 run
        plain = train_tiny(data_dir, tmp_path / "plain", steps=2, valid_every=2, kernels="fast")
        a, b = checkpoint.load(run, "last")["model"], checkpoint.load(plain, "last")["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    # Resumed, the run keeps its precision whatever a new timing says.
    monkeypatch.setattr(autotune, "_best_time", lambda *args: 1.0)
    train_tiny(data_dir, run, steps=4, valid_every=2, kernels="auto", bf16=True)
    assert checkpoint.load(run, "last")["run_state"]["kernels"]["precision"] == faster
    assert json.loads((run / "config.json").read_text())["precision"]["bf16"] == (faster == "bf16")


@pytest.mark.parametrize("faster", ["bf16", "fp32"])
def test_by_default_bf16_is_timed_where_the_cpu_has_bf16_units(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    faster: str,
) -> None:
    precision_times_faster(monkeypatch, faster)
    run = train_tiny(data_dir, tmp_path / "auto", steps=1, valid_every=1, kernels="auto", bf16=None)
    config = json.loads((run / "config.json").read_text())
    assert config["kernels"]["precision"] == faster and set(config["kernels"]["timed_ms"]) == {
        "precision", "gru", "attention", "loss"
    }  # fmt: skip
    assert config["precision"] == {"bf16_asked": None, "bf16": faster == "bf16"}
    assert "training in fp32" not in capsys.readouterr().err  # the default asked for nothing: no warning
    # --fp32: never timed, never taken; with fixed kernels the default does not try bf16 untimed
    fp32 = train_tiny(data_dir, tmp_path / "fp32", steps=1, valid_every=1, kernels="auto", bf16=False)
    assert "precision" not in kernels_of(fp32)["timed_ms"]
    assert json.loads((fp32 / "config.json").read_text())["precision"] == {"bf16_asked": False, "bf16": False}
    fixed = train_tiny(data_dir, tmp_path / "fixed", steps=1, valid_every=1, kernels="fast", bf16=None)
    assert json.loads((fixed / "config.json").read_text())["precision"]["bf16"] is False


@pytest.mark.parametrize("asked", [None, True])
def test_a_near_tie_keeps_fp32_by_default_and_bf16_when_asked(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: bool | None
) -> None:
    within_margin = (1 + autotune.BF16_MARGIN) / 2  # bf16 faster, but by less than the margin
    precision_times_faster(monkeypatch, "bf16", by=within_margin)
    run = train_tiny(data_dir, tmp_path / "run", steps=1, valid_every=1, kernels="auto", bf16=asked)
    assert kernels_of(run)["precision"] == ("bf16" if asked else "fp32")
    assert json.loads((run / "config.json").read_text())["precision"]["bf16"] is bool(asked)


def test_by_default_a_cpu_without_bf16_units_trains_fp32_untimed_and_quietly(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import nmt_cli.training.session as session_module

    monkeypatch.setattr(session_module, "cpu_has_bf16_units", lambda: False)
    run = train_tiny(data_dir, tmp_path / "run", steps=1, valid_every=1, kernels="auto", bf16=None)
    assert "precision" not in kernels_of(run)["timed_ms"]
    assert json.loads((run / "config.json").read_text())["precision"] == {"bf16_asked": None, "bf16": False}
    assert "bf16" not in capsys.readouterr().err
    # Resumed on a CPU that has bf16 units, the run stays fp32: its precision was never timed.
    monkeypatch.setattr(session_module, "cpu_has_bf16_units", lambda: True)
    train_tiny(data_dir, run, steps=2, valid_every=1, kernels="auto", bf16=None)
    assert json.loads((run / "config.json").read_text())["precision"]["bf16"] is False


def test_bf16_with_fixed_kernels_is_kept_untimed(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nmt_cli.training.session as session_module

    monkeypatch.setattr(session_module, "cpu_has_bf16_units", lambda: True)
    run = train_tiny(data_dir, tmp_path / "run", steps=1, valid_every=1, kernels="fast", bf16=True)
    config = json.loads((run / "config.json").read_text())
    assert "precision" not in config["kernels"] and config["precision"]["bf16"] is True
    # Resumed by name (nothing given on the command line: TINY_TRAIN's bf16=False is not explicit),
    # the run keeps its own --bf16.
    train_tiny(data_dir, run, steps=2, valid_every=1, kernels="fast")
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["bf16"] is True and config["precision"]["bf16"] is True
