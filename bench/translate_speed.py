#!/usr/bin/env python3
"""Translation speed on the bible-es-en dev split, whole command, 2 threads.

Needs a model trained on the benchmark work: by default the run that bench/train_speed.py leaves
(bench/out/train_speed/run-a). Measures, one after another (run nothing else meanwhile):
  - sentences/s for greedy and beam 5, fp32, int8 (dynamic quantization) and bf16, and their
    dev BLEU: every command --runs times, taking turns (one round of all commands, then the next,
    so that a machine slowing down or speeding up meets every command alike); the median is the
    figure, and every run's figure is kept beside it (single runs moved by up to 40% on a 2-core
    cloud VM);
  - the wall time of one line on stdin from a cold start (median of 5), next to the wall time of
    `python -c "import torch"` (median of 5), the floor for any torch tool.
Prints one JSON object and writes it to WORK/translate_speed.json.

usage: bench/translate_speed.py [--model bench/out/train_speed/run-a] [--work bench/out/translate_speed]
                               [--isa native|avx512_core_bf16|avx512_core|avx2] [--runs 3]
                               [--precisions none,int8,bf16] [--repeats 5]
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
ENV = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "NO_COLOR": "1"}
NMT = [sys.executable, "-m", "nmt_cli"]


def wall(cmd: list[str], stdin: bytes | None = None, stdout: Path | None = None) -> float:
    start = time.monotonic()
    with open(stdout, "wb") if stdout else open(os.devnull, "wb") as out:
        subprocess.run(cmd, input=stdin, stdout=out, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.monotonic() - start


def bleu(hyp: Path) -> float:
    import sacrebleu

    hyps = hyp.read_text(encoding="utf-8").split("\n")[:-1]
    refs = (CORPUS / "dev.en").read_text(encoding="utf-8").split("\n")[:-1]
    return round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=ROOT / "bench" / "out" / "train_speed" / "run-a")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "translate_speed")
    parser.add_argument("--repeats", type=int, default=5, help="cold starts timed (median)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each translation (median)")
    parser.add_argument("--precisions", default="none,int8,bf16", help="--quantize values to time")
    parser.add_argument(
        "--isa",
        choices=sorted(ISA_LEVELS),
        default="native",
        help="instruction sets oneDNN, MKL and ATen may use",
    )
    args = parser.parse_args()
    set_isa(args.isa, ENV)
    if not CORPUS.exists() or not args.model.exists():
        sys.exit(
            f"translate_speed: needs {CORPUS} and a trained model at {args.model} (bench/train_speed.py)"
        )
    args.work.mkdir(parents=True, exist_ok=True)
    n = len((CORPUS / "dev.es").read_text(encoding="utf-8").split("\n")) - 1
    result: dict[str, object] = {"model": str(args.model), "sentences": n}
    result["machine"] = machine()
    commands = [(quant, beam) for quant in args.precisions.split(",") for beam in (1, 5)]
    runs: dict[str, list[float]] = {}
    bleus: dict[str, list[float]] = {}
    for _ in range(max(1, args.runs)):
        for quant, beam in commands:  # taking turns: a slow spell of the machine meets every command
            tag = f"{'fp32' if quant == 'none' else quant}_{'greedy' if beam == 1 else 'beam5'}"
            hyp = args.work / f"dev-{tag}.txt"
            cmd = [*NMT, "translate", "-m", str(args.model), "--beam", str(beam), "--threads", "2"]
            secs = wall([*cmd, "--quantize", quant, str(CORPUS / "dev.es"), "-o", str(hyp)])
            runs.setdefault(tag, []).append(round(n / secs, 2))
            bleus.setdefault(tag, []).append(bleu(hyp))
    for tag, figures in runs.items():
        result[f"sents_per_s_{tag}"] = round(statistics.median(figures), 2)
        result[f"sents_per_s_{tag}_runs"] = figures
        result[f"bleu_{tag}"] = bleus[tag][0]
        if len(set(bleus[tag])) > 1:  # int8 times its two backends afresh each run: they may differ
            result[f"bleu_{tag}_runs"] = bleus[tag]
    line = (CORPUS / "dev.es").read_text(encoding="utf-8").split("\n")[0].encode() + b"\n"
    cold = [
        wall([*NMT, "translate", "-m", str(args.model), "--beam", "5"], stdin=line)
        for _ in range(args.repeats)
    ]
    torch_only = [wall([sys.executable, "-c", "import torch"]) for _ in range(args.repeats)]
    result["cold_one_line_beam5_s"] = round(statistics.median(cold), 3)
    result["import_torch_s"] = round(statistics.median(torch_only), 3)
    result["cold_minus_import_torch_s"] = round(statistics.median(cold) - statistics.median(torch_only), 3)
    text = json.dumps(result, sort_keys=True)
    print(text)
    (args.work / "translate_speed.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
