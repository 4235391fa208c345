"""Attentional decoders: a teacher-forced ``forward`` for training and a ``step`` for search.

Two placements of Bahdanau attention:

``BahdanauDecoder`` (the original paper): at step t the query is the previous state
s(t-1); the context c(t) enters the recurrent cell with the previous target embedding; the output
is tanh(W [s(t); c(t); e(t-1)]). The embedding part of the cell's input projection is computed for
all steps at once. In search, the part that reads c(t) is folded into the encoder states once per
batch (W_c·Σ a_i h_i = Σ a_i (W_c h_i)), so each step does a (B, S) × (S, G) product instead of a
(B, K) × (K, G) one.

``PostDecoder`` (default): the query is the state after the step, s(t); the output is
tanh(W [s(t); c(t)]). Without input feeding the whole target side runs through one recurrent call and
attention is batched over all steps; in search, a GRU's first layer then reads its input gates from a
table over the target embedding (``kernels.gru.input_table``) instead of a product per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import nmt_cli.kernels.gru as gru
from nmt_cli.attention import BahdanauAttention
from nmt_cli.kernels.bf16 import Linear, bf16_active, bmm
from nmt_cli.settings import ModelSettings
from nmt_cli.tokenizer import PAD_ID

# The largest first-layer input table a PostDecoder keeps for search (gru.input_table): 49 MB for 8k
# pieces into a 512-wide GRU; a larger vocabulary or decoder keeps the per-step product.
TABLE_BYTES = 64 << 20


@dataclass
class Memory:
    """What the decoder reads from the encoder, computed once per batch: one row per sentence,
    shared by the sentence's beams (decoder states have B·k rows, sentence-major)."""

    states: Tensor  # (B, S, K) encoder states (attention values)
    keys: Tensor  # (B, S, A) projected keys
    mask: Tensor  # (B, S) True on real positions
    gate_values: Tensor | None = None  # (B, S, G) states projected into the first cell's input gates

    def select(self, index: Tensor) -> Memory:
        """Rows ``index`` (e.g. repeat for beams): every tensor along the batch dim."""
        gv = None if self.gate_values is None else self.gate_values.index_select(0, index)
        return Memory(
            self.states.index_select(0, index),
            self.keys.index_select(0, index),
            self.mask.index_select(0, index),
            gv,
        )

    def cat(self, other: Memory) -> Memory:
        """This memory's sentences, then ``other``'s (e.g. sentences joining a search), both padded
        to the longer source (padding is masked: it changes no weight)."""
        width = max(self.mask.size(1), other.mask.size(1))

        def both(a: Tensor, b: Tensor) -> Tensor:  # (B, S, ...), (B', S', ...) -> (B + B', width, ...)
            return torch.cat([F.pad(x, (0, 0) * (x.dim() - 2) + (0, width - x.size(1))) for x in (a, b)])

        gv = self.gate_values
        gv = None if gv is None or other.gate_values is None else both(gv, other.gate_values)
        return Memory(
            both(self.states, other.states), both(self.keys, other.keys), both(self.mask, other.mask), gv
        )


def attend(attention: BahdanauAttention, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
    """query (R, Q) with R = B·k (k beams per sentence, sentence-major) -> context (R, K), weights (R, S).

    A sentence's k rows are its T = k queries for ``attention``: they share its keys and values.
    """
    batch, rows = memory.keys.size(0), query.size(0)
    queries = query.reshape(batch, rows // batch, -1)  # (B, k, Q)
    context, weights = attention(queries, memory.keys, memory.states, memory.mask)
    return context.reshape(rows, -1), weights.reshape(rows, -1)


def weigh(weights: Tensor, values: Tensor) -> Tensor:
    """weights (R, S) with R = B·k, values (B, S, F) -> weighted sums (R, F), like a context."""
    batch, rows = values.size(0), weights.size(0)
    return bmm(weights.view(batch, rows // batch, -1), values).view(rows, -1)


@dataclass
class State:
    """Recurrent state: h and (LSTM) c of shape (L, B, D); feed (B, Do) for input feeding."""

    h: Tensor
    c: Tensor | None = None
    feed: Tensor | None = None

    def select(self, index: Tensor) -> State:
        return State(
            self.h.index_select(1, index),
            None if self.c is None else self.c.index_select(1, index),
            None if self.feed is None else self.feed.index_select(0, index),
        )

    def cat(self, other: State) -> State:
        """This state's rows, then ``other``'s. A missing input feed (a search's first step) is zeros."""
        c = None if self.c is None or other.c is None else torch.cat([self.c, other.c], dim=1)
        feed = None
        if self.feed is not None or other.feed is not None:
            like = self.feed if self.feed is not None else other.feed
            assert like is not None
            feeds = [f if f is not None else like.new_zeros(n, like.size(1))
                     for f, n in ((self.feed, self.h.size(1)), (other.feed, other.h.size(1)))]  # fmt: skip
            feed = torch.cat(feeds)
        return State(torch.cat([self.h, other.h], dim=1), c, feed)


def gru_gates(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """GRU update from input and hidden projections (B, 3D) each; h (B, D) -> (B, D)."""
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


def lstm_gates(gi: Tensor, gh: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM update from projections (B, 4D) each; c (B, D) -> new (h, c)."""
    i, f, g, o = (gi + gh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class Bridge(nn.Module):
    """Decoder initial state from the encoder's final states.

    With a bridge: tanh(W h_enc). Without one, the encoder's final states are passed on unchanged
    when their size is the decoder's (as OpenNMT-py does), and zeros otherwise.
    """

    def __init__(self, cfg: ModelSettings, enc_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.h = Linear(enc_dim, cfg.dec_hidden) if cfg.bridge else None
        self.c = Linear(enc_dim, cfg.dec_hidden) if cfg.bridge and cfg.cell == "lstm" else None

    def forward(self, enc_h: Tensor, enc_c: Tensor | None) -> State:
        """enc_h, enc_c (L, B, 2H) -> State with (L, B, D)."""
        shape = (self.cfg.layers, enc_h.size(1), self.cfg.dec_hidden)
        zeros = enc_h.new_zeros(shape)
        same = enc_h.shape == shape
        h = torch.tanh(self.h(enc_h)) if self.h is not None else (enc_h if same else zeros)
        c = None
        if self.cfg.cell == "lstm":
            if self.c is not None and enc_c is not None:
                c = torch.tanh(self.c(enc_c))
            else:
                c = enc_c if same and enc_c is not None else zeros
        return State(h, c)


class BahdanauDecoder(nn.Module):
    """Query = s(t-1); context and previous embedding enter the cell (Bahdanau et al., 2015)."""

    def __init__(self, cfg: ModelSettings, enc_dim: int, out_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        d, gates = cfg.dec_hidden, (3 if cfg.cell == "gru" else 4) * cfg.dec_hidden
        self.embed = nn.Embedding(cfg.tgt_vocab, cfg.emb, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(cfg.dropout)
        self.bridge = Bridge(cfg, enc_dim)
        self.attention = BahdanauAttention(d, enc_dim, cfg.attn_dim)
        self.in_emb = Linear(cfg.emb, gates)  # W_ih for the embedding part (+ b_ih)
        self.in_ctx = Linear(enc_dim, gates, bias=False)  # W_ih for the context part
        self.hidden = Linear(d, gates)  # W_hh (+ b_hh)
        cell = nn.GRUCell if cfg.cell == "gru" else nn.LSTMCell
        self.upper = nn.ModuleList(cell(d, d) for _ in range(cfg.layers - 1))
        self.out = Linear(d + enc_dim + cfg.emb, out_dim)

    def memory(self, states: Tensor, mask: Tensor) -> Memory:
        # Folding W_c into the states pays off in search (no backward); in training the backward of
        # a per-step (B, S, G) product costs more than it saves, so the context is projected instead.
        gate_values = None if self.training else self.in_ctx(states)
        return Memory(states, self.attention.project_keys(states), mask, gate_values)

    def _attend(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor, Tensor]:
        """query (R, D) -> context (R, K), its part of the cell's input gates (R, G), weights (R, S)."""
        context, attn = attend(self.attention, query, memory)
        if memory.gate_values is None:
            return context, self.in_ctx(context), attn
        return context, weigh(attn, memory.gate_values), attn

    def _cell(self, gi: Tensor, state: State) -> State:
        """One recurrent step given the input projection gi (B, G): embedding and context parts."""
        gh = self.hidden(state.h[0])
        if state.c is None:
            layer_h, layer_c = [gru_gates(gi, gh, state.h[0])], None
        else:
            h0, c0 = lstm_gates(gi, gh, state.c[0])
            layer_h, layer_c = [h0], [c0]
        for i, cell in enumerate(self.upper, start=1):
            x = self.dropout(layer_h[-1])
            if layer_c is None:
                layer_h.append(cell(x, state.h[i]))
            else:
                assert state.c is not None
                hi, ci = cell(x, (state.h[i], state.c[i]))
                layer_h.append(hi)
                layer_c.append(ci)
        return State(torch.stack(layer_h), None if layer_c is None else torch.stack(layer_c))

    def forward(self, tgt_in: Tensor, memory: Memory, state: State) -> tuple[Tensor, Tensor]:
        """Teacher forcing. tgt_in (B, T) -> pre-output (B, T, Do), attention (B, T, S)."""
        emb = self.dropout(self.embed(tgt_in))  # (B, T, E)
        gi_all = self.in_emb(emb)  # (B, T, G): the embedding part for every step at once
        tops, attns, contexts = [], [], []
        for t in range(tgt_in.size(1)):
            context, ctx_gates, attn = self._attend(state.h[-1], memory)  # (B, K), (B, G), (B, S)
            state = self._cell(gi_all[:, t] + ctx_gates, state)
            tops.append(state.h[-1])
            attns.append(attn)
            contexts.append(context)
        tops_t, attn_t = torch.stack(tops, dim=1), torch.stack(attns, dim=1)  # (B, T, D), (B, T, S)
        context_t = torch.stack(contexts, dim=1)  # (B, T, K)
        pre = torch.tanh(self.out(torch.cat([tops_t, context_t, emb], dim=-1)))
        return self.dropout(pre), attn_t

    def step(self, y: Tensor, memory: Memory, state: State) -> tuple[Tensor, Tensor, State]:
        """y (R,) previous tokens (R = B·k rows) -> pre-output (R, Do), attention (R, S), new state."""
        emb = self.dropout(self.embed(y))  # (B, E)
        context, ctx_gates, attn = self._attend(state.h[-1], memory)  # (R, K), (R, G), (R, S)
        state = self._cell(self.in_emb(emb) + ctx_gates, state)
        pre = torch.tanh(self.out(torch.cat([state.h[-1], context, emb], dim=-1)))
        return self.dropout(pre), attn, state


class PostDecoder(nn.Module):
    """Query = s(t), the state after the recurrent step; output tanh(W [s(t); c(t)])."""

    def __init__(self, cfg: ModelSettings, enc_dim: int, out_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dec_hidden
        self.embed = nn.Embedding(cfg.tgt_vocab, cfg.emb, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(cfg.dropout)
        self.bridge = Bridge(cfg, enc_dim)
        self.attention = BahdanauAttention(d, enc_dim, cfg.attn_dim)
        rnn = nn.GRU if cfg.cell == "gru" else nn.LSTM
        in_dim = cfg.emb + (out_dim if cfg.input_feeding else 0)
        self.rnn = rnn(
            in_dim, d, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.out = Linear(d + enc_dim, out_dim)
        self.out_dim = out_dim
        self.scan = True  # the GRU through kernels/gru.py on a CPU (training/autotune.py may turn it off)
        self._table: tuple[tuple[object, ...], Tensor] | None = None  # (what it came from, input table)
        self._rows_before_table = 0  # search rows stepped through the input product meanwhile

    def memory(self, states: Tensor, mask: Tensor) -> Memory:
        return Memory(states, self.attention.project_keys(states), mask)

    def _run(self, x: Tensor, state: State, gates: Tensor | None = None) -> tuple[Tensor, State]:
        """x (B, T, In) -> outputs (B, T, D), state after the last step. ``gates`` (B, T, 3H): the first
        layer's input projection of x, already known (then x is not read)."""
        if (
            self.scan and isinstance(self.rnn, nn.GRU) and x.device.type == "cpu"
        ):  # (not int8; cuDNN on a GPU)
            out, h = gru.unidirectional(self.rnn, x, state.h, gates)
            return out, State(h)
        if state.c is None:
            out, h = self.rnn(x, state.h)
            return out, State(h)
        out, (h, c) = self.rnn(x, (state.h, state.c))
        return out, State(h, c)

    def _output(self, tops: Tensor, context: Tensor) -> Tensor:
        """tops (..., D), contexts (..., K) -> pre-output (..., Do)."""
        return self.dropout(torch.tanh(self.out(torch.cat([tops, context], dim=-1))))

    def forward(self, tgt_in: Tensor, memory: Memory, state: State) -> tuple[Tensor, Tensor]:
        """Teacher forcing. tgt_in (B, T) -> pre-output (B, T, Do), attention (B, T, S)."""
        emb = self.dropout(self.embed(tgt_in))  # (B, T, E)
        if not self.cfg.input_feeding:
            tops, _ = self._run(emb, state)  # one recurrent call over all steps
            context, attn = self.attention(tops, memory.keys, memory.states, memory.mask)  # all T at once
            return self._output(tops, context), attn
        pres, attns = [], []
        state.feed = emb.new_zeros(emb.size(0), self.out_dim)
        for t in range(tgt_in.size(1)):
            pre, attn, state = self._feed_step(emb[:, t], memory, state)
            pres.append(pre)
            attns.append(attn)
        return torch.stack(pres, dim=1), torch.stack(attns, dim=1)

    def _feed_step(
        self, emb: Tensor, memory: Memory, state: State, gates: Tensor | None = None
    ) -> tuple[Tensor, Tensor, State]:
        x = emb if state.feed is None else torch.cat([emb, state.feed], dim=-1)
        top, state = self._run(x.unsqueeze(1), state, None if gates is None else gates.unsqueeze(1))
        context, attn = attend(self.attention, top.squeeze(1), memory)  # (R, K), (R, S)
        pre = self._output(top.squeeze(1), context)  # (R, Do)
        if self.cfg.input_feeding:
            state.feed = pre
        return pre, attn, state

    def step(self, y: Tensor, memory: Memory, state: State) -> tuple[Tensor, Tensor, State]:
        """y (R,) previous tokens (R = B·k rows) -> pre-output (R, Do), attention (R, S), new state."""
        gates = self._input_rows(y)
        if gates is not None:  # (the embedding is only read through the table)
            return self._feed_step(gates, memory, state, gates)
        emb = self.dropout(self.embed(y))
        if self.cfg.input_feeding and state.feed is None:
            state = State(state.h, state.c, emb.new_zeros(emb.size(0), self.out_dim))
        return self._feed_step(emb, memory, state)

    def _input_rows(self, y: Tensor) -> Tensor | None:
        """y (R,) ids -> the first layer's input gates W_ih e(y) + b_ih (R, 3H) from a kept table
        (gru.input_table), or None where the table does not serve: with gradients, input feeding, an
        LSTM, int8 or bf16 products, off the CPU scan, in an export trace, or a table over
        ``TABLE_BYTES``. Kept until the embedding or the input weights change.

        The table costs the product work of as many rows as it has, so it is built only once the
        search has stepped that many rows through the product: a short search (one line) never pays
        for it, and a long one pays at most twice what the product alone would have cost it."""
        rnn, weight = self.rnn, self.embed.weight
        if (
            self.training
            or torch.is_grad_enabled()
            or torch.compiler.is_compiling()
            or self.cfg.input_feeding
            or not (self.scan and isinstance(rnn, nn.GRU) and weight.device.type == "cpu")
            or hasattr(rnn, "int8_input")
            or bf16_active(weight)
            or weight.size(0) * 3 * rnn.hidden_size * 4 > TABLE_BYTES
        ):
            return None
        w_ih, b_ih = gru.first_input_weights(rnn)
        source = tuple((t.data_ptr(), t._version, t.dtype) for t in (weight, w_ih, b_ih))
        if self._table is None or self._table[0] != source:
            if self._rows_before_table < weight.size(0):
                self._rows_before_table += y.numel()
                return None
            self._table = (source, gru.input_table(rnn, self.embed))
            self._rows_before_table = 0
        return self._table[1].index_select(0, y)

    def train(self, mode: bool = True) -> PostDecoder:
        self._table = None  # (eval() and train() both start afresh: weights may have moved meanwhile)
        self._rows_before_table = 0
        return super().train(mode)
