"""Checkpoints survive kills and full disks, load safely, and resume the very same run."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import run_nmt

from nmt_cli import checkpoint
from nmt_cli.errors import CheckpointError

TRAIN = [
    "--emb", "32", "--enc-hidden", "32", "--dec-hidden", "48", "--attn-dim", "24", "--dropout", "0.1",
    "--batch-tokens", "600", "--valid-every", "30", "--threads", "1", "--seed", "3", "--log-every", "1",
    "--kernels", "fast",  # (auto would time them: two runs compared bit for bit must not choose apart)
    "-q",
]  # fmt: skip


def train(data: Path, run: Path, steps: int, fault: str | None = None, *extra: str):  # type: ignore[no-untyped-def]
    env = {"NMT_FAULT": fault} if fault else None
    return run_nmt("train", str(data), "--out", str(run), "--max-steps", str(steps), *TRAIN, *extra, env=env)


def losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def straight(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("straight") / "run"
    proc = train(data_dir, run, 60)
    assert proc.returncode == 0, proc.stderr.decode()
    return run


def test_sigkill_then_resume_is_the_same_run(data_dir: Path, straight: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    killed = train(data_dir, run, 60, "kill-after-save@30")
    assert killed.returncode == -9
    assert checkpoint.read_manifest(run)["last"] == "step-00000030.pt"
    resumed = train(data_dir, run, 60)
    assert resumed.returncode == 0, resumed.stderr.decode()
    a, b = losses(straight), losses(run)
    assert sorted(b) == list(range(1, 61))
    assert [a[s] for s in range(31, 61)] == [b[s] for s in range(31, 61)]
    wa = checkpoint.load(straight, "last")["model"]
    wb = checkpoint.load(run, "last")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_kill_during_checkpoint_write_keeps_the_previous_one(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    killed = train(data_dir, run, 60, "kill-mid-save@60")
    assert killed.returncode == -9
    assert list(run.glob(".step-00000060.pt.*.tmp")), "the kill happened mid-write"
    payload = checkpoint.load(run, "last")
    assert payload["run_state"]["step"] == 30
    resumed = train(data_dir, run, 60)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert checkpoint.load(run, "last")["run_state"]["step"] == 60
    assert not list(run.glob(".*.tmp"))


def test_disk_full_keeps_previous_checkpoint_byte_identical(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train(data_dir, run, 30).returncode == 0
    before = sha(run / "step-00000030.pt")
    proc = train(data_dir, run, 60, "enospc-save@60")
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "disk full" in err and "previous checkpoint is kept" in err and "Traceback" not in err
    assert sha(run / "step-00000030.pt") == before == sha(run / "last.pt")
    assert not list(run.glob(".*.tmp"))


def test_bit_flip_and_truncation_are_detected(straight: Path, tmp_path: Path) -> None:
    run = tmp_path / "copy"
    run.mkdir()
    for name in ("step-00000030.pt", "step-00000060.pt", "checkpoints.json"):
        (run / name).write_bytes((straight / name).read_bytes())
    (run / "best.pt").write_bytes((run / "step-00000060.pt").read_bytes())
    (run / "last.pt").write_bytes((run / "step-00000060.pt").read_bytes())
    data = bytearray((run / "last.pt").read_bytes())
    data[len(data) // 2] ^= 0x01
    (run / "last.pt").write_bytes(bytes(data))
    (run / "step-00000060.pt").write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoint.load(run / "last.pt")
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        checkpoint.load_file(run / "step-00000060.pt")
    warnings: list[str] = []
    payload = checkpoint.load(run, "last", warn=warnings.append)
    assert payload["run_state"]["step"] == 30
    assert warnings and "checksum mismatch" in warnings[0]
    proc = run_nmt("translate", "-m", str(run / "last.pt"), stdin="the cat\n")
    assert proc.returncode == 1 and proc.stderr.decode().count("\n") == 1


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": {}, "x": _Evil(marker)}, evil)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    for path in (evil, raw):
        with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
            checkpoint.load_file(path)
    assert not marker.exists()
    proc = run_nmt("translate", "-m", str(evil), stdin="x\n")
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    assert not marker.exists()


def test_changed_settings_are_refused_unless_forced(data_dir: Path, straight: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train(data_dir, run, 30).returncode == 0
    proc = run_nmt(
        "train", str(data_dir), "--out", str(run), "--max-steps", "40", *TRAIN[:-1], "--lr", "0.01", "-q"
    )
    assert proc.returncode == 2
    assert "lr" in proc.stderr.decode() and "--force" in proc.stderr.decode()
    longer = train(data_dir, run, 40)  # a new stopping limit is not a change of the run
    assert longer.returncode == 0, longer.stderr.decode()


def test_a_second_training_on_the_same_run_is_locked_out(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    with checkpoint.run_lock(run):
        proc = train(data_dir, run, 10)
    assert proc.returncode == 2 and b"in use" in proc.stderr


def test_non_finite_loss_is_skipped_then_refused(data_dir: Path, tmp_path: Path) -> None:
    once = train(data_dir, tmp_path / "once", 30, "nan-loss@12")
    assert once.returncode == 0, once.stderr.decode()
    assert b"non-finite loss" in once.stderr and b"step 12" in once.stderr
    assert checkpoint.load(tmp_path / "once", "last")["run_state"]["step"] == 30
    always = train(data_dir, tmp_path / "always", 30, "nan-loss@every")
    err = always.stderr.decode()
    assert always.returncode == 1 and "not finite 6 times in a row" in err and "Traceback" not in err
    assert not (tmp_path / "always" / "last.pt").exists(), "no checkpoint of a broken run"
