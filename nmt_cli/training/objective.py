"""The training objective: summed cross-entropy over the real (non-padding) target positions."""

from __future__ import annotations

from torch import Tensor, nn

from nmt_cli.model import Seq2Seq
from nmt_cli.tokenizer import PAD_ID


class LossModule(nn.Module):
    """Wraps the model so that DDP sees one forward: batch -> (summed loss, target tokens)."""

    def __init__(self, model: Seq2Seq, label_smoothing: float) -> None:
        super().__init__()
        self.model = model
        self.label_smoothing = label_smoothing

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S), lengths (B,), tgt_in/tgt_out (B, T) -> summed loss (), real target positions ()."""
        pre, _ = self.model(src, lengths, tgt_in)  # (B, T, Do)
        keep = tgt_out.ne(PAD_ID)  # (B, T)
        gold = self.model.generator.to_positions(tgt_out[keep])
        # (N, V) logits only at real positions, no padding work; with gradients through kernels/xent.py
        return self.model.generator.loss(pre[keep], gold, self.label_smoothing), keep.sum()
