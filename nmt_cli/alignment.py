"""Attention -> alignments: Pharaoh ``i-j`` pairs, and SentencePiece pieces merged into words."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

WORD_START = "\u2581"  # SentencePiece's "▁"


def word_ids(pieces: Sequence[str]) -> list[int]:
    """Index of the whitespace word each piece belongs to: a piece starting with ▁ opens a word.

    The end-of-sentence marker ``</s>`` is a word of its own.
    """
    out, current = [], -1
    for i, piece in enumerate(pieces):
        if piece.startswith(WORD_START) or i == 0 or piece == "</s>" or (i > 0 and pieces[i - 1] == "</s>"):
            current += 1
        out.append(current)
    return out


def words(pieces: Sequence[str]) -> list[str]:
    """Pieces -> the words they spell (▁ removed)."""
    merged: list[str] = []
    for piece, w in zip(pieces, word_ids(pieces)):
        text = piece.replace(WORD_START, "")
        if w == len(merged):
            merged.append(text)
        else:
            merged[w] += text
    return merged


def merge_to_words(attn: Tensor, src_pieces: Sequence[str], tgt_pieces: Sequence[str]) -> Tensor:
    """attn (T, S) over pieces -> (T', S') over words.

    Columns of one source word are summed (a row still sums to 1); rows of one target word are
    averaged.
    """
    src_w = torch.as_tensor(word_ids(src_pieces))
    tgt_w = torch.as_tensor(word_ids(tgt_pieces))
    n_src, n_tgt = int(src_w.max()) + 1 if len(src_w) else 0, int(tgt_w.max()) + 1 if len(tgt_w) else 0
    cols = torch.zeros(attn.size(0), n_src).index_add_(1, src_w, attn.float())
    rows = torch.zeros(n_tgt, n_src).index_add_(0, tgt_w, cols)
    counts = torch.bincount(tgt_w, minlength=n_tgt).clamp(min=1).unsqueeze(1)
    return rows / counts


def pharaoh(attn: Tensor) -> list[tuple[int, int]]:
    """attn (T, S) -> sorted (source, target) pairs: each target position to its argmax source."""
    if attn.numel() == 0:
        return []
    best = attn.argmax(dim=1).tolist()
    return sorted({(int(j), i) for i, j in enumerate(best)})


def format_pharaoh(pairs: Sequence[tuple[int, int]]) -> str:
    return " ".join(f"{s}-{t}" for s, t in pairs)
