"""The training loop: updates, logging, validation and checkpoints at their intervals, stopping.

Read top to bottom: ``train`` runs updates until a limit is reached (steps, epochs, time, patience,
the end of an early decay); each ``_update`` accumulates gradients over ``--accum`` batches and steps
the optimizer, skipping a bounded number of non-finite updates; validation (``validation.py``) scores
dev and saves a checkpoint.

Exact resume at any stop: everything a later update or validation depends on is in the run state
(the training loss summed since the last validation included), and a stop between validations only
reports (``Validator.validate(stop=True)``), so a run stopped by ``--max-steps``/``--max-time`` (or
killed) and continued is the run that never stopped: same weights, same metrics lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

import nmt_cli.training.distributed as distributed
from nmt_cli import display, faults
from nmt_cli.batching import Batch, collate
from nmt_cli.display import Progress
from nmt_cli.errors import NmtError
from nmt_cli.record import RunState
from nmt_cli.training.session import Session
from nmt_cli.training.validation import Validator


def train(session: Session, quiet: bool) -> tuple[RunState, list[dict[str, Any]], str]:
    """Train from the session's current step until a stopping rule holds.

    Returns the final state, the validation records to summarise (the regular ones, and the
    stop-time report when the run stopped between validations) and why it stopped (max-steps,
    max-epochs, max-time, patience, decayed).
    """
    cfg, state = session.cfg, session.state
    validator = Validator(session)
    batches = _batches(session)
    progress = Progress(state.step, cfg.max_steps, enabled=session.job.main and not quiet)
    started = time.monotonic()
    base_elapsed = state.elapsed
    log_tokens, log_time = 0, started
    with progress:
        while not (reason := _stop_reason(session, validator.has_dev)):
            result = _update(session, batches)
            if result is None:
                reason = "max-epochs"
                break
            loss, tokens = result
            if math.isnan(loss):
                continue
            state.elapsed = base_elapsed + time.monotonic() - started
            state.window_loss += loss * tokens
            state.window_tokens += tokens
            progress.update(state.step, loss, tokens, session.optimizer.param_groups[0]["lr"])
            log_tokens += tokens
            if state.step % cfg.log_every == 0:
                now = time.monotonic()
                rate = round(log_tokens / max(now - log_time, 1e-9), 1)
                record = {"step": state.step, "epoch": state.epoch, "loss": loss, "tgt_tokens_per_s": rate}
                session.metrics.write(record)
                progress.log_step(record, session.optimizer.param_groups[0]["lr"], state.elapsed)
                log_tokens, log_time = 0, now
            if state.step % cfg.valid_every == 0:
                validator.validate(progress)
                log_tokens, log_time = 0, time.monotonic()  # rates measure training only
            elif cfg.save_every and state.step % cfg.save_every == 0:
                session.save(is_best=False)
    shown = list(state.history)
    if state.step and (not state.history or state.history[-1]["step"] != state.step):
        # Stopped between validations: report and checkpoint, but leave the window, best score,
        # patience and schedule as they are, so that continuing later is the run that never stopped.
        shown.append(validator.validate(progress, stop=True))
    return state, shown, reason


def _batches(session: Session) -> Iterator[Batch]:
    """Batches from the current position on, epoch after epoch (state advances as they are used)."""
    state, cfg = session.state, session.cfg
    while True:
        split, batches = session.epoch_split(state.epoch), session.epoch_batches(state.epoch)
        while state.batch_in_epoch < len(batches):
            index = batches[state.batch_in_epoch]
            state.batch_in_epoch += 1
            yield collate(split, index).to(session.device)
        state.epoch += 1
        state.batch_in_epoch = 0
        if cfg.max_epochs and state.epoch > cfg.max_epochs:
            return


def _autocast(session: Session) -> Any:
    if not session.bf16:
        return nullcontext()
    return torch.autocast(session.device.type, dtype=torch.bfloat16)


def _update(session: Session, batches: Iterator[Batch]) -> tuple[float, int] | None:
    """One optimizer update over ``accum`` batches -> (mean loss per token, tokens), None at the end."""
    cfg, state, optimizer = session.cfg, session.state, session.optimizer
    session.loss_module.train()
    optimizer.zero_grad(set_to_none=True)
    total, tokens = 0.0, 0
    for _ in range(cfg.accum):
        batch = next(batches, None)
        if batch is None:
            return None
        with _autocast(session):
            loss, ntok = session.loss_module(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out)
        (loss / max(int(ntok), 1) / cfg.accum).backward()
        total += float(loss.detach())
        tokens += int(ntok)
    if faults.once("nan-loss", state.step + 1):
        total = math.nan
    # All ranks decide together: a loss that is not finite on one rank's batch skips the update everywhere.
    norm = nn.utils.clip_grad_norm_(session.model.parameters(), cfg.clip if cfg.clip > 0 else math.inf)
    finite = math.isfinite(total) and bool(torch.isfinite(norm))
    if not distributed.all_finite(finite, session.device, session.job):
        return _skip_nonfinite(session, total if not finite else math.nan, tokens)
    state.nan_skips = 0
    state.step += 1
    session.schedule.apply(optimizer, state.step, state.elapsed)
    optimizer.step()
    return total / max(tokens, 1), tokens


def _skip_nonfinite(session: Session, total: float, tokens: int) -> tuple[float, int]:
    state = session.state
    state.nan_skips += 1
    session.optimizer.zero_grad(set_to_none=True)
    display.warn(f"non-finite loss ({total}) at step {state.step + 1}; update skipped")
    if state.nan_skips > session.cfg.max_nan_skips:
        raise NmtError(
            f"the loss was not finite {state.nan_skips} times in a row; "
            "lower --lr, raise --warmup or check the data (the last good checkpoint is kept)"
        )
    return float("nan"), tokens


def _stop_reason(session: Session, has_dev: bool) -> str:
    """Why training stops now ("" = it goes on): max-steps, decayed, patience or max-time."""
    cfg, st = session.cfg, session.state
    if cfg.max_steps and st.step >= cfg.max_steps:
        return "max-steps"
    if session.schedule.decayed(st.step):
        return "decayed"
    if has_dev and st.bad_validations >= cfg.patience > 0:
        return "patience"
    out_of_time = bool(cfg.max_seconds) and st.elapsed >= cfg.max_seconds
    if cfg.max_seconds and distributed.any_rank(out_of_time, session.device, session.job):
        return "max-time"
    return ""
