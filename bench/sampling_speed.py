#!/usr/bin/env python3
"""What subword regularisation (train --subword-alpha) costs: one epoch's sampling of a data directory's
training split, and how much longer it makes the sentences.

For each alpha (SentencePiece's nbest_size -1, both sides), samples the split as training does at an
epoch's start (data/sampling.py) and prints one JSON line: pairs, seconds (best of --repeats),
sentences/s, the pieces of each side against the stored segmentation and the fraction of sentences
segmented differently, with the machine
(`nmt doctor --json`). Run nothing else meanwhile.

usage: bench/sampling_speed.py DATA [--alphas 0.1,0.5] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import machine  # bench/machine.py


def changed(stored: Callable[[int], np.ndarray], sampled: Callable[[int], np.ndarray], n: int) -> float:
    """The fraction of sentences whose sampled pieces differ from the stored segmentation."""
    return round(sum(not np.array_equal(stored(i), sampled(i)) for i in range(n)) / max(n, 1), 3)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("data", type=Path, help="a data directory written by `nmt prepare`")
    parser.add_argument("--alphas", default="0.1,0.5")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from nmt_cli.data.encoded import DataDir
    from nmt_cli.data.sampling import sample_split
    from nmt_cli.settings import Sampling

    data = DataDir(args.data)
    split, tok = data.split("train"), data.tokenizer()
    for alpha in (float(a) for a in args.alphas.split(",")):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            sampled = sample_split(split, tok, Sampling(alpha), seed=1, epoch=1)
            times.append(time.perf_counter() - start)
        best = min(times)
        row = {
            "data": str(args.data), "alpha": alpha, "pairs": len(split), "seconds": round(best, 2),
            "sentences_per_s": round(2 * len(split) / best),
            "src_pieces_ratio": round(int(sampled.src_lengths.sum()) / int(split.src_lengths.sum()), 3),
            "tgt_pieces_ratio": round(int(sampled.tgt_lengths.sum()) / int(split.tgt_lengths.sum()), 3),
            "src_changed": changed(split.src, sampled.src, len(split)),
            "tgt_changed": changed(split.tgt, sampled.tgt, len(split)),
            "machine": machine(),
        }  # fmt: skip
        print(json.dumps(row, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
