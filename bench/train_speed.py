#!/usr/bin/env python3
"""Training and translation speed on the benchmark work of ../shared/bench/README.md.

Runs, one after another on this machine (run nothing else meanwhile):
  prepare  bible-es-en train/dev, one joint SentencePiece unigram model of 8k pieces, pairs with
           more than 100 pieces on a side dropped (the peers' preparation);
  train    each chosen model for --budget seconds with 2 threads, no validation while timed;
  translate the dev split with beam 5 and greedy (whole command, model loading included).

Models:
  a       the peers' benchmark model: emb 256, biGRU 256/direction, GRU decoder 512 started from
          the encoder's final states, additive attention queried with the state after the step,
          no input feeding, dropout 0.2, Adam 1e-3, clip 1.0, ~2000-token batches; fp32
          (--fp32: nmt's default would time bf16 against fp32 on a CPU with bf16 units);
  a-bf16  the same with --bf16 (bf16 products where timed faster than fp32, else fp32);
  b       the seed's Bahdanau attention (query = previous state, context into the cell), same sizes,
          fp32;
  b-bf16  the same with --bf16.

Prints one JSON line per model, in the format of ../shared/bench/peers/run.sh, and writes them to
WORK/results.jsonl.

usage: bench/train_speed.py [--budget 300] [--models a,a-bf16,b,b-bf16] [--translate a] [--work DIR]
                           [--isa native|avx512_core_bf16|avx512_core|avx2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import ISA_LEVELS, machine, set_isa  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "bible-es-en"
SIZES = ["--emb", "256", "--enc-hidden", "256", "--dec-hidden", "512", "--attn-dim", "512"]
COMMON = [
    *SIZES,
    "--cell",
    "gru",
    "--dropout",
    "0.2",
    "--lr",
    "1e-3",
    "--clip",
    "1.0",
    "--schedule",
    "constant",
    "--label-smoothing",  # the peers' configurations do not smooth
    "0",
]
COMMON += ["--batch-tokens", "2000", "--threads", "2", "--valid-every", "100000000", "--log-every", "20"]
MODELS = {
    "a": ["--attention", "post", "--no-input-feeding", "--no-bridge", "--fp32"],
    "a-bf16": ["--attention", "post", "--no-input-feeding", "--no-bridge", "--bf16"],
    "b": ["--attention", "bahdanau", "--no-bridge", "--fp32"],
    "b-bf16": ["--attention", "bahdanau", "--no-bridge", "--bf16"],
}
NMT = [sys.executable, "-m", "nmt_cli"]


ENV = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "NO_COLOR": "1"}


def timed(cmd: list[str], stdout: Path | None = None) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak RSS in MiB) via /usr/bin/time."""
    rss_file = stdout.with_suffix(".rss") if stdout else Path(os.devnull + ".rss")
    full = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd]
    start = time.monotonic()
    with open(stdout, "w") if stdout else open(os.devnull, "w") as out:
        subprocess.run(full, stdout=out, check=True, env=ENV)
    wall = time.monotonic() - start
    rss = int(rss_file.read_text().split()[-1]) // 1024 if rss_file.exists() else -1
    return wall, rss


def prepare(work: Path) -> Path:
    data = work / "data"
    if not (data / "manifest.json").exists():
        subprocess.run(
            [*NMT, "prepare", "--train", str(CORPUS / "train.es"), str(CORPUS / "train.en"),
             "--dev", str(CORPUS / "dev.es"), str(CORPUS / "dev.en"), "--out", str(data),
             "--vocab-size", "8000", "--max-pieces", "100", "--max-ratio", "1000000",
             "--keep-duplicates", "--keep-copies"],
            check=True, env=ENV,
        )  # fmt: skip
    return data


def median_after_warmup(values: list[float]) -> float | None:
    if len(values) > 6:
        values = values[3:]
    return statistics.median(values) if values else None


def bleu_chrf(hyp: Path, ref: Path) -> tuple[float, float]:
    import sacrebleu

    hyps = hyp.read_text(encoding="utf-8").split("\n")[:-1]
    refs = ref.read_text(encoding="utf-8").split("\n")[:-1]
    return sacrebleu.corpus_bleu(hyps, [refs]).score, sacrebleu.corpus_chrf(hyps, [refs]).score


def run_model(name: str, data: Path, work: Path, budget: int, translate: bool) -> dict[str, object]:
    run = work / f"run-{name}"
    subprocess.run(["rm", "-rf", str(run)], check=True)
    train_cmd = [*NMT, "train", str(data), "--out", str(run), "--max-time", f"{budget}s", "-q", *COMMON]
    _, rss = timed(train_cmd + MODELS[name], work / f"train-{name}.out")
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tgt_tokens_per_s"] for r in rows if "tgt_tokens_per_s" in r]
    result: dict[str, object] = {
        "model": name,
        "budget_s": budget,
        "train_tgt_tokens_per_s": median_after_warmup(rates),
        "train_peak_rss_mb": rss,
        "steps": rows[-1]["step"],
        "machine": machine(),
    }
    final = [r for r in rows if "bleu" in r]
    if final:
        result["dev_bleu_greedy_at_end"] = round(final[-1]["bleu"], 2)
    if not translate:
        return result
    n = len((CORPUS / "dev.es").read_text(encoding="utf-8").split("\n")) - 1
    for beam in (5, 1):
        hyp = work / f"dev-{name}-beam{beam}.txt"
        secs, _ = timed([*NMT, "translate", "-m", str(run), "--beam", str(beam), "--threads", "2",
                         str(CORPUS / "dev.es"), "-o", str(hyp)])  # fmt: skip
        bleu, chrf = bleu_chrf(hyp, CORPUS / "dev.en")
        tag = "beam5" if beam == 5 else "greedy"
        result[f"dev_bleu_{tag}"] = round(bleu, 2)
        result[f"dev_chrf_{tag}"] = round(chrf, 2)
        result[f"dev_sents_per_s_{tag}"] = round(n / secs, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=int, default=300, help="training seconds per model")
    parser.add_argument("--models", default="a,a-bf16,b,b-bf16")
    parser.add_argument("--translate", default="a", help="models whose dev translation is timed too")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "train_speed")
    parser.add_argument(
        "--isa",
        choices=sorted(ISA_LEVELS),
        default="native",
        help="instruction sets oneDNN, MKL and ATen may use",
    )
    args = parser.parse_args()
    set_isa(args.isa, ENV)
    if not CORPUS.exists():
        sys.exit(f"train_speed: {CORPUS} is absent; the benchmark needs the shared bible-es-en corpus")
    args.work.mkdir(parents=True, exist_ok=True)
    data = prepare(args.work)
    with open(args.work / "results.jsonl", "a") as log:
        for name in args.models.split(","):
            result = run_model(name, data, args.work, args.budget, name in args.translate.split(","))
            line = json.dumps(result, sort_keys=True)
            print(line, flush=True)
            log.write(line + "\n")


if __name__ == "__main__":
    main()
