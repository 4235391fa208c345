"""``nmt info``: what a run directory holds, on stdout: a table for people, ``--json`` or ``--csv``.

A run directory is untrusted input: its files are read without following symlinks, a damaged
``config.json`` or manifest is a one-line error, and lines of ``metrics.jsonl`` that are no record
(a torn last line after a power loss) are skipped.

The CSV has one row per step that has a record in ``metrics.jsonl`` (docs/metrics.md): the training
log every ``--log-every`` updates and the validations, merged by step, with empty cells where a
step has no such value, so that any column plots against ``step`` directly.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmt_cli import checkpoint, display, runfiles
from nmt_cli.errors import DataError

# The CSV's columns, in order: the training log's, then the validations'.
CSV_COLUMNS = (
    "step",
    "epoch",
    "loss",
    "tgt_tokens_per_s",
    "train_loss",
    "dev_loss",
    "dev_ppl",
    "bleu",
    "chrf",
    "lr",
    "elapsed",
    "best",
    "stop",
)


def read_run(run: Path) -> dict[str, Any]:
    """config.json, checkpoints.json and metrics.jsonl of a run, as one record: ``config``,
    ``checkpoints``, ``validations`` (records with ``train_loss``) and ``log`` (the training log)."""
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
    record["log"] = [r for r in rows if "loss" in r and "train_loss" not in r]
    return record


def show_run(run: Path, fmt: str = "table") -> None:
    """Print the run on stdout: ``fmt`` is table, json or csv."""
    record = read_run(run)
    if fmt == "json":
        text = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    elif fmt == "csv":
        text = metrics_csv(record["log"], record["validations"])
    else:
        text = "".join(f"{line}\n" for line in summary_lines(run, record))
    from nmt_cli.textio import write_lines

    write_lines("-", text.splitlines())


def metrics_csv(log: Sequence[dict[str, Any]], validations: Sequence[dict[str, Any]]) -> str:
    """Training log and validations merged by step (validations last at a step), as CSV."""
    merged: dict[int, dict[str, Any]] = {}
    for row in [*log, *validations]:
        step = row.get("step")
        if type(step) is int:
            merged.setdefault(step, {}).update(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for step in sorted(merged):
        writer.writerow({k: _cell(v) for k, v in merged[step].items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, (int, float, str)) else ""


def summary_lines(run: Path, record: dict[str, Any]) -> list[str]:
    """The people's view: model, checkpoints, curves as sparklines, a table of the validations."""
    cfg = record["config"]
    try:
        model = cfg["model"]
        lines = [
            f"run         {run}",
            f"model       {model['cell']}, attention {model['attention']}, emb {model['emb']}, "
            f"enc {model['enc_hidden']}x2, dec {model['dec_hidden']}, {model.get('layers', 1)} layer(s), "
            f"{cfg['parameters']:,} parameters",
            f"data        {cfg.get('data', '?')}",
        ]
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{run / 'config.json'}: not written by nmt train (settings missing)") from None
    ckpt = record["checkpoints"]
    if ckpt:
        lines.append(f"checkpoints best {ckpt.get('best')}, last {ckpt.get('last')}")
    log = [r for r in record["log"] if _numbers(r, "step", "loss")]
    vals = [r for r in record["validations"] if _numbers(r, "step", "train_loss")]
    scored = [r for r in vals if _numbers(r, "bleu", "dev_loss")]
    if log:
        losses = [float(r["loss"]) for r in log]
        lines.append(
            f"train loss  {display.sparkline(_resample(losses))}  step {log[0]['step']} .. "
            f"{log[-1]['step']}, {losses[0]:.3f} -> {losses[-1]:.3f}"
        )
    if scored:
        best = max(scored, key=lambda r: r["bleu"])
        lines.append(
            f"dev BLEU    {display.sparkline([r['bleu'] for r in scored])}  last {scored[-1]['bleu']:.2f}, "
            f"best {best['bleu']:.2f} at step {best['step']}"
        )
        lines.append(
            f"dev loss    {display.sparkline([r['dev_loss'] for r in scored])}  "
            f"last {scored[-1]['dev_loss']:.3f}"
        )
    if vals:
        lines += ["", *_validation_table(vals)]
    return lines


def _validation_table(vals: Sequence[dict[str, Any]]) -> list[str]:
    widths = (8, 5, 10, 8, 8, 6, 6, 8)
    titles = ("step", "epoch", "train loss", "dev loss", "ppl", "BLEU", "chrF", "lr")
    rows = [" ".join(f"{t:>{w}}" for t, w in zip(titles, widths))]
    for r in vals:
        cells = [_fmt(r.get(k), spec) for k, spec in _COLUMNS]
        mark = "  best" if r.get("best") else "  (at the stop)" if r.get("stop") else ""
        rows.append(
            f"{r['step']:>8} {_fmt(r.get('epoch'), 'd'):>5} {cells[0]:>10} {cells[1]:>8} {cells[2]:>8} "
            f"{cells[3]:>6} {cells[4]:>6} {cells[5]:>8}{mark}"
        )
    return rows


_COLUMNS = (
    ("train_loss", ".3f"),
    ("dev_loss", ".3f"),
    ("dev_ppl", ".2f"),
    ("bleu", ".2f"),
    ("chrf", ".2f"),
    ("lr", ".2e"),
)


def _fmt(value: Any, spec: str) -> str:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return format(value, spec) if ok and (spec != "d" or isinstance(value, int)) else "-"


def _numbers(row: dict[str, Any], *keys: str) -> bool:
    """A record with these fields as numbers (a hand-edited line may lack them)."""
    return all(isinstance(row.get(k), (int, float)) and not isinstance(row.get(k), bool) for k in keys)


def _resample(values: Sequence[float], width: int = 40) -> list[float]:
    """At most ``width`` points: the mean of each of ``width`` equal slices."""
    if len(values) <= width:
        return list(values)
    edges = [round(i * len(values) / width) for i in range(width + 1)]
    return [sum(values[a:b]) / (b - a) for a, b in zip(edges, edges[1:]) if b > a]
