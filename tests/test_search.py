"""Greedy and beam search: greedy == beam 1, batch 1 == batch N, caps, n-best order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nmt_cli.batching import source_batch
from nmt_cli.search import beam_search, greedy
from nmt_cli.settings import DecodeSettings
from nmt_cli.translate import Translator, load_model


@pytest.fixture(scope="module")
def loaded(run_dir: Path):  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    return load_model(run_dir, DecodeSettings())


@pytest.fixture(scope="module")
def sources(corpus_dir: Path, loaded) -> list[list[int]]:  # type: ignore[no-untyped-def]
    _, tok = loaded
    lines = (corpus_dir / "test.en").read_text(encoding="utf-8").splitlines()[:12]
    return tok.encode_src(lines)


def caps_for(lengths: torch.Tensor) -> torch.Tensor:
    return lengths * 2 + 5


def test_greedy_equals_beam_one(loaded, sources) -> None:  # type: ignore[no-untyped-def]
    model, _ = loaded
    src, lengths = source_batch(sources)
    g = greedy(model, src, lengths, caps_for(lengths))
    b = beam_search(model, src, lengths, caps_for(lengths), beam=1)
    assert [h.ids for h in g] == [n[0].ids for n in b]
    assert any(h.ids for h in g), "the model should produce some output"


@pytest.mark.parametrize("beam", [1, 4])
def test_batch_of_one_equals_batch_of_n(loaded, sources, beam: int) -> None:  # type: ignore[no-untyped-def]
    model, tok = loaded
    translator = Translator(model, tok, DecodeSettings(beam=beam, batch_size=len(sources)))
    lines = [tok.src.Decode(s) for s in sources]
    together = [r.text for r in translator.translate(lines)]
    one_by_one = [
        Translator(model, tok, DecodeSettings(beam=beam, batch_size=1)).translate([ln])[0].text
        for ln in lines
    ]
    assert together == one_by_one


def test_beam_nbest_sorted_and_distinct(loaded, sources) -> None:  # type: ignore[no-untyped-def]
    model, _ = loaded
    src, lengths = source_batch(sources[:4])
    for nbest in beam_search(model, src, lengths, caps_for(lengths), beam=5, nbest=3):
        scores = [h.score for h in nbest]
        assert len(nbest) == 3
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.ids) for h in nbest}) == 3


def test_output_length_cap_and_attention_shape(loaded, sources) -> None:  # type: ignore[no-untyped-def]
    model, _ = loaded
    src, lengths = source_batch(sources[:5])
    caps = torch.full_like(lengths, 2)
    for search in (
        lambda: greedy(model, src, lengths, caps),
        lambda: [n[0] for n in beam_search(model, src, lengths, caps, beam=3)],
    ):
        for hyp, n in zip(search(), lengths.tolist()):
            assert len(hyp.ids) <= 2
            assert hyp.attention.shape == (len(hyp.ids) + 1, n)
            torch.testing.assert_close(hyp.attention.sum(-1), torch.ones(len(hyp.ids) + 1))


def test_beam_search_scores_at_least_greedy(loaded, sources) -> None:  # type: ignore[no-untyped-def]
    """Beam search maximises the (unnormalised, alpha=0) model score at least as well as greedy."""
    model, _ = loaded
    src, lengths = source_batch(sources)
    g = greedy(model, src, lengths, caps_for(lengths), alpha=0.0)
    b = beam_search(model, src, lengths, caps_for(lengths), beam=5, alpha=0.0)
    assert all(n[0].score >= h.score - 1e-4 for h, n in zip(g, b))


def test_greedy_stream_lets_waiting_sentences_join_with_the_same_results(  # type: ignore[no-untyped-def]
    loaded, sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three rows at a time over twelve sentences: waiting sentences join whenever at most one row is
    live, and every sentence gets what greedy search gives it alone."""
    from nmt_cli.search import greedy_stream

    model, _ = loaded
    taken, joins = 0, []

    def source(n: int):  # type: ignore[no-untyped-def]
        nonlocal taken
        group = sources[taken : taken + n]
        taken += len(group)
        joins.append(len(group))
        if not group:
            return None
        src, lengths = source_batch(group)
        return src, lengths, caps_for(lengths)

    rows_seen: list[int] = []
    log_probs = model.log_probs

    def spy(y: torch.Tensor, memory, state):  # type: ignore[no-untyped-def]
        rows_seen.append(y.numel())
        return log_probs(y, memory, state)

    monkeypatch.setattr(model, "log_probs", spy)
    streamed = greedy_stream(model, source, rows=3)
    assert len(streamed) == len(sources) and sum(joins) == len(sources)
    assert len([j for j in joins if j]) > len(sources) // 3, "sentences should join a running batch"
    assert any(0 < j < 3 for j in joins), "some should fill the rows of sentences that ended"
    assert max(rows_seen) == 3
    monkeypatch.undo()
    for seq, got in zip(sources, streamed, strict=True):
        src, lengths = source_batch([seq])
        alone = greedy(model, src, lengths, caps_for(lengths))[0]
        assert got.ids == alone.ids
        assert got.score == pytest.approx(alone.score, rel=1e-6)  # float32 rounding, summed
        torch.testing.assert_close(got.attention, alone.attention, atol=1e-5, rtol=1e-4)
