"""Subword regularisation: every epoch, the training pairs segmented afresh by sampling.

SentencePiece samples one segmentation of a sentence among its likely ones (Kudo, 2018, for unigram
models; BPE-dropout for BPE models, where alpha is the dropout rate), so the model sees a word as
several piece sequences and leans less on one segmentation. A data directory stores piece ids, not
text: each pair's ids are decoded to the text SentencePiece segments (normalised, so decoding and
encoding again round-trip) and encoded again with sampling. A sentence holding <unk> keeps its stored
ids (its text is not recoverable). Sampling is seeded by (seed, epoch), one sentence after the other,
so a resumed run, and every rank of a distributed one, gets the same epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sentencepiece as spm

from nmt_cli.data.encoded import ID_DTYPE, EncodedSplit, IdPairs
from nmt_cli.settings import Sampling
from nmt_cli.tokenizer import UNK_ID, Tokenizer

CHUNK = 4096  # pairs decoded and sampled at once (the text of one chunk is held at a time)


def sample_split(split: EncodedSplit, tok: Tokenizer, how: Sampling, seed: int, epoch: int) -> IdPairs:
    """``split`` segmented by sampling for ``epoch`` (the same for the same seed and epoch)."""
    spm.set_random_generator_seed((seed * 1_000_003 + epoch) % 2**32)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, len(split), CHUNK):
        rows = range(start, min(start + CHUNK, len(split)))
        src = _resample(tok.src, [split.src(i) for i in rows], how)
        tgt = [split.tgt(i) for i in rows]
        parts.append((*_flat(src), *_flat(_resample(tok.tgt, tgt, how) if how.target else tgt)))
    if not parts:
        return IdPairs(np.zeros(0, ID_DTYPE), np.zeros(0, ID_DTYPE), np.zeros((2, 1), np.int64))
    src_ids, src_lengths, tgt_ids, tgt_lengths = (np.concatenate(p) for p in zip(*parts))
    offsets = np.zeros((2, len(split) + 1), dtype=np.int64)
    np.cumsum(src_lengths, out=offsets[0, 1:])
    np.cumsum(tgt_lengths, out=offsets[1, 1:])
    return IdPairs(src_ids, tgt_ids, offsets)


def _resample(
    sp: spm.SentencePieceProcessor, stored: Sequence[np.ndarray], how: Sampling
) -> list[np.ndarray]:
    """Stored id arrays -> sampled ones (the stored ones where they hold <unk>)."""
    texts = sp.Decode([s.tolist() for s in stored])
    sampled = sp.Encode(texts, enable_sampling=True, alpha=how.alpha, nbest_size=how.nbest, num_threads=1)
    return [s if UNK_ID in s else np.asarray(ids, dtype=ID_DTYPE) for s, ids in zip(stored, sampled)]


def _flat(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Id arrays -> (their ids back to back, their lengths)."""
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    ids = np.concatenate(seqs) if seqs else np.zeros(0, ID_DTYPE)
    return ids.astype(ID_DTYPE, copy=False), lengths
