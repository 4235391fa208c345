"""Benchmark `nmt prepare`: pairs/s and peak memory on real and synthetic corpora.

    .venv/bin/python bench/prepare_speed.py                # all cases (a few minutes on 2 cores)
    .venv/bin/python bench/prepare_speed.py --cases tatoeba-pair,synthetic-1m-pair
    .venv/bin/python bench/prepare_speed.py --json          # one JSON object per case on stdout

Each case runs `nmt prepare` in a fresh process; wall time and that process's peak RSS (from wait4) are
reported. Inputs: the tatoeba-en-es train/dev split from ../shared/corpora, and a synthetic corpus of
1M pairs made by joining 2-4 random tatoeba pairs (a sentence pair per line, ~18 words a side, almost no
duplicates). Without ../shared/corpora the synthetic corpus is built from the embedded demo corpus and
the tatoeba cases are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
TATOEBA = CORPORA / "tatoeba-en-es"
NMT = [sys.executable, "-m", "nmt_cli"]


def base_pairs(work: Path) -> list[tuple[str, str]]:
    """Sentence pairs to build synthetic corpora from: tatoeba train, or the demo corpus."""
    if TATOEBA.exists():
        folder, src, tgt = TATOEBA, "train.en", "train.es"
    else:
        folder, src, tgt = work / "demo", "train.en", "train.es"
        if not folder.exists():
            subprocess.run([*NMT, "demo-corpus", "-o", str(folder)], check=True)
    en = (folder / src).read_text(encoding="utf-8").split("\n")[:-1]
    es = (folder / tgt).read_text(encoding="utf-8").split("\n")[:-1]
    return list(zip(en, es))


def synthetic(work: Path, n: int, base: list[tuple[str, str]]) -> tuple[Path, Path]:
    """n pairs, each 2-4 random base pairs joined by a space (seeded, so the same every time)."""
    src, tgt = work / f"synthetic-{n}.en", work / f"synthetic-{n}.es"
    if src.exists() and tgt.exists():
        return src, tgt
    rng = random.Random(1)
    with open(src, "w", encoding="utf-8") as fs, open(tgt, "w", encoding="utf-8") as ft:
        for _ in range(n):
            picks = [base[rng.randrange(len(base))] for _ in range(rng.randint(2, 4))]
            fs.write(" ".join(p[0] for p in picks) + "\n")
            ft.write(" ".join(p[1] for p in picks) + "\n")
    return src, tgt


def as_jsonl(src: Path, tgt: Path, out: Path) -> Path:
    """The same pairs as JSON Lines in the ``translation: {en, es}`` layout."""
    if not out.exists():
        with open(src, encoding="utf-8") as fs, open(tgt, encoding="utf-8") as ft, open(out, "w") as fo:
            for s, t in zip(fs, ft):
                fo.write(json.dumps({"translation": {"en": s[:-1], "es": t[:-1]}}, ensure_ascii=False) + "\n")
    return out


def run_case(name: str, args: list[str], work: Path) -> dict[str, object]:
    out = work / f"data-{name}"
    shutil.rmtree(out, ignore_errors=True)
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(work / "hf-cache"),
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    }
    t0 = time.perf_counter()
    proc = subprocess.Popen([*NMT, "prepare", "-o", str(out), "-q", *args], env=env, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name}: nmt prepare failed: {stderr.strip()}")
    report = json.loads((out / "report.json").read_text())
    pairs = report["train"]["total"]
    shutil.rmtree(out, ignore_errors=True)
    return {
        "case": name,
        "pairs": pairs,
        "kept": report["train"]["kept"],
        "seconds": round(seconds, 1),
        "pairs_per_s": round(pairs / seconds),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),  # Linux: KiB
        "args": " ".join(args),
    }


def cases(work: Path) -> dict[str, list[str]]:
    base = base_pairs(work)
    langs = ["--src-lang", "en", "--tgt-lang", "es"]
    out: dict[str, list[str]] = {}
    if TATOEBA.exists():
        t = TATOEBA
        out["tatoeba-pair"] = ["--train", str(t / "train.en"), str(t / "train.es")]
        out["tatoeba-pair"] += ["--dev", str(t / "dev.en"), str(t / "dev.es")]
        tatoeba = as_jsonl(t / "train.en", t / "train.es", work / "tatoeba.jsonl")
        out["tatoeba-jsonl"] = ["--hf", str(tatoeba), *langs, "--dev-size", "2000"]
        out["tatoeba-jsonl-streaming"] = [*out["tatoeba-jsonl"], "--streaming"]
    big, small = synthetic(work, 1_000_000, base), synthetic(work, 250_000, base)
    big_jsonl = as_jsonl(*big, work / "synthetic-1000000.jsonl")
    small_jsonl = as_jsonl(*small, work / "synthetic-250000.jsonl")
    out["synthetic-1m-pair"] = ["--train", str(big[0]), str(big[1]), "--dev-size", "2000"]
    out["synthetic-1m-jsonl"] = ["--hf", str(big_jsonl), *langs, "--dev-size", "2000"]
    out["synthetic-1m-jsonl-streaming"] = [*out["synthetic-1m-jsonl"], "--streaming"]
    # Memory against corpus size with the SentencePiece sample fixed: the sample, not the corpus, bounds it.
    sample = ["--input-sentence-size", "200000", "--streaming", *langs]
    out["synthetic-250k-streaming-sample200k"] = ["--hf", str(small_jsonl), *sample]
    out["synthetic-1m-streaming-sample200k"] = ["--hf", str(big_jsonl), *sample]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="Folder for generated corpora (default: a temp folder).")
    parser.add_argument("--cases", default="", help="Comma-separated case names (default: all).")
    parser.add_argument("--json", action="store_true", help="One JSON object per case on stdout.")
    opts = parser.parse_args()
    work = opts.work or Path(tempfile.mkdtemp(prefix="nmt-prepare-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    todo = cases(work)
    wanted = [c for c in opts.cases.split(",") if c] or list(todo)
    unknown = [c for c in wanted if c not in todo]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; known: {', '.join(todo)}")
    print(f"# nmt prepare benchmark, {os.cpu_count()} CPUs, work folder {work}", file=sys.stderr)
    if not opts.json:
        print("| case | pairs | kept | seconds | pairs/s | peak RSS (MiB) |")
        print("|---|---:|---:|---:|---:|---:|")
    for name in wanted:
        row = run_case(name, todo[name], work)
        if opts.json:
            print(json.dumps(row, sort_keys=True), flush=True)
        else:
            print(
                f"| {name} | {row['pairs']:,} | {row['kept']:,} | {row['seconds']} | {row['pairs_per_s']:,} "
                f"| {row['peak_rss_mib']:,} |",
                flush=True,
            )
    if not opts.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
