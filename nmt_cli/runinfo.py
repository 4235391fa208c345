"""``nmt info``: what a run directory holds, for people (stderr) or scripts (``--json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nmt_cli import display
from nmt_cli.errors import DataError


def read_run(run: Path) -> dict[str, Any]:
    """config.json, checkpoints.json and metrics.jsonl of a run, as one record."""
    if not (run / "config.json").exists():
        raise DataError(f"{run}: not a run directory (no config.json)")
    record: dict[str, Any] = {"run": str(run), "config": json.loads((run / "config.json").read_text())}
    manifest = run / "checkpoints.json"
    record["checkpoints"] = json.loads(manifest.read_text()) if manifest.exists() else {}
    metrics = run / "metrics.jsonl"
    rows = (
        [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        if metrics.exists()
        else []
    )
    record["validations"] = [r for r in rows if "train_loss" in r]
    return record


def show_run(run: Path, json_out: bool = False) -> None:
    record = read_run(run)
    if json_out:
        print(json.dumps(record, sort_keys=True, ensure_ascii=False))
        return
    cfg = record["config"]
    model = cfg["model"]
    display.info(
        f"{run}: {model['cell']} {model['attention']} emb {model['emb']} enc {model['enc_hidden']}x2 "
        f"dec {model['dec_hidden']}, {cfg['parameters']:,} parameters"
    )
    ckpt = record["checkpoints"]
    if ckpt:
        display.info(f"best {ckpt.get('best')}, last {ckpt.get('last')}")
    display.show_training_summary(run, record["validations"])
