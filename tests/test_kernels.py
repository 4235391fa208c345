"""Each fast kernel against the plain torch expression it replaces: values and gradients.

additive: blocked v · tanh(q + k) vs autograd over the whole energy tensor; gru: the hand-written
recurrence vs nn.GRU (packed for variable lengths); bf16: products on padded rows vs F.linear; xent:
the output layer and loss in one step vs F.linear and F.cross_entropy.
(int8 quantization: tests/test_int8.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import train_tiny
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt_cli.encoder import merge_directions
from nmt_cli.kernels import additive, bf16, fp32, gru, xent

# ------------------------------------------------------------------------------------------ additive


@pytest.mark.parametrize("block", [10**6, 7 * 5, 3])  # one block; whole rows; pieces of rows
def test_additive_scores_match_autograd_over_the_full_energy(monkeypatch, block: int) -> None:
    monkeypatch.setattr(additive, "BLOCK", block)
    monkeypatch.setattr(additive, "SEARCH_BLOCK", block)
    torch.manual_seed(2)
    q = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 7, 5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5, dtype=torch.float64, requires_grad=True)
    reference = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1)) @ v  # (B, T, S)
    scores = additive.additive_scores(q, k, v)
    torch.testing.assert_close(scores, reference)
    g = torch.randn_like(scores)
    want = torch.autograd.grad((reference * g).sum(), [q, k, v])
    got = torch.autograd.grad((scores * g).sum(), [q, k, v])
    for w, h in zip(want, got):
        torch.testing.assert_close(h, w)
    assert torch.autograd.gradcheck(additive.additive_scores, (q, k, v))


def test_additive_search_blocks_match_training_blocks(monkeypatch) -> None:
    """Without gradients (search) the kernel takes smaller blocks: the same scores."""
    monkeypatch.setattr(additive, "SEARCH_BLOCK", 3)
    torch.manual_seed(4)
    q, k, v = torch.randn(2, 5, 6), torch.randn(2, 4, 6), torch.randn(6)
    with torch.no_grad():
        searched = additive.additive_scores(q, k, v)
    torch.testing.assert_close(searched, additive.additive_scores(q, k, v).detach())
    torch.testing.assert_close(searched, torch.tanh(q.unsqueeze(2) + k.unsqueeze(1)) @ v)


def test_additive_scores_stay_fp32_under_bf16_autocast() -> None:
    q, k, v = torch.randn(2, 3, 4).bfloat16(), torch.randn(2, 5, 4), torch.randn(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = additive.additive_scores(q, k, v)
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, torch.tanh(q.float().unsqueeze(2) + k.unsqueeze(1)) @ v)


# ----------------------------------------------------------------------------------------------- gru


def _packed_reference(rnn: nn.GRU, x: torch.Tensor, lengths: torch.Tensor):
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h = rnn(packed)
    states, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return states, merge_directions(h)


def test_reverse_index_reverses_each_row_within_its_length() -> None:
    index = gru.reverse_index(torch.tensor([3, 1, 5]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]


@pytest.mark.parametrize("layers", [1, 2])
def test_bidirectional_matches_packed_nn_gru_values_and_gradients(layers: int) -> None:
    torch.manual_seed(layers)
    rnn = nn.GRU(5, 4, layers, batch_first=True, bidirectional=True).double()
    x = torch.randn(3, 6, 5, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([6, 2, 4])
    real = (torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)  # (B, S, 1)
    want_states, want_h = _packed_reference(rnn, x, lengths)
    states, h = gru.bidirectional(rnn, x, lengths)
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
    rnn = nn.GRU(5, 4, layers, batch_first=True).double()
    x = torch.randn(3, 6, 5, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(layers, 3, 4, dtype=torch.double, requires_grad=True)
    want_out, want_h = rnn(x, h0)
    out, h = gru.unidirectional(rnn, x, h0)
    torch.testing.assert_close(out, want_out)
    torch.testing.assert_close(h, want_h)
    inputs = [x, h0, *rnn.parameters()]
    want = torch.autograd.grad((want_out.sin() * want_out).sum() + want_h.sum(), inputs)
    got = torch.autograd.grad((out.sin() * out).sum() + h.sum(), inputs)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w)


def test_bf16_autocast_runs_the_products_in_bf16_and_stays_close() -> None:
    torch.manual_seed(3)
    rnn = nn.GRU(16, 32, batch_first=True)
    x, h0 = torch.randn(4, 12, 16), torch.randn(1, 4, 32)
    want, _ = gru.unidirectional(rnn, x, h0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = gru.unidirectional(rnn, x, h0)
        got.sum().backward()
    assert got.dtype == torch.float32  # states stay fp32
    assert 0 < (got - want).abs().max() < 0.05  # bf16 products: close, not identical
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in rnn.parameters())


# ---------------------------------------------------------------------------------------------- bf16


def test_pad_rows_appends_zero_rows_to_a_multiple() -> None:
    x = torch.ones(3, 70, 2)
    padded = bf16.pad_rows(x, dim=1)
    assert padded.shape == (3, 80, 2)  # small counts: multiples of 16
    assert torch.equal(padded[:, :70], x) and not padded[:, 70:].any()
    assert bf16.pad_rows(torch.ones(300, 2)).shape == (320, 2)  # larger: multiples of 64
    assert bf16.pad_rows(torch.ones(64, 2)).shape == (64, 2)


def test_linear_under_bf16_autocast_matches_plain_bf16_and_keeps_gradients() -> None:
    torch.manual_seed(0)
    layer = bf16.Linear(8, 5)
    x = torch.randn(3, 7, 8, requires_grad=True)  # 21 rows -> padded to 64 inside
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = layer(x)
        want = nn.functional.linear(x, layer.weight, layer.bias)
    assert got.shape == (3, 7, 5) and got.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)
    got.float().sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(3, 7, 8), atol=0.05, rtol=0.02)
    x2 = x.detach().clone().requires_grad_()
    w2, b2 = layer.weight.detach().clone().requires_grad_(), layer.bias.detach().clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nn.functional.linear(x2, w2, b2).float().sum().backward()  # the plain path, unpadded
    for got_grad, want_grad in ((x.grad, x2.grad), (layer.weight.grad, w2.grad), (layer.bias.grad, b2.grad)):
        torch.testing.assert_close(got_grad, want_grad)  # zero rows add nothing to a gradient


def test_without_autocast_linear_and_bmm_are_the_plain_products() -> None:
    layer = bf16.Linear(4, 2)
    x = torch.randn(5, 4)
    assert torch.equal(layer(x), nn.functional.linear(x, layer.weight, layer.bias))
    a, b = torch.randn(3, 2, 5), torch.randn(3, 5, 4)
    assert torch.equal(bf16.bmm(a, b), torch.bmm(a, b))


def test_bmm_runs_in_fp32_under_bf16_autocast() -> None:
    a, b = torch.randn(3, 2, 5), torch.randn(3, 5, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = bf16.bmm(a, b)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, torch.bmm(a, b))


@pytest.mark.parametrize("attention", ["post", "bahdanau"])
def test_bf16_training_follows_fp32_step_for_step(data_dir: Path, tmp_path: Path, attention: str) -> None:
    runs = {}
    for use_bf16 in (False, True):
        run = train_tiny(data_dir, tmp_path / f"run-{use_bf16}", steps=25, attention=attention, bf16=use_bf16)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        runs[use_bf16] = [r["loss"] for r in rows if "loss" in r]
    fp32, bf16_losses = runs[False], runs[True]
    assert len(fp32) == len(bf16_losses) == 25
    assert fp32 != bf16_losses  # the products really ran in bf16
    for a, b in zip(fp32, bf16_losses):
        assert abs(a - b) < 0.02 * a  # same batches, same curve
    assert bf16_losses[-1] < 0.95 * bf16_losses[0]  # and it learns
    weights = torch.load(tmp_path / "run-True" / "last.pt", weights_only=True)["model"]
    assert all(w.dtype != torch.bfloat16 for w in weights.values())  # fp32 master weights


def test_cpu_bf16_units_are_read_from_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "old").write_text("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    (tmp_path / "new").write_text("flags\t\t: fpu sse2 avx512bw avx512_bf16 amx_bf16 amx_tile\n")
    assert not bf16.cpu_has_bf16_units(tmp_path / "old")
    assert bf16.cpu_has_bf16_units(tmp_path / "new")
    assert bf16.cpu_has_bf16_units(tmp_path / "absent")  # cannot tell: no warning


# ---------------------------------------------------------------------------------------------- xent


def plain_loss(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, gold: torch.Tensor, eps: float
) -> torch.Tensor:
    logits = nn.functional.linear(x, w, b).float()
    return nn.functional.cross_entropy(logits, gold, reduction="sum", label_smoothing=eps)


def leaves(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.detach().clone().requires_grad_() for t in tensors]


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("block", [xent.BLOCK, 11 * 3, 1])  # every row at once; 3 rows; one row
def test_linear_cross_entropy_matches_the_plain_loss_values_and_gradients(
    monkeypatch: pytest.MonkeyPatch, eps: float, block: int
) -> None:
    monkeypatch.setattr(xent, "BLOCK", block)
    torch.manual_seed(0)
    x, w, b = torch.randn(10, 6), torch.randn(11, 6), torch.randn(11)
    gold = torch.randint(0, 11, (10,))
    fx, fw, fb = leaves(x, w, b)
    px, pw, pb = leaves(x, w, b)
    fused = xent.linear_cross_entropy(fx, fw, fb, gold, eps)
    plain = plain_loss(px, pw, pb, gold, eps)
    torch.testing.assert_close(fused, plain)
    (3 * fused).backward()  # the stored gradients are scaled by the loss's own gradient
    (3 * plain).backward()
    for got, want in ((fx.grad, px.grad), (fw.grad, pw.grad), (fb.grad, pb.grad)):
        torch.testing.assert_close(got, want)


def test_linear_cross_entropy_reuses_its_buffer_and_keeps_each_calls_gradients() -> None:
    torch.manual_seed(1)
    w = torch.randn(7, 4, requires_grad=True)
    big, small = torch.randn(9, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    gold_big, gold_small = torch.randint(0, 7, (9,)), torch.randint(0, 7, (3,))
    total = xent.linear_cross_entropy(big, w, None, gold_big, 0.1)
    total = total + xent.linear_cross_entropy(small, w, None, gold_small, 0.1)  # the same buffer, reused
    total.backward()  # both backward passes after both forward passes
    pw, pbig, psmall = leaves(w, big, small)
    (plain_loss(pbig, pw, None, gold_big, 0.1) + plain_loss(psmall, pw, None, gold_small, 0.1)).backward()
    for got, want in ((w.grad, pw.grad), (big.grad, pbig.grad), (small.grad, psmall.grad)):
        torch.testing.assert_close(got, want)


def test_linear_cross_entropy_under_bf16_autocast_runs_bf16_products_and_stays_close() -> None:
    torch.manual_seed(2)
    x, w, b = torch.randn(21, 16), torch.randn(30, 16) * 0.3, torch.randn(30)
    gold = torch.randint(0, 30, (21,))
    fx, fw, fb = leaves(x, w, b)
    px, pw, pb = leaves(x, w, b)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = xent.linear_cross_entropy(fx, fw, fb, gold, 0.1)
        plain = plain_loss(px, pw, pb, gold, 0.1)  # bf16 product, fp32 loss: what training did before
    assert fused.dtype == torch.float32
    torch.testing.assert_close(fused, plain, rtol=2e-3, atol=0.0)
    fused.backward()
    plain.backward()
    for got, want in ((fx.grad, px.grad), (fw.grad, pw.grad), (fb.grad, pb.grad)):
        assert got is not None and want is not None and got.dtype == want.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=0.02, atol=0.02)


def test_the_output_layers_loss_is_the_same_fused_or_plain_tied_or_not() -> None:
    from nmt_cli.model import OutputLayer

    torch.manual_seed(3)
    embed = nn.Embedding(12, 5)
    for tied in (None, embed):
        layer = OutputLayer(5, 8, 12, tied)
        layer.set_vocabulary([0, 1, 2, 3, 5, 7, 9, 11])
        pre, gold = torch.randn(6, 5), torch.randint(0, 8, (6,))
        losses, grads = [], []
        for fused in (True, False):
            layer.fused = fused
            layer.zero_grad()
            x = pre.clone().requires_grad_()
            loss = layer.loss(x, gold, 0.1)
            loss.backward()
            losses.append(loss)
            grads.append([x.grad] + [p.grad.clone() for p in layer.parameters() if p.grad is not None])
        torch.testing.assert_close(losses[0], losses[1])
        assert len(grads[0]) == len(grads[1]) == 3  # pre, then the weight (or the embedding) and the bias
        for got, want in zip(grads[0], grads[1], strict=True):
            torch.testing.assert_close(got, want)
        layer.fused = True
        with torch.no_grad():  # without gradients (validation) the fused switch takes the plain line
            torch.testing.assert_close(layer.loss(pre, gold, 0.1), losses[1])


needs_onednn = pytest.mark.skipif(not fp32.available(), reason="this torch has no oneDNN")


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
def test_fp32_onednn_linear_matches_f_linear_and_follows_the_weight(bias: bool) -> None:
    """kernels/fp32.py's products equal F.linear's (to fp32 rounding), for any leading dims, and a
    weight changed in place is packed again."""
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(3, 7, 48, generator=gen), torch.randn(40, 48, generator=gen)
    b = torch.randn(40, generator=gen) if bias else None
    fp32.set_backend("onednn")
    with torch.inference_mode():
        assert fp32.active(x)
        torch.testing.assert_close(fp32.linear(x, w, b), F.linear(x, w, b), atol=1e-5, rtol=1e-5)
        w.mul_(2.0)  # (new weights: the packed copy must not be reused)
        torch.testing.assert_close(fp32.linear(x, w, b), F.linear(x, w, b), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(bf16.linear(x, w, b), F.linear(x, w, b), atol=1e-5, rtol=1e-5)
    assert not fp32.active(x)  # with gradients: torch's products
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fp32.active(x)
    fp32.set_backend("mkl")
    with torch.inference_mode():
        assert not fp32.active(x)


@needs_onednn
def test_fp32_choice_takes_the_faster_and_the_plain_path_when_onednn_is_made_slow(monkeypatch) -> None:
    """``choose`` times both on the given layer: a oneDNN product made 30 times the work loses."""
    w, b = torch.randn(512, 256), torch.randn(512)
    times = fp32.choose(w, b, rows=64)
    assert set(times) == {"mkl", "onednn"} and fp32.backend() == min(times, key=times.__getitem__)
    fast = fp32.linear

    def slow(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        for _ in range(30):
            out = fast(x, weight, bias)
        return out

    monkeypatch.setattr(fp32, "linear", slow)
    fp32.choose(w, b, rows=64)
    assert fp32.backend() == "mkl"


@needs_onednn
def test_search_through_onednn_products_equals_torchs(data_dir: Path, tmp_path: Path) -> None:
    """A trained model's greedy and beam search give the same pieces with either backend, and the
    decoder's recurrent step through oneDNN equals the baddbmm one."""
    from nmt_cli.search import beam_search, greedy
    from nmt_cli.settings import DecodeSettings
    from nmt_cli.translate import load_model

    run = train_tiny(data_dir, tmp_path / "run")
    model, _ = load_model(run, DecodeSettings())
    src = torch.tensor([[5, 9, 14, 22, 3], [7, 8, 3, 0, 0], [30, 11, 12, 3, 0]])
    lengths, caps = torch.tensor([5, 3, 4]), torch.tensor([12, 12, 12])
    found = {}
    for name in fp32.BACKENDS:
        fp32.set_backend(name)
        found[name] = (
            [h.ids for h in greedy(model, src, lengths, caps)],
            [h[0].ids for h in beam_search(model, src, lengths, caps, 3)],
        )
    assert found["onednn"] == found["mkl"]
    rnn = nn.GRU(6, 10, batch_first=True)
    x, h0 = torch.randn(4, 5, 6), torch.randn(1, 4, 10)
    with torch.inference_mode():
        outs = {}
        for name in fp32.BACKENDS:
            fp32.set_backend(name)
            outs[name] = gru.unidirectional(rnn, x, h0)
    torch.testing.assert_close(outs["onednn"], outs["mkl"], atol=1e-6, rtol=1e-5)
