#!/usr/bin/env python3
"""Where translation's time goes: search of the bible-es-en dev split in-process, by part and by op.

Loads a run as `nmt translate` does, translates the dev sources (after one untimed warm-up batch) and
prints, for greedy (--beam 1) or beam search:
  - sentences/s in-process (best of --repeats; the model load and start-up are not counted);
  - the time inside each part of a search step (the encoder, the decoder step, the output layer with
    its log-softmax, and the search's own bookkeeping: what is left), from wrappers around them;
  - the search steps binned by rows per step (time a step and a row in each bin);
  - with --ops, PyTorch's profiler table of the costliest ops (self CPU time, grouped by input shape).
Prints the machine first (bench/machine.py). Run nothing else meanwhile.

usage: bench/search_parts.py --model RUN [--beam 1] [--lines 993] [--repeats 2] [--ops 25]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from machine import machine  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "bible-es-en"


class Parts:
    """Wall time spent inside wrapped callables, by name (nested parts are counted in both)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--lines", type=int, default=0, help="dev lines to translate (0: all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ops", type=int, default=0, help="show the profiler's N costliest ops")
    parser.add_argument("--quantize", default="none")
    args = parser.parse_args()
    machine()
    torch.set_num_threads(2)
    from nmt_cli.settings import DecodeSettings
    from nmt_cli.translate import Translator, load_models

    opts = DecodeSettings(beam=args.beam, quantize=args.quantize)
    model, tok, device = load_models([str(args.model)], opts)
    lines = (CORPUS / "dev.es").read_text(encoding="utf-8").split("\n")[:-1]
    lines = lines[: args.lines] if args.lines else lines
    translator = Translator(model, tok, opts, device)
    translator.translate(lines[: translator.batch])  # warm-up: oneDNN/MKL first calls, allocator
    best = min(_timed(lambda: translator.translate(lines)) for _ in range(args.repeats))
    speed = f"{best:.2f} s, {len(lines) / best:.1f} sentences/s"
    print(
        f"{len(lines)} lines, beam {args.beam}, {args.quantize}: {speed} (in-process, best of {args.repeats})"
    )

    parts = Parts()
    from nmt_cli.decoder import Memory, State

    selects = Memory.select, State.select
    Memory.select = parts.wrap("memory: finished sentences dropped", Memory.select)  # type: ignore[method-assign]
    State.select = parts.wrap("state: rows picked", State.select)  # type: ignore[method-assign]
    seq2seq: Any = model
    seq2seq.encode = parts.wrap("encode", seq2seq.encode)
    seq2seq.decoder.step = parts.wrap("decoder step", seq2seq.decoder.step)
    seq2seq.generator.forward = parts.wrap("output layer", seq2seq.generator.forward)
    log_softmax = torch.log_softmax
    torch.log_softmax = parts.wrap("log-softmax", log_softmax)  # type: ignore[assignment]
    whole = _timed(lambda: translator.translate(lines))
    torch.log_softmax = log_softmax  # type: ignore[assignment]
    Memory.select, State.select = selects  # type: ignore[method-assign]
    del seq2seq.encode, seq2seq.decoder.step, seq2seq.generator.forward  # (the classes' own again)
    inside = sum(parts.seconds.values())
    rest = ("search bookkeeping, tokenizing (the rest)", whole - inside)
    for name, seconds in [*parts.seconds.items(), rest]:
        print(f"  {name:44s} {seconds:6.2f} s  {100 * seconds / whole:5.1f}%")
    by_rows(seq2seq, lambda: translator.translate(lines), args.beam)
    if args.ops:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            translator.translate(lines)
        ops = prof.key_averages(group_by_input_shape=True)
        print(ops.table(sort_by="self_cpu_time_total", row_limit=args.ops))


ROW_BINS = [(1, 1), (2, 4), (5, 16), (17, 64), (65, 128), (129, 10**9)]


def by_rows(model: Any, run: Callable[[], Any], beam: int) -> None:
    """Time every search step (``log_probs``) of ``run`` and print them binned by rows per step: where
    a batch's last few sentences run alone, the steps are many and the rows few. Also the rows the
    model ran per piece output (EOS included): greedy's floor is 1, beam k's is k; above it, rows ran
    for hypotheses that were not returned after the best one had ended."""
    steps: list[tuple[int, float]] = []
    log_probs = model.log_probs

    def step(y: torch.Tensor, memory: Any, state: Any) -> Any:
        start = time.perf_counter()
        out = log_probs(y, memory, state)
        steps.append((y.numel(), time.perf_counter() - start))
        return out

    model.log_probs = step
    results = run()
    del model.log_probs
    pieces = sum(len(r.hyps[0].ids) + 1 for r in results if r.hyps)
    rows = sum(r for r, _ in steps)
    print(f"  rows run per output piece: {rows / pieces:.2f} ({rows} rows, {pieces} pieces out; beam {beam})")
    print(f"  by rows per step ({len(steps)} steps, {sum(s for _, s in steps):.2f} s in the model):")
    for low, high in ROW_BINS:
        binned = [(r, s) for r, s in steps if low <= r <= high]
        rows, seconds = sum(r for r, _ in binned), sum(s for _, s in binned)
        per = (
            f"{1e3 * seconds / len(binned):6.2f} ms a step, {1e3 * seconds / rows:5.3f} ms a row"
            if binned
            else ""
        )
        print(f"    rows {low:>3}-{min(high, 999):<3} {len(binned):5d} steps {seconds:6.2f} s  {per}")


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
