"""Fault injection for `nmt prepare`: killed at a stage, interrupted, broken inputs, a full disk.

Each ends in one line (or the signal), leaves nothing behind, and the next run recovers.
"""

from __future__ import annotations

import errno
import gzip
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_prepare import VOCAB, clean_pairs, leftovers, write_pair
from typer.testing import CliRunner

from nmt_cli.cli import app
from nmt_cli.data.encoded import DataDir

runner = CliRunner()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and mtime: 'nothing else changed' is equality."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture()
def pair(tmp_path: Path, corpus_dir: Path) -> tuple[Path, Path]:
    src, tgt = tmp_path / "in" / "train.en", tmp_path / "in" / "train.es"
    src.parent.mkdir()
    src.write_bytes((corpus_dir / "train.en").read_bytes())
    tgt.write_bytes((corpus_dir / "train.es").read_bytes())
    return src, tgt


def prepare(out: Path, src: Path, tgt: Path) -> object:
    return runner.invoke(
        app, ["prepare", "-o", str(out), "--train", str(src), str(tgt), "--vocab-size", "300", "-q"]
    )


def assert_one_line(result: object, code: int) -> str:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert err.startswith("nmt: error: ") and err.count("\n") == 1, err
    return err


def test_a_truncated_gz_is_one_line_naming_the_file(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    src, tgt = pair
    whole = gzip.compress(src.read_bytes())
    cut = src.with_suffix(".en.gz")
    cut.write_bytes(whole[: len(whole) // 2])
    before = snapshot(tmp_path)
    err = assert_one_line(prepare(tmp_path / "data", cut, tgt), 1)
    assert str(cut) in err and "truncated" in err
    assert snapshot(tmp_path) == before


def test_a_file_named_gz_that_is_not_gzip_is_one_line(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    src, tgt = pair
    fake = tmp_path / "in" / "plain.gz"
    fake.write_bytes(src.read_bytes())
    err = assert_one_line(prepare(tmp_path / "data", fake, tgt), 1)
    assert str(fake) in err and "gzip" in err


@pytest.mark.parametrize("where", ["encode", "stage"])
def test_a_full_disk_is_one_line_and_leaves_nothing(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from nmt_cli.data import encoded, text

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.ids"))

    target = (encoded.SplitWriter, "add_batch") if where == "encode" else (text.Staged, "appender")
    monkeypatch.setattr(*target, full)
    before = snapshot(tmp_path)
    err = assert_one_line(prepare(tmp_path / "data", *pair), 1)
    assert "No space left on device" in err
    assert snapshot(tmp_path) == before  # no DATA, no staging directory, inputs untouched


def test_an_unwritable_place_for_the_output_is_one_line(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def read_only(*_args: object, **_kwargs: object) -> str:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    err = assert_one_line(prepare(tmp_path / "data", *pair), 1)
    assert "Read-only file system" in err


def run_prepare(
    out: Path, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmt_cli", "prepare", "-o", str(out), "-q", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        # A shell starts background jobs with SIGINT ignored, and Python then never raises
        # KeyboardInterrupt: the Ctrl-C test would see no Ctrl-C when the suite runs in one.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.parametrize("point", ["staged", "rename"])
def test_sigkill_midway_leaves_no_directory_and_rerun_succeeds(tmp_path: Path, point: str) -> None:
    args = [*write_pair(tmp_path, clean_pairs(400)), *VOCAB, "--dev-size", "20"]
    out = tmp_path / "data"
    killed = run_prepare(out, args, {"NMT_FAULT": f"prepare-{point}"})
    assert killed.returncode == -9, killed.stderr
    assert not out.exists()
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".data.prepare-")]
    assert len(stale) == 1 and any(stale[0].iterdir())  # it was killed midway, with work on disk
    again = run_prepare(out, args)
    assert again.returncode == 0, again.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".data.prepare-")]  # the stale one is gone
    assert DataDir(out).split("train") is not None and not (out / ".lock").exists()


def test_ctrl_c_exits_130_and_cleans_up(tmp_path: Path) -> None:
    args = [*write_pair(tmp_path, clean_pairs(300)), *VOCAB]
    done = run_prepare(tmp_path / "data", args, {"NMT_FAULT": "prepare-tokenizer:INT"})
    assert done.returncode == 130 and done.stderr.strip() == "nmt: error: interrupted"
    assert leftovers(tmp_path) == ["train.xx", "train.yy"]


def test_a_running_prepare_is_not_mistaken_for_a_stale_one(tmp_path: Path) -> None:
    import fcntl

    from nmt_cli.data.staging import LOCK, _remove_stale

    busy, dead = tmp_path / ".data.prepare-busy", tmp_path / ".data.prepare-dead"
    for d in (busy, dead):
        d.mkdir()
        (d / LOCK).write_text("")
    with open(busy / LOCK) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _remove_stale(tmp_path / "data")
    assert busy.exists() and not dead.exists()
