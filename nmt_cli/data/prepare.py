"""``nmt prepare``: clean a parallel corpus, train SentencePiece, write a data directory atomically.

Layout of DATA::

    manifest.json  report.json  spm.model | spm.src.model spm.tgt.model
    train.{src,tgt}.ids  train.offsets.npy            (see encoded.py)
    dev.{src,tgt}  test.{src,tgt}                     (raw text, for scoring) + their encoded ids

Three passes, none holding the corpus in memory (what grows with it: 8 bytes a pair for finding
duplicates, 8 more for carving dev/test, 1 for routing pairs to splits):

1. read the input in chunks, apply the text rules, stage the survivors on disk (plus one 8-byte hash
   per pair for duplicates, and one for carving dev/test);
2. train SentencePiece on the staged training pairs;
3. encode the staged pairs in large batches, apply the piece rules, write ids.

Everything is written into a hidden sibling directory (``.DATA.prepare-*``) and renamed into place at
the end, so a crash, Ctrl-C or SIGKILL never leaves a half-written DATA. A staging directory left by a
killed run is recognised by its free lock file and removed by the next run.

Test hook: ``NMT_PREPARE_KILL_AT=POINT[:SIGNAL]`` makes the process send itself SIGNAL (default KILL)
at POINT, one of ``staged``, ``tokenizer``, ``encoded``, ``rename``.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import platform
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from importlib import metadata
from itertools import compress, islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from nmt_cli import __version__
from nmt_cli.corpus import (
    CHUNK,
    DEV,
    DROPPED,
    PIECE_RULE_NAMES,
    RULES,
    TEST,
    TRAIN,
    Chunk,
    SplitReport,
    carve,
    check_spec,
    clean_chunk,
    first_occurrences,
    held_out_chunks,
    hf_local_files,
    pair_hashes,
    piece_rules,
    source_hashes,
    train_chunks,
)
from nmt_cli.durable import fsync_path, sha256_file, umask
from nmt_cli.encoded import SplitWriter
from nmt_cli.errors import DataError, UsageError
from nmt_cli.settings import PrepareSettings, SourceSettings
from nmt_cli.tokenizer import SpmSettings, Tokenizer, train_spm

KILL_ENV = "NMT_PREPARE_KILL_AT"
LOCK = ".lock"
STALE_UNLOCKED_S = 600  # a staging dir without a lock file is stale after this long
SPLIT_CODES = {TRAIN: "train", DEV: "dev", TEST: "test"}
Log = Callable[[str], None]


def fault_point(name: str) -> None:
    """Test hook: die (or get a signal) at a named point when ``NMT_PREPARE_KILL_AT`` says so."""
    wanted = os.environ.get(KILL_ENV, "")
    point, _, sig = wanted.partition(":")
    if point == name:
        os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))


# ---------------------------------------------------------------- atomic output directory


@contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A hidden sibling of ``out`` that becomes ``out`` on success and vanishes on failure."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists; choose another --out or remove it")
    made = _make_parents(out.parent)
    lock: IO[str] | None = None
    tmp: Path | None = None
    try:
        _remove_stale(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.prepare-", dir=out.parent))
        lock = open(tmp / LOCK, "w")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tmp.chmod(0o777 & ~umask())
        yield tmp
        _fsync_tree(tmp)
        fault_point("rename")
        try:
            os.replace(tmp, out)  # replaces an empty directory, fails on anything else
        except OSError as err:
            raise DataError(f"{out}: cannot move the finished data into place ({err.strerror})") from None
        (out / LOCK).unlink()
        fsync_path(out.parent)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for directory in made:
            try:
                directory.rmdir()
            except OSError:
                break
        raise
    finally:
        if lock is not None:
            lock.close()


def _make_parents(parent: Path) -> list[Path]:
    """Create ``parent`` and its missing ancestors; return those created, deepest first."""
    made, p = [], parent
    while not p.exists():
        made.append(p)
        p = p.parent
    parent.mkdir(parents=True, exist_ok=True)
    return made


def _remove_stale(out: Path) -> None:
    """Remove staging directories of killed runs: their lock file is no longer held."""
    for stale in out.parent.glob(f".{glob.escape(out.name)}.prepare-*"):
        try:
            with open(stale / LOCK, "rb") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a running prepare holds it
        except FileNotFoundError:
            try:
                if time.time() - stale.stat().st_mtime < STALE_UNLOCKED_S:
                    continue  # just created, or just renamed
            except FileNotFoundError:
                continue
        except OSError:
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            fsync_path(path)
    fsync_path(directory)


# ---------------------------------------------------------------- text on disk


class TextPair:
    """Two aligned text files, one sentence a line (the text never holds a ``\\n``)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.src_path, self.tgt_path = directory / f"{name}.src", directory / f"{name}.tgt"
        self.count = 0

    @contextmanager
    def writer(self) -> Iterator[Callable[[list[str], list[str]], None]]:
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


# ---------------------------------------------------------------- the passes


def _stage_held_out(chunks: Iterator[Chunk], text: TextPair, sources: set[str]) -> None:
    """Dev/test given by the user: kept exactly as given (only decoded), since they define what is scored."""
    with text.writer() as write:
        for chunk in chunks:
            write(chunk.src, chunk.tgt)
            sources.update(s.strip() for s in chunk.src)


def _stage_train(
    spec: SourceSettings, opts: PrepareSettings, staged: Staged, report: SplitReport, held_out: set[str]
) -> np.ndarray:
    """Pass 1: read, apply the text rules, stage the survivors; return each staged pair's route."""
    pair_h: list[np.ndarray] = []
    src_h: list[np.ndarray] = []
    carving = opts.dev_size > 0 or opts.test_size > 0
    with staged.appender() as append:
        for chunk in train_chunks(spec, report):
            kept = clean_chunk(chunk, opts, report, held_out)
            append(kept)
            if opts.drop_duplicates:
                pair_h.append(pair_hashes(kept.src, kept.tgt))
            if carving:
                src_h.append(source_hashes(kept.src, opts.seed))
    route = np.full(staged.count, TRAIN, dtype=np.int8)
    if opts.drop_duplicates:
        route[~first_occurrences(np.concatenate(pair_h or [np.zeros(0, np.uint64)]))] = DROPPED
    del pair_h
    if carving:
        carve(np.concatenate(src_h or [np.zeros(0, np.uint64)]), route, [opts.dev_size, opts.test_size])
    return route


def _train_sentences(staged: Staged, route: np.ndarray, sides: str) -> Iterator[str]:
    """The training split's sentences of one side (``src``/``tgt``) or both (``both``), from disk."""
    for start, chunk in staged.staged_chunks():
        take = (route[start : start + len(chunk)] == TRAIN).tolist()
        if sides in ("src", "both"):
            yield from compress(chunk.src, take)
        if sides in ("tgt", "both"):
            yield from compress(chunk.tgt, take)


def _train_tokenizer(staged: Staged, route: np.ndarray, opts: PrepareSettings, tmp: Path) -> Tokenizer:
    """Pass 2: SentencePiece on the training split only (dev/test never shape the vocabulary)."""
    settings = SpmSettings(
        vocab_size=opts.vocab_size,
        model_type=opts.model_type,
        character_coverage=opts.character_coverage,
        byte_fallback=opts.byte_fallback,
        input_sentence_size=opts.input_sentence_size,
        seed=opts.seed,
    )
    if opts.joint_vocab:
        proto = train_spm(_train_sentences(staged, route, "both"), settings, "training corpus")
        (tmp / "spm.model").write_bytes(proto)
        return Tokenizer(proto, proto)
    src = train_spm(_train_sentences(staged, route, "src"), settings, "source side")
    tgt = train_spm(_train_sentences(staged, route, "tgt"), settings, "target side")
    (tmp / "spm.src.model").write_bytes(src)
    (tmp / "spm.tgt.model").write_bytes(tgt)
    return Tokenizer(src, tgt)


def _encode_staged(
    staged: Staged,
    route: np.ndarray,
    tok: Tokenizer,
    tmp: Path,
    opts: PrepareSettings,
    train_report: SplitReport,
    carved: list[str],
) -> dict[str, SplitWriter]:
    """Pass 3: encode train (applying the piece rules) and the carved dev/test splits."""
    writers = {name: SplitWriter(tmp, name) for name in ["train", *carved]}
    with ExitStack() as stack:
        text_out = {name: stack.enter_context(TextPair(tmp, name).writer()) for name in carved}
        for start, chunk in staged.staged_chunks():
            r = route[start : start + len(chunk)]
            for i in np.flatnonzero(r == DROPPED).tolist():
                train_report.drop("duplicate", chunk.lines[i])
            for code, name in SPLIT_CODES.items():
                take = (r == code).tolist()
                if name not in writers or not any(take):
                    continue
                src, tgt = list(compress(chunk.src, take)), list(compress(chunk.tgt, take))
                src_ids, tgt_ids = tok.encode_src(src), tok.encode_tgt(tgt)
                if code == TRAIN:
                    lines = list(compress(chunk.lines, take))
                    src_ids, tgt_ids = _piece_filter(src_ids, tgt_ids, lines, opts, train_report)
                else:
                    text_out[name](src, tgt)
                writers[name].add_batch(src_ids, tgt_ids)
    for writer in writers.values():
        writer.close()
    return writers


def _piece_filter(
    src_ids: list[list[int]],
    tgt_ids: list[list[int]],
    lines: list[int],
    opts: PrepareSettings,
    report: SplitReport,
) -> tuple[list[list[int]], list[list[int]]]:
    n = len(src_ids)
    rules = piece_rules(
        np.fromiter(map(len, src_ids), np.int64, n), np.fromiter(map(len, tgt_ids), np.int64, n), opts
    )
    broken = np.flatnonzero(rules)
    if not len(broken):
        return src_ids, tgt_ids
    for i in broken.tolist():
        report.drop(PIECE_RULE_NAMES[int(rules[i])], lines[i])
    keep = (rules == 0).tolist()
    return list(compress(src_ids, keep)), list(compress(tgt_ids, keep))


def _encode_text(text: TextPair, tok: Tokenizer, tmp: Path, name: str) -> SplitWriter:
    writer = SplitWriter(tmp, name)
    for src, tgt in text.chunks():
        writer.add_batch(tok.encode_src(src), tok.encode_tgt(tgt))
    writer.close()
    return writer


# ---------------------------------------------------------------- records


def _file_entry(path: Path, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }


def _inputs(spec: SourceSettings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for role, files in (("train", spec.train), ("dev", spec.dev), ("test", spec.test)):
        rows += [_file_entry(p, role) for p in files or ()]
    if spec.tsv:
        rows.append(_file_entry(spec.tsv, "train"))
    if spec.hf:
        splits = {"train": spec.hf_split, "dev": spec.hf_dev_split, "test": spec.hf_test_split}
        rows.append(
            {
                "role": "dataset",
                "dataset": spec.hf,
                "config": spec.hf_config,
                "splits": {k: v for k, v in splits.items() if v},
                "streaming": spec.streaming,
            }
        )
        rows += [_file_entry(p, "dataset file") for p in hf_local_files(spec.hf)]
    return rows


def _versions(spec: SourceSettings) -> dict[str, str]:
    packages = ["sentencepiece", "numpy"] + (["datasets", "pyarrow"] if spec.hf else [])
    return {
        "nmt": __version__,
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in packages},
    }


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        fh.write("\n")


def _no_pairs_left(report: SplitReport) -> DataError:
    fired = [(rule, c) for rule, c in report.dropped.items() if c.count]
    worst = max(fired, key=lambda kv: kv[1].count, default=None)
    detail = f"; most were dropped as {worst[0]} (first at line {worst[1].lines[0]})" if worst else ""
    return DataError(f"no training pairs left: {report.total:,} read{detail}")


def _expected_rules(spec: SourceSettings, opts: PrepareSettings, held_out: bool) -> list[str]:
    """The drop rules that apply to this run, each reported even when it drops nothing."""
    skip = {
        "bad_row": not spec.tsv,
        "copy": not opts.drop_copies,
        "in_dev_test": not (opts.drop_overlap and held_out),
        "duplicate": not opts.drop_duplicates,
    }
    return [rule for rule in RULES if not skip.get(rule, False)]


# ---------------------------------------------------------------- the command


def _stage_given(
    spec: SourceSettings, tmp: Path, reports: dict[str, SplitReport]
) -> tuple[dict[str, TextPair], set[str]]:
    """Dev/test splits the user gave: staged as text; returns them and their (stripped) sources."""
    given: dict[str, TextPair] = {}
    sources: set[str] = set()
    for name in ("dev", "test"):
        report = SplitReport()
        chunks = held_out_chunks(spec, name, report)
        if chunks is not None:
            reports[name], given[name] = report, TextPair(tmp, name)
            _stage_held_out(chunks, given[name], sources)
            report.total = report.kept = given[name].count
    return given, sources


def _records(
    spec: SourceSettings,
    opts: PrepareSettings,
    tmp: Path,
    reports: dict[str, SplitReport],
    writers: dict[str, SplitWriter],
    tok: Tokenizer,
) -> dict[str, Any]:
    """Write report.json and manifest.json (inputs with sha256, settings, counts, versions, file hashes)."""
    texts = opts.rule_texts()
    report: dict[str, Any] = {n: reports[n].to_json(texts) for n in ("train", "dev", "test") if n in reports}
    _write_json(tmp / "report.json", report)
    manifest = {
        "format": 1,
        "inputs": _inputs(spec),
        "source": spec.describe(),
        "settings": opts.__dict__,
        "counts": {
            name: {"pairs": len(w), "src_pieces": w.tokens[0], "tgt_pieces": w.tokens[1]}
            for name, w in writers.items()
        },
        "vocab": {"joint": tok.joint, "src": tok.src_vocab_size, "tgt": tok.tgt_vocab_size},
        "versions": _versions(spec),
        "files": {
            p.name: sha256_file(p)
            for p in sorted(tmp.iterdir())
            if p.is_file() and not p.name.startswith(".")
        },
    }
    _write_json(tmp / "manifest.json", manifest)
    return report


def prepare_data(
    spec: SourceSettings, opts: PrepareSettings, out: Path, log: Log | None = None
) -> dict[str, Any]:
    """Run the whole preparation; returns the filter report (also written to DATA/report.json)."""
    say = log or (lambda _message: None)
    check_spec(spec, opts)
    carved = [name for name, size in (("dev", opts.dev_size), ("test", opts.test_size)) if size > 0]
    reports = {"train": SplitReport()}
    train_report = reports["train"]
    with staging_dir(out) as tmp:
        t0 = time.monotonic()
        given, held_out = _stage_given(spec, tmp, reports)
        train_report.expect(_expected_rules(spec, opts, bool(given)), ["invalid_utf8"])
        staged = Staged(tmp)
        route = _stage_train(spec, opts, staged, train_report, held_out if opts.drop_overlap else set())
        counts = {SPLIT_CODES[c]: int(n) for c, n in zip(*np.unique(route, return_counts=True)) if c >= 0}
        train_report.carved_out = {name: counts.get(name, 0) for name in carved}
        if not counts.get("train"):
            moved = sum(train_report.carved_out.values())
            if moved:
                raise DataError(
                    f"--dev-size/--test-size take all {moved:,} cleaned pairs; nothing is left to train on"
                )
            raise _no_pairs_left(train_report)
        left = f"{counts['train']:,} left for training"
        say(f"read {train_report.total:,} pairs, {left} ({time.monotonic() - t0:.1f} s)")
        fault_point("staged")

        t0 = time.monotonic()
        tok = _train_tokenizer(staged, route, opts, tmp)
        kind = f"{opts.model_type}, {'joint' if tok.joint else 'separate'}, {opts.vocab_size:,} pieces"
        say(f"trained SentencePiece ({kind}) ({time.monotonic() - t0:.1f} s)")
        fault_point("tokenizer")

        t0 = time.monotonic()
        writers = _encode_staged(staged, route, tok, tmp, opts, train_report, carved)
        staged.remove()
        for name, text in given.items():
            writers[name] = _encode_text(text, tok, tmp, name)
        train_report.kept = len(writers["train"])
        if not train_report.kept:
            raise _no_pairs_left(train_report)
        for name in carved:
            reports[name] = SplitReport(total=len(writers[name]), kept=len(writers[name]))
        sizes = ", ".join(f"{name} {len(w):,}" for name, w in writers.items())
        say(f"encoded {sizes} pairs ({time.monotonic() - t0:.1f} s)")
        fault_point("encoded")
        return _records(spec, opts, tmp, reports, writers, tok)
