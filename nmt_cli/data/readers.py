"""Readers of line-aligned text: a pair of files (one sentence a line), or one TSV/CSV table.

Every reader yields ``Chunk``s of up to ``CHUNK`` pairs with their line numbers, text already decoded.
Lines are split only on ``\\n`` with one trailing ``\\r`` stripped: U+2028, U+0085, form feeds and lone
``\\r`` inside a line stay inside it (the control-character rule may then drop the pair, but the line
count never changes). Invalid UTF-8 is replaced with U+FFFD and counted per line as a repair.
Files ending in ``.gz`` are read through gzip.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from nmt_cli.data.report import SplitReport
from nmt_cli.errors import DataError, UsageError
from nmt_cli.textio import READ_ERRORS, open_input_fd, read_error

CHUNK = 8192


@dataclass
class Chunk:
    """Up to ``CHUNK`` pairs: original line (or row) numbers and the two sides."""

    lines: Sequence[int]
    src: list[str]
    tgt: list[str]

    def __len__(self) -> int:
        return len(self.src)


class _Checked:
    """A binary input file whose read errors (a truncated or corrupt .gz, an I/O error) are one-line
    DataErrors naming the file, raised wherever the reading happens (readers are lazy generators)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw: BinaryIO = open(open_input_fd(path), "rb")
        self._fh: BinaryIO = self._raw
        if path.suffix == ".gz":
            self._fh = gzip.GzipFile(filename=str(path), fileobj=self._raw)  # type: ignore[assignment]

    def _failed(self, err: OSError | EOFError | zlib.error) -> DataError:
        return read_error(str(self.path), err)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._fh)
        except READ_ERRORS as err:
            raise self._failed(err) from None

    def read(self, size: int = -1) -> bytes:
        try:
            return self._fh.read(size)
        except READ_ERRORS as err:
            raise self._failed(err) from None

    def __enter__(self) -> _Checked:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()
        self._raw.close()


def _open(path: Path) -> _Checked:
    """Open an input for reading (one-line errors for a missing file, a directory, an unreadable one)."""
    return _Checked(path)


def _strip_eol(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    return raw[:-1] if raw.endswith(b"\r") else raw


def decode_chunk(raws: list[bytes]) -> tuple[list[str], list[int]]:
    """Raw lines (each ending in ``\\n`` except maybe the last) -> text lines, and the indices of the
    lines whose invalid UTF-8 was replaced. One trailing ``\\r`` per line is removed, nothing else."""
    if not raws:
        return [], []
    blob = b"".join(raws)
    try:
        text = blob.decode("utf-8")  # fast path: one decode per chunk
    except UnicodeDecodeError:
        lines, bad = [], []
        for i, raw in enumerate(raws):
            raw = _strip_eol(raw)
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("utf-8", errors="replace"))
                bad.append(i)
        return lines, bad
    # "\n" is never part of a multi-byte sequence, so splitting the decoded text is splitting the bytes.
    lines = text.replace("\r\n", "\n").split("\n")
    if text.endswith("\n"):
        lines.pop()
    elif lines[-1].endswith("\r"):
        lines[-1] = lines[-1][:-1]
    return lines, []


def _count_rest(fh: _Checked) -> int:
    """Lines left in a binary stream (a last line without ``\\n`` counts)."""
    count, last = 0, b"\n"
    for block in iter(lambda: fh.read(1 << 20), b""):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")


def read_file_pair(src: Path, tgt: Path, report: SplitReport) -> Iterator[Chunk]:
    """Two line-aligned files -> chunks. Different line counts raise, naming both counts and the first
    line that only one file has."""
    report.lines_of = f"lines of {src} and {tgt}"
    with _open(src) as fs, _open(tgt) as ft:
        done = 0
        while True:
            rs, rt = list(islice(fs, CHUNK)), list(islice(ft, CHUNK))
            if len(rs) != len(rt):
                n_s, n_t = done + len(rs) + _count_rest(fs), done + len(rt) + _count_rest(ft)
                shorter = tgt if n_s > n_t else src
                raise DataError(
                    f"{src} has {n_s:,} lines but {tgt} has {n_t:,}; they diverge at line "
                    f"{min(n_s, n_t) + 1:,}, where {shorter} has already ended"
                )
            if not rs:
                return
            s, bad_s = decode_chunk(rs)
            t, bad_t = decode_chunk(rt)
            for i in sorted(set(bad_s) | set(bad_t)):
                report.repair("invalid_utf8", done + 1 + i)
            yield Chunk(range(done + 1, done + 1 + len(rs)), s, t)
            done += len(rs)


def parse_columns(columns: str) -> tuple[str, str]:
    """``--columns`` (``0,1`` or ``en,es``) -> the source and the target column, as given."""
    parts = [c.strip() for c in columns.split(",")]
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"--columns needs two columns, e.g. 0,1 or en,es; got {columns!r}")
    return parts[0], parts[1]


def _csv_cells(line: str) -> list[str] | None:
    """One CSV record on one line (quoted fields may hold commas and quotes, not line breaks)."""
    # csv treats a bare CR as a line end; park it in a private-use character and put it back after.
    parked = "\r" in line
    if parked:
        line = line.replace("\r", "\ue000")
    try:
        cells = next(csv.reader([line]), [])
    except csv.Error:
        return None
    return [c.replace("\ue000", "\r") for c in cells] if parked else cells


def read_table(path: Path, columns: str, report: SplitReport) -> Iterator[Chunk]:
    """TSV (tab-split, no quoting) or CSV (``.csv``/``.csv.gz``: quoted fields, one record a line).

    Columns are 0-based indices, or header names (then line 1 is the header). A line without both
    columns is dropped and counted as ``bad_row``.
    """
    col_s, col_t = parse_columns(columns)
    by_name = not (col_s.isdigit() and col_t.isdigit())
    is_csv = ".csv" in [s.lower() for s in path.suffixes[-2:]]
    idx: tuple[int, int] | None = None if by_name else (int(col_s), int(col_t))
    report.lines_of = f"lines of {path}" + (" (line 1 is the header)" if by_name else "")
    with _open(path) as fh:
        done = 0
        while raws := list(islice(fh, CHUNK)):
            texts, bad = decode_chunk(raws)
            for i in bad:
                report.repair("invalid_utf8", done + 1 + i)
            out = Chunk([], [], [])
            for lineno, line in enumerate(texts, start=done + 1):
                cells = _csv_cells(line) if is_csv else line.split("\t")
                if idx is None:
                    idx = _header_index(cells or [], col_s, col_t, path)
                    continue
                if cells is None or max(idx) >= len(cells):
                    report.total += 1
                    report.drop("bad_row", lineno)
                    continue
                out.lines.append(lineno)  # type: ignore[attr-defined]
                out.src.append(cells[idx[0]])
                out.tgt.append(cells[idx[1]])
            done += len(raws)
            yield out


def _header_index(header: list[str], col_s: str, col_t: str, path: Path) -> tuple[int, int]:
    names = [h.strip() for h in header]
    for col in (col_s, col_t):
        if col not in names:
            raise DataError(f"{path}:1: no column named {col!r} in header {names}")
    return names.index(col_s), names.index(col_t)
