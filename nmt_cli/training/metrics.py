"""``metrics.jsonl``: one JSON object per line, appended as written (rank 0 only).

Two kinds of lines: every ``--log-every`` updates ``{step, epoch, loss, tgt_tokens_per_s}``; at every
validation ``{step, epoch, train_loss, lr, elapsed, [dev_loss, dev_ppl, bleu, chrf, best]}``. A
validation at a stop between validations (``--max-steps``, ``--max-time``) also has ``"stop": true``:
it reports, but is not part of the run, and a resume drops it (a run that never stopped has none).

Each record is one ``write`` with ``O_APPEND`` and never through a symlink; a power loss may leave a
torn last line, which resume and ``nmt info`` skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from nmt_cli import faults, runfiles


class Sink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...


class MetricsLog:
    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        self.sinks: list[Sink] = []  # also told every record (TensorBoard)

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line; a full disk is a one-line CheckpointError."""
        if not self.enabled:
            return
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        if faults.armed("enospc-metrics", int(record.get("step", 0))):
            raise runfiles.run_error(faults.disk_full(str(self.path)), self.path, "appending to")
        runfiles.append_run_file(self.path, line)
        for sink in self.sinks:
            sink.write(record)

    def truncate_after(self, step: int) -> None:
        """On resume from ``step``: drop the records a killed run wrote after its last checkpoint, the
        stop-time reports (the run goes on past them) and lines that are no record (a torn last line)."""
        if not self.enabled:
            return
        try:
            data = runfiles.read_run_file(self.path)
        except FileNotFoundError:
            return
        kept = b"".join(
            line
            for line, record in runfiles.metrics_lines(data)
            if record is not None and _step(record) <= step and not record.get("stop")
        )
        if kept != data:
            runfiles.write_run_file(self.path, kept)


def _step(record: dict[str, Any]) -> float:
    step = record.get("step", 0)
    return step if type(step) is int else float("inf")  # a record without a usable step goes
