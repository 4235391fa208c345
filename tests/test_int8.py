"""kernels/int8.py: int8 linear layers without torch.ao, held to the int8 arithmetic written out in float.

If PyTorch drops oneDNN's qlinear ops or ``torch._int_mm``, these tests fail by name: int8 decoding
must then move to whatever replaces them (torchao), not silently fall back to something slower.
"""

from __future__ import annotations

import copy
import platform
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from nmt_cli.kernels import bf16
from nmt_cli.kernels.int8 import Int8Linear, cpu_has_vnni, onednn_available, onednn_exact, quantize_int8
from nmt_cli.model import Seq2Seq, init_weights
from nmt_cli.search import Hypothesis, beam_search, greedy
from nmt_cli.settings import ModelSettings
from nmt_cli.tokenizer import PAD_ID

BACKENDS = ["onednn", "int_mm"] if onednn_exact() else ["int_mm"]  # (oneDNN saturates without VNNI)
VARIANTS = [
    dict(cell="gru", attention="bahdanau"),
    dict(cell="lstm", attention="bahdanau", layers=2),
    dict(cell="gru", attention="bahdanau", layers=2, tie_embeddings=True, bridge=False),
    dict(cell="gru", attention="post", layers=2),
    dict(cell="lstm", attention="post"),
    dict(cell="gru", attention="post", input_feeding=True),
]


def test_the_int8_apis_are_there() -> None:
    assert hasattr(torch, "_int_mm"), "torch._int_mm is gone: move kernels/int8.py to its replacement"
    if platform.machine().lower() in ("x86_64", "amd64") and torch.backends.mkldnn.is_available():
        assert onednn_available(), "oneDNN's qlinear_pointwise/qlinear_prepack are gone from this x86 build"


def test_onednn_is_used_only_where_its_int8_products_are_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    avx2, vnni = tmp_path / "avx2", tmp_path / "vnni"
    avx2.write_text("flags\t\t: fpu sse4_1 avx avx2 fma\n")
    vnni.write_text("flags\t\t: fpu avx2 avx512f avx512_vnni\n")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert not cpu_has_vnni(avx2) and cpu_has_vnni(vnni)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not cpu_has_vnni(vnni)


def reference(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """The int8 arithmetic in float64: round the weight per row and x per call, multiply, scale back."""
    w = layer.weight.detach().double()
    w_scale = w.abs().amax(1) / 127
    qw = torch.round(w / w_scale[:, None])
    x_scale = x.double().abs().amax() / 127
    qx = torch.round(x.double() / x_scale)
    out = (qx @ qw.t()) * x_scale * w_scale
    return out + layer.bias.detach().double() if layer.bias is not None else out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("rows", "inputs", "outputs", "bias"), [(5, 20, 30, True), (160, 512, 1000, True), (1, 7, 3, False)]
)
def test_int8_linear_computes_the_int8_arithmetic(
    backend: str, rows: int, inputs: int, outputs: int, bias: bool
) -> None:
    gen = torch.Generator().manual_seed(rows)
    layer = nn.Linear(inputs, outputs, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(outputs, inputs, generator=gen))
    x = torch.randn(2, rows, inputs, generator=gen)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation notice on the way
        got = Int8Linear(layer, backend)(x)
    want = reference(layer, x.reshape(-1, inputs)).reshape(2, rows, outputs)
    assert got.dtype == torch.float32 and got.shape == want.shape
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-4 * float(want.abs().max()))
    exact = layer(x).detach()
    assert 0 < float((got - exact).abs().max()) < 0.05 * float(exact.abs().max())  # int8, and close


def small_model(**kw: Any) -> Seq2Seq:
    cfg = ModelSettings(emb=16, enc_hidden=12, dec_hidden=20, attn_dim=10, src_vocab=30, tgt_vocab=30, **kw)
    m = Seq2Seq(cfg)
    init_weights(m, 7)
    return m.eval()


def outputs(model: nn.Module) -> list[list[Hypothesis]]:
    gen = torch.Generator().manual_seed(1)
    lengths = torch.tensor([5, 2, 7, 4])
    src = torch.randint(4, 30, (4, 7), generator=gen)
    src[torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1)] = PAD_ID
    caps = lengths * 2 + 5
    found = [[h] for h in greedy(model, src, lengths, caps)]  # type: ignore[arg-type]
    return found + beam_search(model, src, lengths, caps, beam=3, nbest=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()))
def test_every_linear_layer_but_the_score_vector_becomes_int8(variant: dict[str, Any]) -> None:
    float_model = small_model(**variant)
    linears = {n for n, m in float_model.named_modules() if isinstance(m, nn.Linear)}
    assert any(isinstance(m, bf16.Linear) for m in float_model.modules())  # (a subclass: quantized too)
    model = quantize_int8(copy.deepcopy(float_model))
    int8 = {n for n, m in model.named_modules() if isinstance(m, Int8Linear) and ".int8_input." not in n}
    assert int8 == linears - {"decoder.attention.v"}
    for rnn in (m for m in model.modules() if type(m) is nn.GRU):  # its input projections too
        suffixes = [
            n.removeprefix("weight_ih_") for n, _ in rnn.named_parameters() if n.startswith("weight_ih")
        ]
        assert sorted(rnn.int8_input) == sorted(suffixes)
    assert type(model.decoder.attention.v) is nn.Linear and not model.training
    searched = outputs(model)  # greedy and beam search run through it
    assert [len(n) for n in searched] == [1] * 4 + [3] * 4
    assert not any(t.is_quantized for t in model.state_dict().values() if isinstance(t, torch.Tensor))


def test_backends_agree_on_a_whole_model() -> None:
    if len(BACKENDS) < 2:
        pytest.skip("one backend on this build (no oneDNN)")
    base = small_model(cell="gru", attention="bahdanau", layers=2)
    a, b = (outputs(quantize_int8(copy.deepcopy(base), backend=k)) for k in BACKENDS)
    assert [[h.ids for h in n] for n in a] == [[h.ids for h in n] for n in b]


def test_no_torch_ao_quantization_in_the_int8_code() -> None:
    import ast
    import inspect

    import nmt_cli.kernels.int8 as int8

    tree = ast.parse(inspect.getsource(int8))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(name.startswith("torch.ao") for name in names)
    assert "quantize_per_tensor" not in inspect.getsource(int8)


@pytest.mark.slow
def test_int8_keeps_the_demo_bleu_within_a_third_of_a_point(tmp_path: Path) -> None:
    """The demo recipe (about 4 minutes on 2 cores), then its test set again with --quantize int8."""
    import json
    import shutil
    import subprocess
    import sys

    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")
    root = Path(__file__).resolve().parents[1]
    work = tmp_path / "work"
    nmt = [sys.executable, "-m", "nmt_cli"]
    recipe = ["make", "-C", str(root / "recipes" / "demo"), f"WORK={work}", f"NMT={' '.join(nmt)}"]
    made = subprocess.run(recipe, capture_output=True, text=True, timeout=1800)
    assert made.returncode == 0, made.stderr
    fp32 = json.loads((work / "test.scores.json").read_text())["scores"]["bleu"]["score_exact"]
    hyp = tmp_path / "int8.hyp"
    run = [*nmt, "translate", "-m", str(work / "run"), "--beam", "5", "--quantize", "int8"]
    subprocess.run([*run, str(work / "data" / "test.src"), "-o", str(hyp)], check=True, timeout=600)
    scored = subprocess.run([*nmt, "evaluate", "-r", str(work / "data" / "test.tgt"), str(hyp), "--json"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    int8 = json.loads(scored.stdout)["scores"]["bleu"]["score_exact"]
    assert abs(int8 - fp32) <= 0.3, (fp32, int8)


@pytest.mark.parametrize("slow", BACKENDS)
def test_the_backend_that_multiplies_faster_is_taken(slow: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on an AMD EPYC whose oneDNN int8 linear ran 400x slower than torch._int_mm: timed, not assumed."""
    if len(BACKENDS) < 2:
        pytest.skip("one backend on this build or CPU (no oneDNN, or no VNNI): nothing to choose")
    real = Int8Linear.forward

    def forward(self: Int8Linear, x: torch.Tensor) -> torch.Tensor:
        for _ in range(100 if self.backend == slow else 0):  # the same result, genuinely slower
            real(self, x)
        return real(self, x)

    monkeypatch.setattr(Int8Linear, "forward", forward)
    model = quantize_int8(small_model(cell="gru", attention="bahdanau"))
    backends = {m.backend for m in model.modules() if isinstance(m, Int8Linear)}
    assert backends == {next(b for b in BACKENDS if b != slow)}
