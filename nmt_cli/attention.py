"""Bahdanau (additive) attention with padding masks.

score(q, h_i) = v · tanh(W1 q + W2 h_i); weights = masked softmax over i; context = Σ_i w_i h_i.
``W2 h`` (the key projection) does not depend on the decoder step and is computed once per batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BahdanauAttention(nn.Module):
    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=True)  # W1 (+ bias)
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=False)  # W2
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, memory: Tensor) -> Tensor:
        """(B, S, K) encoder states -> (B, S, A) keys, once per batch."""
        return self.key_proj(memory)

    def weights(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """query (B, Q), keys (B, S, A), mask (B, S) True on real positions -> weights (B, S)."""
        energy = torch.tanh(keys + self.query_proj(query).unsqueeze(1))  # (B, S, A)
        scores = self.v(energy).squeeze(-1)  # (B, S)
        return masked_softmax(scores, mask)

    def weights_all(self, queries: Tensor, keys: Tensor, mask: Tensor, chunk: int = 16) -> Tensor:
        """queries (B, T, Q) for every target step at once -> weights (B, T, S).

        The (B, T, S, A) energy tensor is built ``chunk`` steps at a time to bound memory.
        """
        q = self.query_proj(queries)  # (B, T, A)
        out = []
        for start in range(0, q.size(1), chunk):
            energy = torch.tanh(keys.unsqueeze(1) + q[:, start : start + chunk].unsqueeze(2))  # (B, t, S, A)
            out.append(self.v(energy).squeeze(-1))  # (B, t, S)
        return masked_softmax(torch.cat(out, dim=1), mask.unsqueeze(1))


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim with masked-out positions exactly 0. ``mask`` broadcasts to scores."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
