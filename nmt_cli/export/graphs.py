"""The model as two ``torch.export`` programs: ``encode`` (sources -> memory and initial state) and
``step`` (one decoder step: previous ids, memory, state -> log-probs, attention, new state).

Both are traced from the model's own modules, so the artifact computes what ``nmt translate`` computes
(up to rounding), with no nmt code at run time. Two things differ from the search path, because a
traced program cannot loop over a dynamic number of steps in Python:

- the encoder's recurrence is one call of ``nmt_export::encoder_rnn``, a custom operator defined in
  the runner (torch's packed ``gru``/``lstm``, as nmt runs LSTMs and GPU encoders): torch.export would
  otherwise unroll it over the traced source length. Exact for any padding, LSTM cell states included;
- attention scores take the plain line (``fast=False``), not the blocked kernel (its loop over
  blocks depends on the shapes).

Tensors travel as flat tuples: memory (states, keys, mask[, gate_values]) with the batch in dim 0,
and state (h[, c][, feed]) with the batch in dim 1 for h and c, dim 0 for feed (``ROW_DIMS``).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.export import Dim, ExportedProgram

from nmt_cli.decoder import Memory, State
from nmt_cli.encoder import merge_directions, source_mask
from nmt_cli.export import runner
from nmt_cli.model import Seq2Seq


@dataclass(frozen=True)
class Layout:
    """Which optional tensors a model's memory and state carry."""

    gate_values: bool  # Bahdanau placement: the context's input-gate projection, folded into memory
    cell_state: bool  # LSTM
    feed: bool  # input feeding

    @classmethod
    def of(cls, model: Seq2Seq) -> Layout:
        cfg = model.cfg
        return cls(cfg.attention == "bahdanau", cfg.cell == "lstm", cfg.input_feeding)

    def memory_names(self) -> list[str]:
        return ["states", "keys", "mask"] + (["gate_values"] if self.gate_values else [])

    def state_names(self) -> list[str]:
        return ["h"] + (["c"] if self.cell_state else []) + (["feed"] if self.feed else [])


ROW_DIMS = {"states": 0, "keys": 0, "mask": 0, "gate_values": 0, "h": 1, "c": 1, "feed": 0}


class Encode(nn.Module):
    """src (B, S) ids with EOS, lengths (B,) -> memory tuple, initial state tuple.

    The recurrence is one call of the runner's ``nmt_export::encoder_rnn`` (packed, as nmt runs
    LSTMs and GPU encoders): exact for any padding, LSTM cell states included."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.embed = model.encoder.embed
        self.rnn = model.encoder.rnn
        self.decoder = model.decoder
        self.layout = Layout.of(model)
        self.feed_dim = getattr(model.decoder, "out_dim", 0)

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        weights = [getattr(self.rnn, name) for name in self.rnn._flat_weights_names]
        states, h, c = runner.encoder_rnn(
            self.embed(src), lengths, weights, self.layout.cell_state, self.rnn.num_layers
        )
        memory = self.decoder.memory(states, source_mask(src))
        state = self.decoder.bridge(
            merge_directions(h), merge_directions(c) if self.layout.cell_state else None
        )
        if self.layout.feed:
            state.feed = states.new_zeros(states.size(0), self.feed_dim)
        return _memory_tuple(memory), _state_tuple(state)


class Step(nn.Module):
    """y (R,) previous ids, memory tuple, state tuple -> log-probs (R, n_out) over output positions,
    attention (R, S), new state tuple. Greedy: R = B (memory rows leave with their sentences)."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        self.layout = Layout.of(model)

    def forward(
        self, y: Tensor, memory: tuple[Tensor, ...], state: tuple[Tensor, ...]
    ) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        mem = Memory(*memory)
        names = self.layout.state_names()
        st = State(**dict(zip(names, state)))
        logp, attn, new = self.model.log_probs(y, mem, st)
        return logp, attn, _state_tuple(new)


def _memory_tuple(memory: Memory) -> tuple[Tensor, ...]:
    parts = (memory.states, memory.keys, memory.mask, memory.gate_values)
    return tuple(t for t in parts if t is not None)


def _state_tuple(state: State) -> tuple[Tensor, ...]:
    return tuple(t for t in (state.h, state.c, state.feed) if t is not None)


def plain_copy(model: Seq2Seq) -> Seq2Seq:
    """A float, eval-mode copy of ``model`` whose attention takes the plain score line."""
    model = copy.deepcopy(model).float().eval().requires_grad_(False)
    model.decoder.attention.fast = False
    return model


def export_programs(model: Seq2Seq) -> tuple[ExportedProgram, ExportedProgram]:
    """``model`` -> (encode, step) programs with dynamic batch and source length."""
    with warnings.catch_warnings():  # (torch's nn.LSTM re-reads its weights while traced: harmless)
        warnings.filterwarnings("ignore", message=".*were assigned during export")
        return _export_programs(model)


def _export_programs(model: Seq2Seq) -> tuple[ExportedProgram, ExportedProgram]:
    model = plain_copy(model)
    layout = Layout.of(model)
    batch, src_len = Dim("batch", min=1, max=4096), Dim("src_len", min=2, max=4096)
    src = torch.tensor([[5, 6, 7, 3], [5, 6, 3, 0], [8, 3, 0, 0]])
    lengths = torch.tensor([4, 3, 2])
    encode = Encode(model).eval()
    with torch.no_grad():
        enc_prog = torch.export.export(
            encode, (src, lengths), dynamic_shapes=({0: batch, 1: src_len}, {0: batch}), strict=False
        )
        memory, state = encode(src, lengths)
    mem_dims = tuple({0: batch, 1: src_len} for _ in layout.memory_names())
    state_dims = tuple({ROW_DIMS[n]: batch} for n in layout.state_names())
    y = torch.tensor([2, 2, 2])
    with torch.no_grad():
        step_prog = torch.export.export(
            Step(model).eval(),
            (y, memory, state),
            dynamic_shapes=({0: batch}, mem_dims, state_dims),
            strict=False,
        )
    return enc_prog, step_prog
