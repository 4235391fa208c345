"""The output layer and the cross-entropy loss as one step, with the gradients made in the forward pass.

Training's largest tensor is the logits: one row of the output vocabulary per real target piece
(1,800 x 6,000 fp32 numbers, 43 MB, for a 2,000-token batch). The plain line (``F.linear``, then
``F.cross_entropy``) allocates it afresh four times a step (logits, log-probabilities, their gradient
filled with zeros and scattered, the gradient of the logits) and passes over it some eight times;
tensors that large come from the system a page at a time, zeroed, at every step. Here one buffer, kept
from step to step, holds the logits and then, row block by row block while the block is in the cache,
their gradient softmax - (1 - ε) one-hot - ε / V (ε: label smoothing); the three products (logits,
and the gradients of the input and of the weights) are the same as the plain line's, and the backward
pass only scales the stored gradients. 169 -> 114 ms forward and backward (bench/train_parts.py
``loss``), a model-a step 505 -> 460 ms, on a 2-core Xeon. Plain path:
``F.cross_entropy(F.linear(x, weight, bias), gold, ...)`` (``OutputLayer.loss`` in model.py), also
used without gradients (validation) and off the CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from nmt_cli.kernels.bf16 import bf16_active, pad_rows

# Logits handled at once by the row-wise passes (log-sum-exp, softmax, the one-hot): ~1 MB of fp32,
# in the L2 cache of any current CPU core.
BLOCK = 1 << 18

_buffer: dict[torch.device, Tensor] = {}  # the logits buffer of each device, grown when needed


def linear_cross_entropy(
    x: Tensor, weight: Tensor, bias: Tensor | None, gold: Tensor, label_smoothing: float
) -> Tensor:
    """x (N, D), weight (V, D), bias (V,) or None, gold (N,) in [0, V) -> summed loss (), fp32:
    ``F.cross_entropy(F.linear(x, weight, bias).float(), gold, reduction="sum", label_smoothing=ε)``.
    Under bf16 autocast the products run in bf16 (rows padded: kernels/bf16.py), the rest in fp32.
    Only where ``applies(x)``; elsewhere the caller runs the plain line."""
    assert applies(x)
    mm = torch.bfloat16 if bf16_active(x) else torch.float32  # (the logits buffer is fp32)
    if bias is None:
        bias = weight.new_zeros(weight.size(0))
    with torch.autocast("cpu", enabled=False):
        return _LinearCrossEntropy.apply(x, weight, bias, gold, label_smoothing, mm)  # type: ignore[no-any-return]


def applies(x: Tensor) -> bool:
    """Whether the fused step serves x (N, D): training (gradients) on a CPU, at least one row."""
    return x.device.type == "cpu" and torch.is_grad_enabled() and x.size(0) > 0


def _logits(x: Tensor, weight: Tensor, bias: Tensor, mm: torch.dtype) -> Tensor:
    """(N, V) fp32 logits in the kept buffer (valid until the next call)."""
    rows, vocab = x.size(0), weight.size(0)
    buffer = _buffer.get(x.device)
    if buffer is None or buffer.numel() < rows * vocab:
        buffer = _buffer[x.device] = torch.empty(rows * vocab, device=x.device)
    logits = buffer[: rows * vocab].view(rows, vocab)
    if mm == torch.float32:
        torch.addmm(bias.float(), x.float(), weight.float().t(), out=logits)
    else:  # padded rows: oneDNN compiles a bf16 kernel per shape
        logits.copy_(torch.addmm(bias.to(mm), pad_rows(x.to(mm)), weight.to(mm).t())[:rows])
    return logits


def _to_gradient(logits: Tensor, gold: Tensor, eps: float) -> Tensor:
    """Turn logits (N, V) in place into d loss / d logits; return the summed loss (), fp32."""
    rows, vocab = logits.shape
    span = max(1, BLOCK // vocab)
    loss = logits.new_zeros(())
    for start in range(0, rows, span):
        block, target = logits[start : start + span], gold[start : start + span]
        lse = torch.logsumexp(block, 1)  # (n,)
        picked = block.gather(1, target.unsqueeze(1)).squeeze(1)  # (n,)
        loss += lse.sum() - (1 - eps) * picked.sum()
        if eps:
            loss -= eps / vocab * block.sum()  # the uniform part: mean over the vocabulary of -log p
        block.sub_(lse.unsqueeze(1)).exp_()  # softmax
        if eps:
            block.sub_(eps / vocab)
        block[torch.arange(block.size(0), device=block.device), target] -= 1 - eps
    return loss


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor, gold: Tensor, eps: float, mm: torch.dtype
    ) -> Tensor:
        rows = x.size(0)
        grad = _logits(x, weight, bias, mm)
        loss = _to_gradient(grad, gold, eps)
        g, xm = grad.to(mm), x.to(mm)
        if mm == torch.bfloat16:
            g, xm = pad_rows(g), pad_rows(xm)  # zero rows: the same sums, from a few compiled shapes
        grad_x = (g @ weight.to(mm))[:rows].to(x.dtype)
        grad_w = (g.t() @ xm).to(weight.dtype)
        grad_b = grad.sum(0).to(bias.dtype)
        ctx.save_for_backward(grad_x, grad_w, grad_b)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor) -> tuple[Tensor, Tensor, Tensor, None, None, None]:
        grad_x, grad_w, grad_b = ctx.saved_tensors
        return grad_x * grad_loss, grad_w * grad_loss, grad_b * grad_loss, None, None, None
