#!/usr/bin/env python3
"""The best model for a fixed budget: train each setting for --budget on each shared corpus and score dev.

For every corpus (prepared once: one joint SentencePiece model, --vocab-size pieces) and every
setting, one after another on this machine (run nothing else meanwhile):
  train    nmt train --max-time BUDGET with the peers' model sizes (model a: attention after the
           step, no input feeding) plus the setting's options;
  score    translate dev with beam 5 (the best checkpoint, its tuned alpha where the setting tuned
           one) and score it with sacreBLEU.
Prints one JSON line per (corpus, setting) with BLEU, chrF, the updates done, the budget and the
machine (`nmt doctor --json`), appends them to WORK/results.jsonl, and at the end prints a
Markdown table (corpus x setting, dev BLEU / chrF, updates).

Corpora (../shared/corpora): bible (es->en), tatoeba (en->es, first --max-train lines), multi30k
(de->en). Settings: see SETTINGS (``old``: the defaults before budgeted schedules; ``new-*``: one
change from the defaults each, the settings of item 3 of the budget issue; VOCAB: their own data).

usage: bench/budget.py [--budget 10m] [--corpora bible,tatoeba,multi30k] [--settings old,new,...]
                       [--work DIR] [--vocab-size 8000] [--max-train 30000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from machine import machine  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora"
NMT = [sys.executable, "-m", "nmt_cli"]
CORPORA = {  # name: (folder, source, target)
    "bible": ("bible-es-en", "es", "en"),
    "tatoeba": ("tatoeba-en-es", "en", "es"),
    "multi30k": ("multi30k-task1", "de", "en"),
}
MODEL_A = ["--attention", "post", "--emb", "256", "--enc-hidden", "256", "--dec-hidden", "512",
           "--attn-dim", "512", "--threads", "2", "--valid-every", "500"]  # fmt: skip
SETTINGS = {
    # the defaults before budgeted schedules: a constant 1e-3, halved when dev stops improving; fp32
    "old": ["--schedule", "plateau", "--lr", "1e-3", "--fp32", "--label-smoothing", "0"],
    # today's defaults: with --max-time (or --max-steps), linear decay from 2e-3 to 0 at the limit; bf16
    # products where the CPU has bf16 units and a first-batch pass is timed faster than in fp32; label
    # smoothing 0.1
    "new": [],
    "new-fp32": ["--fp32"],  # the budgeted schedule alone (the defaults before bf16 became automatic)
    "new-bf16": ["--bf16"],
    "linear-1e-3": ["--schedule", "linear", "--lr", "1e-3", "--fp32"],
    "cosine": ["--schedule", "cosine", "--fp32"],
    "new-warmup": ["--warmup", "200"],
    "new-finish": ["--tune-alpha", "--average-last", "3"],
    "new-ls": ["--label-smoothing", "0.1"],  # (today's default: was 0 until 7 December 2026)
    "new-no-ls": ["--label-smoothing", "0"],
    # the settings of the item 3, each one change from today's defaults
    "new-batch-4k": ["--batch-tokens", "4000"],  # twice the batch, same peak lr
    "new-batch-4k-lr-3e-3": ["--batch-tokens", "4000", "--lr", "3e-3"],  # twice the batch, 1.5x the lr
    "new-dropout-0.1": ["--dropout", "0.1"],
    "new-dropout-0.3": ["--dropout", "0.3"],
    "new-tied": ["--tie-embeddings"],  # the output layer is the target embedding (a 256-wide pre-output)
    "new-lstm": ["--cell", "lstm"],
    "new-bahdanau": ["--attention", "bahdanau"],  # the seed's placement (query s(t-1)), not model a's
    "new-subword": ["--subword-alpha", "0.5"],  # every epoch segmented afresh by sampling, both sides
    # the decay starts when dev has not improved for 1 or 2 validations (every 500 updates) and the run
    # ends one interval later, instead of decaying over the whole budget
    "new-decay-1": ["--decay-patience", "1"],
    "new-decay-2": ["--decay-patience", "2"],
    # the same, going back to the best checkpoint's weights (Adam restarted) before the decay
    "new-decay-best-1": ["--decay-patience", "1", "--decay-from", "best"],
    "new-decay-best-2": ["--decay-patience", "2", "--decay-from", "best"],
    "new-subword-src": ["--subword-alpha", "0.5", "--subword-sides", "src"],
    "new-vocab-4k": [],  # the vocabulary size is the data's: see VOCAB
    "new-vocab-16k": [],
}
# Settings that need their own data: a SentencePiece model of this many pieces (the others share one
# of --vocab-size pieces).
VOCAB = {"new-vocab-4k": 4000, "new-vocab-16k": 16000}


def prepare(work: Path, name: str, vocab: int, max_train: int, default_vocab: int) -> Path:
    """The corpus's training pairs and dev set prepared once (per vocabulary size) under WORK."""
    folder, src, tgt = CORPORA[name]
    suffix = "" if vocab == default_vocab else f"-vocab-{vocab}"
    corpus, data = SHARED / folder, work / f"data-{name}{suffix}"
    if (data / "manifest.json").exists():
        return data
    train = []
    for side in (src, tgt):
        lines = (corpus / f"train.{side}").read_text(encoding="utf-8").split("\n")[:max_train]
        path = work / f"train-{name}.{side}"
        path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
        train.append(str(path))
    subprocess.run([*NMT, "prepare", "--out", str(data), "--vocab-size", str(vocab), "--max-pieces", "100",
                    "--train", *train, "--dev", str(corpus / f"dev.{src}"), str(corpus / f"dev.{tgt}"), "-q"],
                   check=True)  # fmt: skip
    return data


def run_one(work: Path, corpus: str, setting: str, data: Path, budget: str) -> dict[str, object]:
    folder, src, tgt = CORPORA[corpus]
    run = work / f"run-{corpus}-{setting}"
    subprocess.run(["rm", "-rf", str(run)], check=True)
    train = [*NMT, "train", str(data), "--out", str(run), "--max-time", budget, "-q", "--json"]
    trained = subprocess.run([*train, *MODEL_A, *SETTINGS[setting]], capture_output=True, check=True)
    summary = json.loads(trained.stdout)
    hyp = run / "dev.beam5.hyp"
    dev = SHARED / folder
    translate = [*NMT, "translate", "-m", str(run), "--beam", "5", str(dev / f"dev.{src}"), "-o", str(hyp)]
    subprocess.run(translate, check=True)
    evaluate = [*NMT, "evaluate", "-r", str(dev / f"dev.{tgt}"), str(hyp), "--metrics", "bleu,chrf", "--json"]
    scored = subprocess.run(evaluate, capture_output=True, check=True)
    scores = json.loads(scored.stdout)["scores"]
    return {
        "corpus": corpus,
        "setting": setting,
        "options": SETTINGS[setting],
        "budget": budget,
        "updates": summary["step"],
        "best_step": (summary.get("best") or {}).get("step"),  # (None: no regular validation)
        "dev_bleu_beam5": scores["bleu"]["score"],
        "dev_chrf_beam5": scores["chrf"]["score"],
        "finish": summary.get("finish"),
        "machine": machine(),
    }


def table(rows: list[dict[str, object]], settings: list[str]) -> str:
    lines = ["| corpus | " + " | ".join(settings) + " |", "|---|" + "---:|" * len(settings)]
    for corpus in dict.fromkeys(str(r["corpus"]) for r in rows):
        cells = []
        for s in settings:
            hit = [r for r in rows if r["corpus"] == corpus and r["setting"] == s]
            cells.append(f"{hit[0]['dev_bleu_beam5']} / {hit[0]['dev_chrf_beam5']} ({hit[0]['updates']} upd.)"
                         if hit else "")  # fmt: skip
        lines.append(f"| {corpus} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--budget", default="10m", help="training time per run (nmt train --max-time)")
    parser.add_argument("--corpora", default="bible,tatoeba,multi30k")
    parser.add_argument("--settings", default="old,new")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "budget")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--max-train", type=int, default=30000, help="training pairs taken from each corpus")
    args = parser.parse_args()
    corpora, settings = args.corpora.split(","), args.settings.split(",")
    unknown = [c for c in corpora if c not in CORPORA] + [s for s in settings if s not in SETTINGS]
    if unknown:
        sys.exit(f"budget: unknown corpus or setting: {', '.join(unknown)}")
    args.work.mkdir(parents=True, exist_ok=True)
    machine()  # (shown on stderr once)
    rows = []
    with open(args.work / "results.jsonl", "a") as log:
        for corpus in corpora:
            if not (SHARED / CORPORA[corpus][0]).exists():
                print(f"budget: {corpus}: {SHARED / CORPORA[corpus][0]} is absent; skipped", file=sys.stderr)
                continue
            for setting in settings:
                vocab = VOCAB.get(setting, args.vocab_size)
                data = prepare(args.work, corpus, vocab, args.max_train, args.vocab_size)
                row = run_one(args.work, corpus, setting, data, args.budget) | {"vocab_size": vocab}
                rows.append(row)
                line = json.dumps(row, sort_keys=True)
                print(line, flush=True)
                log.write(line + "\n")
                log.flush()  # (a run interrupted later keeps the rows done)
    print(table(rows, settings))


if __name__ == "__main__":
    main()
