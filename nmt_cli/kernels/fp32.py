"""Search's fp32 matrix products through oneDNN where they run faster than torch's default (MKL).

torch multiplies fp32 matrices on a CPU with MKL's sgemm, which takes a slower code path on AMD
CPUs: on a 2-core AMD EPYC with AVX-512 (8 December 2026) a search step's output product, (160 x
512) x (512 x 4,128), ran at 190 GFLOP/s through MKL and at 477 through oneDNN's fp32 inner product
with its weight packed for it (``torch.ops.mkldnn._linear_pointwise``, what torch's own compiler
lowers CPU linears to), and a step's other products alike. On an Intel Xeon MKL may be the faster,
so nothing is assumed: :func:`choose` times both on the model's own output layer, in turns, and the
faster serves every product of search (no gradients: training keeps torch's products). Both are
fp32 (they sum in different orders, so results agree to rounding, not to the bit).
Plain path: ``F.linear``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt_cli.kernels.timing import best_seconds

BACKENDS = ("mkl", "onednn")
_backend = "mkl"  # what serves search's products in this process (set by choose)
_packed: dict[tuple[object, ...], tuple[Tensor, Tensor]] = {}  # weight's identity -> (weight, packed)
PACKED_MAX = 64  # weights kept packed at once (a model has a dozen; ensembles a few dozen)


def available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def backend() -> str:
    return _backend


def set_backend(name: str) -> None:
    """Products of search through ``name`` from now on ("mkl": torch's own; "onednn")."""
    global _backend
    assert name in BACKENDS
    if name == "onednn" and not available():
        name = "mkl"
    _backend = name
    _packed.clear()


def active(x: Tensor) -> bool:
    """Whether a product of x goes through oneDNN: chosen, fp32 on a CPU, no gradients, no autocast,
    not traced by an export."""
    return (
        _backend == "onednn"
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., K), weight (N, K), bias (N,) -> (..., N), as ``F.linear``, through oneDNN."""
    rows = x.reshape(-1, x.size(-1)).contiguous()
    out = torch.ops.mkldnn._linear_pointwise(rows, _pack(weight), bias, "none", [None], "")
    return out.view(*x.shape[:-1], weight.size(0))


def _pack(weight: Tensor) -> Tensor:
    """oneDNN's packed copy of weight (N, K), kept while the weight is unchanged."""
    key = (weight.data_ptr(), weight._version, tuple(weight.shape), weight.stride())
    kept = _packed.get(key)
    if kept is None:
        if len(_packed) >= PACKED_MAX:
            _packed.pop(next(iter(_packed)))
        kept = _packed[key] = (weight, torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None))
    return kept[1]


def choose(weight: Tensor, bias: Tensor | None, rows: int, repeats: int = 3) -> dict[str, float]:
    """Time a (rows x K) x (K x N) product through each backend (kernels/timing.py: one untimed call,
    which packs oneDNN's weight, then ``repeats`` in turns), set the faster and return each one's best
    seconds."""
    if not available() or weight.device.type != "cpu" or weight.dtype != torch.float32:
        set_backend("mkl")
        return {}
    x = torch.randn(rows, weight.size(1))
    with torch.inference_mode():
        best = best_seconds(
            {"mkl": lambda: F.linear(x, weight, bias), "onednn": lambda: linear(x, weight, bias)}, repeats
        )
    set_backend(min(best, key=best.__getitem__))
    return best
