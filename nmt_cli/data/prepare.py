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

All of it happens in a staging directory renamed into place at the end (see staging.py). For tests,
``NMT_FAULT=prepare-staged``, ``prepare-tokenizer``, ``prepare-encoded`` (after each pass) and
``prepare-rename`` stop the run there with a signal (see faults.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from nmt_cli import faults
from nmt_cli.data.encoded import SplitWriter
from nmt_cli.data.readers import Chunk
from nmt_cli.data.records import write_records
from nmt_cli.data.report import SplitReport
from nmt_cli.data.rules import (
    DEV,
    DROPPED,
    PIECE_RULE_NAMES,
    TEST,
    TRAIN,
    carve,
    clean_chunk,
    expected_rules,
    first_occurrences,
    pair_hashes,
    piece_rules,
    source_hashes,
)
from nmt_cli.data.sources import check_spec, held_out_chunks, train_chunks
from nmt_cli.data.staging import staging_dir
from nmt_cli.data.text import Staged, TextPair
from nmt_cli.errors import DataError
from nmt_cli.settings import PrepareSettings, SourceSettings
from nmt_cli.tokenizer import SpmSettings, Tokenizer, train_spm

SPLIT_CODES = {TRAIN: "train", DEV: "dev", TEST: "test"}
Log = Callable[[str], None]


@dataclass
class _Run:
    """One preparation: its settings, its staging directory, the reports it fills and where it logs."""

    spec: SourceSettings
    opts: PrepareSettings
    tmp: Path
    say: Log
    reuse: ReusedTokenizer | None = None
    reports: dict[str, SplitReport] = field(default_factory=lambda: {"train": SplitReport()})

    @property
    def train_report(self) -> SplitReport:
        return self.reports["train"]

    @property
    def carved(self) -> list[str]:
        """The held-out splits carved out of the training data (``--dev-size``/``--test-size``)."""
        sizes = (("dev", self.opts.dev_size), ("test", self.opts.test_size))
        return [name for name, size in sizes if size > 0]


@dataclass(frozen=True)
class ReusedTokenizer:
    """SentencePiece models to encode with instead of training new ones (``prepare --tokenizer``)."""

    src_proto: bytes
    tgt_proto: bytes
    origin: str  # where they came from, for the manifest and the log


def prepare_data(
    spec: SourceSettings,
    opts: PrepareSettings,
    out: Path,
    log: Log | None = None,
    reuse: ReusedTokenizer | None = None,
) -> dict[str, Any]:
    """Run the whole preparation; returns the filter report (also written to DATA/report.json)."""
    check_spec(spec, opts)
    with staging_dir(out) as tmp:
        run = _Run(spec, opts, tmp, log or (lambda _message: None), reuse)
        given, staged, route = _read_pass(run)
        faults.point("prepare-staged")
        tok = _tokenizer_pass(run, staged, route)
        faults.point("prepare-tokenizer")
        writers = _encode_pass(run, given, staged, route, tok)
        faults.point("prepare-encoded")
        origin = {"trained": True} if reuse is None else {"trained": False, "from": reuse.origin}
        return write_records(spec, opts, tmp, run.reports, writers, tok, origin)


# ---------------------------------------------------------------- pass 1: read, clean, stage


def _read_pass(run: _Run) -> tuple[dict[str, TextPair], Staged, np.ndarray]:
    """Stage the given dev/test and the cleaned training pairs; return them and each staged pair's route."""
    t0 = time.monotonic()
    report, opts = run.train_report, run.opts
    given, held_out = _stage_given(run)
    report.expect(expected_rules(run.spec, opts, bool(given)), ["invalid_utf8"])
    staged = Staged(run.tmp)
    route = _stage_train(run, staged, held_out if opts.drop_overlap else set())
    counts = {SPLIT_CODES[c]: int(n) for c, n in zip(*np.unique(route, return_counts=True)) if c >= 0}
    report.carved_out = {name: counts.get(name, 0) for name in run.carved}
    if not counts.get("train"):
        moved = sum(report.carved_out.values())
        if moved:
            raise DataError(
                f"--dev-size/--test-size take all {moved:,} cleaned pairs; nothing is left to train on"
            )
        raise _no_pairs_left(report)
    left = f"{counts['train']:,} left for training"
    run.say(f"read {report.total:,} pairs, {left} ({time.monotonic() - t0:.1f} s)")
    return given, staged, route


def _stage_given(run: _Run) -> tuple[dict[str, TextPair], set[str]]:
    """Dev/test splits the user gave: staged as text; returns them and their (stripped) sources."""
    given: dict[str, TextPair] = {}
    sources: set[str] = set()
    for name in ("dev", "test"):
        report = SplitReport()
        chunks = held_out_chunks(run.spec, name, report)
        if chunks is not None:
            run.reports[name], given[name] = report, TextPair(run.tmp, name)
            _stage_held_out(chunks, given[name], sources)
            report.total = report.kept = given[name].count
    return given, sources


def _stage_held_out(chunks: Iterator[Chunk], text: TextPair, sources: set[str]) -> None:
    """Dev/test given by the user: kept exactly as given (only decoded), since they define what is scored."""
    with text.writer() as write:
        for chunk in chunks:
            write(chunk.src, chunk.tgt)
            sources.update(s.strip() for s in chunk.src)


def _stage_train(run: _Run, staged: Staged, held_out: set[str]) -> np.ndarray:
    """Read, apply the text rules, stage the survivors; return each staged pair's route."""
    opts, report = run.opts, run.train_report
    pair_h: list[np.ndarray] = []
    src_h: list[np.ndarray] = []
    carving = opts.dev_size > 0 or opts.test_size > 0
    with staged.appender() as append:
        for chunk in train_chunks(run.spec, report):
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


def _no_pairs_left(report: SplitReport) -> DataError:
    fired = [(rule, c) for rule, c in report.dropped.items() if c.count]
    worst = max(fired, key=lambda kv: kv[1].count, default=None)
    detail = f"; most were dropped as {worst[0]} (first at line {worst[1].lines[0]})" if worst else ""
    return DataError(f"no training pairs left: {report.total:,} read{detail}")


# ---------------------------------------------------------------- pass 2: SentencePiece


def _tokenizer_pass(run: _Run, staged: Staged, route: np.ndarray) -> Tokenizer:
    """SentencePiece on the training split only (dev/test never shape the vocabulary)."""
    t0 = time.monotonic()
    opts, tmp = run.opts, run.tmp
    if run.reuse is not None:  # the same pieces and ids as the model they came from
        src, tgt = run.reuse.src_proto, run.reuse.tgt_proto
        names = {"spm.model": src} if src == tgt else {"spm.src.model": src, "spm.tgt.model": tgt}
        for name, proto in names.items():
            (tmp / name).write_bytes(proto)
        run.say(f"encoding with the SentencePiece model{'' if src == tgt else 's'} of {run.reuse.origin}")
        return Tokenizer(src, tgt)
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
        tok = Tokenizer(proto, proto)
    else:
        src = train_spm(_train_sentences(staged, route, "src"), settings, "source side")
        tgt = train_spm(_train_sentences(staged, route, "tgt"), settings, "target side")
        (tmp / "spm.src.model").write_bytes(src)
        (tmp / "spm.tgt.model").write_bytes(tgt)
        tok = Tokenizer(src, tgt)
    kind = f"{opts.model_type}, {'joint' if tok.joint else 'separate'}, {opts.vocab_size:,} pieces"
    run.say(f"trained SentencePiece ({kind}) ({time.monotonic() - t0:.1f} s)")
    return tok


def _train_sentences(staged: Staged, route: np.ndarray, sides: str) -> Iterator[str]:
    """The training split's sentences of one side (``src``/``tgt``) or both (``both``), from disk."""
    for start, chunk in staged.staged_chunks():
        take = (route[start : start + len(chunk)] == TRAIN).tolist()
        if sides in ("src", "both"):
            yield from compress(chunk.src, take)
        if sides in ("tgt", "both"):
            yield from compress(chunk.tgt, take)


# ---------------------------------------------------------------- pass 3: encode


def _encode_pass(
    run: _Run, given: dict[str, TextPair], staged: Staged, route: np.ndarray, tok: Tokenizer
) -> dict[str, SplitWriter]:
    """Encode every split (applying the piece rules to train); return the split writers, closed."""
    t0 = time.monotonic()
    report = run.train_report
    writers = _encode_staged(run, staged, route, tok)
    staged.remove()
    for name, text in given.items():
        writers[name] = _encode_text(text, tok, run.tmp, name)
    report.kept = len(writers["train"])
    if not report.kept:
        raise _no_pairs_left(report)
    for name in run.carved:
        run.reports[name] = SplitReport(total=len(writers[name]), kept=len(writers[name]))
    sizes = ", ".join(f"{name} {len(w):,}" for name, w in writers.items())
    run.say(f"encoded {sizes} pairs ({time.monotonic() - t0:.1f} s)")
    return writers


def _encode_staged(run: _Run, staged: Staged, route: np.ndarray, tok: Tokenizer) -> dict[str, SplitWriter]:
    """Encode train (applying the piece rules) and the carved dev/test splits, from the staged pairs."""
    writers = {name: SplitWriter(run.tmp, name) for name in ["train", *run.carved]}
    with ExitStack() as stack:
        text_out = {name: stack.enter_context(TextPair(run.tmp, name).writer()) for name in run.carved}
        for start, chunk in staged.staged_chunks():
            r = route[start : start + len(chunk)]
            for i in np.flatnonzero(r == DROPPED).tolist():
                run.train_report.drop("duplicate", chunk.lines[i])
            for code, name in SPLIT_CODES.items():
                take = (r == code).tolist()
                if name not in writers or not any(take):
                    continue
                src, tgt = list(compress(chunk.src, take)), list(compress(chunk.tgt, take))
                src_ids, tgt_ids = tok.encode_src(src), tok.encode_tgt(tgt)
                if code == TRAIN:
                    lines = list(compress(chunk.lines, take))
                    src_ids, tgt_ids = _piece_filter(src_ids, tgt_ids, lines, run.opts, run.train_report)
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
    """Drop (and count) the pairs that break a piece rule."""
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
