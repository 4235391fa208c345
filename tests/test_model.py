"""Attention, encoder and decoders: masks, shapes, and teacher forcing == step-by-step search."""

from __future__ import annotations

import pytest
import torch

from nmt_cli import attention
from nmt_cli.attention import BahdanauAttention, masked_softmax
from nmt_cli.decoder import gru_gates
from nmt_cli.model import Seq2Seq, init_weights
from nmt_cli.settings import ModelSettings
from nmt_cli.tokenizer import BOS_ID, PAD_ID


def batch(seed: int = 0, vocab: int = 30) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three sources of lengths 5, 2 and 7 (padded), and targets of length 6."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 7])
    src = torch.randint(4, vocab, (3, 7), generator=gen)
    src[torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)] = PAD_ID
    tgt = torch.randint(4, vocab, (3, 6), generator=gen)
    tgt[:, 0] = BOS_ID
    return src, lengths, tgt


def model(**kw: object) -> Seq2Seq:
    cfg = ModelSettings(
        **{
            "emb": 16,
            "enc_hidden": 12,
            "dec_hidden": 20,
            "attn_dim": 10,
            "src_vocab": 30,
            "tgt_vocab": 30,
            **kw,
        }
    )  # type: ignore[arg-type]
    m = Seq2Seq(cfg)
    init_weights(m, 7)
    return m.eval()


def test_masked_softmax_is_zero_on_padding_and_sums_to_one() -> None:
    scores = torch.randn(4, 9) * 5
    mask = torch.arange(9).unsqueeze(0) < torch.tensor([[9], [1], [4], [6]])
    w = masked_softmax(scores, mask)
    assert torch.all(w[~mask] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(4))


def test_attention_weights_and_batched_weights_agree() -> None:
    torch.manual_seed(0)
    attn = BahdanauAttention(query_dim=6, key_dim=8, attn_dim=5)
    states = torch.randn(3, 7, 8)
    mask = torch.arange(7).unsqueeze(0) < torch.tensor([[7], [3], [5]])
    keys = attn.project_keys(states)
    queries = torch.randn(3, 4, 6)
    all_at_once = attn.weights_all(queries, keys, mask)
    per_step = torch.stack([attn.weights(queries[:, t], keys, mask) for t in range(4)], dim=1)
    torch.testing.assert_close(all_at_once, per_step)
    assert torch.all(all_at_once.masked_select(~mask.unsqueeze(1).expand(-1, 4, -1)) == 0)
    torch.testing.assert_close(all_at_once.sum(-1), torch.ones(3, 4))


@pytest.mark.parametrize("block", [10**6, 7 * 5, 3])  # one block; whole rows; pieces of rows
def test_additive_scores_match_autograd_over_the_full_energy(monkeypatch, block: int) -> None:
    monkeypatch.setattr(attention, "BLOCK", block)
    monkeypatch.setattr(attention, "SEARCH_BLOCK", block)
    torch.manual_seed(2)
    q = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 7, 5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5, dtype=torch.float64, requires_grad=True)
    reference = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1)) @ v  # (B, T, S)
    scores = attention.additive_scores(q, k, v)
    torch.testing.assert_close(scores, reference)
    g = torch.randn_like(scores)
    want = torch.autograd.grad((reference * g).sum(), [q, k, v])
    got = torch.autograd.grad((scores * g).sum(), [q, k, v])
    for w, h in zip(want, got):
        torch.testing.assert_close(h, w)
    assert torch.autograd.gradcheck(attention.additive_scores, (q, k, v))


def test_gru_gates_match_torch_gru_cell() -> None:
    torch.manual_seed(1)
    cell = torch.nn.GRUCell(5, 4)
    x, h = torch.randn(3, 5), torch.randn(3, 4)
    gi = x @ cell.weight_ih.T + cell.bias_ih
    gh = h @ cell.weight_hh.T + cell.bias_hh
    torch.testing.assert_close(gru_gates(gi, gh, h), cell(x, h))


VARIANTS = [
    dict(cell="gru", attention="bahdanau"),
    dict(cell="lstm", attention="bahdanau"),
    dict(cell="gru", attention="bahdanau", layers=2),
    dict(cell="lstm", attention="post", layers=2),
    dict(cell="gru", attention="post"),
    dict(cell="gru", attention="post", input_feeding=True),
    dict(cell="gru", attention="bahdanau", tie_embeddings=True, bridge=False),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()))
def test_teacher_forcing_equals_step_by_step(variant: dict[str, object]) -> None:
    """The training forward and the search step compute the same function."""
    m = model(**variant)
    src, lengths, tgt = batch()
    with torch.no_grad():
        pre_all, attn_all = m(src, lengths, tgt)
        memory, state = m.encode(src, lengths)
        for t in range(tgt.size(1)):
            pre, attn, state = m.decoder.step(tgt[:, t], memory, state)
            torch.testing.assert_close(pre, pre_all[:, t], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(attn, attn_all[:, t], atol=1e-5, rtol=1e-4)
    assert torch.all(attn_all[1, :, 2:] == 0), "no attention on the padding of the short source"
    torch.testing.assert_close(attn_all.sum(-1), torch.ones(3, tgt.size(1)))


def test_padding_does_not_change_a_sentence() -> None:
    m = model()
    src, lengths, tgt = batch()
    with torch.no_grad():
        pre_all, _ = m(src, lengths, tgt)
        alone, _ = m(src[1:2, :2], lengths[1:2], tgt[1:2])
    torch.testing.assert_close(alone[0], pre_all[1], atol=1e-5, rtol=1e-4)


def test_tied_embeddings_share_the_weight() -> None:
    m = model(tie_embeddings=True)
    assert m.generator.tied is m.decoder.embed and m.generator.linear is None
    assert m.num_parameters() < model().num_parameters()


def test_training_path_equals_search_path_without_dropout() -> None:
    """Training projects the context per step, search folds the projection into the states."""
    m = model(dropout=0.0)
    src, lengths, tgt = batch(seed=3)
    with torch.no_grad():
        train_pre, _ = m.train()(src, lengths, tgt)
        eval_pre, _ = m.eval()(src, lengths, tgt)
    torch.testing.assert_close(train_pre, eval_pre, atol=1e-5, rtol=1e-4)


def test_restricted_output_vocabulary_maps_positions_and_ids() -> None:
    m = model(out_vocab=8)
    ids = [0, 1, 2, 3, 5, 9, 17, 29]
    m.generator.set_vocabulary(ids)
    assert m.generator(torch.zeros(2, 20)).shape == (2, 8)
    pos = m.generator.to_positions(torch.tensor([9, 29, 3, 4]))
    assert pos.tolist() == [5, 7, 3, 1], "unseen pieces score as <unk>"
    assert m.generator.to_ids(pos[:3]).tolist() == [9, 29, 3]
