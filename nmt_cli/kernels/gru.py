"""GRU layers with a hand-written backward pass, for the encoder and the post-attention decoder.

``nn.GRU`` on a CPU records every time step in autograd: each step's backward adds a full weight
gradient, and packed sequences split and rejoin the batch at every step. Here the recurrence is one
autograd node: the forward loop does six tensor operations a step (both directions of a
bidirectional layer together, as a batch of two matrix products), the backward loop five, and the
recurrent weight gradient is one large product over all steps at the end. Parameters stay in the
``nn.GRU`` module (same names, same checkpoints); the numbers are the same up to rounding (plain
path: ``nn.GRU``, over packed sequences in the encoder).

Variable lengths without packing: the forward direction runs over the padded batch (states at
padded positions are never read: attention masks them), and the backward direction runs over each
sentence reversed within its own length, so it starts at the sentence's last real token.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt_cli.kernels import fp32
from nmt_cli.kernels.bf16 import bf16_active, linear, pad_rows


def reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """lengths (B,) -> (B, T) index that reverses each row within its length (padding stays put)."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    return torch.where(t <= last, last - t, t)


def _along_time(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, F), index (B, T) -> x[b, index[b, t]]."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


def _params(rnn: nn.GRU, layer: int, suffix: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    name = f"l{layer}{suffix}"
    return (
        getattr(rnn, f"weight_ih_{name}"),
        getattr(rnn, f"bias_ih_{name}"),
        getattr(rnn, f"weight_hh_{name}"),
        getattr(rnn, f"bias_hh_{name}"),
    )


def _input_projection(rnn: nn.GRU, x: Tensor, name: str, weight: Tensor, bias: Tensor) -> Tensor:
    """W_ih x + b_ih over every step at once: through the layer's int8 linear when kernels/int8.py
    made one (``rnn.int8_input[name]``, e.g. "l0_reverse"), else in float."""
    int8 = getattr(rnn, "int8_input", None)
    return int8[name](x) if int8 is not None else linear(x, weight, bias)


def bidirectional(rnn: nn.GRU, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """A bidirectional, batch-first ``nn.GRU`` over padded x (B, S, E) with lengths (B,).

    -> states (B, S, 2H) (forward and backward halves) and final states (L, B, 2H): per layer,
    the forward direction after the last real token and the backward one after the first.
    """
    batch, steps = x.shape[:2]
    index = reverse_index(lengths.to(x.device), steps)
    last = (lengths.to(x.device) - 1).view(batch, 1, 1, 1).expand(batch, 1, 2, rnn.hidden_size)
    finals = []
    for layer in range(rnn.num_layers):
        if layer > 0:
            x = F.dropout(x, rnn.dropout, rnn.training)
        fw, bw = _params(rnn, layer, ""), _params(rnn, layer, "_reverse")
        gi = torch.stack(
            [
                _input_projection(rnn, x, f"l{layer}", fw[0], fw[1]),
                _input_projection(rnn, _along_time(x, index), f"l{layer}_reverse", bw[0], bw[1]),
            ]
        )
        h0 = x.new_zeros(2, batch, rnn.hidden_size)
        out = scan(gi.permute(2, 0, 1, 3), h0, torch.stack([fw[2], bw[2]]), torch.stack([fw[3], bw[3]]))
        out = out.permute(2, 0, 1, 3)  # (B, S, 2, H), the backward half in reversed order
        finals.append(out.gather(1, last).reshape(batch, 2 * rnn.hidden_size))
        x = torch.cat([out[:, :, 0], _along_time(out[:, :, 1], index)], dim=-1)
    return x, torch.stack(finals)


def unidirectional(
    rnn: nn.GRU, x: Tensor, h0: Tensor, first_gates: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """A batch-first ``nn.GRU`` over x (B, T, E) from h0 (L, B, H) -> outputs (B, T, H) and the
    states after step T, (L, B, H) (every row runs all T steps: the decoder's teacher forcing).

    ``first_gates`` (B, T, 3H): the first layer's input projection W_ih x + b_ih, when the caller has
    it already (search: :func:`input_table` rows); x is then not read."""
    finals = []
    for layer in range(rnn.num_layers):
        if layer > 0:
            x = F.dropout(x, rnn.dropout, rnn.training)
        w_ih, b_ih, w_hh, b_hh = _params(rnn, layer, "")
        if layer == 0 and first_gates is not None:
            gi = first_gates.transpose(0, 1).unsqueeze(1)  # (T, 1, B, 3H)
        else:
            gi = _input_projection(rnn, x, f"l{layer}", w_ih, b_ih).transpose(0, 1).unsqueeze(1)
        out = scan(gi, h0[layer].unsqueeze(0), w_hh.unsqueeze(0), b_hh.unsqueeze(0))
        x = out.squeeze(1).transpose(0, 1)  # (B, T, H)
        finals.append(x[:, -1])
    return x, torch.stack(finals)


def first_input_weights(rnn: nn.GRU) -> tuple[Tensor, Tensor]:
    """The first layer's (forward direction's) W_ih (3H, E) and b_ih (3H,)."""
    return _params(rnn, 0, "")[:2]


def input_table(rnn: nn.GRU, embed: nn.Embedding) -> Tensor:
    """(V, 3H) fp32: the first layer's input projection W_ih e + b_ih of every row e of ``embed``.

    In search the decoder's input is an embedding row (no input feeding, no dropout), so a step can
    take its rows of this table instead of a (R, E) x (E, 3H) product (7-16% of a search step of the
    benchmark model on a 2-core EPYC, 160 to 5 rows: README, Performance)."""
    w_ih, b_ih = first_input_weights(rnn)
    with torch.autocast(embed.weight.device.type, enabled=False):
        return torch.addmm(b_ih.float(), embed.weight.float(), w_ih.float().t())


def scan(gi: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """GRU recurrence for D independent directions.

    gi (T, D, B, 3H) input projections (W_ih x + b_ih, gates r, z, n), h0 (D, B, H), w_hh (D, 3H, H),
    b_hh (D, 3H) -> outputs (T, D, B, H) in h0's dtype. Under bf16 autocast the matrix products run in
    bf16 (the states, gates and their gradients stay fp32).
    """
    mm = torch.bfloat16 if bf16_active(h0) else h0.dtype
    batch = h0.size(1)
    if mm == torch.bfloat16 and not torch.is_grad_enabled():
        # In search the row count changes at every step (finished sentences leave): padded rows
        # keep the number of compiled bf16 kernels small (see kernels/bf16.py).
        gi, h0 = pad_rows(gi, 2), pad_rows(h0, 1)
    # One direction in search: the recurrent product through kernels/fp32.py's choice.
    onednn = mm == torch.float32 and h0.size(0) == 1 and fp32.active(h0)
    with torch.autocast("cpu", enabled=False):
        out = _Scan.apply(gi.contiguous(), h0.contiguous(), w_hh, b_hh, mm, onednn)
    return out[:, :, :batch]  # type: ignore[no-any-return]


class _Scan(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, gi: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor, mm: torch.dtype, onednn: bool
    ) -> Tensor:
        steps, hid = gi.size(0), h0.size(-1)
        out = h0.new_empty(*gi.shape[:-1], hid)  # (T, D, B, H)
        gates = h0.new_empty(gi.shape)  # r, z, n after their nonlinearities
        gh = gi.new_empty(gi.shape, dtype=mm)  # W_hh h + b_hh; its n part is needed in the backward pass
        w_t, bias = w_hh.to(mm).transpose(1, 2), b_hh.to(mm).unsqueeze(1)
        h = h0
        for t in range(steps):
            if onednn:
                gh[t, 0] = fp32.linear(h[0], w_hh[0], b_hh[0])
            else:
                torch.baddbmm(bias, h.to(mm), w_t, out=gh[t])
            rz, n = gates[t, ..., : 2 * hid], gates[t, ..., 2 * hid :]
            torch.add(gi[t, ..., : 2 * hid], gh[t, ..., : 2 * hid], out=rz).sigmoid_()
            torch.addcmul(gi[t, ..., 2 * hid :], rz[..., :hid], gh[t, ..., 2 * hid :], out=n).tanh_()
            torch.lerp(n, h, rz[..., hid:], out=out[t])  # h' = n + z (h - n)
            h = out[t]
        ctx.save_for_backward(h0, w_hh, out, gates, gh[..., 2 * hid :])
        ctx.mm = mm
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, None, None]:
        h0, w_hh, out, gates, gh_n = ctx.saved_tensors
        steps, dirs, batch, hid = out.shape
        r, z, n = gates.view(steps, dirs, batch, 3, hid).unbind(3)
        h_prev = torch.cat([h0.unsqueeze(0), out[:-1]])
        # Everything but dh is known before the loop: d(pre-activation) = dh * coefficient.
        c_n = (1 - z) * (1 - n * n)
        coef_i = torch.stack([c_n * gh_n.view_as(n) * r * (1 - r), (h_prev - n) * z * (1 - z), c_n], dim=3)
        coef_h = coef_i.clone()
        coef_h[:, :, :, 2] *= r
        grad_i = torch.empty_like(coef_i)  # (T, D, B, 3, H)
        grad_h = torch.empty_like(coef_i, dtype=ctx.mm)
        w = w_hh.to(ctx.mm)
        grad_out = grad_out.contiguous()
        dh = torch.zeros_like(h0)
        for t in range(steps - 1, -1, -1):
            dh = dh + grad_out[t]
            torch.mul(coef_i[t], dh.unsqueeze(2), out=grad_i[t])
            torch.mul(coef_h[t], dh.unsqueeze(2), out=grad_h[t])
            dh = torch.bmm(grad_h[t].view(dirs, batch, 3 * hid), w).add_(dh * z[t])
        grad_h = grad_h.view(steps, dirs, batch, 3 * hid).transpose(0, 1).reshape(dirs, -1, 3 * hid)
        h_prev = h_prev.transpose(0, 1).reshape(dirs, -1, hid).to(ctx.mm)
        if ctx.mm == torch.bfloat16:  # zero rows: the same product, from a few compiled shapes
            grad_h, h_prev = pad_rows(grad_h, 1), pad_rows(h_prev, 1)
        grad_w = torch.bmm(grad_h.transpose(1, 2), h_prev)  # (D, 3H, H): one product over all steps
        grad_b = grad_h.sum(1, dtype=w_hh.dtype)
        return grad_i.view(steps, dirs, batch, 3 * hid), dh, grad_w.to(w_hh.dtype), grad_b, None, None
