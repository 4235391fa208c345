"""Learning-rate schedules: linear warm-up, then constant, inverse square root, plateau decay, or a
decay planned to end at the run's limit (``linear``, ``cosine``).

The budgeted schedules go from --lr down to --min-lr exactly when the run stops: the fraction of the
budget used is measured in the units the limit is given in (updates for --max-steps, seconds of
training for --max-time; with both, whichever is further along). Elapsed time is part of the run's
state, so a resumed run continues the same curve. Changing the limit on resume re-plans the decay
from where the run stands.

``--decay-patience K`` starts that decay early: after K regular validations in a row without a better
dev score, the rate goes from where it stands to --min-lr over the next --valid-every updates (never
above the planned curve), and the run stops there with its last validation (``decayed``). On small
data a run planned over a long budget passes its best long before the end, while its rate is still
high: the decay is where a budgeted run gains most (the README's budget section). With
``--decay-from best`` the run first goes back to the best validation's weights (``Session.restore_best``).
"""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer

from nmt_cli.settings import TrainSettings


class LrSchedule:
    """Sets the optimizer's lr before each update; its state goes into checkpoints."""

    def __init__(
        self, cfg: TrainSettings, plateau_patience: int = 2, factor: float = 0.5, min_scale: float = 1e-3
    ):
        self.cfg = cfg
        self.plateau_patience, self.factor, self.min_scale = plateau_patience, factor, min_scale
        self.scale = 1.0  # plateau decay multiplier
        self.bad = 0
        self.decay_from: tuple[int, float] | None = None  # (update, lr) where an early decay began

    def lr(self, step: int, elapsed: float = 0.0) -> float:
        """Learning rate for update number ``step`` (1-based), ``elapsed`` seconds into training."""
        cfg = self.cfg
        if cfg.warmup and step <= cfg.warmup:
            return cfg.peak_lr * step / cfg.warmup
        if cfg.schedule == "rsqrt":
            return cfg.peak_lr * math.sqrt(max(cfg.warmup, 1) / step)
        if cfg.schedule in ("linear", "cosine"):
            done = self.budget_used(step, elapsed)
            left = 1.0 - done if cfg.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * done))
            planned = cfg.min_lr + (cfg.peak_lr - cfg.min_lr) * left
            return planned if self.decay_from is None else min(planned, self._early(step))
        return cfg.peak_lr * self.scale

    def _early(self, step: int) -> float:
        """The early decay's rate: linear from where it began to --min-lr over --valid-every updates."""
        assert self.decay_from is not None
        start, lr = self.decay_from
        left = max(0.0, 1.0 - (step - start) / self.cfg.valid_every)
        return self.cfg.min_lr + (lr - self.cfg.min_lr) * left

    def decayed(self, step: int) -> bool:
        """Whether an early decay has reached --min-lr by update ``step`` (the run stops there)."""
        return self.decay_from is not None and step >= self.decay_from[0] + self.cfg.valid_every

    def budget_used(self, step: int, elapsed: float) -> float:
        """Fraction (0-1) of the run's budget after warm-up: of its updates, of its seconds, or the larger."""
        cfg, used = self.cfg, 0.0
        if cfg.max_steps:
            used = (step - cfg.warmup) / max(cfg.max_steps - cfg.warmup, 1)
        if cfg.max_seconds:
            used = max(used, elapsed / cfg.max_seconds)
        return min(1.0, max(0.0, used))

    def apply(self, optimizer: Optimizer, step: int, elapsed: float = 0.0) -> float:
        lr = self.lr(step, elapsed)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def observe(self, improved: bool) -> None:
        """After a validation: decay on plateau."""
        if self.cfg.schedule != "plateau":
            return
        self.bad = 0 if improved else self.bad + 1
        if self.bad >= self.plateau_patience:
            self.scale = max(self.min_scale, self.scale * self.factor)
            self.bad = 0

    def start_decay(self, bad_validations: int, step: int, lr: float) -> bool:
        """After a regular validation at update ``step`` (rate ``lr``), the run's count of validations
        in a row without a gain: True when the early decay (--decay-patience) starts now."""
        cfg = self.cfg
        if self.decay_from is not None or not 0 < cfg.decay_patience <= bad_validations:
            return False
        self.decay_from = (step, lr)  # (settings allow --decay-patience with linear or cosine only)
        return True

    def state_dict(self) -> dict[str, Any]:
        began = None if self.decay_from is None else list(self.decay_from)
        return {"scale": self.scale, "bad": self.bad, "decay_from": began}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.bad = float(state["scale"]), int(state["bad"])
        began = state.get("decay_from")  # (absent from checkpoints written before --decay-patience)
        self.decay_from = None if began is None else (int(began[0]), float(began[1]))
