"""Seq2Seq: builds encoder, decoder and output layer from a ModelSettings."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt_cli.decoder import BahdanauDecoder, Memory, PostDecoder, State
from nmt_cli.encoder import Encoder, source_mask
from nmt_cli.kernels import xent
from nmt_cli.kernels.bf16 import Linear, linear
from nmt_cli.settings import ModelSettings


class Seq2Seq(nn.Module):
    def __init__(self, cfg: ModelSettings) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        out_dim = cfg.emb if cfg.tie_embeddings else cfg.dec_hidden
        decoder_cls = BahdanauDecoder if cfg.attention == "bahdanau" else PostDecoder
        self.decoder: BahdanauDecoder | PostDecoder = decoder_cls(cfg, self.encoder.out_dim, out_dim)
        tied = self.decoder.embed if cfg.tie_embeddings else None
        self.generator = OutputLayer(out_dim, cfg.out_vocab or cfg.tgt_vocab, cfg.tgt_vocab, tied)

    def encode(self, src: Tensor, lengths: Tensor) -> tuple[Memory, State]:
        """src (B, S), lengths (B,) -> decoder memory and initial state."""
        states, h, c = self.encoder(src, lengths.cpu())
        return self.decoder.memory(states, source_mask(src)), self.decoder.bridge(h, c)

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing -> pre-output (B, T, Do) and attention (B, T, S). Apply ``generator`` after:
        it runs only on the positions that matter (no padding) and only over the output vocabulary."""
        memory, state = self.encode(src, lengths)
        return self.decoder(tgt_in, memory, state)

    def log_probs(self, y: Tensor, memory: Memory, state: State) -> tuple[Tensor, Tensor, State]:
        """One search step. y (R,) previous ids -> log-probs (R, n_out) in float32 over the output
        positions, attention (R, S), new state."""
        pre, attn, state = self.decoder.step(y, memory, state)
        return torch.log_softmax(self.generator(pre).float(), dim=-1), attn, state

    def to_ids(self, positions: Tensor) -> Tensor:
        """Output positions -> piece ids."""
        return self.generator.to_ids(positions)

    def to_positions(self, ids: Tensor) -> Tensor:
        """Piece ids -> output positions (pieces outside the output vocabulary: <unk>'s)."""
        return self.generator.to_positions(ids)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class OutputLayer(nn.Module):
    """Pre-output -> logits over the output vocabulary: the pieces seen on the target side.

    A joint SentencePiece model has many pieces the target never uses; scoring only the seen ones
    makes the largest matrix product of training and search smaller. Output position p stands for
    piece ``out_ids[p]``; the special ids 0-3 are always positions 0-3.
    """

    out_ids: Tensor  # (n_out,) piece id of each output position
    positions: Tensor  # (vocab,) output position of each piece id (<unk>'s for unseen pieces)
    _rows: tuple[tuple[object, ...], Tensor] | None = None  # (what they came from, tied rows)

    def __init__(self, in_dim: int, n_out: int, vocab: int, tied: nn.Embedding | None) -> None:
        super().__init__()
        self.tied = tied
        self.linear = None if tied is not None else Linear(in_dim, n_out)  # quantizable when untied
        self.bias = nn.Parameter(torch.zeros(n_out)) if tied is not None else None
        self.register_buffer("out_ids", torch.arange(n_out))
        self.register_buffer("positions", torch.arange(vocab).clamp(max=n_out - 1))
        self.fused = True  # training's loss through kernels/xent.py (training/autotune.py may turn it off)

    def set_vocabulary(self, ids: Sequence[int]) -> None:
        """Use output positions for ``ids`` (sorted, starting with the special ids 0-3)."""
        ids_t = torch.as_tensor(list(ids), dtype=torch.long)
        assert ids_t.numel() == self.out_ids.numel() and ids_t[:4].tolist() == [0, 1, 2, 3]
        self.out_ids.copy_(ids_t)
        self.positions.fill_(1)  # pieces outside the output vocabulary score as <unk>
        self.positions[ids_t] = torch.arange(ids_t.numel())

    def forward(self, pre: Tensor) -> Tensor:
        """(..., Do) -> (..., n_out) logits."""
        if self.linear is not None:
            return self.linear(pre)  # type: ignore[no-any-return]
        return linear(pre, self._tied_rows(), self.bias)

    def loss(self, pre: Tensor, gold: Tensor, label_smoothing: float) -> Tensor:
        """pre (N, Do), gold (N,) output positions -> summed cross-entropy (), fp32."""
        if self.fused and xent.applies(pre):
            bias: Tensor | None
            if self.linear is not None:
                weight, bias = self.linear.weight, self.linear.bias
            else:
                weight, bias = self._tied_rows(), self.bias
            return xent.linear_cross_entropy(pre, weight, bias, gold, label_smoothing)
        logits = self(pre).float()
        return F.cross_entropy(logits, gold, reduction="sum", label_smoothing=label_smoothing)

    def _tied_rows(self) -> Tensor:
        """(n_out, Do): the tied embedding's rows of the output vocabulary. With gradients they are
        gathered at every call; without (search, validation) once, and kept until the embedding, the
        vocabulary or the mode changes: a search step would otherwise copy them all (8 MB at 8k x 256)."""
        assert self.tied is not None
        weight = self.tied.weight
        if torch.is_grad_enabled() or torch.compiler.is_compiling():  # (export traces the gather)
            return weight.index_select(0, self.out_ids)
        ids = self.out_ids
        source = (weight.data_ptr(), weight._version, weight.dtype, ids.data_ptr(), ids._version)
        if self._rows is None or self._rows[0] != source:
            self._rows = (source, weight.index_select(0, self.out_ids))
        return self._rows[1]

    def train(self, mode: bool = True) -> OutputLayer:
        self._rows = None  # (eval() and train() both start afresh: weights may have moved meanwhile)
        return super().train(mode)

    def to_ids(self, positions: Tensor) -> Tensor:
        return self.out_ids[positions]

    def to_positions(self, ids: Tensor) -> Tensor:
        return self.positions[ids]


def init_weights(model: nn.Module, seed: int) -> None:
    """Uniform(-0.1, 0.1) like the classic RNN NMT recipes; embeddings' padding rows stay 0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.rand(param.shape, generator=gen) * 0.2 - 0.1)
            if name.endswith("embed.weight"):
                param[0].zero_()
