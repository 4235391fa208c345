"""Parallel data in: file pairs, TSV/CSV, Hugging Face ``datasets``; the cleaning rules and their counts.

Every reader yields ``Chunk``s of up to ``CHUNK`` pairs with their line numbers (row numbers for datasets),
text already decoded. Lines are split only on ``\\n`` with one trailing ``\\r`` stripped: U+2028, U+0085,
form feeds and lone ``\\r`` inside a line stay inside it (the control-character rule may then drop the
pair, but the line count never changes). Invalid UTF-8 is replaced with U+FFFD and counted per line.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nmt_cli.errors import DataError, UsageError
from nmt_cli.settings import PrepareSettings, SourceSettings
from nmt_cli.textio import is_blank

CHUNK = 8192
EXAMPLES = 5  # line numbers kept per rule

# Drop rules in the order they are tried; a pair is counted under the first rule it breaks.
# The first six need only text, the last two need the tokenizer.
RULES = (
    "bad_row",
    "empty",
    "control_chars",
    "too_long_chars",
    "copy",
    "in_dev_test",
    "duplicate",
    "too_long_pieces",
    "length_ratio",
)
# Route codes of cleaned training pairs (see ``carve``).
DROPPED, TRAIN, DEV, TEST = -1, 0, 1, 2

# Cc without TAB: C0 controls (NUL, CR, VT, FF, ESC...), DEL and C1 controls (U+0085 NEL...).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# The invisible characters ``textio.is_blank`` ignores; only text holding one needs its slower check.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


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
    """What happened to one split: totals, drops per rule, repairs.

    ``total`` counts every pair (row) read, so for train ``total == kept + dropped + carved_out``.
    """

    lines_of: str = ""
    total: int = 0
    kept: int = 0
    dropped: dict[str, RuleCount] = field(default_factory=dict)
    repaired: dict[str, RuleCount] = field(default_factory=dict)
    carved_out: dict[str, int] = field(default_factory=dict)  # pairs moved to dev/test

    def expect(self, dropped: Sequence[str], repaired: Sequence[str]) -> None:
        """List these rules in the report (in this order) even if they never fire."""
        for rule in dropped:
            self.dropped.setdefault(rule, RuleCount())
        for rule in repaired:
            self.repaired.setdefault(rule, RuleCount())

    def drop(self, rule: str, lineno: int) -> None:
        self.dropped.setdefault(rule, RuleCount()).add(lineno)

    def repair(self, rule: str, lineno: int) -> None:
        self.repaired.setdefault(rule, RuleCount()).add(lineno)

    def to_json(self, texts: dict[str, str]) -> dict[str, Any]:
        def entries(counts: dict[str, RuleCount]) -> dict[str, Any]:
            return {
                k: {"count": v.count, "first_lines": v.lines, "rule": texts.get(k, k)}
                for k, v in counts.items()
            }

        return {
            "lines_of": self.lines_of,
            "total": self.total,
            "kept": self.kept,
            "dropped": entries(self.dropped),
            "repaired": entries(self.repaired),
            "carved_out": self.carved_out,
        }


@dataclass
class Chunk:
    """Up to ``CHUNK`` pairs: original line (or row) numbers and the two sides."""

    lines: Sequence[int]
    src: list[str]
    tgt: list[str]

    def __len__(self) -> int:
        return len(self.src)


# ---------------------------------------------------------------- file readers


def _open(path: Path) -> BinaryIO:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a text file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # type: ignore[return-value]


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


def _count_rest(fh: BinaryIO) -> int:
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


def _parse_columns(columns: str) -> tuple[str, str]:
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
    col_s, col_t = _parse_columns(columns)
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


# ---------------------------------------------------------------- Hugging Face datasets

_HF_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def _builder(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst"):
        suffixes.pop()
    return _HF_FILE_BUILDERS.get(suffixes[-1]) if suffixes else None


def hf_local_files(target: str) -> list[Path]:
    """The local files behind ``--hf``: one data file, a glob, or every file of a folder; [] for hub names."""
    path = Path(target)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if any(ch in target for ch in "*?["):
        return sorted(Path(p) for p in glob.glob(target, recursive=True) if Path(p).is_file())
    return []


def load_hf(spec: SourceSettings, split: str) -> Any:
    """A hub name, a ``save_to_disk`` folder, a folder of data files, or data files (a path or a glob)
    -> a ``Dataset`` or, with ``--streaming``, an ``IterableDataset``."""
    import datasets

    target = spec.hf or ""
    path = Path(target)
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise DataError(f"--hf {target}: no split {split!r} (splits: {sorted(loaded)})")
                loaded = loaded[split]
            return loaded.to_iterable_dataset() if spec.streaming else loaded
        files = [] if path.is_dir() else hf_local_files(target)
        if files:
            builders = {_builder(f) for f in files}
            if len(builders) != 1 or None in builders:
                raise UsageError(
                    f"--hf {target}: data files must all be .json, .jsonl, .csv or .parquet (optionally .gz)"
                )
            return datasets.load_dataset(
                builders.pop(),
                data_files={split: [str(f) for f in files]},
                split=split,
                streaming=spec.streaming,
            )
        if any(ch in target for ch in "*?["):
            raise DataError(f"--hf {target}: no files match")
        return datasets.load_dataset(target, spec.hf_config, split=split, streaming=spec.streaming)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as err:
        raise DataError(f"--hf {target}: cannot load split {split!r}: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    """The root cause's message, first line (datasets wraps parse errors in generic ones)."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _hf_keys(spec: SourceSettings) -> tuple[str, str]:
    if spec.src_lang and spec.tgt_lang:
        return spec.src_lang, spec.tgt_lang
    if spec.columns and not spec.columns.replace(",", "").replace(" ", "").isdigit():
        return _parse_columns(spec.columns)
    raise UsageError("--hf needs --src-lang and --tgt-lang (or --columns NAME,NAME for flat columns)")


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def hf_chunks(rows: Any, spec: SourceSettings, where: str) -> Iterator[Chunk]:
    """Rows with a ``translation: {lang: text}`` column, or flat columns -> chunks (row numbers from 1)."""
    src_key, tgt_key = _hf_keys(spec)
    names = getattr(rows, "column_names", None)
    if names and src_key in names and tgt_key in names:
        rows = rows.select_columns([src_key, tgt_key])
    elif names and "translation" in names:
        rows = rows.select_columns(["translation"])
    done = 0
    for batch in _batches(rows, where):
        if src_key in batch and tgt_key in batch:
            src, tgt = [_text(v) for v in batch[src_key]], [_text(v) for v in batch[tgt_key]]
        elif "translation" in batch:
            src, tgt = [], []
            for i, record in enumerate(batch["translation"], start=done + 1):
                record = record or {}
                if src_key not in record or tgt_key not in record:
                    missing = src_key if src_key not in record else tgt_key
                    raise DataError(
                        f"{where}: row {i}: no language {missing!r} in 'translation' (has {sorted(record)})"
                    )
                src.append(_text(record[src_key]))
                tgt.append(_text(record[tgt_key]))
        else:
            missing = src_key if src_key not in batch else tgt_key
            raise DataError(
                f"{where}: no column {missing!r} and no 'translation' column (columns: {sorted(batch)})"
            )
        yield Chunk(range(done + 1, done + 1 + len(src)), src, tgt)
        done += len(src)


def _batches(rows: Any, where: str) -> Iterator[dict[str, list[Any]]]:
    """``rows.iter`` with the errors of lazily read data (streaming) turned into DataErrors."""
    import datasets

    batches = rows.iter(batch_size=CHUNK)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, ValueError, datasets.exceptions.DatasetsError) as err:
            raise DataError(f"{where}: cannot read rows: {_first_line(err)}") from None
        if batch is None:
            return
        yield batch


def one_line(chunks: Iterable[Chunk], report: SplitReport) -> Iterator[Chunk]:
    """Replace line breaks inside fields by spaces (for splits that are kept as given), counting them."""
    for chunk in chunks:
        for i, (s, t) in enumerate(zip(chunk.src, chunk.tgt)):
            if "\n" in s or "\r" in s or "\n" in t or "\r" in t:
                report.repair("line_breaks", chunk.lines[i])
                chunk.src[i] = re.sub(r"\r\n?|\n", " ", s)
                chunk.tgt[i] = re.sub(r"\r\n?|\n", " ", t)
        yield chunk


def check_spec(spec: SourceSettings, opts: PrepareSettings) -> None:
    """Usage errors, found before anything is read or created."""
    given = [x for x in (spec.train, spec.tsv, spec.hf) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of --train SRC TGT, --tsv FILE or --hf DATASET")
    if spec.hf:
        _hf_keys(spec)
    for name, size in (("dev", opts.dev_size), ("test", opts.test_size)):
        files, split = getattr(spec, name), getattr(spec, f"hf_{name}_split")
        if files and split:
            raise UsageError(f"give either --{name} files or --hf-{name}-split, not both")
        if split and not spec.hf:
            raise UsageError(f"--hf-{name}-split needs --hf")
        if size < 0:
            raise UsageError(f"--{name}-size must be 0 or more")
        if size and (files or split):
            raise UsageError(f"give either a {name} split (--{name} or --hf-{name}-split) or --{name}-size")


def train_chunks(spec: SourceSettings, report: SplitReport) -> Iterator[Chunk]:
    """The training pairs from whichever input the spec names (see ``check_spec``)."""
    if spec.train:
        return read_file_pair(spec.train[0], spec.train[1], report)
    if spec.tsv:
        return read_table(spec.tsv, spec.columns, report)
    return _hf_split_chunks(spec, spec.hf_split, report)


def held_out_chunks(spec: SourceSettings, name: str, report: SplitReport) -> Iterator[Chunk] | None:
    """A dev/test split given as files or as a dataset split; None when it is not given."""
    files = spec.dev if name == "dev" else spec.test
    split = spec.hf_dev_split if name == "dev" else spec.hf_test_split
    if files:
        return read_file_pair(files[0], files[1], report)
    if split:
        return one_line(_hf_split_chunks(spec, split, report), report)
    return None


def _hf_split_chunks(spec: SourceSettings, split: str, report: SplitReport) -> Iterator[Chunk]:
    where = f"{spec.hf}" + (f" ({spec.hf_config})" if spec.hf_config else "") + f" split {split!r}"
    report.lines_of = f"rows of {where}, counted from 1"
    return hf_chunks(load_hf(spec, split), spec, where)


# ---------------------------------------------------------------- cleaning


def clean_chunk(chunk: Chunk, opts: PrepareSettings, report: SplitReport, held_out: set[str]) -> Chunk:
    """Apply the text rules, counting every drop; kept pairs come out stripped."""
    kept = Chunk([], [], [])
    max_chars, copies = opts.max_chars, opts.drop_copies
    for lineno, src, tgt in zip(chunk.lines, chunk.src, chunk.tgt):
        src, tgt = src.strip(), tgt.strip()
        if _blank(src) or _blank(tgt):
            report.drop("empty", lineno)
        elif _CONTROL.search(src) or _CONTROL.search(tgt):
            report.drop("control_chars", lineno)
        elif len(src) > max_chars or len(tgt) > max_chars:
            report.drop("too_long_chars", lineno)
        elif copies and src == tgt:
            report.drop("copy", lineno)
        elif src in held_out:
            report.drop("in_dev_test", lineno)
        else:
            kept.lines.append(lineno)  # type: ignore[attr-defined]
            kept.src.append(src)
            kept.tgt.append(tgt)
    report.total += len(chunk)
    return kept


def _blank(stripped: str) -> bool:
    return not stripped or (_INVISIBLE.search(stripped) is not None and is_blank(stripped))


def pair_hashes(src: Sequence[str], tgt: Sequence[str]) -> np.ndarray:
    """64-bit hashes of whole pairs (uint64), for finding exact duplicates."""
    digests = b"".join(
        hashlib.blake2b(f"{s}\n{t}".encode(), digest_size=8).digest() for s, t in zip(src, tgt)
    )
    return np.frombuffer(digests, dtype="<u8")


def source_hashes(src: Sequence[str], seed: int) -> np.ndarray:
    """Seeded 64-bit hashes of source sentences (uint64), for carving dev/test deterministically."""
    key = seed.to_bytes(8, "little", signed=True)
    digests = b"".join(hashlib.blake2b(s.encode(), digest_size=8, key=key).digest() for s in src)
    return np.frombuffer(digests, dtype="<u8")


def first_occurrences(hashes: np.ndarray) -> np.ndarray:
    """Boolean mask: True where a hash occurs for the first time."""
    first = np.zeros(len(hashes), dtype=bool)
    if len(hashes):
        _, index = np.unique(hashes, return_index=True)  # stable sort: index of the first occurrence
        first[index] = True
    return first


def piece_rules(src_len: np.ndarray, tgt_len: np.ndarray, opts: PrepareSettings) -> np.ndarray:
    """Per pair: 0 kept, 1 too_long_pieces, 2 length_ratio (computed from piece counts)."""
    longer, shorter = np.maximum(src_len, tgt_len), np.maximum(np.minimum(src_len, tgt_len), 1)
    too_long = longer > opts.max_pieces
    ratio = (longer >= opts.ratio_min_pieces) & (longer > opts.max_ratio * shorter)
    return np.where(too_long, 1, np.where(ratio, 2, 0)).astype(np.int8)


PIECE_RULE_NAMES = {1: "too_long_pieces", 2: "length_ratio"}


def carve(hashes: np.ndarray, route: np.ndarray, sizes: Sequence[int]) -> None:
    """Move training pairs (``route == TRAIN``) to held-out splits DEV, TEST... in place.

    Sources are taken in order of their seeded hash, smallest first, a whole source at a time, until
    each split has at least its size: every pair of a source lands in the same split, so no source
    sentence is shared between splits, and the choice does not depend on the input's order or format.
    """
    pool = route == TRAIN
    if not pool.any():
        return
    uniq, counts = np.unique(hashes[pool], return_counts=True)  # sorted by hash
    cum = np.cumsum(counts)
    taken, low = 0, None
    for code, size in enumerate(sizes, start=DEV):
        if size <= 0:
            continue
        k = min(int(np.searchsorted(cum, taken + size)), len(uniq) - 1)
        high = uniq[k]
        chosen = pool & (hashes <= high) if low is None else pool & (hashes > low) & (hashes <= high)
        route[chosen] = code
        taken, low = int(cum[k]), high
