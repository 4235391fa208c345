"""Parallel data in: file pairs, TSV/CSV, Hugging Face ``datasets``; cleaning rules with a report.

Every reader yields ``Pair(lineno, src, tgt)`` with text already decoded (invalid UTF-8 replaced and
counted). Lines are split only on ``\\n`` with one trailing ``\\r`` stripped: U+2028, U+0085, form feeds
and lone ``\\r`` inside a line stay inside it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from nmt_cli.errors import DataError, UsageError
from nmt_cli.textio import is_blank, iter_raw_lines

# Rules in the order they are tried; a pair is counted under the first rule it breaks.
TEXT_RULES = ("empty", "control_chars", "too_long_chars", "copy", "duplicate")
PIECE_RULES = ("too_long_pieces", "length_ratio")
EXAMPLES = 5


@dataclass(frozen=True)
class Pair:
    lineno: int
    src: str
    tgt: str


@dataclass
class SourceSpec:
    """Where the parallel data comes from (exactly one of train / tsv / hf)."""

    train: tuple[Path, Path] | None = None
    dev: tuple[Path, Path] | None = None
    test: tuple[Path, Path] | None = None
    tsv: Path | None = None
    columns: str = "0,1"
    hf: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    streaming: bool = False
    src_lang: str | None = None
    tgt_lang: str | None = None

    def describe(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class PrepareOptions:
    vocab_size: int = 8000
    joint_vocab: bool = True
    model_type: str = "unigram"
    character_coverage: float = 1.0
    byte_fallback: bool = True
    input_sentence_size: int = 1_000_000
    max_pieces: int = 200
    max_chars: int = 2000
    max_ratio: float = 3.0
    ratio_min_pieces: int = 10
    drop_copies: bool = True
    drop_duplicates: bool = True
    dev_size: int = 0
    test_size: int = 0
    seed: int = 1


@dataclass
class RuleCount:
    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, lineno: int) -> None:
        self.count += 1
        if len(self.lines) < EXAMPLES:
            self.lines.append(lineno)


@dataclass
class SplitReport:
    """What happened to one split: totals, drops per rule, repairs."""

    total: int = 0
    kept: int = 0
    dropped: dict[str, RuleCount] = field(default_factory=dict)
    repaired: dict[str, RuleCount] = field(default_factory=dict)
    carved_out: dict[str, int] = field(default_factory=dict)  # pairs moved to dev/test

    def drop(self, rule: str, lineno: int) -> None:
        self.dropped.setdefault(rule, RuleCount()).add(lineno)

    def repair(self, rule: str, lineno: int) -> None:
        self.repaired.setdefault(rule, RuleCount()).add(lineno)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "kept": self.kept,
            "dropped": {k: {"count": v.count, "first_lines": v.lines} for k, v in self.dropped.items()},
            "repaired": {k: {"count": v.count, "first_lines": v.lines} for k, v in self.repaired.items()},
            "carved_out": self.carved_out,
        }


# ---------------------------------------------------------------- readers


def _open(path: Path) -> BinaryIO:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a text file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # type: ignore[return-value]


def _decode(raw: bytes, path: Path, lineno: int, report: SplitReport | None) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if report is not None:
            report.repair(f"invalid_utf8:{path.name}", lineno)
        return raw.decode("utf-8", errors="replace")


def _count_rest(it: Iterator[bytes]) -> int:
    return sum(1 for _ in it)


def read_file_pair(src: Path, tgt: Path, report: SplitReport | None = None) -> Iterator[Pair]:
    """Two line-aligned files -> pairs. Different line counts raise, naming both counts."""
    with _open(src) as fs, _open(tgt) as ft:
        it_s, it_t = iter_raw_lines(fs), iter_raw_lines(ft)
        lineno = 0
        while True:
            rs, rt = next(it_s, None), next(it_t, None)
            if rs is None or rt is None:
                if rs is None and rt is None:
                    return
                n_s = lineno + (0 if rs is None else 1 + _count_rest(it_s))
                n_t = lineno + (0 if rt is None else 1 + _count_rest(it_t))
                raise DataError(
                    f"{src} has {n_s} lines but {tgt} has {n_t}; they diverge at line {lineno + 1}"
                )
            lineno += 1
            yield Pair(lineno, _decode(rs, src, lineno, report), _decode(rt, tgt, lineno, report))


def _parse_columns(columns: str) -> tuple[str, str]:
    parts = [c.strip() for c in columns.split(",")]
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"--columns needs two columns, e.g. 0,1 or en,es; got {columns!r}")
    return parts[0], parts[1]


def read_table(path: Path, columns: str, report: SplitReport | None = None) -> Iterator[Pair]:
    """TSV (tab-split, no quoting) or CSV (``.csv``: quoted fields, one record a line) -> pairs.

    Columns are 0-based indices, or header names (then the first line is the header).
    """
    col_s, col_t = _parse_columns(columns)
    by_name = not (col_s.isdigit() and col_t.isdigit())
    is_csv = path.suffix.lower() in (".csv",) or path.name.lower().endswith(".csv.gz")
    idx_s, idx_t = (int(col_s), int(col_t)) if not by_name else (-1, -1)
    with _open(path) as fh:
        for lineno, raw in enumerate(iter_raw_lines(fh), start=1):
            line = _decode(raw, path, lineno, report)
            cells = next(csv.reader([line])) if is_csv else line.split("\t")
            if by_name and idx_s < 0:
                idx_s, idx_t = _header_index(cells, col_s, col_t, path)
                continue
            if max(idx_s, idx_t) >= len(cells):
                raise DataError(
                    f"{path}:{lineno}: has {len(cells)} column(s), column {max(idx_s, idx_t)} is missing"
                )
            yield Pair(lineno, cells[idx_s], cells[idx_t])


def _header_index(header: list[str], col_s: str, col_t: str, path: Path) -> tuple[int, int]:
    names = [h.strip() for h in header]
    for col in (col_s, col_t):
        if col not in names:
            raise DataError(f"{path}:1: no column named {col!r} in header {names}")
    return names.index(col_s), names.index(col_t)


# ---------------------------------------------------------------- Hugging Face datasets

_HF_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def load_hf(spec: SourceSpec, split: str) -> Iterable[dict[str, Any]]:
    """A hub name, a ``save_to_disk`` folder, a folder of data files, or data files -> rows."""
    import datasets

    target = spec.hf or ""
    path = Path(target)
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "state.json").exists()):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                loaded = loaded[split]
            return loaded  # type: ignore[no-any-return]
        if path.is_file():
            builder = _HF_FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise UsageError(f"--hf {path}: unknown data file type; use .json, .jsonl, .csv or .parquet")
            return datasets.load_dataset(  # type: ignore[no-any-return]
                builder, data_files={split: str(path)}, split=split, streaming=spec.streaming
            )
        return datasets.load_dataset(  # type: ignore[no-any-return]
            target, spec.hf_config, split=split, streaming=spec.streaming
        )
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as err:
        raise DataError(f"--hf {target}: cannot load split {split!r}: {err}".splitlines()[0]) from None


def hf_pairs(rows: Iterable[dict[str, Any]], spec: SourceSpec, where: str) -> Iterator[Pair]:
    """Rows with a ``translation: {lang: text}`` column, or flat columns -> pairs."""
    src_key, tgt_key = _hf_keys(spec)
    for i, row in enumerate(rows, start=1):
        record = row.get("translation", row) if isinstance(row.get("translation"), dict) else row
        try:
            src, tgt = record[src_key], record[tgt_key]
        except KeyError as err:
            raise DataError(
                f"{where}: row {i}: no field {err.args[0]!r} (fields: {sorted(record)})"
            ) from None
        yield Pair(i, "" if src is None else str(src), "" if tgt is None else str(tgt))


def _hf_keys(spec: SourceSpec) -> tuple[str, str]:
    if spec.src_lang and spec.tgt_lang:
        return spec.src_lang, spec.tgt_lang
    if spec.columns and not spec.columns.replace(",", "").isdigit():
        return _parse_columns(spec.columns)
    raise UsageError("--hf needs --src-lang and --tgt-lang (or --columns NAME,NAME for flat columns)")


def train_pairs(spec: SourceSpec, report: SplitReport) -> Iterator[Pair]:
    """The training pairs from whichever input the spec names."""
    given = [x for x in (spec.train, spec.tsv, spec.hf) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of --train SRC TGT, --tsv FILE or --hf DATASET")
    if spec.train:
        return read_file_pair(spec.train[0], spec.train[1], report)
    if spec.tsv:
        return read_table(spec.tsv, spec.columns, report)
    return hf_pairs(load_hf(spec, spec.hf_split), spec, str(spec.hf))


# ---------------------------------------------------------------- cleaning


def _is_control(ch: str) -> bool:
    return ch != "\t" and unicodedata.category(ch) == "Cc"


def _has_control(text: str) -> bool:
    return any(_is_control(ch) for ch in text)


def pair_key(src: str, tgt: str) -> bytes:
    return hashlib.blake2b(f"{src}\t{tgt}".encode(), digest_size=8).digest()


@dataclass
class TextFilter:
    """The rules that need no tokenizer. ``check`` returns the broken rule or None (kept)."""

    opts: PrepareOptions
    seen: set[bytes] = field(default_factory=set)

    def check(self, pair: Pair) -> str | None:
        src, tgt = pair.src.strip(), pair.tgt.strip()
        rule: str | None = None
        if is_blank(src) or is_blank(tgt):
            rule = "empty"
        elif _has_control(src) or _has_control(tgt):
            rule = "control_chars"
        elif max(len(src), len(tgt)) > self.opts.max_chars:
            rule = "too_long_chars"
        elif self.opts.drop_copies and src == tgt:
            rule = "copy"
        elif self.opts.drop_duplicates:
            key = pair_key(src, tgt)
            if key in self.seen:
                rule = "duplicate"
            else:
                self.seen.add(key)
        return rule


def piece_rule(n_src: int, n_tgt: int, opts: PrepareOptions) -> str | None:
    """Rules on piece counts (computed once the tokenizer exists)."""
    if max(n_src, n_tgt) > opts.max_pieces:
        return "too_long_pieces"
    longer, shorter = max(n_src, n_tgt), max(1, min(n_src, n_tgt))
    if longer >= opts.ratio_min_pieces and longer > opts.max_ratio * shorter:
        return "length_ratio"
    return None


def clean(pairs: Iterable[Pair], flt: TextFilter, report: SplitReport) -> Iterator[Pair]:
    """Apply the text rules, counting every drop; kept pairs come out stripped."""
    for pair in pairs:
        report.total += 1
        rule = flt.check(pair)
        if rule is not None:
            report.drop(rule, pair.lineno)
            continue
        yield Pair(pair.lineno, pair.src.strip(), pair.tgt.strip())


def source_hash(text: str, seed: int) -> int:
    """A seeded 63-bit hash of a source sentence, for carving dev/test deterministically."""
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=seed.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little") >> 1


def carve(hashes: Callable[[], Iterable[int]], sizes: list[int]) -> list[set[int]]:
    """Choose source-hash sets for held-out splits: smallest hashes first, whole sources at once.

    All pairs that share a source sentence land in the same split, so no source is shared.
    """
    import numpy as np

    values = np.fromiter(hashes(), dtype=np.int64)
    uniq, counts = np.unique(values, return_counts=True)  # sorted by hash
    chosen: list[set[int]] = []
    start = 0
    for size in sizes:
        cum = np.cumsum(counts[start:])
        stop = start + int(np.searchsorted(cum, size)) + 1 if size > 0 else start
        stop = min(stop, len(uniq))
        chosen.append(set(uniq[start:stop].tolist()))
        start = stop
    return chosen
