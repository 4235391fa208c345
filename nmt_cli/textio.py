"""Line-oriented text I/O with the CLI contract.

Split only on ``\\n``; strip one trailing ``\\r``; never ``str.splitlines()`` (it would also split on
U+2028, U+0085, form feeds and lone ``\\r``). ``-`` means stdin/stdout. Invalid UTF-8 is replaced and
reported, or refused with ``strict``.

Inputs are any readable path but a directory: a file, a FIFO, ``/dev/fd/N`` (``<(zcat x.gz)``), a
device. Outputs go through :func:`open_output`: a file appears whole or not at all (see
:class:`nmt_cli.durable.Replacement`; a FIFO or a device is written in place). An error reading or
writing is a one-line :class:`DataError` naming the file, except a broken pipe on output, which is the
reader leaving (``| head``) and is left for the command line to end quietly.
"""

from __future__ import annotations

import gzip
import io
import os
import select
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from nmt_cli.durable import Replacement
from nmt_cli.errors import DataError

Warn = Callable[[str], None]

STDIN, STDOUT = "<stdin>", "<stdout>"
MAX_CHUNK_BYTES = 1 << 24  # a chunk of lines stops growing here (16 MiB), whatever its line count

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


def _reason(err: OSError) -> str:
    """``No space left on device`` -> ``no space left on device``."""
    text = err.strerror or str(err)
    return text[:1].lower() + text[1:]


# What reading a file can raise besides DataError: I/O errors, and a truncated (EOFError) or damaged .gz.
READ_ERRORS = (OSError, EOFError, zlib.error)


def read_error(where: str, err: OSError | EOFError | zlib.error) -> DataError:
    """The one-line error for an input that cannot be opened or read (``prepare`` and ``translate``)."""
    if isinstance(err, FileNotFoundError):
        return DataError(f"{where}: no such file")
    if isinstance(err, IsADirectoryError):
        return DataError(f"{where}: is a directory, expected a text file")
    if isinstance(err, EOFError):  # gzip's truncated stream
        return DataError(f"{where}: cannot read: truncated gzip file (it ends before its end marker)")
    if isinstance(err, (gzip.BadGzipFile, zlib.error)):
        return DataError(f"{where}: cannot read: not a valid gzip file ({err})")
    return DataError(f"{where}: cannot read: {_reason(err)}")


def open_input_fd(path: str | Path) -> int:
    """A file descriptor open for reading ``path``: any readable path but a directory (a FIFO, a device,
    ``/dev/fd/N`` included); DataError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise read_error(str(path), err) from None
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise read_error(str(path), IsADirectoryError())
    return fd


def iter_raw_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Yield lines without their ``\\n``; a final line without ``\\n`` still counts."""
    for raw in stream:
        yield raw[:-1] if raw.endswith(b"\n") else raw


def read_lines(path: str | Path, strict: bool = False, warn: Warn | None = None) -> Iterator[str]:
    """Lazily yield the decoded lines of a file (``-`` = stdin, ``.gz`` handled), each read once."""
    if str(path) == "-":
        for lineno, raw in enumerate(iter_raw_lines(sys.stdin.buffer), start=1):
            yield decode_line(raw, STDIN, lineno, strict, warn)
        return
    where = str(path)
    with open(open_input_fd(path), "rb") as raw_file:
        stream: BinaryIO = raw_file
        if Path(path).suffix == ".gz":
            stream = gzip.GzipFile(fileobj=raw_file, mode="rb")  # type: ignore[assignment]
        lines = iter_raw_lines(stream)
        lineno = 0
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except READ_ERRORS as err:  # EIO, a damaged or truncated .gz
                raise read_error(where, err) from None
            lineno += 1
            yield decode_line(raw, where, lineno, strict, warn)


def read_all_lines(path: str | Path, strict: bool = False, warn: Warn | None = None) -> list[str]:
    return list(read_lines(path, strict=strict, warn=warn))


def utf8_boundary(data: bytes | bytearray, end: int) -> int:
    """The largest cut position ``<= end`` that splits no UTF-8 sequence of ``data`` (for ``end < len``).

    At most 3 bytes are given back; bytes that are not valid UTF-8 anyway are cut where they are.
    """
    i = end
    while i > 0 and end - i < 3 and data[i] & 0xC0 == 0x80:  # a continuation byte: step back to its lead
        i -= 1
    return i if data[i] >= 0xC0 else end


class ChunkReader:
    """Read lines from a file descriptor in chunks, without waiting for more than has arrived.

    A chunk ends at ``max_lines`` lines, at ``max_chunk_bytes`` bytes, or when no further input is ready
    right now, so an interactive pipe (or a coprocess) gets every line answered before EOF, while a file
    or a fast pipe still fills whole chunks.

    Memory and time stay linear in the input, whatever its lines: the search for a newline resumes where
    the previous one stopped, and a line longer than ``max_line_bytes`` is cut there (at a UTF-8
    character boundary) and reported to ``on_cut(line number)``; the rest of that line is read and
    dropped block by block, never kept. The line still counts as one line.
    """

    def __init__(
        self,
        fd: int,
        max_lines: int,
        block_size: int = 1 << 16,
        max_line_bytes: int | None = None,
        on_cut: Callable[[int], None] | None = None,
        where: str = STDIN,
        max_chunk_bytes: int = MAX_CHUNK_BYTES,
    ) -> None:
        self.fd = fd
        self.max_lines = max_lines
        self.block_size = block_size
        self.max_line_bytes = max_line_bytes
        self.on_cut = on_cut
        self.where = where
        self.max_chunk_bytes = max_chunk_bytes
        self._buf = bytearray()
        self._scanned = 0  # no newline in _buf[:_scanned]
        self._dropping = False  # inside the rest of a cut line
        self._eof = False
        self._lineno = 0

    def _ready(self) -> bool:
        try:
            readable, _, _ = select.select([self.fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _fill(self) -> None:
        try:
            data = os.read(self.fd, self.block_size)
        except OSError as err:
            raise read_error(self.where, err) from None
        if not data:
            self._eof = True
        elif self._dropping:
            nl = data.find(b"\n")
            if nl >= 0:  # the cut line ends here; what follows is the next line
                self._dropping = False
                self._buf += data[nl + 1 :]
        else:
            self._buf += data

    def _take_line(self) -> bytes | None:
        """The next complete line in the buffer (or the cut head of a long one); None: more input needed."""
        buf = self._buf
        nl = buf.find(b"\n", self._scanned)
        if nl >= 0:
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            self._scanned = 0
        elif self.max_line_bytes is not None and len(buf) > self.max_line_bytes:
            line = bytes(buf[: utf8_boundary(buf, self.max_line_bytes)])
            buf.clear()
            self._scanned = 0
            self._dropping = True
            if self.on_cut is not None:
                self.on_cut(self._lineno + 1)
        elif self._eof and buf:  # the final line, without a newline
            line = bytes(buf)
            buf.clear()
            self._scanned = 0
        else:
            self._scanned = len(buf)
            return None
        self._lineno += 1
        return line

    def chunks(self) -> Iterator[list[bytes]]:
        """Yield lists of raw lines (without ``\\n``); the final unterminated line counts too."""
        while True:
            lines: list[bytes] = []
            size = 0
            while len(lines) < self.max_lines and size < self.max_chunk_bytes:
                line = self._take_line()
                if line is not None:
                    lines.append(line)
                    size += len(line)
                    continue
                if self._eof:
                    break
                if lines and not self._ready():
                    break  # input paused: answer what we have
                self._fill()
            if lines:
                yield lines
            if self._eof and not self._buf:
                return


class TextSink(Protocol):
    def write(self, text: str, /) -> object: ...


class LineOutput:
    """Where output lines go (a file, stdout); an OSError while writing is a DataError naming it.

    A broken pipe is not mapped: the reader has gone, and the command line ends quietly
    (``cli.common.guarded``).
    """

    def __init__(self, stream: IO[str], name: str) -> None:
        self.stream, self.name = stream, name

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise write_error(self.name, err) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as err:
            raise write_error(self.name, err) from None


def write_error(where: str, err: OSError) -> DataError:
    """The one-line error for an output that cannot be created or written (``<stdout>: cannot write:
    no space left on device``)."""
    if isinstance(err, FileNotFoundError):
        return DataError(f"{where}: cannot write: no such directory")
    if isinstance(err, IsADirectoryError):
        return DataError(f"{where}: cannot write: is a directory")
    return DataError(f"{where}: cannot write: {_reason(err)}")


@contextmanager
def open_output(path: str | Path) -> Iterator[LineOutput]:
    """Text output to ``path`` (``-`` = stdout), flushed when the block ends.

    A file appears complete when the block ends without error, and is left as it was (no temporary file
    beside it) when the block raises. A FIFO, a device or a symlink is written in place.
    """
    if str(path) == "-":
        out = LineOutput(sys.stdout, STDOUT)
        yield out
        out.flush()
        return
    name = str(path)
    try:
        target = Replacement(Path(path))
    except OSError as err:
        raise write_error(name, err) from None
    text = io.TextIOWrapper(target.file, encoding="utf-8", newline="")
    out = LineOutput(text, name)
    try:
        yield out
        out.flush()
        text.detach()  # the Replacement owns the file now
        try:
            target.commit()
        except OSError as err:
            raise write_error(name, err) from None
    except BaseException:
        target.abort()
        raise


def write_line(out: TextSink, text: str) -> None:
    """Write one output line; newlines inside ``text`` must never break the line contract."""
    out.write(text.replace("\n", " ") + "\n")


def write_lines(path: str | Path, lines: Iterable[str]) -> None:
    """Write lines to a file atomically (its directory created if missing), or to stdout for ``-``."""
    if str(path) != "-":
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(str(path), err) from None
    with open_output(path) as out:
        for line in lines:
            write_line(out, line)
