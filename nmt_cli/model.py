"""Seq2Seq: builds encoder, decoder and output layer from a ModelConfig."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nmt_cli.config import ModelConfig
from nmt_cli.decoder import BahdanauDecoder, Memory, PostDecoder, State
from nmt_cli.encoder import Encoder, source_mask


class Seq2Seq(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        out_dim = cfg.emb if cfg.tie_embeddings else cfg.dec_hidden
        decoder_cls = BahdanauDecoder if cfg.attention == "bahdanau" else PostDecoder
        self.decoder: BahdanauDecoder | PostDecoder = decoder_cls(cfg, self.encoder.out_dim, out_dim)
        self.generator = nn.Linear(out_dim, cfg.tgt_vocab)
        if cfg.tie_embeddings:
            self.generator.weight = self.decoder.embed.weight

    def encode(self, src: Tensor, lengths: Tensor) -> tuple[Memory, State]:
        """src (B, S), lengths (B,) -> decoder memory and initial state."""
        states, h, c = self.encoder(src, lengths.cpu())
        return self.decoder.memory(states, source_mask(src)), self.decoder.bridge(h, c)

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing -> pre-output (B, T, Do) and attention (B, T, S). Apply ``generator`` after."""
        memory, state = self.encode(src, lengths)
        return self.decoder(tgt_in, memory, state)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def init_weights(model: nn.Module, seed: int) -> None:
    """Uniform(-0.1, 0.1) like the classic RNN NMT recipes; embeddings' padding rows stay 0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.rand(param.shape, generator=gen) * 0.2 - 0.1)
            if name.endswith("embed.weight"):
                param[0].zero_()
