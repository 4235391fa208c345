"""``nmt info``: what a run directory holds, for people (stderr) or scripts (``--json``).

A run directory is untrusted input: its files are read without following symlinks, a damaged
``config.json`` or manifest is a one-line error, and lines of ``metrics.jsonl`` that are no record
(a torn last line after a power loss) are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nmt_cli import checkpoint, display, runfiles
from nmt_cli.errors import DataError


def read_run(run: Path) -> dict[str, Any]:
    """config.json, checkpoints.json and metrics.jsonl of a run, as one record."""
    config_path = run / "config.json"
    try:
        config = json.loads(runfiles.read_run_file(config_path).decode("utf-8"))
    except FileNotFoundError:
        raise DataError(f"{run}: not a run directory (no config.json)") from None
    except (ValueError, RecursionError):
        raise DataError(f"{config_path}: damaged (not UTF-8 JSON)") from None
    if not isinstance(config, dict):
        raise DataError(f"{config_path}: damaged (not a JSON object)")
    record: dict[str, Any] = {"run": str(run), "config": config}
    has_manifest = os.path.lexists(run / checkpoint.MANIFEST)
    record["checkpoints"] = checkpoint.read_manifest(run) if has_manifest else {}
    try:
        rows = [
            r
            for _, r in runfiles.metrics_lines(runfiles.read_run_file(run / "metrics.jsonl"))
            if r is not None
        ]
    except FileNotFoundError:
        rows = []
    record["validations"] = [r for r in rows if "train_loss" in r]
    return record


def show_run(run: Path, json_out: bool = False) -> None:
    record = read_run(run)
    if json_out:
        print(json.dumps(record, sort_keys=True, ensure_ascii=False))
        return
    cfg = record["config"]
    try:
        model = cfg["model"]
        line = (
            f"{run}: {model['cell']} {model['attention']} emb {model['emb']} enc {model['enc_hidden']}x2 "
            f"dec {model['dec_hidden']}, {cfg['parameters']:,} parameters"
        )
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{run / 'config.json'}: not written by nmt train (settings missing)") from None
    display.info(line)
    ckpt = record["checkpoints"]
    if ckpt:
        display.info(f"best {ckpt.get('best')}, last {ckpt.get('last')}")
    display.show_training_summary(run, [r for r in record["validations"] if _showable(r)])


def _showable(row: dict[str, Any]) -> bool:
    """A validation record with the fields the summary draws (a hand-edited line may lack them)."""
    if "bleu" not in row:
        return True
    numbers = [row.get(k) for k in ("bleu", "dev_loss")]
    return type(row.get("step")) is int and all(isinstance(v, (int, float)) for v in numbers)
