"""Token-budget batching: every sentence exactly once, budget respected, order reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmt_cli.batching import make_batches, pad, shard, source_batch
from nmt_cli.errors import UsageError
from nmt_cli.tokenizer import BOS_ID, EOS_ID, PAD_ID

lengths = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=0, max_size=300)


@settings(max_examples=60, deadline=None)
@given(pairs=lengths, budget=st.integers(1, 800), seed=st.integers(0, 5), epoch=st.integers(1, 3))
def test_every_sentence_once_and_budget_respected(
    pairs: list[tuple[int, int]], budget: int, seed: int, epoch: int
) -> None:
    src = np.array([p[0] for p in pairs], dtype=np.int64)
    tgt = np.array([p[1] for p in pairs], dtype=np.int64)
    batches = make_batches(src, tgt, budget, seed, epoch)
    flat = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
    assert sorted(flat.tolist()) == list(range(len(pairs)))
    for b in batches:
        width = int(np.maximum(src[b], tgt[b]).max()) + 1
        assert len(b) == 1 or width * len(b) <= budget


def test_order_is_a_function_of_seed_and_epoch() -> None:
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 40, 500), rng.integers(1, 40, 500)

    def key(seed: int, epoch: int) -> list[list[int]]:
        return [b.tolist() for b in make_batches(src, tgt, 300, seed, epoch)]

    assert key(1, 1) == key(1, 1)
    assert key(1, 1) != key(1, 2)
    assert key(1, 1) != key(2, 1)


def test_batches_group_similar_lengths() -> None:
    rng = np.random.default_rng(1)
    src = rng.integers(1, 80, 2000)
    tgt = src + rng.integers(0, 3, 2000)
    batches = make_batches(src, tgt, 1000, 0, 1)
    padded = sum(int(np.maximum(src[b], tgt[b]).max() + 1) * len(b) for b in batches)
    real = int((np.maximum(src, tgt) + 1).sum())
    assert real / padded > 0.9, "length buckets should keep padding low"


def test_shards_are_disjoint_and_equal_in_steps() -> None:
    batches = [np.array([i]) for i in range(11)]
    parts = [shard(batches, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    seen = [int(b[0]) for p in parts for b in p]
    assert len(set(seen)) == 9


@settings(max_examples=40, deadline=None)
@given(pairs=lengths, budget=st.integers(1, 800), seed=st.integers(0, 5))
def test_the_number_of_batches_is_the_same_in_every_epoch(
    pairs: list[tuple[int, int]], budget: int, seed: int
) -> None:
    """Only which sentences share a batch changes: epoch 1 tells whether every rank gets batches."""
    src = np.array([p[0] for p in pairs], dtype=np.int64)
    tgt = np.array([p[1] for p in pairs], dtype=np.int64)
    assert len({len(make_batches(src, tgt, budget, seed, epoch)) for epoch in (1, 2, 3)}) == 1


def test_fewer_batches_than_ranks_are_refused() -> None:
    batches = [np.array([i]) for i in range(3)]
    assert [len(shard(batches, r, 3)) for r in range(3)] == [1, 1, 1]
    for world in (4, 5):
        for rank in range(world):  # the same answer on every rank: no rank is left without a step
            with pytest.raises(UsageError, match=f"3 batches per epoch, fewer than the {world} processes"):
                shard(batches, rank, world)
    with pytest.raises(UsageError, match="1 batch per epoch"):
        shard(batches[:1], 1, 2)


def test_padding_and_special_ids() -> None:
    out = pad([[5, 6], [7]], prefix=BOS_ID, suffix=EOS_ID)
    assert out.tolist() == [[BOS_ID, 5, 6, EOS_ID], [BOS_ID, 7, EOS_ID, PAD_ID]]
    src, lengths = source_batch([[9, 9, 9], []])
    assert lengths.tolist() == [4, 1]
    assert src.tolist() == [[9, 9, 9, EOS_ID], [EOS_ID, PAD_ID, PAD_ID, PAD_ID]]
