"""Sentence pairs as text on disk, so that no pass of ``nmt prepare`` holds the corpus in memory.

A ``TextPair`` is two aligned UTF-8 files, one sentence a line; the text never holds a ``\\n`` (the
readers split on it), so a line is a sentence. The given dev/test splits are kept this way as written
(``dev.src``, ``dev.tgt``... in DATA, for scoring). ``Staged`` holds the training pairs that passed the
text rules between the passes, with their input line numbers for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import numpy as np

from nmt_cli.data.readers import CHUNK, Chunk


class TextPair:
    """Two aligned text files, one sentence a line (the text never holds a ``\\n``)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.src_path, self.tgt_path = directory / f"{name}.src", directory / f"{name}.tgt"
        self.count = 0

    @contextmanager
    def writer(self) -> Iterator[Callable[[list[str], list[str]], None]]:
        """A function that appends sentences to both files (and counts them), while the block runs."""
        with (
            open(self.src_path, "w", encoding="utf-8", newline="\n") as fs,
            open(self.tgt_path, "w", encoding="utf-8", newline="\n") as ft,
        ):

            def write(src: list[str], tgt: list[str]) -> None:
                if src:
                    fs.write("\n".join(src) + "\n")
                    ft.write("\n".join(tgt) + "\n")
                    self.count += len(src)

            yield write

    def chunks(self) -> Iterator[tuple[list[str], list[str]]]:
        """The pairs back, up to ``CHUNK`` at a time."""
        with (
            open(self.src_path, encoding="utf-8", newline="\n") as fs,
            open(self.tgt_path, encoding="utf-8", newline="\n") as ft,
        ):
            while src := [line[:-1] for line in islice(fs, CHUNK)]:
                yield src, [line[:-1] for line in islice(ft, CHUNK)]

    def remove(self) -> None:
        self.src_path.unlink()
        self.tgt_path.unlink()


class Staged(TextPair):
    """Training pairs that passed the text rules, with their input line numbers (int64 file)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, ".staged")
        self.lines_path = directory / ".staged.lines"

    @contextmanager
    def appender(self) -> Iterator[Callable[[Chunk], None]]:
        """A function that appends a chunk, line numbers included, while the block runs."""
        with self.writer() as write, open(self.lines_path, "wb") as fl:

            def append(chunk: Chunk) -> None:
                write(chunk.src, chunk.tgt)
                fl.write(np.asarray(chunk.lines, dtype="<i8").tobytes())

            yield append

    def staged_chunks(self) -> Iterator[tuple[int, Chunk]]:
        """(index of the first pair, chunk), in order."""
        start = 0
        with open(self.lines_path, "rb") as fl:
            for src, tgt in self.chunks():
                lines = np.fromfile(fl, dtype="<i8", count=len(src)).tolist()
                yield start, Chunk(lines, src, tgt)
                start += len(src)

    def remove(self) -> None:
        super().remove()
        self.lines_path.unlink()
