"""Bahdanau (additive) attention with padding masks (Bahdanau et al., 2015).

    score(q, h_i) = v · tanh(W_q q + W_k h_i)
    weights       = softmax of the scores over the real (unmasked) source positions i
    context       = Σ_i weights_i h_i

The keys W_k h_i do not depend on the query: ``project_keys`` computes them once per batch.
``forward`` takes T queries per sentence: the T target steps of teacher forcing, or in search the k
beams of the sentence, which share its keys and values (never copied k times).

The score line has a fast twin, ``kernels.additive.additive_scores``: the same v · tanh(...) in
cache-sized blocks, without the (B, T, S, A) tanh tensor. It runs by default (``fast=True``); the
plain line is what it is tested against (tests/test_model.py, tests/test_kernels.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nmt_cli.kernels.additive import additive_scores
from nmt_cli.kernels.bf16 import Linear, bmm


class BahdanauAttention(nn.Module):
    def __init__(self, query_dim: int, key_dim: int, attn_dim: int, fast: bool = True) -> None:
        super().__init__()
        self.query_proj = Linear(query_dim, attn_dim, bias=True)  # W_q (+ bias)
        self.key_proj = Linear(key_dim, attn_dim, bias=False)  # W_k
        self.v = nn.Linear(attn_dim, 1, bias=False)  # v
        self.fast = fast

    def project_keys(self, memory: Tensor) -> Tensor:
        """memory (B, S, K) encoder states -> keys (B, S, A): W_k h, fp32 even under autocast."""
        return self.key_proj(memory).float()

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, T, Q), keys (B, S, A) from ``project_keys``, values (B, S, K) encoder states,
        mask (B, S) True on real positions -> context (B, T, K), weights (B, T, S)."""
        scores = self.score(self.query_proj(query), keys)  # (B, T, S)
        weights = masked_softmax(scores, mask.unsqueeze(1))  # exactly 0 on padding
        return bmm(weights, values), weights  # Σ_i w_i h_i for every query

    def score(self, q: Tensor, keys: Tensor) -> Tensor:
        """q (B, T, A) projected queries, keys (B, S, A) -> scores (B, T, S) = v · tanh(q_t + k_s)."""
        if self.fast:  # the same sums, blocked: kernels/additive.py
            return additive_scores(q, keys, self.v.weight[0])
        return self.v(torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)  # via (B, T, S, A)


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim with masked-out positions exactly 0. ``mask`` broadcasts to scores."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
