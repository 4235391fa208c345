"""Reader of Hugging Face ``datasets``: a hub name, a ``save_to_disk`` folder, or local data files.

Local data files (one file, a glob, or every file of a folder; ``.json``, ``.jsonl``, ``.csv`` or
``.parquet``, optionally compressed) are loaded with the matching ``datasets`` builder. Rows hold either
a ``translation: {lang: text}`` column (the usual layout of translation datasets) or flat columns named
by ``--columns``; they come out as ``Chunk``s numbered by row from 1. ``datasets`` is imported only when
a dataset is read, since it is slow to import. Its errors become ``DataError``s naming the dataset.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nmt_cli.data.readers import CHUNK, Chunk, parse_columns
from nmt_cli.data.report import SplitReport
from nmt_cli.errors import DataError, UsageError
from nmt_cli.settings import SourceSettings

_HF_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def _builder(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst"):
        suffixes.pop()
    return _HF_FILE_BUILDERS.get(suffixes[-1]) if suffixes else None


def datasets_module() -> Any:
    """The ``datasets`` package, or a one-line usage error naming the extra that installs it."""
    try:
        import datasets
    except ImportError:
        raise UsageError("--hf needs the Hugging Face datasets package: pip install 'nmt-cli[hf]'") from None
    return datasets


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
    datasets = datasets_module()

    target = spec.hf or ""
    path = Path(target)
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            return _load_saved(target, split, spec.streaming)
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
                trust_remote_code=False,
            )
        if any(ch in target for ch in "*?["):
            raise DataError(f"--hf {target}: no files match")
        # Never run a hub repository's loading script (datasets >= 4 has none to run; say so anyway).
        return datasets.load_dataset(
            target, spec.hf_config, split=split, streaming=spec.streaming, trust_remote_code=False
        )
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as err:
        raise DataError(f"--hf {target}: cannot load split {split!r}: {_first_line(err)}") from None


def _load_saved(target: str, split: str, streaming: bool) -> Any:
    """A folder written by ``save_to_disk`` (one dataset, or a dict of splits) -> the split."""
    datasets = datasets_module()

    loaded = datasets.load_from_disk(str(Path(target)))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DataError(f"--hf {target}: no split {split!r} (splits: {sorted(loaded)})")
        loaded = loaded[split]
    return loaded.to_iterable_dataset() if streaming else loaded


def _first_line(err: BaseException) -> str:
    """The root cause's message, first line (datasets wraps parse errors in generic ones)."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def hf_keys(spec: SourceSettings) -> tuple[str, str]:
    """The source and target key: language codes in ``translation``, or flat column names."""
    if spec.src_lang and spec.tgt_lang:
        return spec.src_lang, spec.tgt_lang
    if spec.columns and not spec.columns.replace(",", "").replace(" ", "").isdigit():
        return parse_columns(spec.columns)
    raise UsageError("--hf needs --src-lang and --tgt-lang (or --columns NAME,NAME for flat columns)")


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def hf_chunks(rows: Any, spec: SourceSettings, where: str) -> Iterator[Chunk]:
    """Rows with a ``translation: {lang: text}`` column, or flat columns -> chunks (row numbers from 1)."""
    src_key, tgt_key = hf_keys(spec)
    names = getattr(rows, "column_names", None)
    if names and src_key in names and tgt_key in names:
        rows = rows.select_columns([src_key, tgt_key])
    elif names and "translation" in names:
        rows = rows.select_columns(["translation"])
    done = 0
    for batch in _batches(rows, where):
        src, tgt = _sides(batch, src_key, tgt_key, done + 1, where)
        yield Chunk(range(done + 1, done + 1 + len(src)), src, tgt)
        done += len(src)


def _sides(
    batch: dict[str, list[Any]], src_key: str, tgt_key: str, first_row: int, where: str
) -> tuple[list[str], list[str]]:
    """One batch of rows -> its source and target texts, from flat columns or the ``translation`` column."""
    if src_key in batch and tgt_key in batch:
        return [_text(v) for v in batch[src_key]], [_text(v) for v in batch[tgt_key]]
    if "translation" not in batch:
        missing = src_key if src_key not in batch else tgt_key
        raise DataError(
            f"{where}: no column {missing!r} and no 'translation' column (columns: {sorted(batch)})"
        )
    src, tgt = [], []
    for i, record in enumerate(batch["translation"], start=first_row):
        record = record or {}
        if src_key not in record or tgt_key not in record:
            missing = src_key if src_key not in record else tgt_key
            raise DataError(
                f"{where}: row {i}: no language {missing!r} in 'translation' (has {sorted(record)})"
            )
        src.append(_text(record[src_key]))
        tgt.append(_text(record[tgt_key]))
    return src, tgt


def _batches(rows: Any, where: str) -> Iterator[dict[str, list[Any]]]:
    """``rows.iter`` with the errors of lazily read data (streaming) turned into DataErrors."""
    datasets = datasets_module()

    batches = rows.iter(batch_size=CHUNK)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, ValueError, datasets.exceptions.DatasetsError) as err:
            raise DataError(f"{where}: cannot read rows: {_first_line(err)}") from None
        if batch is None:
            return
        yield batch


def split_chunks(spec: SourceSettings, split: str, report: SplitReport) -> Iterator[Chunk]:
    """One split of the dataset ``--hf`` names -> chunks; the report says rows are counted from 1."""
    where = f"{spec.hf}" + (f" ({spec.hf_config})" if spec.hf_config else "") + f" split {split!r}"
    report.lines_of = f"rows of {where}, counted from 1"
    return hf_chunks(load_hf(spec, split), spec, where)
