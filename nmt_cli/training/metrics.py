"""``metrics.jsonl``: one JSON object per line, flushed as written (rank 0 only).

Two kinds of lines: every ``--log-every`` updates ``{step, epoch, loss, tgt_tokens_per_s}``; at every
validation ``{step, epoch, train_loss, lr, elapsed, [dev_loss, dev_ppl, bleu, chrf, best]}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_after(self, step: int) -> None:
        """On resume, drop records a killed run wrote after its last checkpoint."""
        if not self.enabled or not self.path.exists():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= step]
        self.path.write_text("".join(kept), encoding="utf-8")
