"""bf16 matrix products that see only a few shapes.

On a CPU with AMX, torch runs bf16 products through oneDNN, which compiles a kernel for every new
shape (about 10 ms each) and keeps it. Training batches and search steps change their row counts
all the time (B·T tokens, N real target pieces, finished beams leaving), so without care the
compiling would cost more than bf16 saves. Under bf16 autocast, ``linear`` pads the rows of its
input to a multiple of 16 (up to 256 rows) or ``ROWS`` (zero rows, sliced off again): a run
compiles a few dozen kernels once instead of one per batch. Without autocast nothing changes.
Plain path: ``F.linear`` and ``torch.bmm`` (same values: padding adds rows, never changes one).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt_cli.kernels import fp32

ROWS = 64


# ONEDNN_MAX_CPU_ISA values that keep oneDNN below its bf16 dot-product kernels (AVX512_CORE_BF16).
NO_BF16_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_has_bf16_units(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU lists AMX or AVX-512 BF16 in /proc/cpuinfo (and where it cannot tell), unless
    ONEDNN_MAX_CPU_ISA keeps oneDNN below them."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in NO_BF16_ISAS:
        return False
    try:
        flags = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    return "amx_bf16" in flags or "avx512_bf16" in flags


BF16_WARNING = (
    "this CPU has no bf16 units (AMX or AVX-512 BF16): bf16 products are emulated, slower than fp32"
)


def bf16_active(x: Tensor) -> bool:
    return torch.is_autocast_enabled(x.device.type) and (
        torch.get_autocast_dtype(x.device.type) == torch.bfloat16
    )


def pad_rows(x: Tensor, dim: int = 0) -> Tensor:
    """x with zero rows appended along ``dim`` up to a multiple of 16 (up to 256 rows) or ROWS."""
    missing = -x.size(dim) % (16 if x.size(dim) <= 256 else ROWS)
    if not missing:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x, x.new_zeros(shape)], dim=dim)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """F.linear on x (..., K); under bf16 autocast on padded rows; in search through the fp32
    products kernels/fp32.py chose."""
    if fp32.active(x):
        return fp32.linear(x, weight, bias)
    if x.device.type != "cpu" or not bf16_active(x):
        return F.linear(x, weight, bias)
    rows = x.numel() // x.size(-1)
    out = F.linear(pad_rows(x.reshape(rows, x.size(-1))), weight, bias)
    return out[:rows].view(*x.shape[:-1], weight.size(0))


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """torch.bmm; in fp32 under bf16 autocast on a CPU: attention's small products (a context is
    S x K per target piece) change shape with every batch, and compiling costs more than bf16 saves."""
    if a.device.type != "cpu" or not bf16_active(a):
        return torch.bmm(a, b)
    with torch.autocast("cpu", enabled=False):
        return torch.bmm(a.float(), b.float())


class Linear(nn.Linear):
    """nn.Linear through ``linear`` (same parameters and checkpoints; kernels/int8.py quantizes it)."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)
