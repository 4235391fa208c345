#!/usr/bin/env python3
"""`nmt export` against `nmt translate --beam 1`: same output, and the time of each (whole command, and
start-up alone on an empty input), best of --repeats, 2 threads. Prints one JSON line with the machine.

usage: bench/export_speed.py --model RUN [--src FILE] [--repeats 2] [--work DIR]
(default --src: the shared bible-es-en dev set)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from machine import machine  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]
NMT = [sys.executable, "-m", "nmt_cli"]


def best_time(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--src", type=Path, default=ROOT.parent / "shared/corpora/bible-es-en/dev.es")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "export_speed")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    pyz, empty = args.work / "model.pyz", args.work / "empty.txt"
    empty.write_text("")
    start = time.monotonic()
    subprocess.run([*NMT, "export", args.model, "-o", str(pyz), "-q"], check=True)
    export_s = time.monotonic() - start
    nmt = [*NMT, "translate", "-m", args.model, "--beam", "1", "--threads", "2"]
    art = [sys.executable, str(pyz), "--threads", "2"]
    ours, theirs = args.work / "nmt.hyp", args.work / "pyz.hyp"
    subprocess.run([*nmt, str(args.src), "-o", str(ours)], check=True)
    subprocess.run([*art, str(args.src), "-o", str(theirs)], check=True)
    a, b = ours.read_text(encoding="utf-8").splitlines(), theirs.read_text(encoding="utf-8").splitlines()
    result = {
        "lines": len(a),
        "identical_lines": sum(x == y for x, y in zip(a, b)),
        "artifact_mb": round(pyz.stat().st_size / 1e6, 1),
        "export_s": round(export_s, 2),
        "nmt_s": round(best_time([*nmt, str(args.src)], args.repeats), 2),
        "nmt_startup_s": round(best_time([*nmt, str(empty)], args.repeats), 2),
        "pyz_s": round(best_time([*art, str(args.src)], args.repeats), 2),
        "pyz_startup_s": round(best_time([*art, str(empty)], args.repeats), 2),
        "machine": machine(),
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
