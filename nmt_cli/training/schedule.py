"""Learning-rate schedules: linear warm-up, then constant, inverse square root, or plateau decay."""

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

    def lr(self, step: int) -> float:
        """Learning rate for update number ``step`` (1-based)."""
        cfg = self.cfg
        if cfg.warmup and step <= cfg.warmup:
            return cfg.lr * step / cfg.warmup
        if cfg.schedule == "rsqrt":
            return cfg.lr * math.sqrt(max(cfg.warmup, 1) / step)
        return cfg.lr * self.scale

    def apply(self, optimizer: Optimizer, step: int) -> float:
        lr = self.lr(step)
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

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.bad = float(state["scale"]), int(state["bad"])
