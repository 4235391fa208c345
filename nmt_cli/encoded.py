"""Encoded splits on disk: flat int32 piece ids plus int64 offsets, memory-mapped at train time.

``NAME.src.ids`` / ``NAME.tgt.ids`` hold the ids of all sentences back to back (little-endian int32,
no BOS/EOS); ``NAME.offsets.npy`` holds ``n + 1`` offsets per side, shape ``(2, n + 1)``.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nmt_cli.errors import DataError
from nmt_cli.tokenizer import Tokenizer

ID_DTYPE = np.dtype("<i4")


class SplitWriter:
    """Append encoded pairs to a split's files; ``close`` writes the offsets."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory, self.name = directory, name
        self._fs: BinaryIO = open(directory / f"{name}.src.ids", "wb")
        self._ft: BinaryIO = open(directory / f"{name}.tgt.ids", "wb")
        self._off_s, self._off_t = array("q", [0]), array("q", [0])

    def add(self, src: Sequence[int], tgt: Sequence[int]) -> None:
        self._fs.write(np.asarray(src, dtype=ID_DTYPE).tobytes())
        self._ft.write(np.asarray(tgt, dtype=ID_DTYPE).tobytes())
        self._off_s.append(self._off_s[-1] + len(src))
        self._off_t.append(self._off_t[-1] + len(tgt))

    def __len__(self) -> int:
        return len(self._off_s) - 1

    @property
    def tokens(self) -> tuple[int, int]:
        return self._off_s[-1], self._off_t[-1]

    def close(self) -> None:
        self._fs.close()
        self._ft.close()
        offsets = np.stack([np.frombuffer(self._off_s, dtype=np.int64), np.frombuffer(self._off_t, np.int64)])
        np.save(self.directory / f"{self.name}.offsets.npy", offsets)


class EncodedSplit:
    """Read-only, memory-mapped view of one split."""

    def __init__(self, directory: Path, name: str) -> None:
        path = directory / f"{name}.offsets.npy"
        if not path.exists():
            raise DataError(f"{directory}: no encoded split {name!r} (run `nmt prepare` first)")
        self.offsets = np.load(path)
        self.src_ids = _memmap(directory / f"{name}.src.ids")
        self.tgt_ids = _memmap(directory / f"{name}.tgt.ids")
        if self.offsets[0, -1] != len(self.src_ids) or self.offsets[1, -1] != len(self.tgt_ids):
            raise DataError(f"{directory}: split {name!r} is damaged (ids and offsets disagree)")

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
