"""Attention, encoder and decoders: masks, shapes, and teacher forcing == step-by-step search."""

from __future__ import annotations

import pytest
import torch

from nmt_cli.attention import BahdanauAttention, masked_softmax
from nmt_cli.decoder import Memory, State, attend, gru_gates
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


def attention_inputs(seed: int = 0, dtype: torch.dtype = torch.float32):  # type: ignore[no-untyped-def]
    """A (6 -> 5, keys 8) attention; 3 sentences of 7, 3 and 5 source positions; 4 queries each."""
    torch.manual_seed(seed)
    attn = BahdanauAttention(query_dim=6, key_dim=8, attn_dim=5).to(dtype)
    states = torch.randn(3, 7, 8, dtype=dtype)
    mask = torch.arange(7).unsqueeze(0) < torch.tensor([[7], [3], [5]])
    return attn, states, mask, torch.randn(3, 4, 6, dtype=dtype)


def test_attention_context_is_the_weighted_sum_of_the_values() -> None:
    attn, states, mask, queries = attention_inputs()
    context, weights = attn(queries, attn.project_keys(states), states, mask)
    assert context.shape == (3, 4, 8) and weights.shape == (3, 4, 7)
    assert torch.all(weights.masked_select(~mask.unsqueeze(1).expand(-1, 4, -1)) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    torch.testing.assert_close(context, torch.einsum("bts,bsk->btk", weights, states))


def test_attention_all_queries_at_once_equal_one_at_a_time() -> None:
    """Teacher forcing (T steps at once) and search (one step, or k beams as rows) agree."""
    attn, states, mask, queries = attention_inputs()
    keys = attn.project_keys(states)
    all_context, all_weights = attn(queries, keys, states, mask)
    for t in range(4):
        context, weights = attn(queries[:, t : t + 1], keys, states, mask)
        torch.testing.assert_close(weights[:, 0], all_weights[:, t])
        torch.testing.assert_close(context[:, 0], all_context[:, t])
    rows_context, rows_weights = attend(attn, queries.reshape(12, 6), Memory(states, keys, mask))  # R = B·4
    torch.testing.assert_close(rows_weights, all_weights.reshape(12, 7))
    torch.testing.assert_close(rows_context, all_context.reshape(12, 8))


def test_attention_fast_scores_equal_the_plain_path_values_and_gradients() -> None:
    """The blocked kernel (default) against v(tanh(W_q q + W_k h)) with the v layer called."""
    attn, states, mask, queries = attention_inputs(seed=5, dtype=torch.float64)
    states.requires_grad_()
    queries.requires_grad_()
    results = {}
    for fast in (True, False):
        attn.fast = fast
        context, weights = attn(queries, attn.project_keys(states), states, mask)
        torch.manual_seed(9)  # the same upstream gradients for both paths
        g_context, g_weights = torch.randn_like(context), torch.randn_like(weights)
        loss = (context * g_context).sum() + (weights * g_weights).sum()
        results[fast] = context, weights, torch.autograd.grad(loss, [queries, states, *attn.parameters()])
    (c1, w1, g1), (c2, w2, g2) = results[True], results[False]
    torch.testing.assert_close(c1, c2)
    torch.testing.assert_close(w1, w2)
    for got, want in zip(g1, g2):
        torch.testing.assert_close(got, want)
    assert [n for n, _ in attn.named_parameters()] == [
        "query_proj.weight",
        "query_proj.bias",
        "key_proj.weight",
        "v.weight",
    ]


@pytest.mark.parametrize("variant", [dict(attention="bahdanau"), dict(attention="post")], ids=str)
def test_models_with_the_plain_attention_score_the_same(variant: dict[str, object]) -> None:
    m = model(**variant).double()
    src, lengths, tgt = batch()
    with torch.no_grad():
        fast_pre, fast_attn = m(src, lengths, tgt)
        m.decoder.attention.fast = False
        plain_pre, plain_attn = m(src, lengths, tgt)
    torch.testing.assert_close(plain_pre, fast_pre)
    torch.testing.assert_close(plain_attn, fast_attn)


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


def test_tied_output_rows_are_gathered_once_and_follow_the_weights() -> None:
    """Without gradients the tied rows are kept between steps, and an update of the embedding (or a
    new vocabulary) is seen at the next step."""
    m = model(tie_embeddings=True, out_vocab=20)
    src, lengths, _ = batch()
    y = torch.full((3,), BOS_ID)

    def step() -> torch.Tensor:
        with torch.inference_mode():
            return m.log_probs(y, *m.encode(src, lengths))[0]

    def gathered() -> torch.Tensor:  # what the output layer computes with rows gathered afresh
        with torch.inference_mode():
            pre, _, _ = m.decoder.step(y, *m.encode(src, lengths))
            weight = m.decoder.embed.weight.index_select(0, m.generator.out_ids)
            return torch.log_softmax(pre @ weight.T + m.generator.bias, dim=-1)

    first = step()
    assert m.generator._rows is not None
    rows = m.generator._rows[1]
    assert torch.equal(step(), first) and m.generator._rows[1] is rows  # (not gathered again)
    with torch.no_grad():
        m.decoder.embed.weight.mul_(2.0)  # (an optimizer's update)
    updated = step()
    assert not torch.allclose(updated, first)
    torch.testing.assert_close(updated, gathered())
    m.generator.set_vocabulary([0, 1, 2, 3, *range(14, 30)])
    torch.testing.assert_close(step(), gathered())
    m.train()
    assert m.generator._rows is None


def test_search_input_table_is_built_once_paid_for_and_follows_the_weights() -> None:
    """The post decoder's search steps take the first GRU layer's input gates from a table of the
    whole target embedding, built once the search has stepped as many rows as the table has, dropped
    when the weights change or the model trains; the steps compute what the product computes."""
    m = model(dropout=0.0)
    src, lengths, tgt = batch(seed=5)
    y = tgt[:, 1]

    def step() -> torch.Tensor:
        with torch.inference_mode():
            return m.decoder.step(y, *m.encode(src, lengths))[0]

    def product() -> torch.Tensor:  # the same step through the input product
        m.decoder._rows_before_table, kept = 0, m.decoder._table
        m.decoder._table = None
        out = step()
        m.decoder._table, m.decoder._rows_before_table = kept, 0
        return out

    first = step()
    assert m.decoder._table is None  # 3 rows stepped of the 30 the table would have
    for _ in range(9):
        torch.testing.assert_close(step(), first)
    assert m.decoder._table is None
    with_table = step()  # (30 rows stepped: built now)
    assert m.decoder._table is not None and m.decoder._table[1].shape == (30, 3 * 20)
    table = m.decoder._table[1]
    torch.testing.assert_close(with_table, first, atol=1e-6, rtol=1e-5)
    assert torch.equal(step(), with_table) and m.decoder._table[1] is table  # (kept)
    with torch.no_grad():
        m.decoder.embed.weight.mul_(2.0)  # (an optimizer's update)
    updated = step()
    assert not torch.allclose(updated, first)
    torch.testing.assert_close(updated, product(), atol=1e-6, rtol=1e-5)
    for _ in range(10):
        step()
    assert m.decoder._table is not None and m.decoder._table[1] is table  # (stale: not read)
    torch.testing.assert_close(step(), updated, atol=1e-6, rtol=1e-5)
    assert m.decoder._table[1] is not table  # rebuilt
    m.train()
    assert m.decoder._table is None


@pytest.mark.parametrize("variant", [dict(input_feeding=True), dict(cell="lstm"), dict(grad=True)], ids=str)
def test_search_input_table_only_where_it_computes_the_same(variant: dict[str, object]) -> None:
    """No table with input feeding (the input is not an embedding row), for an LSTM (nn.LSTM's own
    kernel) or with gradients."""
    grad = bool(variant.pop("grad", False))
    m = model(**variant)
    src, lengths, tgt = batch()
    with torch.set_grad_enabled(grad):
        memory, state = m.encode(src, lengths)
        for _ in range(20):
            m.decoder.step(tgt[:, 1], memory, state)
    assert m.decoder._table is None  # type: ignore[union-attr]


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


def test_memory_and_state_cat_append_rows_padded_to_the_longer_source() -> None:
    attn, states, mask, queries = attention_inputs()
    keys = attn.project_keys(states)
    short = Memory(states[:2, :4], keys[:2, :4], mask[:2, :4])  # (sources of 7, 3 cut to 4 positions)
    joined = short.cat(Memory(states[2:], keys[2:], mask[2:]))
    assert joined.states.shape == (3, 7, 8) and not joined.mask[:2, 4:].any()
    assert torch.equal(joined.states[:2, 4:], torch.zeros(2, 3, 8)) and torch.equal(joined.keys[2], keys[2])
    context, weights = attend(attn, queries[:1].reshape(4, 6), joined.select(torch.tensor([0])))
    want_context, want_weights = attend(attn, queries[:1].reshape(4, 6), short.select(torch.tensor([0])))
    torch.testing.assert_close(weights[:, :4], want_weights)
    assert not weights[:, 4:].any()
    torch.testing.assert_close(context, want_context)
    fed = State(torch.randn(1, 2, 5), feed=torch.randn(2, 3))
    both = fed.cat(State(torch.randn(1, 1, 5)))  # a joining sentence has no input feed yet: zeros
    assert both.h.shape == (1, 3, 5) and both.feed is not None
    assert torch.equal(both.feed[:2], fed.feed) and not both.feed[2].any()
