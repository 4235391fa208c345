"""kernels/int8.py: int8 models built module by module, identical to torch's quantize_dynamic route."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn
from torch.ao.nn.quantized import dynamic as nnqd

from nmt_cli.kernels import bf16
from nmt_cli.kernels.int8 import quantize_int8
from nmt_cli.model import Seq2Seq, init_weights
from nmt_cli.search import Hypothesis, beam_search, greedy
from nmt_cli.settings import ModelSettings
from nmt_cli.tokenizer import PAD_ID

VARIANTS = [
    dict(cell="gru", attention="bahdanau"),
    dict(cell="lstm", attention="bahdanau", layers=2),  # float LSTMCell above the first layer
    dict(cell="gru", attention="bahdanau", layers=2, tie_embeddings=True, bridge=False),
    dict(cell="gru", attention="post", layers=2),
    dict(cell="lstm", attention="post"),
    dict(cell="gru", attention="post", input_feeding=True),
]


def small_model(**kw: Any) -> Seq2Seq:
    cfg = ModelSettings(emb=16, enc_hidden=12, dec_hidden=20, attn_dim=10, src_vocab=30, tgt_vocab=30, **kw)
    m = Seq2Seq(cfg)
    init_weights(m, 7)
    with torch.no_grad():  # larger weights than the initial +-0.1: outputs that depend on every layer
        for p in m.parameters():
            p.mul_(8)
    return m.eval()


def sources() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    lengths = torch.tensor([5, 2, 7, 4])
    src = torch.randint(4, 30, (4, 7), generator=gen)
    src[torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)] = PAD_ID
    return src, lengths


def quantize_dynamic_route(model: nn.Module) -> nn.Module:
    """What translate.load_model did before kernels/int8.py: every bf16.Linear turned into an
    nn.Linear by a __class__ swap, then torch.ao.quantization.quantize_dynamic on {Linear, GRU, LSTM}
    with the default dynamic qconfig, the attention's v excepted."""
    quantize_dynamic = getattr(torch.ao.quantization, "quantize_dynamic", None)
    if quantize_dynamic is None:
        pytest.skip(
            "torch no longer has torch.ao.quantization.quantize_dynamic: no reference to compare with"
        )
    for module in model.modules():
        if type(module) is bf16.Linear:
            module.__class__ = nn.Linear  # type: ignore[assignment]
    qconfig = torch.ao.quantization.default_dynamic_qconfig
    spec: dict[Any, Any] = {t: qconfig for t in (nn.Linear, nn.GRU, nn.LSTM)}
    spec["decoder.attention.v"] = None
    return quantize_dynamic(model, spec)  # type: ignore[no-any-return]


def outputs(model: nn.Module) -> list[list[Hypothesis]]:
    src, lengths = sources()
    caps = lengths * 2 + 5
    found = [[h] for h in greedy(model, src, lengths, caps)]  # type: ignore[arg-type]
    return found + beam_search(model, src, lengths, caps, beam=3, nbest=3)  # type: ignore[arg-type]


def same(a: list[list[Hypothesis]], b: list[list[Hypothesis]]) -> bool:
    flat = [(x, y) for nx, ny in zip(a, b, strict=True) for x, y in zip(nx, ny, strict=True)]
    return all(
        x.ids == y.ids and x.score == y.score and torch.equal(x.attention, y.attention) for x, y in flat
    )


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's deprecation notices of quantized tensors
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ... and of torch.ao.quantization
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()))
def test_quantize_int8_is_identical_to_quantize_dynamic(variant: dict[str, Any]) -> None:
    float_model = small_model(**variant)
    reference = quantize_dynamic_route(copy.deepcopy(float_model))
    built = quantize_int8(copy.deepcopy(float_model))
    want, got = outputs(reference), outputs(built)
    assert same(got, want), "greedy and beam ids, scores and attention must be bit-identical"
    assert not same(got, outputs(float_model)), "the int8 model computes something else than the float one"
    kinds = {n: type(m) for n, m in built.named_modules()}
    assert kinds == {n: type(m) for n, m in reference.named_modules()}  # the same modules in the same places
    assert list(built.state_dict()) == list(reference.state_dict())  # and the same state, packed weights too
    for got_leaf, want_leaf in zip(leaves(built.state_dict()), leaves(reference.state_dict()), strict=True):
        if isinstance(got_leaf, torch.Tensor):
            assert isinstance(want_leaf, torch.Tensor) and got_leaf.dtype == want_leaf.dtype
            assert torch.equal(got_leaf, want_leaf)
        else:
            assert got_leaf == want_leaf


def leaves(x: object) -> Iterator[object]:
    """Everything stored in a state dict, packed int8 weights unpacked: tensors, numbers, names."""
    if isinstance(x, torch.Tensor) and x.is_quantized:
        yield from (x.int_repr(), x.q_scale(), x.q_zero_point())
    elif isinstance(x, dict):
        yield from (leaf for v in x.values() for leaf in leaves(v))
    elif isinstance(x, (tuple, list)):
        yield from (leaf for v in x for leaf in leaves(v))
    elif isinstance(x, torch.ScriptObject):  # packed parameters of quantized layers
        yield from leaves(x.__getstate__())
    else:
        yield x


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_which_modules_are_quantized() -> None:
    m = quantize_int8(small_model(cell="gru", attention="bahdanau", layers=2))
    assert type(m.encoder.rnn) is nnqd.GRU
    for layer in (
        m.decoder.attention.query_proj,
        m.decoder.attention.key_proj,
        m.decoder.in_emb,
        m.decoder.out,
    ):
        assert type(layer) is nnqd.Linear
    assert m.generator.linear is not None and type(m.generator.linear) is nnqd.Linear
    assert type(m.decoder.attention.v) is nn.Linear  # read as a weight by the score kernel
    assert all(type(cell) is nn.GRUCell for cell in m.decoder.upper)  # as quantize_dynamic left them
    assert not m.training
