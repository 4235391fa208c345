"""Timing candidate kernels against each other on this machine: the rule every runtime choice uses.

Each candidate runs once untimed (warm-up: packing, first-shape compiling, page faults), then the
candidates take turns for ``repeats`` rounds, so that neither gains from the machine warming up
(timed one after the other, the first measured up to 30% slower on an AMD EPYC); the best round of
each counts. (training/autotune.py times whole training passes by the same rule.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


def best_seconds(candidates: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """name -> the seconds of its fastest call among ``repeats`` taken in turns after one untimed call."""
    for run in candidates.values():
        run()
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
