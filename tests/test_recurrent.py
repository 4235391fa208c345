"""The hand-written GRU recurrence against torch's own nn.GRU (packed for variable lengths)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt_cli import recurrent
from nmt_cli.encoder import _merge_directions


def _packed_reference(rnn: torch.nn.GRU, x: torch.Tensor, lengths: torch.Tensor):
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h = rnn(packed)
    states, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return states, _merge_directions(h)


def test_reverse_index_reverses_each_row_within_its_length() -> None:
    index = recurrent.reverse_index(torch.tensor([3, 1, 5]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]


@pytest.mark.parametrize("layers", [1, 2])
def test_bidirectional_matches_packed_nn_gru_values_and_gradients(layers: int) -> None:
    torch.manual_seed(layers)
    rnn = torch.nn.GRU(5, 4, layers, batch_first=True, bidirectional=True).double()
    x = torch.randn(3, 6, 5, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([6, 2, 4])
    real = (torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)  # (B, S, 1)
    want_states, want_h = _packed_reference(rnn, x, lengths)
    states, h = recurrent.bidirectional(rnn, x, lengths)
    torch.testing.assert_close(states * real, want_states)  # padded positions are never read
    torch.testing.assert_close(h, want_h)
    g_states, g_h = torch.randn_like(states), torch.randn_like(h)
    inputs = [x, *rnn.parameters()]
    want = torch.autograd.grad((want_states * g_states).sum() + (want_h * g_h).sum(), inputs)
    got = torch.autograd.grad((states * real * g_states).sum() + (h * g_h).sum(), inputs)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("layers", [1, 2])
def test_unidirectional_matches_nn_gru_values_and_gradients(layers: int) -> None:
    torch.manual_seed(10 + layers)
    rnn = torch.nn.GRU(5, 4, layers, batch_first=True).double()
    x = torch.randn(3, 6, 5, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(layers, 3, 4, dtype=torch.double, requires_grad=True)
    want_out, want_h = rnn(x, h0)
    out, h = recurrent.unidirectional(rnn, x, h0)
    torch.testing.assert_close(out, want_out)
    torch.testing.assert_close(h, want_h)
    inputs = [x, h0, *rnn.parameters()]
    want = torch.autograd.grad((want_out.sin() * want_out).sum() + want_h.sum(), inputs)
    got = torch.autograd.grad((out.sin() * out).sum() + h.sum(), inputs)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w)


def test_bf16_autocast_runs_the_products_in_bf16_and_stays_close() -> None:
    torch.manual_seed(3)
    rnn = torch.nn.GRU(16, 32, batch_first=True)
    x, h0 = torch.randn(4, 12, 16), torch.randn(1, 4, 32)
    want, _ = recurrent.unidirectional(rnn, x, h0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = recurrent.unidirectional(rnn, x, h0)
        got.sum().backward()
    assert got.dtype == torch.float32  # states stay fp32
    assert 0 < (got - want).abs().max() < 0.05  # bf16 products: close, not identical
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in rnn.parameters())
