"""Summed cross-entropy over the output vocabulary, with label smoothing, in one autograd node.

``F.cross_entropy`` on (N, V) logits keeps the log-probabilities, builds a zero (N, V) tensor for
the NLL gradient and runs a separate log-softmax backward: five passes over the largest tensor of
training (and two more casts when the logits are bf16). Here the forward keeps only the per-row
log-sum-exp, and the backward writes softmax - target straight into the gradient, in the logits'
dtype. Same numbers as ``F.cross_entropy(logits.float(), gold, reduction="sum",
label_smoothing=eps)`` up to rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def cross_entropy_sum(logits: Tensor, gold: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """logits (N, V) fp32 or bf16, gold (N,) positions -> summed loss, a fp32 scalar.

    With smoothing eps the target is (1 - eps) on the gold position plus eps / V everywhere.
    """
    return _CrossEntropySum.apply(logits, gold, label_smoothing)  # type: ignore[no-any-return]


class _CrossEntropySum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, logits: Tensor, gold: Tensor, eps: float) -> Tensor:
        x = logits.float()
        lse = torch.logsumexp(x, dim=1)  # (N,)
        loss = (lse - x.gather(1, gold.unsqueeze(1)).squeeze(1)).sum()
        if eps:
            loss = (1 - eps) * loss + eps * (lse - x.mean(dim=1)).sum()
        ctx.save_for_backward(logits, gold, lse)
        ctx.eps = eps
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        logits, gold, lse = ctx.saved_tensors
        eps = ctx.eps
        probs = torch.sub(logits, lse.unsqueeze(1), alpha=1).exp_()  # (N, V) fp32 softmax
        if eps:
            probs.sub_(eps / logits.size(1))
        probs.scatter_add_(1, gold.unsqueeze(1), probs.new_full((gold.numel(), 1), eps - 1.0))
        out = torch.empty_like(logits)
        return torch.mul(probs, grad, out=out), None, None
