"""recipes/*/Makefile as proper Makefiles: a rerun does nothing, a killed training continues, changed
options redo their step and only theirs. Runs recipes/demo with a tiny corpus and model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "demo"
TINY = {
    "CORPUS_ARGS": "--train-size 1500 --dev-size 40 --test-size 40",
    "PREPARE_ARGS": "--vocab-size 300",
    "TRAIN_ARGS": "--emb 32 --enc-hidden 32 --dec-hidden 48 --attn-dim 24 --max-steps 30 --valid-every 15 "
    "--batch-tokens 600 --threads 1",
    "SHOW": "1",
}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def make(work: Path, *extra: str, fault: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("NMT_FAULT", None)
    if fault:
        env["NMT_FAULT"] = fault
    variables = [f"{k}={v}" for k, v in TINY.items()]
    nmt = f"NMT={sys.executable} -m nmt_cli"
    return subprocess.run(
        ["make", "-C", str(DEMO), f"WORK={work}", nmt, *variables, *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def commands(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The nmt commands make ran (it echoes each recipe line)."""
    return [
        line.split("nmt_cli ", 1)[1].split()[0] for line in proc.stdout.splitlines() if " -m nmt_cli " in line
    ]


def test_a_rerun_does_nothing_and_a_changed_option_redoes_only_its_steps(tmp_path: Path) -> None:
    work = tmp_path / "work"
    first = make(work)
    assert first.returncode == 0, first.stderr
    assert commands(first) == [
        "demo-corpus",
        "prepare",
        "train",
        "translate",
        "evaluate",
        "evaluate",
        "translate",
    ]
    assert "BLEU = " in first.stdout and json.loads((work / "run.json").read_text())["step"] == 30
    again = make(work)
    assert again.returncode == 0, again.stderr
    assert commands(again) == [] and "BLEU = " in again.stdout  # the scores shown, nothing redone
    wider = make(work, "TRANSLATE_ARGS=--beam 2")
    assert commands(wider) == ["translate", "evaluate", "evaluate", "translate"]


def test_a_killed_training_continues_on_the_next_run(tmp_path: Path) -> None:
    work = tmp_path / "work"
    killed = make(work, fault="kill-after-save@15")
    assert killed.returncode != 0 and commands(killed)[-1] == "train"
    assert not (work / "run.json").exists() and (work / "run" / "last.pt").exists()
    assert not (work / "test.hyp").exists()
    resumed = make(work)
    assert resumed.returncode == 0, resumed.stderr
    assert commands(resumed) == ["train", "translate", "evaluate", "evaluate", "translate"]
    assert "resuming" in resumed.stderr and "at step 15" in resumed.stderr
    assert json.loads((work / "run.json").read_text())["step"] == 30
