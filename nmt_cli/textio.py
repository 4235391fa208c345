"""Line-oriented text I/O with the CLI contract.

Split only on ``\\n``; strip one trailing ``\\r``; never ``str.splitlines()`` (it would also split on
U+2028, U+0085, form feeds and lone ``\\r``). ``-`` means stdin/stdout. Invalid UTF-8 is replaced and
reported, or refused with ``strict``.
"""

from __future__ import annotations

import gzip
import os
import select
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from nmt_cli.durable import atomic_write
from nmt_cli.errors import DataError

Warn = Callable[[str], None]


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def is_blank(text: str) -> bool:
    """Empty, whitespace-only (U+00A0, U+3000 included) or only zero-width characters."""
    return not text.translate(_INVISIBLE).strip()


def decode_line(raw: bytes, where: str, lineno: int, strict: bool, warn: Warn | None) -> str:
    """Bytes of one line (without ``\\n``) -> text, with one trailing ``\\r`` removed."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        if strict:
            raise DataError(f"{where}:{lineno}: invalid UTF-8 at byte {err.start}") from None
        if warn is not None:
            warn(f"{where}:{lineno}: invalid UTF-8 at byte {err.start}, replaced with U+FFFD")
        return raw.decode("utf-8", errors="replace")


def _open_binary(path: str | Path) -> BinaryIO:
    if str(path) == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected a text file")
    if p.suffix == ".gz":
        return gzip.open(p, "rb")  # type: ignore[return-value]
    return open(p, "rb")


def iter_raw_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Yield lines without their ``\\n``; a final line without ``\\n`` still counts."""
    for raw in stream:
        yield raw[:-1] if raw.endswith(b"\n") else raw


def read_lines(path: str | Path, strict: bool = False, warn: Warn | None = None) -> Iterator[str]:
    """Lazily yield the decoded lines of a file (``-`` = stdin, ``.gz`` handled)."""
    where = "<stdin>" if str(path) == "-" else str(path)
    stream = _open_binary(path)
    try:
        for lineno, raw in enumerate(iter_raw_lines(stream), start=1):
            yield decode_line(raw, where, lineno, strict, warn)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def read_all_lines(path: str | Path, strict: bool = False, warn: Warn | None = None) -> list[str]:
    return list(read_lines(path, strict=strict, warn=warn))


class ChunkReader:
    """Read lines from a file descriptor in chunks, without waiting for more than has arrived.

    A chunk ends at ``max_lines`` lines or when no further input is ready right now, so an interactive
    pipe (or a coprocess) gets every line answered before EOF, while a file or a fast pipe still fills
    whole chunks.
    """

    def __init__(self, fd: int, max_lines: int, block_size: int = 1 << 16) -> None:
        self.fd = fd
        self.max_lines = max_lines
        self.block_size = block_size
        self._buf = bytearray()
        self._eof = False

    def _ready(self) -> bool:
        try:
            readable, _, _ = select.select([self.fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _fill(self) -> None:
        data = os.read(self.fd, self.block_size)
        if data:
            self._buf += data
        else:
            self._eof = True

    def chunks(self) -> Iterator[list[bytes]]:
        """Yield lists of raw lines (without ``\\n``); the final unterminated line counts too."""
        while True:
            lines: list[bytes] = []
            while len(lines) < self.max_lines:
                nl = self._buf.find(b"\n")
                if nl >= 0:
                    lines.append(bytes(self._buf[:nl]))
                    del self._buf[: nl + 1]
                    continue
                if self._eof:
                    if self._buf:
                        lines.append(bytes(self._buf))
                        self._buf.clear()
                    break
                if lines and not self._ready():
                    break  # input paused: answer what we have
                self._fill()
            if lines:
                yield lines
            if self._eof and not self._buf:
                return


def write_line(out: IO[str], text: str) -> None:
    """Write one output line; newlines inside ``text`` must never break the line contract."""
    out.write(text.replace("\n", " ") + "\n")


def write_lines(path: str | Path, lines: Iterable[str]) -> None:
    """Write lines to a file atomically, or to stdout for ``-``."""
    if str(path) == "-":
        for line in lines:
            write_line(sys.stdout, line)
        sys.stdout.flush()
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(line.replace("\n", " ") + "\n" for line in lines)
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
