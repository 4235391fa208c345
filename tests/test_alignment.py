"""Attention -> Pharaoh pairs and word-level matrices."""

from __future__ import annotations

import torch

from nmt_cli.alignment import format_pharaoh, merge_to_words, pharaoh, word_ids, words


def test_word_ids_follow_sentencepiece_word_starts() -> None:
    pieces = ["▁the", "▁red", "d", "ish", "▁car", ".", "</s>"]
    assert word_ids(pieces) == [0, 1, 1, 1, 2, 2, 3]
    assert words(pieces) == ["the", "reddish", "car.", "</s>"]


def test_merge_to_words_sums_source_and_averages_target() -> None:
    src = ["▁el", "▁co", "che", "</s>"]
    tgt = ["▁the", "▁ca", "r", "</s>"]
    attn = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0],
            [0.0, 0.5, 0.5, 0.0],
            [0.0, 0.2, 0.6, 0.2],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    merged = merge_to_words(attn, src, tgt)
    expected = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.9, 0.1], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(merged, expected)
    torch.testing.assert_close(merged.sum(-1), torch.ones(3))


def test_pharaoh_links_each_target_to_its_argmax_source() -> None:
    attn = torch.tensor([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.0, 0.9, 0.1]])
    pairs = pharaoh(attn)
    assert pairs == [(0, 1), (1, 0), (1, 3), (2, 2)]
    assert format_pharaoh(pairs) == "0-1 1-0 1-3 2-2"
    assert pharaoh(torch.zeros(0, 3)) == []
