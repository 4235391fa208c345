"""Finishing a run, after its last update: average the last checkpoints when that scores better on
dev, and tune beam search's length penalty on dev. Rank 0 only; both off unless asked for
(``--average-last K``, ``--tune-alpha``); what was done goes to ``RUN/finish.json``.

Averaging: the mean weights of the last K kept checkpoints are validated as any checkpoint is (dev
loss, greedy BLEU and chrF, the run's --valid-metric decides). When they beat the checkpoint in
``best.pt`` they become ``best.pt`` (the single best stays in its step file, which the manifest still
names), else nothing changes. Either way the comparison is reported and recorded.

Length penalty: the best model searches dev once with beam ``TUNE_BEAM`` and alpha 0, keeping every
finished hypothesis. Which hypotheses finish does not depend on alpha (the beams are ranked by raw
log-probability; alpha only normalises finished ones), so the output of beam search with any alpha
is the same search's hypotheses reranked by log p / ((5 + |y|) / 6) ** alpha: each alpha of
``ALPHAS`` is scored without searching again. The best (ties: the one nearest the default 0.6) is
stored in finish.json, and ``translate -m RUN`` uses it unless --alpha is given.
"""

from __future__ import annotations

import json
from typing import Any

from nmt_cli import display, record, runfiles
from nmt_cli.record import FINISH_FILE
from nmt_cli.scoring import score_corpus
from nmt_cli.search import Hypothesis, length_penalty
from nmt_cli.settings import DEFAULT_ALPHA, DecodeSettings
from nmt_cli.training.session import Session
from nmt_cli.training.validation import DEV_SCORES, Validator, better
from nmt_cli.translate import Translator

ALPHAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5)
TUNE_BEAM = 5


def finish_run(session: Session, validator: Validator, quiet: bool) -> dict[str, Any]:
    """Average and tune as the run's settings ask; returns (and writes to finish.json) what was done."""
    cfg, out = session.cfg, {}
    if not session.job.main or not validator.has_dev or not (cfg.average_last > 1 or cfg.tune_alpha):
        return {}
    if cfg.average_last > 1:
        out["average"] = average_if_better(session, validator, quiet)
    if cfg.tune_alpha:
        out["length_penalty"] = tune_alpha(session, validator, quiet)
    text = json.dumps({"step": session.state.step, **out}, indent=2, sort_keys=True) + "\n"
    runfiles.write_run_file(session.run_dir / FINISH_FILE, text.encode("utf-8"))
    return out


def _metric(session: Session, scores: dict[str, Any]) -> float:
    metric = session.cfg.valid_metric
    return float(scores["dev_loss"] if metric == "loss" else scores[metric])


def average_if_better(session: Session, validator: Validator, quiet: bool) -> dict[str, Any]:
    """Validate the average of the last K kept checkpoints; make it best.pt when it scores better."""
    run, state, metric = session.run_dir, session.state, session.cfg.valid_metric
    names, averaged = record.averaged_record(run, session.cfg.average_last)
    if len(names) < 2:
        return {"checkpoints": names, "promoted": False, "why": "fewer than 2 checkpoints kept"}
    session.model.load_state_dict(averaged.weights)
    scores = validator.scores()
    saved = state.best_score if state.best_saved is None else state.best_saved
    promoted = better(metric, _metric(session, scores), saved)
    if promoted:
        record.promote_best(run, averaged, state.step)
    if not quiet:
        verdict = "best.pt is now the average" if promoted else "best.pt stays the single best"
        display.info(
            f"average of {len(names)} checkpoints: dev {metric} {_metric(session, scores):.2f} against "
            f"{saved if saved is None else round(saved, 2)} for best.pt; {verdict}"
        )
    return {"checkpoints": names, "scores": scores, "best_before": saved, "promoted": promoted}


def rerank(hyps: list[Hypothesis], alpha: float) -> Hypothesis:
    """The hypothesis beam search with ``alpha`` returns, from one search's finished hypotheses
    whose scores are raw log-probabilities (alpha 0)."""
    return max(hyps, key=lambda h: h.score / float(length_penalty(len(h.ids) + 1, alpha)))


def tune_alpha(session: Session, validator: Validator, quiet: bool) -> dict[str, Any]:
    """Dev BLEU of beam search (``TUNE_BEAM``) for each alpha of ``ALPHAS``; the best one."""
    best = record.load_model_record(session.run_dir, "best")
    session.model.load_state_dict(best.weights)
    session.model.eval()
    opts = DecodeSettings(beam=TUNE_BEAM, nbest=TUNE_BEAM, alpha=0.0)
    translator = Translator(session.model, session.tok, opts, device=session.device)
    results = translator.translate(validator.dev_src)
    bleu: dict[str, float] = {}
    for alpha in ALPHAS:
        hyps = [session.tok.decode_tgt(rerank(r.hyps, alpha).ids) if r.hyps else "" for r in results]
        bleu[f"{alpha:g}"] = score_corpus(hyps, [validator.dev_refs], DEV_SCORES)[0].score
    chosen = max(ALPHAS, key=lambda a: (bleu[f"{a:g}"], -abs(a - DEFAULT_ALPHA)))
    if not quiet:
        got, usual = bleu[f"{chosen:g}"], bleu[f"{DEFAULT_ALPHA:g}"]
        display.info(
            f"length penalty tuned on dev (beam {TUNE_BEAM}): alpha {chosen:g}, BLEU {got:.2f} "
            f"(alpha {DEFAULT_ALPHA:g}: {usual:.2f}); translate -m uses it unless --alpha"
        )
    return {"alpha": chosen, "beam": TUNE_BEAM, "bleu_by_alpha": bleu}
