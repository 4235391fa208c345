"""int8 decoding (``translate --quantize int8``): linear layers with int8 weights and int8 products.

Each linear layer (``kernels.bf16.Linear`` included) becomes an :class:`Int8Linear`: its weight rounded
to int8 once, per output row (symmetric, scale = max|w| / 127); at every call the input is rounded to
int8 per call (symmetric, scale = max|x| / 127), multiplied in int8 with int32 sums, and scaled back to
fp32 with the bias added. A GRU's input projections (``W_ih x + b_ih``, every step at once) go through
such layers too (``rnn.int8_input``, read by kernels/gru.py). Left in float: the attention's ``v`` (the
score kernel reads its weight as a vector, kernels/additive.py), embeddings, the recurrent products
(``W_hh h``: small, one per step) and LSTMs (torch's own fp32 kernel).

oneDNN builds a kernel per row count; the rows are padded to a few counts, as for bf16. Measured on
the bible dev set (993 verses, a 7-minute GRU model, 2 threads, Xeon with AMX), sentences/s greedy /
beam 5: fp32 211 / 88, this 260 / 134, torch.ao's dynamic quantization (what int8 was before) 279 /
127; BLEU fp32 17.69 / 18.70, this 17.65 / 18.65 (bench/int8_speed.py, best of two).

No quantized tensors and nothing of ``torch.ao.quantization`` (deprecated, to be removed): the products
go through oneDNN's ``qlinear_pointwise`` (the op PyTorch's x86 quantization lowers to: AMX, VNNI or
AVX2 kernels by CPU) or through ``torch._int_mm``, whichever :func:`fastest_backend` times faster on
the model's first layer when it is quantized (oneDNN only where it is exact, with VNNI). On a 2-core
AMD EPYC with AVX512-VNNI and BF16 (no AMX), oneDNN's int8 linear took 114 ms for 5 rows of a 512x512
layer against 0.26 ms for ``torch._int_mm`` and 0.37 ms in fp32: without the timing, int8 greedy
translation of 100 verses had not finished after 129 s there, against 3.5 s in fp32.
tests/test_int8.py holds both backends to the same int8 arithmetic written out in float, and fails
when PyTorch drops either.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from functools import partial
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor, nn

from nmt_cli.kernels.bf16 import pad_rows
from nmt_cli.kernels.timing import best_seconds

KEEP_FLOAT = ("decoder.attention.v",)

M = TypeVar("M", bound=nn.Module)


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
NO_VNNI_ISAS = ("SSE41", "AVX", "AVX2", "AVX512_CORE")  # ONEDNN_MAX_CPU_ISA values below VNNI


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether oneDNN's int8 products are exact here: a CPU with VNNI (or AMX) that oneDNN may use.

    Without VNNI (AVX2-only CPUs, or ONEDNN_MAX_CPU_ISA below it) oneDNN multiplies u8 by s8 with
    vpmaddubsw, whose int16 pair sums saturate: results off by several units were measured on an
    AVX2-only AMD EPYC. There ``torch._int_mm`` (exact int32 sums) is used instead.
    """
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in NO_VNNI_ISAS:
        return False
    try:
        flags = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags for flag in VNNI_FLAGS)


def onednn_exact() -> bool:
    """oneDNN's int8 linear is there and exact on this CPU: the default backend then."""
    return onednn_available() and cpu_has_vnni()


def onednn_available() -> bool:
    """Whether this PyTorch has oneDNN's int8 linear (x86 builds with oneDNN)."""
    ops = getattr(torch.ops, "onednn", None)
    return bool(
        torch.backends.mkldnn.is_available()
        and hasattr(ops, "qlinear_pointwise")
        and hasattr(ops, "qlinear_prepack")
    )


class Int8Linear(nn.Module):
    """``y = x W^T + b`` in int8: W (out, in) per row, x per call, int32 sums, fp32 out."""

    qweight: Tensor  # (out, in) int8
    scale: Tensor  # (out,) fp32
    bias: Tensor | None  # (out,) fp32

    def __init__(self, layer: nn.Linear, backend: str | None = None) -> None:
        super().__init__()
        weight = layer.weight.detach().float()
        scale = (weight.abs().amax(1) / 127).clamp_min(torch.finfo(torch.float32).tiny)
        qweight = torch.round(weight / scale[:, None]).to(torch.int8)  # (out, in), |q| <= 127
        self.backend = backend or ("onednn" if onednn_exact() else "int_mm")
        self.in_features, self.out_features = layer.in_features, layer.out_features
        self.register_buffer("qweight", qweight)  # kept for inspection and for the int_mm backend
        self.register_buffer("scale", scale)
        bias = layer.bias.detach().float() if layer.bias is not None else None
        self.register_buffer("bias", bias)
        if self.backend == "onednn":
            self.packed = torch.ops.onednn.qlinear_prepack(qweight, None)
            self.zero_points = torch.zeros(qweight.size(0), dtype=torch.int64)
            self.x_zero_point = torch.zeros((), dtype=torch.int64)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., in) -> (..., out), fp32."""
        rows = x.reshape(-1, self.in_features).float()
        x_scale = (rows.abs().amax() / 127).clamp_min(torch.finfo(torch.float32).tiny)
        qx = torch.round(rows / x_scale).to(torch.int8)
        if self.backend == "onednn":
            # oneDNN builds a kernel per row count, and in search the count changes at every step
            # (finished sentences leave): zero rows pad it to a few sizes (as kernels/bf16.py does).
            out = torch.ops.onednn.qlinear_pointwise.tensor(
                pad_rows(qx), x_scale, self.x_zero_point, self.packed, self.scale, self.zero_points,
                self.bias, 1.0, 0, torch.float32, "none", [], "",
            )[: qx.size(0)]  # fmt: skip
        else:
            out = torch._int_mm(qx, self.qweight.t()).float().mul_(x_scale * self.scale)
            if self.bias is not None:
                out.add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, backend={self.backend}"


def quantize_int8(model: M, keep_float: Collection[str] = KEEP_FLOAT, backend: str | None = None) -> M:
    """model -> the same model in eval mode, its linear layers (but ``keep_float``, qualified names)
    replaced by :class:`Int8Linear`. Changes ``model`` in place."""
    model.eval()
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name not in keep_float
    ]
    if backend is None and found:
        backend = fastest_backend(found[0][1])
    for name, module in found:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, Int8Linear(module, backend))
    for rnn in model.modules():
        if type(rnn) is nn.GRU:  # kernels/gru.py runs its input projections through these
            rnn.int8_input = _gru_inputs(rnn, backend)
    return model


def fastest_backend(layer: nn.Linear, rows: int = 16) -> str:
    """``"onednn"`` or ``"int_mm"``: the one that multiplies ``rows`` rows through ``layer`` faster here
    (each once untimed, then in turns, best of 2); ``"int_mm"`` where oneDNN is not exact (no VNNI)."""
    if not onednn_exact():
        return "int_mm"
    x = torch.randn(rows, layer.in_features)
    candidates = {name: Int8Linear(layer, name) for name in ("onednn", "int_mm")}
    with torch.no_grad():
        best = best_seconds({name: partial(module, x) for name, module in candidates.items()}, 2)
    return min(best, key=best.__getitem__)


def _gru_inputs(rnn: nn.GRU, backend: str | None) -> nn.ModuleDict:
    """Int8 input projections (W_ih x + b_ih) of every layer and direction, by parameter suffix."""
    found = nn.ModuleDict()
    for layer in range(rnn.num_layers):
        for suffix in ("", "_reverse") if rnn.bidirectional else ("",):
            name = f"l{layer}{suffix}"
            weight, bias = getattr(rnn, f"weight_ih_{name}"), getattr(rnn, f"bias_ih_{name}")
            linear = nn.Linear(weight.size(1), weight.size(0))
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            found[name] = Int8Linear(linear, backend)
    return found
