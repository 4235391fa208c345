"""The training loop: optimisation, validation, early stopping, checkpoints, exact resume, DDP.

Exact resume: an epoch's batch order is a pure function of (seed, epoch) (see batching.py), and a
checkpoint records the epoch, the position inside it, the RNG states, optimizer, schedule, best
score and patience. Rerunning the same command on the same run directory continues the same run.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt_cli import __version__, checkpoint, display, faults, precision
from nmt_cli.batching import Batch, collate, make_batches, shard, source_batch
from nmt_cli.display import Progress
from nmt_cli.encoded import DataDir
from nmt_cli.errors import CheckpointError, NmtError, UsageError
from nmt_cli.model import Seq2Seq, init_weights
from nmt_cli.schedule import LrSchedule
from nmt_cli.search import greedy
from nmt_cli.settings import ModelSettings, TrainSettings, build, to_dict
from nmt_cli.tokenizer import PAD_ID


class MetricsLog:
    """``metrics.jsonl``: one JSON object per line, flushed as written (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_after(self, step: int) -> None:
        """On resume, drop records a killed run wrote after its last checkpoint."""
        if not self.enabled or not self.path.exists():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= step]
        self.path.write_text("".join(kept), encoding="utf-8")


class LossModule(nn.Module):
    """Wraps the model so that DDP sees one forward: batch -> (summed loss, target tokens)."""

    def __init__(self, model: Seq2Seq, label_smoothing: float) -> None:
        super().__init__()
        self.model = model
        self.label_smoothing = label_smoothing

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> tuple[Tensor, Tensor]:
        pre, _ = self.model(src, lengths, tgt_in)  # (B, T, Do)
        keep = tgt_out.ne(PAD_ID)  # (B, T)
        logits = self.model.generator(pre[keep])  # (N, V): only real positions, no padding work
        gold = self.model.generator.to_positions(tgt_out[keep])
        loss = F.cross_entropy(logits.float(), gold, reduction="sum", label_smoothing=self.label_smoothing)
        return loss, keep.sum()


@dataclass
class RunState:
    """Everything besides weights that an exact resume needs."""

    step: int = 0
    epoch: int = 1
    batch_in_epoch: int = 0
    best_score: float | None = None
    bad_validations: int = 0
    elapsed: float = 0.0
    nan_skips: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def better(metric: str, new: float, old: float | None) -> bool:
    if old is None:
        return True
    return new < old if metric == "loss" else new > old


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _device(cfg: TrainSettings) -> torch.device:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _dist() -> tuple[int, int]:
    """(rank, world size), initialising torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


class Trainer:
    def __init__(
        self, data: DataDir, run: Path, model_cfg: ModelSettings, cfg: TrainSettings, quiet: bool, force: bool
    ) -> None:
        self.data, self.run_dir, self.cfg, self.quiet = data, run, cfg, quiet
        self.rank, self.world = _dist()
        self.device = _device(cfg)
        if cfg.bf16 and self.device.type == "cpu" and not precision.cpu_has_bf16_units():
            display.warn(f"--bf16: {precision.BF16_WARNING}")
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.tok = data.tokenizer()
        self.train_split = data.split("train")
        out_ids = self._output_vocabulary(model_cfg)
        sizes = {
            "src_vocab": self.tok.src_vocab_size,
            "tgt_vocab": self.tok.tgt_vocab_size,
            "out_vocab": len(out_ids),
        }
        model_cfg = build(ModelSettings, {**to_dict(model_cfg), **sizes})
        resume = checkpoint.read_manifest(run).get("last") is not None
        payload = checkpoint.load(run, "last", warn=display.warn) if resume else None
        if payload is not None:
            model_cfg = self._check_resume(payload, model_cfg, force)
        self.model_cfg = model_cfg
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model = Seq2Seq(model_cfg)
        init_weights(self.model, cfg.seed)
        self.model.generator.set_vocabulary(out_ids)
        self.model.to(self.device)
        self.loss_module: nn.Module = LossModule(self.model, cfg.label_smoothing)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.loss_module = nn.parallel.DistributedDataParallel(self.loss_module, device_ids=ids)
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.model.parameters(), lr=cfg.lr, fused=True)
        self.schedule = LrSchedule(cfg)
        self.state = RunState()
        self.metrics = MetricsLog(run / "metrics.jsonl", enabled=self.rank == 0)
        if payload is not None:
            self._restore(payload)
        self.dev_split = data.split("dev") if data.has("dev") else None
        self.dev_refs = data.text("dev", "tgt") if self.dev_split is not None else []

    def _output_vocabulary(self, model_cfg: ModelSettings) -> list[int]:
        """Piece ids the output layer scores: all, or the specials plus those seen in train targets."""
        if not model_cfg.restrict_output:
            return list(range(self.tok.tgt_vocab_size))
        seen = np.unique(np.asarray(self.train_split.tgt_ids))
        return sorted({0, 1, 2, 3} | {int(i) for i in seen})

    # ------------------------------------------------------------ resume

    def _check_resume(self, payload: dict[str, Any], model_cfg: ModelSettings, force: bool) -> ModelSettings:
        old_model, old_train = payload["model_config"], payload["train_config"]
        changed = [k for k, v in to_dict(model_cfg).items() if old_model.get(k) != v]
        changed += [
            k
            for k, v in to_dict(self.cfg).items()
            if k not in TrainSettings.RESUMABLE_CHANGES and old_train.get(k) != v
        ]
        if payload.get("data_sha256") != self.data.fingerprint:
            changed.append("data")
        if changed and not force:
            raise UsageError(
                f"{self.run_dir} was trained with other settings ({', '.join(changed)}); "
                "use the same options, a new --out, or --force"
            )
        if changed:
            display.warn(f"resuming with changed settings: {', '.join(changed)}")
        return build(ModelSettings, old_model) if "data" not in changed else model_cfg

    def _restore(self, payload: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(payload["model"])
        except RuntimeError as err:  # --force across data with other vocabulary sizes
            first = str(err).strip().splitlines()[-1].strip()
            raise CheckpointError(
                f"{self.run_dir}: the last checkpoint does not fit this model ({first})"
            ) from None
        self.optimizer.load_state_dict(payload["optimizer"])
        self.schedule.load_state_dict(payload["schedule"])
        self.state = RunState(**payload["run_state"])
        _set_rng_state(payload["rng"])
        self.metrics.truncate_after(self.state.step)
        display.info(f"resuming {self.run_dir} at step {self.state.step} (epoch {self.state.epoch})")

    def _payload(self) -> dict[str, Any]:
        return {
            "format": checkpoint.FORMAT,
            "model_config": to_dict(self.model_cfg),
            "train_config": to_dict(self.cfg),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "run_state": self.state.__dict__.copy(),
            "rng": _rng_state(),
            "spm_src": self.tok.src_proto,
            "spm_tgt": self.tok.tgt_proto,
            "data_sha256": self.data.fingerprint,
            "versions": {"nmt": __version__, "torch": str(torch.__version__)},
        }

    def save(self, is_best: bool) -> None:
        if self.rank == 0:
            checkpoint.save(self.run_dir, self._payload(), self.state.step, is_best, self.cfg.keep_last)
            if faults.armed("kill-after-save", self.state.step):
                faults.kill_self()

    # ------------------------------------------------------------ loop

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        split = self.train_split
        batches = make_batches(
            split.src_lengths, split.tgt_lengths, self.cfg.batch_tokens, self.cfg.seed, epoch
        )
        return shard(batches, self.rank, self.world)

    def _batches(self) -> Iterator[Batch]:
        """Batches from the current position on, epoch after epoch (state advances as they are used)."""
        while True:
            batches = self._epoch_batches(self.state.epoch)
            while self.state.batch_in_epoch < len(batches):
                index = batches[self.state.batch_in_epoch]
                self.state.batch_in_epoch += 1
                yield collate(self.train_split, index).to(self.device)
            self.state.epoch += 1
            self.state.batch_in_epoch = 0
            if self.cfg.max_epochs and self.state.epoch > self.cfg.max_epochs:
                return

    def _autocast(self) -> Any:
        if not self.cfg.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _update(self, batches: Iterator[Batch]) -> tuple[float, int] | None:
        """One optimizer update over ``accum`` batches -> (mean loss per token, tokens), None at the end."""
        self.loss_module.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, tokens = 0.0, 0
        for _ in range(self.cfg.accum):
            batch = next(batches, None)
            if batch is None:
                return None
            with self._autocast():
                loss, ntok = self.loss_module(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out)
            (loss / max(int(ntok), 1) / self.cfg.accum).backward()
            total += float(loss.detach())
            tokens += int(ntok)
        if faults.once("nan-loss", self.state.step + 1):
            total = math.nan
        # The gradient norm is the same on every rank (DDP averaged the gradients), so all ranks
        # agree on skipping a non-finite update.
        norm = nn.utils.clip_grad_norm_(
            self.model.parameters(), self.cfg.clip if self.cfg.clip > 0 else math.inf
        )
        if not (math.isfinite(total) and bool(torch.isfinite(norm))):
            return self._skip_nonfinite(total, tokens)
        self.state.nan_skips = 0
        self.state.step += 1
        self.schedule.apply(self.optimizer, self.state.step)
        self.optimizer.step()
        return total / max(tokens, 1), tokens

    def _skip_nonfinite(self, total: float, tokens: int) -> tuple[float, int]:
        self.state.nan_skips += 1
        self.optimizer.zero_grad(set_to_none=True)
        display.warn(f"non-finite loss ({total}) at step {self.state.step + 1}; update skipped")
        if self.state.nan_skips > self.cfg.max_nan_skips:
            raise NmtError(
                f"the loss was not finite {self.state.nan_skips} times in a row; "
                "lower --lr, raise --warmup or check the data (the last good checkpoint is kept)"
            )
        return float("nan"), tokens

    def train(self) -> RunState:
        cfg = self.cfg
        batches = self._batches()
        progress = Progress(self.state.step, cfg.max_steps, enabled=self.rank == 0 and not self.quiet)
        window_loss, window_tokens, started = 0.0, 0, time.monotonic()
        base_elapsed = self.state.elapsed
        log_tokens, log_time = 0, started
        with progress:
            while not self._should_stop():
                result = self._update(batches)
                if result is None:
                    break
                loss, tokens = result
                if math.isnan(loss):
                    continue
                self.state.elapsed = base_elapsed + time.monotonic() - started
                window_loss += loss * tokens
                window_tokens += tokens
                progress.update(self.state.step, loss, tokens, self.optimizer.param_groups[0]["lr"])
                log_tokens += tokens
                if self.state.step % cfg.log_every == 0:
                    now = time.monotonic()
                    rate = log_tokens / max(now - log_time, 1e-9)
                    record = {"step": self.state.step, "epoch": self.state.epoch, "loss": loss}
                    self.metrics.write({**record, "tgt_tokens_per_s": round(rate, 1)})
                    log_tokens, log_time = 0, now
                if self.state.step % cfg.valid_every == 0:
                    self._validate(window_loss / max(window_tokens, 1), progress)
                    window_loss, window_tokens = 0.0, 0
                    log_tokens, log_time = 0, time.monotonic()  # rates measure training only
                elif cfg.save_every and self.state.step % cfg.save_every == 0:
                    self.save(is_best=False)
        if self.state.step and (not self.state.history or self.state.history[-1]["step"] != self.state.step):
            self._validate(window_loss / max(window_tokens, 1), progress)
        return self.state

    def _should_stop(self) -> bool:
        cfg, st = self.cfg, self.state
        if cfg.max_steps and st.step >= cfg.max_steps:
            return True
        if self.dev_split is not None and st.bad_validations >= cfg.patience > 0:
            return True
        return bool(cfg.max_seconds) and self._any_rank(st.elapsed >= cfg.max_seconds)

    def _any_rank(self, flag: bool) -> bool:
        """True when ``flag`` holds on any rank (clocks differ; all ranks must stop together)."""
        if self.world == 1:
            return flag
        import torch.distributed as dist

        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    # ------------------------------------------------------------ validation

    @torch.no_grad()
    def dev_loss(self) -> float:
        assert self.dev_split is not None
        self.model.eval()
        split = self.dev_split
        total, tokens = 0.0, 0
        for index in make_batches(
            split.src_lengths, split.tgt_lengths, self.cfg.batch_tokens, 0, 0, shuffle=False
        ):
            b = collate(split, index).to(self.device)
            loss, ntok = LossModule(self.model, 0.0)(b.src, b.src_lengths, b.tgt_in, b.tgt_out)
            total, tokens = total + float(loss), tokens + int(ntok)
        return total / max(tokens, 1)

    def dev_hypotheses(self, batch_size: int = 64) -> list[str]:
        assert self.dev_split is not None
        self.model.eval()
        split = self.dev_split
        order = np.argsort(split.src_lengths, kind="stable")
        hyps: list[str] = [""] * len(split)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            src, lengths = source_batch([split.src(int(i)).tolist() for i in index])
            caps = torch.clamp(lengths * 2 + 10, max=400)
            for i, hyp in zip(index, greedy(self.model, src.to(self.device), lengths, caps)):
                hyps[int(i)] = self.tok.decode_tgt(hyp.ids)
        return hyps

    def _validate(self, train_loss: float, progress: Progress) -> None:
        record: dict[str, Any] = {
            "step": self.state.step,
            "epoch": self.state.epoch,
            "train_loss": train_loss,
        }
        if self.dev_split is not None and self.rank == 0:
            import sacrebleu

            dev_loss = self.dev_loss()
            hyps = self.dev_hypotheses()
            record.update(
                dev_loss=dev_loss,
                dev_ppl=math.exp(min(dev_loss, 50.0)),
                bleu=sacrebleu.corpus_bleu(hyps, [self.dev_refs], force=True).score,
                chrf=sacrebleu.corpus_chrf(hyps, [self.dev_refs]).score,
            )
        record.update(lr=self.optimizer.param_groups[0]["lr"], elapsed=round(self.state.elapsed, 1))
        record = self._broadcast(record)
        is_best = False
        if "bleu" in record:
            metric = self.cfg.valid_metric
            score = record["dev_loss"] if metric == "loss" else record[metric]
            is_best = better(metric, score, self.state.best_score)
            if is_best:
                self.state.best_score, self.state.bad_validations = score, 0
            else:
                self.state.bad_validations += 1
            self.schedule.observe(is_best)
            record["best"] = is_best
        self.state.history.append(record)
        self.metrics.write(record)
        progress.log_validation(record)
        self.save(is_best)

    def _broadcast(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.world == 1:
            return record
        import torch.distributed as dist

        box = [record]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def train_model(
    data: Path,
    run: Path,
    model_cfg: ModelSettings,
    cfg: TrainSettings,
    force: bool = False,
    quiet: bool = False,
) -> RunState:
    """Train (or resume) into ``run``; returns the final run state."""
    data_dir = DataDir(data)
    rank = int(os.environ.get("RANK", "0"))
    lock = checkpoint.run_lock(run) if rank == 0 else nullcontext()
    with lock:
        trainer = Trainer(data_dir, run, model_cfg, cfg, quiet=quiet, force=force)
        if trainer.rank == 0:
            _write_run_record(run, trainer)
        state = trainer.train()
    if trainer.rank == 0:
        display.show_training_summary(run, state.history)
    return state


def _write_run_record(run: Path, trainer: Trainer) -> None:
    record = {
        "model": to_dict(trainer.model_cfg),
        "train": to_dict(trainer.cfg),
        "data": str(trainer.data.path.resolve()),
        "data_sha256": trainer.data.fingerprint,
        "parameters": trainer.model.num_parameters(),
        "versions": {"nmt": __version__, "torch": str(torch.__version__)},
        "world_size": trainer.world,
    }
    (run / "config.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
