"""A run directory is untrusted input, and a run resumes exactly wherever it stopped.

Every kill here is an ``NMT_FAULT`` point (no timers); bench/kill_resume.py kills at random moments.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ROOT, run_nmt

from nmt_cli import checkpoint, record
from nmt_cli.errors import CheckpointError, UsageError

# Kernels pinned: two runs compared line by line must not time their own kernel choice. The plateau
# schedule pinned: a run stopped at 45 updates and continued to 120 is the straight run of 120 only
# when its schedule does not plan for its limit (as the auto schedule does).
TINY = [
    "--emb", "32", "--enc-hidden", "32", "--dec-hidden", "48", "--attn-dim", "24", "--dropout", "0.1",
    "--batch-tokens", "600", "--threads", "1", "--seed", "3", "--log-every", "1", "--valid-every", "10",
    "--patience", "50", "--kernels", "fast", "--schedule", "plateau", "-q",
]  # fmt: skip
TIMING = ("elapsed", "tgt_tokens_per_s")


def train(data: Path, run: Path, steps: int, *extra: str, fault: str | None = None):  # type: ignore[no-untyped-def]
    env = {"NMT_FAULT": fault} if fault else None
    return run_nmt("train", str(data), "--out", str(run), "--max-steps", str(steps), *TINY, *extra, env=env)


def ok(proc: subprocess.CompletedProcess[bytes]) -> None:
    assert proc.returncode == 0, proc.stderr.decode()


def one_line_error(proc: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    """The one error line a failed command ends with (after progress lines such as "resuming")."""
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("nmt: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    return errors[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(run: Path) -> dict[str, str]:
    """Every file of a run and its content hash (symlinks by their target)."""
    return {p.name: (f"-> {os.readlink(p)}" if p.is_symlink() else sha(p)) for p in sorted(run.iterdir())}


def rows(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def last_weights(run: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(run, "last")["model"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def small(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 20 updates: step-00000010.pt and step-00000020.pt (copy it before changing it)."""
    run = tmp_path_factory.mktemp("small") / "run"
    ok(train(data_dir, run, 20))
    return run


@pytest.fixture
def copy(small: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(small, run, symlinks=True)
    return run


# -------------------------------------------------------------------------- 1. untrusted run directory


@pytest.mark.parametrize("outside", ["absolute", "relative"])
def test_a_manifest_naming_other_files_is_refused_and_nothing_is_deleted(
    data_dir: Path, copy: Path, tmp_path: Path, outside: str
) -> None:
    victim = tmp_path / "thesis.tex"
    victim.write_text("years of work\n")
    name = str(victim) if outside == "absolute" else "../thesis.tex"
    manifest = json.loads((copy / "checkpoints.json").read_text())
    manifest["files"][name] = {"sha256": sha(victim), "step": 1, "bytes": victim.stat().st_size}
    (copy / "checkpoints.json").write_text(json.dumps(manifest))
    before = snapshot(copy)
    # Four files with keep-last 3: the old code pruned the oldest listed "checkpoint", the victim.
    err = one_line_error(train(data_dir, copy, 30))
    assert "foreign manifest" in err and "thesis.tex" in err and "not a name nmt writes" in err
    assert victim.read_text() == "years of work\n"
    assert snapshot(copy) == before
    with pytest.raises(CheckpointError, match="foreign manifest"):
        checkpoint.load(copy, "last")
    one_line_error(run_nmt("translate", "-m", str(copy)))


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe{\x00",
        b"[1, 2]",
        b'{"files": []}',
        b'{"files": {"step-00000010.pt": {"sha256": 5, "step": 10, "bytes": 1}}}',
        b'{"files": {}, "last": "step-00000010.pt"}',
        b'{"files": {"step-00000010.pt": {"sha256": "' + b"a" * 64 + b'", "step": 11, "bytes": 1}}}',
        b"[" * 100_000,
    ],
    ids=["not-utf8", "list", "files-list", "bad-sha", "dangling-last", "step-mismatch", "deep"],
)
def test_a_damaged_manifest_is_a_one_line_error(copy: Path, content: bytes) -> None:
    (copy / "checkpoints.json").write_bytes(content)
    with pytest.raises(CheckpointError, match="manifest"):
        checkpoint.read_manifest(copy)
    assert "manifest" in one_line_error(run_nmt("info", str(copy)))


RUN_FILES = [".lock", "config.json", "metrics.jsonl", "checkpoints.json", "best.pt", "last.pt"]


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_symlinked_run_file_is_refused_and_never_followed(
    data_dir: Path, copy: Path, tmp_path: Path, name: str
) -> None:
    precious = tmp_path / "precious"
    original = (copy / name).read_bytes()
    precious.write_bytes(original)  # what the run file held: the old code worked through the link
    (copy / name).unlink()
    (copy / name).symlink_to(precious)
    before = snapshot(copy)
    err = one_line_error(train(data_dir, copy, 30))
    assert f"{name}: a symbolic link" in err
    assert precious.read_bytes() == original
    assert snapshot(copy) == before
    if name in ("config.json", "metrics.jsonl", "checkpoints.json"):
        assert "symbolic link" in one_line_error(run_nmt("info", str(copy)))


def test_special_files_under_run_names_are_refused(data_dir: Path, copy: Path) -> None:
    (copy / "metrics.jsonl").unlink()
    os.mkfifo(copy / "metrics.jsonl")  # the old code read it forever (and /dev/zero until memory ran out)
    assert "not a regular file" in one_line_error(train(data_dir, copy, 30))
    assert "not a regular file" in one_line_error(run_nmt("info", str(copy)))


def test_config_json_is_replaced_atomically(data_dir: Path, copy: Path) -> None:
    old = os.stat(copy / "config.json").st_ino
    hard = copy.parent / "config-link"
    os.link(copy / "config.json", hard)  # a rename leaves the old inode (and this link) untouched
    before = hard.read_bytes()
    ok(train(data_dir, copy, 20))
    assert os.stat(copy / "config.json").st_ino != old and hard.read_bytes() == before
    assert json.loads((copy / "config.json").read_text())["train"]["max_steps"] == 20


# ------------------------------------------------------------------------------ 2. exact resume


@pytest.fixture(scope="module")
def straight(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("straight") / "run"
    ok(train(data_dir, run, 120))
    return run


def test_a_stop_between_validations_then_continuing_is_the_straight_run(
    data_dir: Path, straight: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    ok(train(data_dir, run, 45))  # between the validations at 40 and 50
    stopped = rows(run)
    assert stopped[-1]["step"] == 45 and "bleu" in stopped[-1]  # a report at the stop
    ok(train(data_dir, run, 45))  # the same limit again: the same report, nothing else
    assert rows(run) == stopped
    ok(train(data_dir, run, 120))
    lrs = [r["lr"] for r in rows(straight) if "train_loss" in r]
    assert lrs[-1] < lrs[0] / 4, "the plateau schedule halved the learning rate on the way"
    assert rows(run) == rows(straight)  # train_loss, lr, best, scores: every line
    a, b = last_weights(straight), last_weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_stop_time_validation_may_become_best_but_decides_nothing(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    ok(train(data_dir, run, 45, "--valid-metric", "loss"))  # dev loss falls: 45 beats 40
    stop = rows(run)[-1]
    assert stop["step"] == 45 and stop["stop"] is True and stop["best"] is True
    manifest = checkpoint.read_manifest(run)
    assert manifest["best"] == "step-00000045.pt" and manifest["best_file"]["step"] == 45
    state = record.load_resume_record(run)
    assert state is not None
    regular = [r for r in rows(run) if "train_loss" in r and not r.get("stop")]
    assert state.run_state.history[-1]["step"] == 40 == regular[-1]["step"]
    assert state.run_state.best_score == regular[-1]["dev_loss"] != stop["dev_loss"]
    assert state.run_state.best_saved == stop["dev_loss"]


def test_a_torn_metrics_line_blocks_neither_resume_nor_info(data_dir: Path, copy: Path) -> None:
    with open(copy / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"step": 21, "epoch": 1, "lo')  # power loss inside a write
    proc = run_nmt("info", str(copy), "--json")
    ok(proc)
    assert [r["step"] for r in json.loads(proc.stdout)["validations"]] == [10, 20]
    ok(train(data_dir, copy, 30))
    lines = (copy / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    assert all(line.endswith(b"\n") and json.loads(line) for line in lines)
    assert [r["step"] for r in rows(copy) if "loss" in r] == list(range(1, 31))


def test_a_run_killed_before_its_first_checkpoint_starts_over_cleanly(
    data_dir: Path, small: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    killed = train(data_dir, run, 20, fault="kill-mid-save@10")
    assert killed.returncode == -9 and rows(run)  # metrics lines, no checkpoint
    ok(train(data_dir, run, 20))
    assert rows(run) == rows(small)  # each line once


def test_a_step_file_written_before_a_kill_but_not_listed_is_removed(data_dir: Path, copy: Path) -> None:
    killed = train(data_dir, copy, 40, fault="kill-before-manifest@30")
    assert killed.returncode == -9
    assert (copy / "step-00000030.pt").exists()
    assert "step-00000030.pt" not in checkpoint.read_manifest(copy)["files"]
    with checkpoint.run_lock(copy):  # what the next training does first
        pass
    assert not (copy / "step-00000030.pt").exists()
    ok(train(data_dir, copy, 40))
    listed = set(checkpoint.read_manifest(copy)["files"])
    assert {p.name for p in copy.glob("step-*.pt")} <= listed


def test_leftovers_of_a_killed_save_are_tidied(data_dir: Path, copy: Path) -> None:
    """What kills at other places of a save leave; the old code kept them for ever."""
    shutil.copy(copy / "step-00000010.pt", copy / "step-00000030.pt")  # written, never listed
    shutil.copy(copy / "step-00000010.pt", copy / ".last.pt.link")  # killed inside _link
    (copy / ".best.pt.abcd1234.tmp").write_bytes(b"half")  # killed inside a write
    (copy / "last.pt").unlink()
    shutil.copy(copy / "step-00000010.pt", copy / "last.pt")  # killed after the manifest, before the link
    manifest = json.loads((copy / "checkpoints.json").read_text())
    manifest["files"]["step-00000010.pt"]["pruned"] = True  # killed between marking and unlinking
    manifest["best"] = "step-00000020.pt"
    (copy / "checkpoints.json").write_text(json.dumps(manifest))
    proc = train(data_dir, copy, 20)  # nothing left to train
    ok(proc)
    assert b"warning" not in proc.stderr, proc.stderr.decode()
    names = {p.name for p in copy.iterdir()}
    assert names == {".lock", "best.pt", "checkpoints.json", "config.json", "last.pt", "metrics.jsonl",
                     "step-00000020.pt"}  # fmt: skip
    assert os.path.samefile(copy / "last.pt", copy / "step-00000020.pt")


def test_step_files_are_never_removed_on_a_guess(data_dir: Path, copy: Path) -> None:
    """Only what a kill can leave goes: no step file before the last, no run whose manifest is lost."""
    shutil.copy(copy / "step-00000010.pt", copy / "step-00000005.pt")  # not this run's doing
    ok(train(data_dir, copy, 20))
    assert (copy / "step-00000005.pt").exists()
    (copy / "checkpoints.json").unlink()
    before = snapshot(copy)
    assert "no checkpoints.json" in one_line_error(train(data_dir, copy, 30))
    assert snapshot(copy) == before


# ------------------------------------------------------------------------ 3. small one-line errors


def test_average_refuses_fewer_than_one_checkpoint(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "avg.pt"
    for last in ("0", "-1"):
        assert "--last" in one_line_error(run_nmt("average", str(small), "--last", last, "-o", str(out)), 2)
    with pytest.raises(UsageError, match="--last"):
        record.average(small, 0, out)
    with pytest.raises(UsageError, match="--last"):
        checkpoint.last_kept(small, 0)
    assert not out.exists()


def test_a_full_disk_while_appending_metrics_keeps_the_last_checkpoint(data_dir: Path, copy: Path) -> None:
    before = sha(copy / "step-00000020.pt")
    err = one_line_error(train(data_dir, copy, 30, fault="enospc-metrics@25"))
    assert "disk full while appending to metrics.jsonl" in err and "checkpoint is kept" in err
    assert checkpoint.read_manifest(copy)["last"] == "step-00000020.pt"
    assert sha(copy / "step-00000020.pt") == before == sha(copy / "last.pt")
    ok(train(data_dir, copy, 30))  # and the run goes on from there
    assert [r["step"] for r in rows(copy) if "loss" in r] == list(range(1, 31))


def _as_unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to write anywhere (as root: setpriv)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only directory is writable")
    return ["setpriv", "--bounding-set=-dac_override"]


def test_a_read_only_run_directory_is_a_one_line_error(data_dir: Path, copy: Path) -> None:
    prefix = _as_unprivileged()
    before = snapshot(copy)
    copy.chmod(0o555)
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "nmt_cli", "train", str(data_dir), "--out", str(copy),
             "--max-steps", "30", *TINY],
            capture_output=True, timeout=120, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
    finally:
        copy.chmod(0o755)
    assert "the run directory is not writable" in one_line_error(proc)
    assert snapshot(copy) == before


# ----------------------------------------------------------------------------- 4. kill -9, for real


@pytest.mark.slow
def test_random_kills_then_reruns_end_with_the_same_weights(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "kill_resume.py"), "--kills", "5", "--steps", "40",
         "--work", str(tmp_path)],
        capture_output=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert result["identical"] == result["metrics_identical"] == result["kills"] == 5
