"""Unbounded and unusual input: endless lines, pipes given as paths, stdin read once, read errors."""

from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_nmt

from nmt_cli import textio
from nmt_cli.errors import DataError
from nmt_cli.textio import ChunkReader

BENCH = Path(__file__).resolve().parents[2] / "bench" / "long_input.py"


class CountingBuffer(bytearray):
    """A bytearray that counts the bytes its newline searches look at, and remembers its largest size."""

    def __init__(self) -> None:
        super().__init__()
        self.scanned = 0
        self.largest = 0

    def find(self, sub: object, start: int | None = 0, *rest: object) -> int:  # type: ignore[override]
        self.scanned += len(self) - (start or 0)
        self.largest = max(self.largest, len(self))
        return super().find(sub, start, *rest)  # type: ignore[arg-type]


def counted(reader: ChunkReader) -> CountingBuffer:
    buf = CountingBuffer()
    reader._buf = buf  # white box: the reader's buffer is where the cost is
    return buf


def lines_of(reader: ChunkReader) -> list[bytes]:
    return [line for chunk in reader.chunks() for line in chunk]


def pipe_fed(blocks: Iterator[bytes]) -> int:
    """The read end of a pipe that a thread fills with ``blocks`` (then EOF)."""
    r, w = os.pipe()

    def feed() -> None:
        with open(w, "wb", buffering=0) as fh:
            try:
                for block in blocks:
                    fh.write(block)
            except BrokenPipeError:  # the reader stopped early: its test says why
                pass

    threading.Thread(target=feed, daemon=True).start()
    return r


# --- ChunkReader ---------------------------------------------------------------------------------------


def test_a_long_line_in_small_blocks_is_scanned_once(tmp_path: Path) -> None:
    data = b"short\n" + b"x" * (4 << 20) + b"\nend\n"
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = ChunkReader(fd, max_lines=1000, block_size=4096)
        buf = counted(reader)
        assert lines_of(reader) == [b"short", b"x" * (4 << 20), b"end"]
    finally:
        os.close(fd)
    assert buf.scanned <= 2 * len(data), f"{buf.scanned} bytes scanned for {len(data)}: not linear"


def test_a_huge_line_is_cut_while_read_and_the_rest_dropped() -> None:
    size, cap = 50 << 20, 1000
    cuts: list[int] = []

    def blocks() -> Iterator[bytes]:
        yield b"first\n"
        for _ in range(size // (1 << 16)):
            yield b"a" * (1 << 16)
        yield b"\nafter\ntail"  # the last line has no newline

    fd = pipe_fed(blocks())
    try:
        reader = ChunkReader(fd, max_lines=640, max_line_bytes=cap, on_cut=cuts.append)
        buf = counted(reader)
        lines = lines_of(reader)
    finally:
        os.close(fd)
    assert lines == [b"first", b"a" * cap, b"after", b"tail"]
    assert cuts == [2]
    assert buf.largest <= cap + reader.block_size + len(b"first\n"), "the long line was kept"
    assert buf.scanned <= 4 * (cap + reader.block_size) + 100


@pytest.mark.parametrize("ending", [b"", b"\n"])
def test_a_cut_final_line_is_one_line(ending: bytes) -> None:
    cuts: list[int] = []
    fd = pipe_fed(iter([b"z" * 5000, ending]))
    try:
        lines = lines_of(
            ChunkReader(fd, max_lines=10, block_size=512, max_line_bytes=100, on_cut=cuts.append)
        )
    finally:
        os.close(fd)
    assert lines == [b"z" * 100] and cuts == [1]


def test_a_cut_never_splits_a_character() -> None:
    text = "é" * 1000 + "😀" * 100
    raw = text.encode()
    assert textio.utf8_boundary(raw, 999) == 998  # 'é' is 2 bytes: the half character goes
    assert textio.utf8_boundary(raw, 2001) == 2000  # 4-byte emoji: back to its first byte
    assert textio.utf8_boundary(raw, 2003) == 2000
    assert textio.utf8_boundary(raw, 2004) == 2004
    assert textio.utf8_boundary(b"\x80" * 20, 10) == 10  # not UTF-8 anyway: cut where asked
    fd = pipe_fed(iter([raw, b"\n"]))
    try:
        (line,) = lines_of(ChunkReader(fd, max_lines=10, block_size=64, max_line_bytes=2003))
    finally:
        os.close(fd)
    assert line.decode("utf-8") == "é" * 1000


def test_a_read_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int, n: int) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    r, w = os.pipe()
    monkeypatch.setattr(os, "read", broken)
    try:
        with pytest.raises(DataError, match=r"^in\.txt: cannot read: input/output error$"):
            lines_of(ChunkReader(r, max_lines=10, where="in.txt"))
    finally:
        monkeypatch.undo()
        os.close(r)
        os.close(w)


# --- nmt translate on an endless line ------------------------------------------------------------------


def long_input(run_dir: Path, size: str, *extra: str, timeout: float = 600) -> dict[str, object]:
    """bench/long_input.py: a fresh process feeds `nmt translate` and reads its child's peak RSS."""
    cmd = [sys.executable, str(BENCH), "--model", str(run_dir), "--bytes", size, "--fill", "zero"]
    if extra:
        cmd += ["--", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the bench and the nmt it feeds
        proc.communicate()
        raise
    assert proc.returncode == 0, err.decode()
    return json.loads(out.decode().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["crop", "split"])
def test_50mb_without_a_newline_is_one_line_in_flat_memory(run_dir: Path, mode: str) -> None:
    got = long_input(run_dir, "50M", "--long-input", mode)
    assert got["rc"] == 0, got["stderr"]
    assert got["output_lines"] == 1
    warnings = str(got["stderr"]).splitlines()
    assert len(warnings) == 1 and "line 1:" in warnings[0] and mode in warnings[0], warnings
    assert float(got["peak_rss_mib"]) < 600, got  # ~250 MiB whatever the line; 50 MB used to cost ~5 GiB


@pytest.mark.slow
def test_1gb_without_a_newline_is_one_line_under_1gib(run_dir: Path) -> None:
    got = long_input(run_dir, "1G", timeout=1800)
    assert got["rc"] == 0, got["stderr"]
    assert got["output_lines"] == 1
    assert float(got["peak_rss_mib"]) < 1024, got


@pytest.mark.parametrize("mode", ["crop", "split"])
def test_a_long_line_is_cut_before_it_is_tokenized(
    run_dir: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap holds for lines already in memory too (``evaluate -m``): the tokenizer never sees more."""
    from nmt_cli import display
    from nmt_cli.settings import DecodeSettings
    from nmt_cli.translate import Translator, load_model, max_source_chars

    opts = DecodeSettings(max_src_len=10, long_input=mode, max_len=20, threads=1)
    model, tok = load_model(str(run_dir), opts)
    seen: list[int] = []
    encode = tok.encode_src

    def spy(lines: list[str]) -> list[list[int]]:
        seen.extend(len(line) for line in lines)
        return encode(lines)

    warnings: list[str] = []
    monkeypatch.setattr(tok, "encode_src", spy)
    monkeypatch.setattr(display, "warn", warnings.append)
    results = Translator(model, tok, opts).translate(["the cat " * 100_000, "the dog"])
    assert len(results) == 2 and results[0].text
    assert seen == [max_source_chars(opts), len("the dog")]
    assert len(warnings) == 1 and warnings[0].startswith("line 1: more than") and mode in warnings[0]


# --- paths that are not regular files, and read errors -------------------------------------------------


def test_translate_reads_a_fifo(run_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.fifo"
    os.mkfifo(src)

    def write() -> None:
        try:
            with open(src, "wb") as fh:
                fh.write(b"the cat\n\nthe dog\n")
        except BrokenPipeError:  # nmt never read it: the assertions below say so
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    proc = run_nmt("translate", "-m", str(run_dir), str(src))
    os.close(os.open(src, os.O_RDONLY | os.O_NONBLOCK))  # frees a writer still waiting for a reader
    writer.join(timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.count(b"\n") == 3 and proc.stdout.split(b"\n")[1] == b""


def test_translate_reads_process_substitution(run_dir: Path) -> None:
    nmt = f'"{sys.executable}" -m nmt_cli translate -m "{run_dir}"'
    proc = subprocess.run(
        ["bash", "-c", f"{nmt} <(printf 'the cat\\nthe dog\\n')"], capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.count(b"\n") == 2


def test_evaluate_reads_the_source_from_stdin_once(run_dir: Path, corpus_dir: Path) -> None:
    src, ref = corpus_dir / "test.en", corpus_dir / "test.es"
    from_file = run_nmt("evaluate", "-m", str(run_dir), "--src", str(src), "-r", str(ref))
    assert from_file.returncode == 0, from_file.stderr.decode()
    from_stdin = run_nmt("evaluate", "-m", str(run_dir), "--src", "-", "-r", str(ref), stdin=src.read_bytes())
    assert from_stdin.returncode == 0, from_stdin.stderr.decode()
    assert from_stdin.stdout == from_file.stdout
    nmt = f'"{sys.executable}" -m nmt_cli evaluate -m "{run_dir}" -r "{ref}"'
    piped = subprocess.run(["bash", "-c", f'{nmt} --src <(cat "{src}")'], capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout == from_file.stdout


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert err.startswith("nmt: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_inputs_that_cannot_be_read_are_one_line(run_dir: Path, corpus_dir: Path, tmp_path: Path) -> None:
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    assert "is a directory" in one_line_error(run_nmt("translate", "-m", str(run_dir), str(tmp_path)))
    assert "no such file" in one_line_error(run_nmt("translate", "-m", str(run_dir), str(dangling)))
    ref = corpus_dir / "test.es"
    assert "is a directory" in one_line_error(run_nmt("evaluate", "-r", str(tmp_path), str(ref)))
    assert "no such file" in one_line_error(run_nmt("evaluate", "-r", str(ref), str(dangling)))
    truncated = tmp_path / "ref.gz"
    truncated.write_bytes(gzip.compress(ref.read_bytes())[:-40])
    err = one_line_error(run_nmt("evaluate", "-r", str(truncated), str(ref)))
    assert f"{truncated}: cannot read" in err


def test_an_unreadable_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.txt"
    path.write_text("x\n")

    def refused(*args: object, **kwargs: object) -> int:  # what chmod 000 gives a user who is not root
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(os, "open", refused)
    with pytest.raises(DataError, match=r"in\.txt: cannot read: permission denied"):
        textio.read_all_lines(path)
