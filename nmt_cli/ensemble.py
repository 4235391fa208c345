"""Ensembles: several models decoding as one (``translate -m A -m B``, ``score -m A -m B``).

At each step every model reads the same source and the same output prefix; the ensemble's
log-probability of a piece is the mean of the models' log-probabilities (as Marian and OpenNMT-py
combine models: a product of experts, not renormalised), and its attention is the mean of theirs.
The models must share both SentencePiece models, so a piece id means the same piece in each.

Output positions: when the models score the same output vocabulary (the usual case: trained on the
same data), the ensemble works in it directly; otherwise in the full target vocabulary, where a piece
outside a model's output vocabulary gets -inf from that model (only pieces every model can write
can be chosen).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nmt_cli.errors import UsageError
from nmt_cli.model import Seq2Seq


@dataclass
class Joint:
    """One per-row object (memory or state) per model; ``select`` picks rows in each, ``cat`` joins."""

    parts: tuple[Any, ...]

    def select(self, index: Tensor) -> Joint:
        return Joint(tuple(p.select(index) for p in self.parts))

    def cat(self, other: Joint) -> Joint:
        return Joint(tuple(a.cat(b) for a, b in zip(self.parts, other.parts)))


class Ensemble:
    """Models with one tokenizer, searched as one model (see :class:`nmt_cli.search.StepModel`)."""

    def __init__(self, models: Sequence[Seq2Seq]) -> None:
        self.models = list(models)
        first = self.models[0].generator.out_ids
        self.shared = all(torch.equal(m.generator.out_ids, first) for m in self.models)
        self.vocab = self.models[0].cfg.tgt_vocab

    def encode(self, src: Tensor, lengths: Tensor) -> tuple[Joint, Joint]:
        """src (B, S), lengths (B,) -> every model's memory and initial state."""
        pairs = [m.encode(src, lengths) for m in self.models]
        return Joint(tuple(p[0] for p in pairs)), Joint(tuple(p[1] for p in pairs))

    def log_probs(self, y: Tensor, memory: Joint, state: Joint) -> tuple[Tensor, Tensor, Joint]:
        """y (R,) previous ids -> mean log-probs (R, n_out), mean attention (R, S), new states."""
        logps, attns, states = [], [], []
        for model, mem, st in zip(self.models, memory.parts, state.parts):
            logp, attn, st = model.log_probs(y, mem, st)
            logps.append(logp if self.shared else self._full(model, logp))
            attns.append(attn)
            states.append(st)
        mean_logp = torch.stack(logps).mean(0)
        return mean_logp, torch.stack(attns).float().mean(0), Joint(tuple(states))

    def _full(self, model: Seq2Seq, logp: Tensor) -> Tensor:
        """(R, n_out) over one model's output positions -> (R, vocab) over piece ids, -inf elsewhere."""
        full = logp.new_full((logp.size(0), self.vocab), float("-inf"))
        full[:, model.generator.out_ids] = logp
        return full

    def to_ids(self, positions: Tensor) -> Tensor:
        return self.models[0].to_ids(positions) if self.shared else positions

    def to_positions(self, ids: Tensor) -> Tensor:
        return self.models[0].to_positions(ids) if self.shared else ids


def check_tokenizers(paths: Sequence[str], tokenizers: Sequence[tuple[bytes, bytes]]) -> None:
    """Refuse models whose SentencePiece models differ from the first model's (a UsageError)."""
    for path, pair in zip(paths[1:], tokenizers[1:]):
        if pair != tokenizers[0]:
            side = "target" if pair[1] != tokenizers[0][1] else "source"
            raise UsageError(
                f"-m {path}: its {side} tokenizer is not that of -m {paths[0]}; the models of an "
                "ensemble must share their SentencePiece models (prepare their data with "
                f"--tokenizer {paths[0]})"
            )
