"""``train --tensorboard DIR``: the records of ``metrics.jsonl`` also as TensorBoard scalars.

Optional: needs the ``tensorboard`` package (``pip install 'nmt-cli[tensorboard]'``), written through
``torch.utils.tensorboard``. Scalars: ``train/loss`` and ``train/tgt_tokens_per_s`` every
``--log-every`` updates; ``train/window_loss``, ``train/lr``, ``dev/loss``, ``dev/ppl``, ``dev/bleu`` and
``dev/chrf`` at every validation. A resumed run purges the events past its checkpoint's step, as it
drops those lines of ``metrics.jsonl``, so the curves show the run that never stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nmt_cli.errors import UsageError

# metrics.jsonl field -> TensorBoard tag
TAGS = {
    "loss": "train/loss",
    "tgt_tokens_per_s": "train/tgt_tokens_per_s",
    "train_loss": "train/window_loss",
    "lr": "train/lr",
    "dev_loss": "dev/loss",
    "dev_ppl": "dev/ppl",
    "bleu": "dev/bleu",
    "chrf": "dev/chrf",
}


def require() -> None:
    """A usage error now, before training starts, when the tensorboard package is missing."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        raise UsageError(
            "--tensorboard needs the tensorboard package: pip install 'nmt-cli[tensorboard]'"
        ) from None


class TensorBoardLog:
    def __init__(self, logdir: Path, resumed_step: int) -> None:
        require()
        from torch.utils.tensorboard import SummaryWriter

        purge = resumed_step + 1 if resumed_step else None
        self.writer = SummaryWriter(log_dir=str(logdir), purge_step=purge)

    def write(self, record: dict[str, Any]) -> None:
        step = record.get("step")
        if type(step) is not int or record.get("stop"):
            return
        for key, tag in TAGS.items():
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
