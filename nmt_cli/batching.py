"""Token-budget batches over length-sorted buckets, padding and masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nmt_cli.data.encoded import IdPairs
from nmt_cli.errors import UsageError
from nmt_cli.tokenizer import BOS_ID, EOS_ID, PAD_ID


def make_batches(
    src_lengths: np.ndarray,
    tgt_lengths: np.ndarray,
    max_tokens: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
) -> list[np.ndarray]:
    """Split sentence indices into batches whose padded size fits ``max_tokens``.

    Sentences are sorted by (target, source) length, with a seeded random tie-break, then packed
    greedily: a batch's cost is its size times its longest side (+1 for EOS/BOS). A sentence longer
    than the budget gets a batch of its own. Batch order is shuffled by a generator seeded with
    (seed, epoch), so an epoch's order can be rebuilt exactly on resume.
    """
    rng = np.random.default_rng([seed, epoch])
    n = len(src_lengths)
    tie = rng.permutation(n) if shuffle else np.arange(n)
    order = np.lexsort((tie, src_lengths, tgt_lengths))
    longest = np.maximum(src_lengths, tgt_lengths)[order] + 1
    batches: list[np.ndarray] = []
    start, width = 0, 0
    for i in range(n):
        width = max(width, int(longest[i]))
        if i > start and width * (i - start + 1) > max_tokens:
            batches.append(order[start:i])
            start, width = i, int(longest[i])
    if start < n:
        batches.append(order[start:n])
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def shard(batches: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """Rank ``rank``'s share: every ``world``-th batch, trimmed so all ranks take equal steps.

    The last ``len(batches) % world`` batches of the epoch's (shuffled) order are left out, other ones
    in every epoch. Fewer batches than ranks are refused (a rank without a batch would never take a
    step while the others wait for it); the check is the same on every rank.
    """
    if len(batches) < world:
        raise UsageError(
            f"the training data makes {len(batches)} batch{'es' if len(batches) != 1 else ''} per epoch, "
            f"fewer than the {world} processes that share it; lower --batch-tokens or start fewer processes"
        )
    usable = len(batches) - len(batches) % world
    return batches[rank:usable:world]


@dataclass
class Batch:
    src: Tensor  # (B, S) with EOS, padded
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, T) BOS + y
    tgt_out: Tensor  # (B, T) y + EOS
    index: np.ndarray  # (B,) sentence indices

    @property
    def n_tgt_tokens(self) -> int:
        return int(self.tgt_out.ne(PAD_ID).sum())

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.src.to(device), self.src_lengths, self.tgt_in.to(device), self.tgt_out.to(device), self.index
        )


def pad(seqs: Sequence[Sequence[int]], prefix: int | None = None, suffix: int | None = None) -> Tensor:
    """Sequences -> (B, L) LongTensor padded with PAD_ID, with optional BOS/EOS added."""
    extra = (prefix is not None) + (suffix is not None)
    width = max((len(s) for s in seqs), default=0) + extra
    out = torch.full((len(seqs), max(width, 1)), PAD_ID, dtype=torch.long)
    for i, seq in enumerate(seqs):
        row = ([prefix] if prefix is not None else []) + list(seq) + ([suffix] if suffix is not None else [])
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def source_batch(seqs: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Source id lists -> (B, S) padded ids with EOS appended, lengths (B,)."""
    src = pad(seqs, suffix=EOS_ID)
    return src, torch.as_tensor([len(s) + 1 for s in seqs], dtype=torch.long)


def collate(split: IdPairs, index: np.ndarray) -> Batch:
    srcs = [split.src(int(i)) for i in index]
    tgts = [split.tgt(int(i)).tolist() for i in index]
    src, lengths = source_batch([s.tolist() for s in srcs])
    return Batch(src, lengths, pad(tgts, prefix=BOS_ID), pad(tgts, suffix=EOS_ID), index)
