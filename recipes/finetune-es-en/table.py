"""Print the recipe's results as a Markdown table: WORK/scores/*.json (nmt evaluate --json) and the
runs' summaries WORK/*/run.json (nmt train --json). Usage: python table.py WORK"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROWS = [
    ("base1", "base model (seed 1)"),
    ("base2", "base model (seed 2)"),
    ("ensemble", "ensemble of the two base models"),
    ("tuned", "base model 1 fine-tuned on NEW (--init-from)"),
    ("tuned-low", "the same with LOW_LR (default --lr 2e-4)"),
    ("scratch", "trained on NEW from scratch (same updates)"),
]


def cell(work: Path, model: str, test: str) -> str:
    path = work / "scores" / f"{model}.{test}.json"
    if not path.exists():
        return ""
    scores = json.loads(path.read_text())["scores"]
    return f"{scores['bleu']['score']:.1f} / {scores['chrf']['score']:.1f}"


def updates(work: Path, model: str) -> str:
    path = work / model / "run.json"
    return str(json.loads(path.read_text())["step"]) if path.exists() else ""


def main(work: Path) -> None:
    print("| model | updates | NEW test BLEU / chrF | BASE dev BLEU / chrF |")
    print("|---|---:|---:|---:|")
    for model, label in ROWS:
        scores = " | ".join(cell(work, model, test) for test in ("on-new", "on-base"))
        print(f"| {label} | {updates(work, model)} | {scores} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
