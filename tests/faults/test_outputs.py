"""Outputs that are not plain files, full disks and partial files: `-o`, `--save-hyps`, `--per-sentence`.

No test here replaces a system device on the code it guards: FIFOs and symlinks are made in tmp_path,
and the one test that names `/dev/null` itself first checks that the rename-or-write-in-place decision
leaves it alone.
"""

from __future__ import annotations

import errno
import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import run_nmt

from nmt_cli import display, durable
from nmt_cli.errors import DataError
from nmt_cli.settings import DecodeSettings
from nmt_cli.textio import write_lines
from nmt_cli.translate import translate_stream

NMT = [sys.executable, "-m", "nmt_cli"]
ENV = {**os.environ, "NO_COLOR": "1"}


class FifoReader:
    """Reads a FIFO to its end in a thread (a FIFO's writer blocks until a reader opens it)."""

    def __init__(self, path: Path) -> None:
        self.path, self.data = path, b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as fh:
            self.data = fh.read()

    def result(self) -> bytes:
        """What was read; call it once the writing process has ended."""
        if self.thread.is_alive():
            try:  # a reader still waiting in open() (nobody wrote): a writer that comes and goes frees it
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: the reader is done already
                pass
        self.thread.join(timeout=120)
        assert not self.thread.is_alive()
        return self.data


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], *words: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert err.startswith("nmt: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err
    for word in words:
        assert word in err, err
    return err


# --- targets that are not regular files ----------------------------------------------------------------


def test_translate_writes_into_a_fifo_without_replacing_it(run_dir: Path, tmp_path: Path) -> None:
    out = fifo(tmp_path / "out.fifo")
    reader = FifoReader(out)
    proc = run_nmt("translate", "-m", str(run_dir), "-o", str(out), stdin="the cat\n\nthe dog\n")
    assert proc.returncode == 0, proc.stderr.decode()
    assert reader.result().count(b"\n") == 3
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]


def test_a_symlink_to_a_device_is_written_through(run_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "sink"
    link.symlink_to(os.devnull)
    proc = run_nmt("translate", "-m", str(run_dir), "-o", str(link), stdin="the cat\n")
    assert proc.returncode == 0, proc.stderr.decode()
    assert link.is_symlink() and os.readlink(link) == os.devnull
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sink"]


def test_dev_null_stays_a_device(run_dir: Path) -> None:
    # Checked first, so that code which would rename onto /dev/null fails here without touching it.
    assert not durable.replaceable(Path(os.devnull))
    before = os.stat(os.devnull)
    proc = run_nmt("translate", "-m", str(run_dir), "-o", os.devnull, stdin="the cat\n")
    assert proc.returncode == 0, proc.stderr.decode()
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_evaluate_writes_per_sentence_into_a_fifo(corpus_dir: Path, tmp_path: Path) -> None:
    ref = corpus_dir / "test.es"
    out = fifo(tmp_path / "rows.fifo")
    reader = FifoReader(out)
    proc = run_nmt("evaluate", "-r", str(ref), str(ref), "--per-sentence", str(out), "--metrics", "bleu")
    assert proc.returncode == 0, proc.stderr.decode()
    assert reader.result().count(b"\n") == len(ref.read_text().split("\n")) - 1
    assert stat.S_ISFIFO(os.lstat(out).st_mode)


def test_evaluate_saves_hyps_through_a_symlink(run_dir: Path, corpus_dir: Path, tmp_path: Path) -> None:
    target = fifo(tmp_path / "hyps.fifo")
    link = tmp_path / "hyps.txt"
    link.symlink_to(target)
    reader = FifoReader(target)
    src, ref = corpus_dir / "test.en", corpus_dir / "test.es"
    proc = run_nmt(
        "evaluate", "-m", str(run_dir), "--src", str(src), "-r", str(ref), "--save-hyps", str(link)
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert reader.result().count(b"\n") == len(src.read_text().split("\n")) - 1
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(target).st_mode)


@pytest.mark.parametrize("where", ["missing/hyp.txt", ".", "file.txt/hyp.txt"])
def test_an_output_that_cannot_be_created_is_one_line(run_dir: Path, tmp_path: Path, where: str) -> None:
    (tmp_path / "file.txt").write_text("keep\n")
    target = tmp_path / where
    proc = run_nmt("translate", "-m", str(run_dir), "-o", str(target), stdin="the cat\n")
    assert_one_line_error(proc, str(target), "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_an_unwritable_directory_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr(durable.tempfile, "mkstemp", refused)
    with pytest.raises(DataError, match=r"hyps\.txt: cannot write: permission denied"):
        write_lines(tmp_path / "hyps.txt", ["a", "b"])


# --- full disks and partial files ----------------------------------------------------------------------


def test_translate_to_a_full_stdout_is_one_line(run_dir: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [*NMT, "translate", "-m", str(run_dir)],
            input=b"the cat\nthe dog\n",
            stdout=full,
            stderr=subprocess.PIPE,
            env=ENV,
            timeout=120,
        )
    assert_one_line_error(proc, "<stdout>", "no space left")


def test_evaluate_to_a_full_stdout_is_one_line(corpus_dir: Path) -> None:
    ref = corpus_dir / "test.es"
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [*NMT, "evaluate", "-r", str(ref), str(ref)],
            stdout=full,
            stderr=subprocess.PIPE,
            env=ENV,
            timeout=120,
        )
    assert_one_line_error(proc, "<stdout>", "no space left")


def test_a_full_device_behind_o_is_one_line(run_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "full"
    link.symlink_to("/dev/full")
    proc = run_nmt("translate", "-m", str(run_dir), "-o", str(link), stdin="the cat\n")
    assert_one_line_error(proc, str(link), "no space left")
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_full_disk_keeps_the_old_file_and_leaves_nothing(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "hyp.txt"
    src.write_text("the cat\nthe dog\n")
    out.write_text("old\n")
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:  # what a file's fsync reports when its blocks find no room
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(DataError, match="no space left on device") as caught:
        translate_stream([str(run_dir)], str(src), str(out), DecodeSettings(threads=1))
    assert str(caught.value).startswith(f"{out}: ")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hyp.txt", "in.txt"]


def test_a_write_failing_midway_leaves_nothing(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hyp.txt"
    out.write_text("old\n")

    def small_files() -> None:  # writes past 4 KiB fail (EFBIG: Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run(
        [*NMT, "translate", "-m", str(run_dir), "-o", str(out), "--max-len", "20", "--batch-size", "50"],
        input=b"the cat sees the dog\n" * 1000,
        capture_output=True,
        env=ENV,
        timeout=300,
        preexec_fn=small_files,
    )
    assert_one_line_error(proc, str(out), "cannot write")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hyp.txt"]


def test_concurrent_runs_to_one_output_do_not_collide(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run A has its output open and waits for input while run B writes the same path from start to end."""
    slow_in, quick_in, out = fifo(tmp_path / "a.fifo"), tmp_path / "b.txt", tmp_path / "hyp.txt"
    quick_in.write_text("the cat\nthe dog\nthe girl\n")
    opts = DecodeSettings(threads=1, max_len=20)
    a_reading = threading.Event()
    warn = display.warn

    def noticed(message: str) -> None:  # run A warns about its first line once it has read it
        if "invalid UTF-8" in message:
            a_reading.set()
        warn(message)

    monkeypatch.setattr(display, "warn", noticed)
    outcome: dict[str, object] = {}

    def run_a() -> None:
        try:
            outcome["a"] = translate_stream([str(run_dir)], str(slow_in), str(out), opts)
        except BaseException as err:  # reported by the main thread
            outcome["a"] = err
            a_reading.set()

    thread = threading.Thread(target=run_a, daemon=True)
    thread.start()
    feed = os.open(slow_in, os.O_RDWR)  # (Linux: never blocks, whether run A opens its end or not)
    try:
        os.write(feed, b"\xff invalid\n")
        assert a_reading.wait(timeout=120), "run A never read its first line"
        assert "a" not in outcome, outcome
        assert translate_stream([str(run_dir)], str(quick_in), str(out), opts) == 3  # run B
        assert out.read_text().count("\n") == 3
        os.write(feed, b"the dog\n")
    finally:
        os.close(feed)  # run A's end of input
    thread.join(timeout=120)
    assert outcome.get("a") == 2, outcome
    assert out.read_text().count("\n") == 2  # the run that finished last wins, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fifo", "b.txt", "hyp.txt"]


# --- directory fsync -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP])
def test_directory_fsync_refused_by_the_filesystem_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    real_fsync = os.fsync

    def no_dir_fsync(fd: int) -> None:  # 9p, FUSE: a directory cannot be fsynced
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_dir_fsync)
    durable.fsync_path(tmp_path)
    durable.atomic_write(tmp_path / "x.txt", lambda fh: fh.write(b"data\n"))
    assert (tmp_path / "x.txt").read_bytes() == b"data\n"
    write_lines(tmp_path / "y.txt", ["a"])
    assert (tmp_path / "y.txt").read_text() == "a\n"


def test_a_file_fsync_error_is_never_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(fd: int) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(os, "fsync", refused)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(OSError, match="Invalid argument"):
        durable.fsync_path(tmp_path / "x.txt")
    with pytest.raises(OSError, match="Invalid argument"):
        durable.atomic_write(tmp_path / "y.txt", lambda fh: fh.write(b"y"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]

    def disk_error(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", disk_error)
    with pytest.raises(OSError, match="Input/output error"):
        durable.fsync_path(tmp_path)
