"""Encoded splits on disk: flat int32 piece ids plus int64 offsets, memory-mapped at train time.

``NAME.src.ids`` / ``NAME.tgt.ids`` hold the ids of all sentences back to back (little-endian int32,
no BOS/EOS); ``NAME.offsets.npy`` holds ``n + 1`` offsets per side, shape ``(2, n + 1)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nmt_cli.errors import DataError
from nmt_cli.tokenizer import Tokenizer

ID_DTYPE = np.dtype("<i4")


class SplitWriter:
    """Append encoded pairs to a split's files; ``close`` writes the offsets.

    Memory stays flat: ids and per-pair lengths go straight to disk, and the offsets are built from
    the lengths file in blocks.
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.directory, self.name = directory, name
        self._fs: BinaryIO = open(directory / f"{name}.src.ids", "wb")
        self._ft: BinaryIO = open(directory / f"{name}.tgt.ids", "wb")
        self._lengths_path = directory / f".{name}.lengths"
        self._fl: BinaryIO = open(self._lengths_path, "wb")  # (n, 2) int64: src, tgt length per pair
        self._n, self._n_src, self._n_tgt = 0, 0, 0

    def add(self, src: Sequence[int], tgt: Sequence[int]) -> None:
        self.add_batch([src], [tgt])

    def add_batch(self, src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]]) -> None:
        """Append many pairs at once (one numpy conversion per batch, not per pair)."""
        n = len(src)
        if n != len(tgt):
            raise ValueError(f"{n} source but {len(tgt)} target sequences")
        if n == 0:
            return
        lengths = np.empty((n, 2), dtype="<i8")
        lengths[:, 0] = np.fromiter(map(len, src), dtype=np.int64, count=n)
        lengths[:, 1] = np.fromiter(map(len, tgt), dtype=np.int64, count=n)
        n_src, n_tgt = (int(x) for x in lengths.sum(axis=0))
        self._fs.write(np.fromiter(chain.from_iterable(src), dtype=ID_DTYPE, count=n_src).tobytes())
        self._ft.write(np.fromiter(chain.from_iterable(tgt), dtype=ID_DTYPE, count=n_tgt).tobytes())
        self._fl.write(lengths.tobytes())
        self._n += n
        self._n_src += n_src
        self._n_tgt += n_tgt

    def __len__(self) -> int:
        return self._n

    @property
    def tokens(self) -> tuple[int, int]:
        return self._n_src, self._n_tgt

    def close(self) -> None:
        for fh in (self._fs, self._ft, self._fl):
            fh.close()
        _write_offsets(self._lengths_path, self.directory / f"{self.name}.offsets.npy", self._n)
        self._lengths_path.unlink()


def _write_offsets(lengths_path: Path, out: Path, n: int, block: int = 1 << 20) -> None:
    """(n, 2) lengths on disk -> ``out`` = .npy of shape (2, n + 1): row 0 source offsets, row 1 target."""
    with open(out, "wb") as fo:
        np.lib.format.write_array_header_1_0(
            fo, {"descr": "<i8", "fortran_order": False, "shape": (2, n + 1)}
        )
        for side in (0, 1):
            fo.write(np.zeros(1, dtype="<i8").tobytes())
            carry = 0
            with open(lengths_path, "rb") as fl:
                while (rows := np.fromfile(fl, dtype="<i8", count=2 * block)).size:
                    cum = np.cumsum(rows[side::2]) + carry
                    fo.write(cum.tobytes())
                    carry = int(cum[-1])


class IdPairs:
    """Sentence pairs as the ids of each side back to back, with offsets (2, n + 1): a split on disk
    (``EncodedSplit``) or an epoch's sampled segmentation in memory (``data/sampling.py``)."""

    def __init__(self, src_ids: np.ndarray, tgt_ids: np.ndarray, offsets: np.ndarray) -> None:
        self.src_ids, self.tgt_ids, self.offsets = src_ids, tgt_ids, offsets

    def __len__(self) -> int:
        return int(self.offsets.shape[1] - 1)

    @property
    def src_lengths(self) -> np.ndarray:
        return np.diff(self.offsets[0])

    @property
    def tgt_lengths(self) -> np.ndarray:
        return np.diff(self.offsets[1])

    def src(self, i: int) -> np.ndarray:
        return np.asarray(self.src_ids[self.offsets[0, i] : self.offsets[0, i + 1]])

    def tgt(self, i: int) -> np.ndarray:
        return np.asarray(self.tgt_ids[self.offsets[1, i] : self.offsets[1, i + 1]])


class EncodedSplit(IdPairs):
    """Read-only, memory-mapped view of one split."""

    def __init__(self, directory: Path, name: str) -> None:
        path = directory / f"{name}.offsets.npy"
        if not path.exists():
            raise DataError(f"{directory}: no encoded split {name!r} (run `nmt prepare` first)")
        src, tgt = (_memmap(directory / f"{name}.{side}.ids") for side in ("src", "tgt"))
        super().__init__(src, tgt, np.load(path, mmap_mode="r"))
        if self.offsets[0, -1] != len(self.src_ids) or self.offsets[1, -1] != len(self.tgt_ids):
            raise DataError(f"{directory}: split {name!r} is damaged (ids and offsets disagree)")


def _memmap(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=ID_DTYPE)
    return np.memmap(path, dtype=ID_DTYPE, mode="r")


class DataDir:
    """A data directory written by ``nmt prepare``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        manifest = path / "manifest.json"
        if not manifest.exists():
            raise DataError(f"{path}: not a data directory (no manifest.json); run `nmt prepare` first")
        self.manifest = json.loads(manifest.read_text())
        self.fingerprint = hashlib.sha256(manifest.read_bytes()).hexdigest()

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.offsets.npy").exists()

    def split(self, name: str) -> EncodedSplit:
        return EncodedSplit(self.path, name)

    def text(self, name: str, side: str) -> list[str]:
        """The raw text of a held-out split (``side`` = src or tgt), as written by prepare."""
        with open(self.path / f"{name}.{side}", encoding="utf-8", newline="\n") as fh:
            return [line[:-1] if line.endswith("\n") else line for line in fh]

    def tokenizer(self) -> Tokenizer:
        joint = self.path / "spm.model"
        if joint.exists():
            proto = joint.read_bytes()
            return Tokenizer(proto, proto)
        return Tokenizer(
            (self.path / "spm.src.model").read_bytes(), (self.path / "spm.tgt.model").read_bytes()
        )
