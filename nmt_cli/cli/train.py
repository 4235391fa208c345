"""``nmt train``: options -> model and training settings -> ``training.train_model``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from nmt_cli.cli.common import options, run
from nmt_cli.cli.config import Config
from nmt_cli.cli.train_options import (
    Accum,
    Attention,
    AttnDim,
    AverageLast,
    BatchTokens,
    Bf16,
    Board,
    Bridge,
    CellOpt,
    Clip,
    Data,
    DecayFromOpt,
    DecayPatience,
    DecHidden,
    DeviceOpt,
    Dropout,
    DumpConfig,
    Emb,
    EncHidden,
    Force,
    InitFrom,
    InputFeeding,
    Json,
    KeepLast,
    KernelsOpt,
    Layers,
    LogEvery,
    Lr,
    MaxEpochs,
    MaxSteps,
    MaxTime,
    Metric,
    MinLr,
    Opt,
    Out,
    OutVocab,
    Patience,
    Quiet,
    SaveEvery,
    Sched,
    Seed,
    Smoothing,
    SubwordAlpha,
    SubwordNbest,
    SubwordSidesOpt,
    Threads,
    Tie,
    TuneAlpha,
    ValidEvery,
    Warmup,
)

EXAMPLES = """
nmt train data --out run --max-time 1h
nmt train data --out run --cell lstm --layers 2 --dropout 0.3
nmt train data --out run      # again: continues where the run stopped
nmt train data2 --out tuned --init-from run --lr 2e-4      # fine-tune on data2
nmt train data --out run --cell lstm --dump-config lstm.yaml; nmt train --config lstm.yaml
torchrun --nproc-per-node 2 -m nmt_cli train data --out run
"""


def train(
    ctx: typer.Context,
    data: Data,
    out: Out,
    init_from: InitFrom = None,
    cell: CellOpt = "gru",
    attention: Attention = "post",
    input_feeding: InputFeeding = False,
    emb: Emb = 256,
    enc_hidden: EncHidden = 256,
    dec_hidden: DecHidden = 512,
    attn_dim: AttnDim = 0,
    layers: Layers = 1,
    dropout: Dropout = 0.2,
    tie_embeddings: Tie = False,
    bridge: Bridge = True,
    output_vocab: OutVocab = "seen",
    batch_tokens: BatchTokens = 2000,
    accum: Accum = 1,
    optimizer: Opt = "adam",
    lr: Lr = None,
    warmup: Warmup = 0,
    schedule: Sched = "auto",
    min_lr: MinLr = 0.0,
    label_smoothing: Smoothing = 0.1,
    subword_alpha: SubwordAlpha = 0.0,
    subword_nbest: SubwordNbest = -1,
    subword_sides: SubwordSidesOpt = "both",
    clip: Clip = 1.0,
    max_steps: MaxSteps = 0,
    max_epochs: MaxEpochs = 0,
    max_time: MaxTime = 0.0,
    valid_every: ValidEvery = 500,
    valid_metric: Metric = "bleu",
    save_every: SaveEvery = 0,
    log_every: LogEvery = 100,
    patience: Patience = 10,
    decay_patience: DecayPatience = 0,
    decay_from: DecayFromOpt = "last",
    keep_last: KeepLast = 3,
    average_last: AverageLast = 0,
    tune_alpha: TuneAlpha = False,
    seed: Seed = 1,
    threads: Threads = 0,
    device: DeviceOpt = "auto",
    bf16: Bf16 = None,
    kernels: KernelsOpt = "auto",
    force: Force = False,
    quiet: Quiet = False,
    json_out: Json = False,
    tensorboard: Board = None,
    config: Config = None,
    dump_config: DumpConfig = None,
) -> None:
    """Train an attention RNN translator; rerunning the same command resumes exactly."""
    given = options(ctx)
    sources = {n: str(ctx.get_parameter_source(n)) for n in ctx.params}
    given["explicit"] = {n for n, s in sources.items() if s.endswith(("COMMANDLINE", "DEFAULT_MAP"))}
    if dump_config is not None:
        order = [str(p.name) for p in ctx.command.params]
        run(lambda: _dump(given, order, dump_config))
        return
    run(lambda: _train(given))


def _dump(given: dict[str, object], order: list[str], where: str) -> None:
    """--dump-config: the options as resolved (the auto schedule and lr included)."""
    from nmt_cli.cli.config import dump
    from nmt_cli.settings import TrainSettings, build

    resolved = build(TrainSettings, given, max_seconds=given["max_time"])
    given = {**given, "lr": resolved.lr, "schedule": resolved.schedule}
    given["max_time"] = f"{given['max_time']:g}s"
    dump(given, order, where, skip=("json_out", "quiet", "force", "tensorboard"))


def _train(given: dict[str, object]) -> None:
    from nmt_cli.settings import ModelSettings, TrainSettings, build
    from nmt_cli.training import train_model

    model = build(
        ModelSettings,
        given,
        attn_dim=given["attn_dim"] or given["dec_hidden"],
        restrict_output=given["output_vocab"] != "all",
    )
    settings = build(TrainSettings, given, max_seconds=given["max_time"])
    data, out = Path(str(given["data"])), Path(str(given["out"]))
    board = Path(str(given["tensorboard"])) if given["tensorboard"] is not None else None
    if board is not None:
        from nmt_cli.training.tensorboard import require

        require()
    summary = train_model(
        data,
        out,
        model,
        settings,
        force=bool(given["force"]),
        quiet=bool(given["quiet"]),
        tensorboard=board,
        explicit=set(given["explicit"]),  # type: ignore[call-overload]
    )
    if given["json_out"] and int(os.environ.get("RANK", "0")) == 0:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
        sys.stdout.flush()
