"""Additive attention scores v · tanh(q + k) without the (B, T, S, A) energy tensor.

The energy tensor tanh(q + k) has one A-vector per (batch, target step, source position): tens of
millions of numbers for a 2,000-token batch. ``additive_scores`` never materialises it: it works
through blocks small enough to stay in the CPU cache, keeps only the (B, T, S) scores, and
recomputes each block in the backward pass (4x faster than autograd over the whole tensor:
bench/train_parts.py). Plain path: ``torch.tanh(q.unsqueeze(2) + k.unsqueeze(1)) @ v``.

Each block goes through a sigmoid, not a tanh: tanh(x) = 2σ(2x) - 1, so v · tanh(q + k) =
2 v · σ(2q + 2k) - Σv. PyTorch's CPU sigmoid is 4-7x faster than its tanh (0.10 against 0.72 ms
for 2^18 numbers on a 2-core EPYC: bench/train_parts.py ``energy_*``), the factor 2 on k comes free in
the add (``alpha``), and the -Σv is one subtraction on the (b, t, S) scores: one pass over the
block fewer than tanh would take. In the backward, 1 - tanh² = 4σ(1 - σ).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

# Elements of the energy tensor handled at once: ~4 MB of fp32 in training (each block is also
# recomputed in the backward pass), ~1 MB in search; measured best on 2 cores with 2 MB L2 each.
BLOCK = 1 << 20
SEARCH_BLOCK = 1 << 18


def additive_scores(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """q (B, T, A), k (B, S, A), v (A,) -> scores (B, T, S) = v · tanh(q[b, t] + k[b, s])."""
    # At least fp32: under bf16 autocast the projections arrive in bf16, but on a CPU elementwise
    # tanh is several times slower in bf16 than in fp32 (bench/train_parts.py; scores need the precision too).
    dtype = torch.promote_types(q.dtype, torch.float32)
    block = BLOCK if torch.is_grad_enabled() else SEARCH_BLOCK
    with torch.autocast(q.device.type, enabled=False):
        return _AdditiveScores.apply(q.to(dtype), k.to(dtype), v.to(dtype), block)  # type: ignore[no-any-return]


def _blocks(batch: int, steps: int, per_step: int, block: int) -> list[tuple[slice, slice]]:
    """(batch rows, target steps) slices covering (B, T) with about ``block`` energy elements each."""
    if steps * per_step <= block:
        rows = max(1, block // (steps * per_step))
        return [(slice(b, b + rows), slice(0, steps)) for b in range(0, batch, rows)]
    span = max(1, block // per_step)
    return [(slice(b, b + 1), slice(t, t + span)) for b in range(batch) for t in range(0, steps, span)]


def _energy(q2: Tensor, k: Tensor, rows: slice, steps: slice) -> Tensor:
    """One block of σ(2q + 2k) = (1 + tanh(q + k)) / 2, given q2 = 2q: (b, t, S, A)."""
    return torch.add(q2[rows, steps].unsqueeze(2), k[rows].unsqueeze(1), alpha=2).sigmoid_()


class _AdditiveScores(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, block: int) -> Tensor:
        (batch, steps, dim), src = q.shape, k.size(1)
        scores = q.new_empty(batch, steps, src)
        q2, v2 = q * 2, v * 2
        for rows, span in _blocks(batch, steps, src * dim, block):
            torch.matmul(_energy(q2, k, rows, span), v2, out=scores[rows, span])
        scores -= v.sum()  # 2 v·σ - Σv = v·tanh
        ctx.save_for_backward(q, k, v)
        ctx.block = block
        return scores

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        q, k, v = ctx.saved_tensors
        (batch, steps, dim), src = q.shape, k.size(1)
        dq, dk, dv = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        grad = grad.contiguous()
        q2, v4 = q * 2, v * 4
        for rows, span in _blocks(batch, steps, src * dim, ctx.block):
            sig = _energy(q2, k, rows, span)  # (b, t, S, A), recomputed
            g = grad[rows, span]  # (b, t, S)
            dv.addmv_(sig.reshape(-1, dim).t(), g.reshape(-1), alpha=2)  # Σ (2σ - 1) g, less Σg below
            # d(pre-activation) = g * v * (1 - tanh^2) = g * 4v * σ(1 - σ), in place over the block
            pre = sig.addcmul_(sig, sig, value=-1).mul_(g.unsqueeze(-1)).mul_(v4)
            torch.sum(pre, 2, out=dq[rows, span])
            dk[rows] += pre.sum(1)
        dv -= grad.sum()
        return dq, dk, dv, None
