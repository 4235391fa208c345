"""Bidirectional GRU/LSTM encoder: on a CPU the GRU runs through kernels/gru.py (padded, no packing);
LSTMs, int8-quantized GRUs and GPUs use torch's own recurrent layers over packed sequences."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import nmt_cli.kernels.gru as gru
from nmt_cli.settings import ModelSettings
from nmt_cli.tokenizer import PAD_ID

RNN = {"gru": nn.GRU, "lstm": nn.LSTM}


class Encoder(nn.Module):
    def __init__(self, cfg: ModelSettings) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.src_vocab, cfg.emb, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = RNN[cfg.cell](
            cfg.emb,
            cfg.enc_hidden,
            num_layers=cfg.layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.scan = True  # the GRU through kernels/gru.py on a CPU (training/autotune.py may turn it off)

    @property
    def out_dim(self) -> int:
        return 2 * self.cfg.enc_hidden

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """src (B, S) ids, lengths (B,) on CPU -> states (B, S, 2H), final h (L, B, 2H), final c or None.

        The final states of both directions are concatenated per layer.
        """
        x = self.dropout(self.embed(src))  # (B, S, E)
        if self.scan and isinstance(self.rnn, nn.GRU) and x.device.type == "cpu":  # (cuDNN on a GPU)
            states, h = gru.bidirectional(self.rnn, x, lengths)
            return states, h, None
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        h, c = final if isinstance(final, tuple) else (final, None)
        return states, merge_directions(h), None if c is None else merge_directions(c)


def merge_directions(h: Tensor) -> Tensor:
    """(2L, B, H) ordered (layer, direction) -> (L, B, 2H)."""
    layers2, batch, hidden = h.shape
    return h.view(layers2 // 2, 2, batch, hidden).transpose(1, 2).reshape(layers2 // 2, batch, 2 * hidden)


def source_mask(src: Tensor) -> Tensor:
    """(B, S) ids -> (B, S) bool, True on real positions."""
    return torch.ne(src, PAD_ID)
