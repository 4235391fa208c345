"""The cleaning rules, and the routing of cleaned training pairs to train, dev and test.

A pair is dropped under the first rule it breaks, in the order of ``RULES``. The text rules need only
the pair (:func:`clean_chunk`); duplicates need a hash per pair (:func:`pair_hashes`,
:func:`first_occurrences`); the piece rules need the tokenizer (:func:`piece_rules`). Every training pair
gets a route code: ``DROPPED`` (a duplicate), ``TRAIN``, or, when dev/test are carved out of the
training data, ``DEV`` or ``TEST`` (:func:`carve`, by a seeded hash of the source sentence).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from nmt_cli.data.readers import Chunk
from nmt_cli.data.report import SplitReport
from nmt_cli.settings import PrepareSettings, SourceSettings
from nmt_cli.textio import is_blank

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
PIECE_RULE_NAMES = {1: "too_long_pieces", 2: "length_ratio"}

# Cc without TAB: C0 controls (NUL, CR, VT, FF, ESC...), DEL and C1 controls (U+0085 NEL...).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# The invisible characters ``textio.is_blank`` ignores; only text holding one needs its slower check.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def expected_rules(spec: SourceSettings, opts: PrepareSettings, held_out: bool) -> list[str]:
    """The drop rules that apply to this run, each reported even when it drops nothing."""
    skip = {
        "bad_row": not spec.tsv,
        "copy": not opts.drop_copies,
        "in_dev_test": not (opts.drop_overlap and held_out),
        "duplicate": not opts.drop_duplicates,
    }
    return [rule for rule in RULES if not skip.get(rule, False)]


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
