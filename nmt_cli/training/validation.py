"""Validation: dev loss, dev translations and their scores, best checkpoint and patience.

Dev sentences are translated by the same ``Translator`` that ``nmt translate`` uses (greedy, its
default length caps) and scored by the same code as ``nmt evaluate`` (``scoring.py``), so the dev
BLEU in ``metrics.jsonl`` is what ``nmt evaluate`` reports for ``nmt translate --beam 1`` output.
"""

from __future__ import annotations

import math
from typing import Any

import torch

import nmt_cli.training.distributed as distributed
from nmt_cli import display, faults
from nmt_cli.batching import collate, make_batches
from nmt_cli.display import Progress
from nmt_cli.scoring import score_corpus
from nmt_cli.settings import DecodeSettings, ScoreSettings
from nmt_cli.training.objective import LossModule
from nmt_cli.training.session import Session
from nmt_cli.translate import Translator

# Greedy, 64 sentences a batch: validation runs between updates, while the training batch's memory
# is still held; smaller batches keep the peak low.
DEV_DECODING = DecodeSettings(beam=1, batch_size=64)
DEV_SCORES = ScoreSettings(metrics=("bleu", "chrf"))


def better(metric: str, new: float, old: float | None) -> bool:
    if old is None:
        return True
    return new < old if metric == "loss" else new > old


class Validator:
    """Scores the dev split of the session's data (when it has one) at every validation."""

    def __init__(self, session: Session) -> None:
        self.session = session
        data = session.data
        self.has_dev = data.has("dev")
        self.dev_split = data.split("dev") if self.has_dev else None
        self.dev_src = data.text("dev", "src") if self.has_dev else []
        self.dev_refs = data.text("dev", "tgt") if self.has_dev else []

    @torch.no_grad()
    def dev_loss(self) -> float:
        """Mean cross-entropy per target piece on dev (no label smoothing)."""
        assert self.dev_split is not None
        session, split = self.session, self.dev_split
        session.model.eval()
        total, tokens = 0.0, 0
        for index in make_batches(
            split.src_lengths, split.tgt_lengths, session.cfg.batch_tokens, 0, 0, shuffle=False
        ):
            b = collate(split, index).to(session.device)
            loss, ntok = LossModule(session.model, 0.0)(b.src, b.src_lengths, b.tgt_in, b.tgt_out)
            total, tokens = total + float(loss), tokens + int(ntok)
        return total / max(tokens, 1)

    def dev_hypotheses(self) -> list[str]:
        """The dev sources translated as ``nmt translate --beam 1`` would."""
        session = self.session
        session.model.eval()
        translator = Translator(session.model, session.tok, DEV_DECODING, device=session.device)
        return [r.text for r in translator.translate(self.dev_src)]

    def scores(self) -> dict[str, Any]:
        dev_loss = self.dev_loss()
        hyps = self.dev_hypotheses()
        bleu, chrf = score_corpus(hyps, [self.dev_refs], DEV_SCORES)
        return {
            "dev_loss": dev_loss,
            "dev_ppl": math.exp(min(dev_loss, 50.0)),
            "bleu": bleu.score,
            "chrf": chrf.score,
        }

    def validate(self, progress: Progress, stop: bool = False) -> dict[str, Any]:
        """Score dev (rank 0), log, checkpoint; returns the metrics record.

        A regular validation decides best, patience and the plateau schedule (every rank alike) and
        starts a new training-loss window. A stop-time one (``stop``: the run stops between
        validations) only reports and checkpoints: it changes no state a run that never stopped would
        not have, so a run continued from it is that run. Its checkpoint becomes ``best.pt`` only when
        it beats the one there.
        """
        session = self.session
        state = session.state
        train_loss = state.window_loss / max(state.window_tokens, 1)
        record: dict[str, Any] = {"step": state.step, "epoch": state.epoch, "train_loss": train_loss}
        if self.has_dev and session.job.main:
            record.update(self.scores())
        record.update(lr=session.optimizer.param_groups[0]["lr"], elapsed=round(state.elapsed, 1))
        record = distributed.broadcast(record, session.job)
        is_best = False
        if "bleu" in record:
            metric = session.cfg.valid_metric
            score = record["dev_loss"] if metric == "loss" else record[metric]
            # In a run that never stopped, best.pt holds the best regular validation (best_saved is
            # best_score); after a stop-time validation beat it, best.pt holds that one.
            saved = state.best_score if state.best_saved is None else state.best_saved
            is_best = better(metric, score, saved)
            if is_best:
                state.best_saved = score
            if stop:
                record["best"] = is_best
            else:
                stalled = faults.armed("dev-stalls", state.step)  # (tests: a validation that does not gain)
                improved = better(metric, score, state.best_score) and not stalled
                if improved:
                    state.best_score, state.bad_validations = score, 0
                else:
                    state.bad_validations += 1
                session.schedule.observe(improved)
                if session.schedule.start_decay(state.bad_validations, state.step, record["lr"]):
                    self._start_decay(progress, record["lr"])
                record["best"] = improved
        if stop:
            record["stop"] = True
        else:
            state.history.append(record)
            state.window_loss, state.window_tokens = 0.0, 0  # before the save: a resume starts here
        session.metrics.write(record)
        progress.log_validation(record)
        session.save(is_best)
        return record

    def _start_decay(self, progress: Progress, lr: float) -> None:
        """--decay-patience: the early decay starts now, with --decay-from best from the best
        validation's weights (put back before this validation's checkpoint is written, so a run resumed
        from it decays from there; this validation's scores in metrics.jsonl are those of the weights
        it replaced)."""
        cfg, whose = self.session.cfg, "here"
        if cfg.decay_from == "best":
            whose = f"update {self.session.restore_best()}'s weights (the best validation)"
        if progress.enabled:
            display.info(
                f"dev has not improved for {cfg.decay_patience} validations: the rate decays from "
                f"{lr:.3g} to {cfg.min_lr:g} over the next {cfg.valid_every} updates, from {whose}, "
                "and the run stops there (--decay-patience)"
            )
