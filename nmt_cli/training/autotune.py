"""Kernel choice by measurement: on a CPU, time each hot path's fast kernel against its plain twin on
the run's own first batch (forward and backward, as cuDNN's benchmark mode does) and keep the faster.

Candidates (each pair gives equal values and gradients up to rounding: tests/test_kernels.py):
  ``gru``        the hand-written GRU scan (kernels/gru.py) or torch's ``nn.GRU`` (packed in the
                 encoder), for the encoder and the post-attention decoder;
  ``attention``  the blocked score kernel (kernels/additive.py) or the plain (B, T, S, A) line;
  ``loss``       the output layer and the loss in one step with a kept logits buffer
                 (kernels/xent.py) or ``F.linear`` then ``F.cross_entropy``;
  ``precision``  on a CPU with bf16 units (by default, or with ``--bf16``; never with ``--fp32``):
                 bf16 autocast or fp32, timed first (with the fast kernels), taken only when faster
                 (bf16 units do not promise faster small products; on a 2-core AMD EPYC with
                 AVX512-BF16 a pass took 541 ms against 848); by default only when ``BF16_MARGIN``
                 times faster (bf16 rounds more, so a near tie keeps fp32), with ``--bf16`` whenever
                 faster at all.
The choice is made once per run, by rank 0 (broadcast to the others), said once on stderr, kept in
the run state (so a resume runs the same kernels, bit for bit) and in config.json with the timings.
The plain twin is taken only when ``MARGIN`` times faster. Timing leaves no trace: RNG states,
weights and gradients are as they were. ``--kernels fast|plain`` skips the timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import nmt_cli.training.distributed as distributed
from nmt_cli import display
from nmt_cli.batching import collate
from nmt_cli.model import Seq2Seq
from nmt_cli.training.objective import LossModule
from nmt_cli.training.session import Session

REPEATS = 3  # timed passes per candidate (after one untimed warm-up pass, in turns); the fastest counts
# The plain twin must win clearly: two runs of one setting on one machine should choose alike (the
# kernels round differently), so timing noise must not flip a close call.
MARGIN = 1.2
# bf16 by default must win clearly too: at a near tie (Multi30k's short batches, 597 against 581 ms a
# pass on the EPYC) noise would decide the precision of the run; an asked --bf16 needs no margin.
BF16_MARGIN = 1.1
PLAIN = {"gru": "nn.GRU", "attention": "plain", "loss": "plain", "precision": "fp32"}
FAST = {"gru": "scan", "attention": "blocked", "loss": "fused", "precision": "bf16"}


def apply(model: Seq2Seq, kernels: dict[str, Any]) -> None:
    """Set the model's kernel switches to ``kernels`` (missing names: the fast kernel; ``precision``
    is the session's, not the model's)."""
    scan = kernels.get("gru", FAST["gru"]) == FAST["gru"]
    model.encoder.scan = scan
    if hasattr(model.decoder, "scan"):
        model.decoder.scan = scan
    model.decoder.attention.fast = kernels.get("attention", FAST["attention"]) == FAST["attention"]
    model.generator.fused = kernels.get("loss", FAST["loss"]) == FAST["loss"]


def candidates(model: Seq2Seq) -> list[str]:
    """The switches that matter for this model: a GRU somewhere; attention and the loss always."""
    return (["gru"] if model.cfg.cell == "gru" else []) + ["attention", "loss"]


def choose(session: Session, quiet: bool) -> dict[str, Any]:
    """The run's kernels: restored ones as they are; else --kernels fast or plain as given, or (auto)
    timed on the first batch on a CPU, the fast ones on a GPU (where cuDNN runs the recurrences and
    the choice is moot). Applied to the model."""
    state, asked = session.state, session.cfg.kernels
    if not state.kernels:
        if asked != "auto":
            table = FAST if asked == "fast" else PLAIN
            state.kernels = {name: table[name] for name in candidates(session.model)}
        elif session.device.type == "cpu" and session.job.main:
            state.kernels = _timed(session)
            _say(state.kernels, quiet, asked_bf16=session.cfg.bf16 is True)
        elif session.device.type != "cpu":
            state.kernels = {name: FAST[name] for name in candidates(session.model)}
        state.kernels = distributed.broadcast(state.kernels, session.job)
    apply(session.model, state.kernels)
    # Untimed, bf16 runs only where asked (--bf16 with fixed kernels); a run whose precision was never
    # timed (started where the CPU had no bf16 units) keeps fp32 when resumed on one that has them.
    untimed = "bf16" if session.cfg.bf16 else "fp32"
    session.bf16 = session.bf16 and state.kernels.get("precision", untimed) == "bf16"
    return state.kernels


def describe(kernels: dict[str, Any]) -> str:
    parts = []
    for name, ms in kernels.get("timed_ms", {}).items():
        parts.append(f"{name}: {FAST[name]} {ms[0]:.0f} ms, {PLAIN[name]} {ms[1]:.0f} ms -> {kernels[name]}")
    return "kernels timed on the first batch (forward + backward): " + "; ".join(parts)


def _say(kernels: dict[str, Any], quiet: bool, asked_bf16: bool) -> None:
    """The timed choice once on stderr; a warning (even with -q) when an explicit --bf16 loses to fp32."""
    if not quiet:
        display.info(describe(kernels))
    if asked_bf16 and kernels.get("precision") == "fp32":
        bf16_ms, fp32_ms = kernels["timed_ms"]["precision"]
        display.warn(
            f"--bf16: a first-batch pass took {bf16_ms:.0f} ms in bf16 against {fp32_ms:.0f} ms in fp32 "
            f"here ({bf16_ms / fp32_ms:.2f}x); training in fp32 (--kernels fast keeps bf16 untimed)"
        )


def _timed(session: Session) -> dict[str, Any]:
    model, split = session.model, session.epoch_split(session.state.epoch)
    batch = collate(split, session.epoch_batches(session.state.epoch)[0]).to(session.device)
    loss = LossModule(model, session.cfg.label_smoothing)
    rng = torch.get_rng_state()

    precision = "bf16" if session.bf16 else "fp32"  # the kernels below are timed in the chosen one

    def one_pass(kernels: dict[str, Any]) -> None:
        half = kernels.get("precision", precision) == "bf16"
        with torch.autocast(session.device.type, dtype=torch.bfloat16, enabled=half):
            total, _ = loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out)
        total.backward()

    chosen: dict[str, Any] = {"timed_ms": {}}
    model.train()
    try:
        if session.bf16:  # bf16 only when faster, measured with the fast kernels
            half, full = _pair(model, "precision", one_pass)
            margin = 1.0 if session.cfg.bf16 else BF16_MARGIN
            precision = chosen["precision"] = "bf16" if half * margin < full else "fp32"
            chosen["timed_ms"]["precision"] = [round(half * 1e3, 1), round(full * 1e3, 1)]
        for name in candidates(model):
            fast, plain = _pair(model, name, one_pass)
            chosen[name] = PLAIN[name] if plain * MARGIN < fast else FAST[name]
            chosen["timed_ms"][name] = [round(fast * 1e3, 1), round(plain * 1e3, 1)]
    finally:
        torch.set_rng_state(rng)
        _zero_grads(model)
    return chosen


def _pair(model: Seq2Seq, name: str, work: Callable[[dict[str, Any]], None]) -> tuple[float, float]:
    """Seconds of the fastest of ``REPEATS`` runs of ``work`` with the fast and with the plain ``name``,
    taken in turns (fast, plain, fast, plain ...) after one untimed run of each, so that neither gains
    from the machine warming up (allocator, caches, clock): timed one after the other, the first
    candidate measured up to 30% slower on an AMD EPYC."""
    fast, plain = {name: FAST[name]}, {name: PLAIN[name]}
    _best_time(model, fast, work)
    _best_time(model, plain, work)
    best = [float("inf"), float("inf")]
    for _ in range(REPEATS):
        best[0] = min(best[0], _best_time(model, fast, work))
        best[1] = min(best[1], _best_time(model, plain, work))
    return best[0], best[1]


def _best_time(model: Seq2Seq, kernels: dict[str, Any], work: Callable[[dict[str, Any]], None]) -> float:
    """Seconds of one run of ``work(kernels)`` with the model switched to ``kernels``."""
    apply(model, kernels)
    start = time.perf_counter()
    work(kernels)
    return time.perf_counter() - start


def _zero_grads(model: nn.Module) -> None:
    for param in model.parameters():
        param.grad = None
