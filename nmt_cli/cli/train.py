"""``nmt train``: options -> model and training settings -> ``training.train_model``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.choices import (
    Cell,
    Device,
    Kernels,
    Optimizer,
    OutputVocab,
    Placement,
    Schedule,
    ValidMetric,
    parse_duration,
)
from nmt_cli.cli.common import options, parsed, run
from nmt_cli.cli.config import Config

RUN, MODEL, OPTIM, STOP, SPEED, OUTPUT = (
    "Data and run",
    "Model",
    "Optimisation",
    "Validation and stopping",
    "Speed",
    "Checkpoints and output",
)

Data = Annotated[Path, typer.Argument(metavar="DATA", help="Data directory written by `nmt prepare`.")]
Out = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Run directory: created, or continued where it stopped (same settings).",
        rich_help_panel=RUN,
    ),
]
InitFrom = Annotated[
    str | None,
    typer.Option(
        "--init-from",
        metavar="RUN|FILE",
        show_default=False,
        help="Start a new run from this run's (best) or checkpoint's weights: fine-tuning. Fresh optimizer, "
        "schedule, counters and patience; the architecture comes from it; DATA must be prepared with its "
        "tokenizer (prepare --tokenizer RUN). Rerunning the command continues the new run.",
        rich_help_panel=RUN,
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Continue the run even if settings changed (the run's settings are replaced).",
        rich_help_panel=RUN,
    ),
]
CellOpt = Annotated[Cell, typer.Option("--cell", help="Recurrent cell.", rich_help_panel=MODEL)]
Attention = Annotated[
    Placement,
    typer.Option(
        "--attention",
        help="Where attention sits. bahdanau: query = previous decoder state, context fed to the cell; "
        "post: query = state after the step, context combined for the output.",
        rich_help_panel=MODEL,
    ),
]
InputFeeding = Annotated[
    bool,
    typer.Option(
        "--input-feeding/--no-input-feeding",
        help="With --attention post: feed the last attentional output to the cell (Luong).",
        rich_help_panel=MODEL,
    ),
]
Emb = Annotated[int, typer.Option("--emb", help="Embedding size.", rich_help_panel=MODEL)]
EncHidden = Annotated[
    int, typer.Option("--enc-hidden", help="Encoder hidden size per direction.", rich_help_panel=MODEL)
]
DecHidden = Annotated[int, typer.Option("--dec-hidden", help="Decoder hidden size.", rich_help_panel=MODEL)]
AttnDim = Annotated[
    int,
    typer.Option("--attn-dim", help="Attention MLP size (0 = decoder hidden size).", rich_help_panel=MODEL),
]
Layers = Annotated[
    int, typer.Option("--layers", help="Recurrent layers in encoder and decoder.", rich_help_panel=MODEL)
]
Dropout = Annotated[
    float,
    typer.Option(
        "--dropout", help="Dropout on embeddings, between layers and on the output.", rich_help_panel=MODEL
    ),
]
Tie = Annotated[
    bool,
    typer.Option(
        "--tie-embeddings",
        help="Share the target embedding matrix with the output layer (needs --emb = output size).",
        rich_help_panel=MODEL,
    ),
]
Bridge = Annotated[
    bool,
    typer.Option(
        "--bridge/--no-bridge",
        help="Initialise the decoder state from the encoder's (else from zeros).",
        rich_help_panel=MODEL,
    ),
]
OutVocab = Annotated[
    OutputVocab,
    typer.Option(
        "--output-vocab",
        help="seen: score only the target pieces seen in training (faster); all: every piece.",
        rich_help_panel=MODEL,
    ),
]
BatchTokens = Annotated[
    int, typer.Option("--batch-tokens", help="Token budget per batch (target side).", rich_help_panel=OPTIM)
]
Accum = Annotated[
    int, typer.Option("--accum", help="Batches per update (gradient accumulation).", rich_help_panel=OPTIM)
]
Opt = Annotated[Optimizer, typer.Option("--optimizer", help="Optimizer.", rich_help_panel=OPTIM)]
Lr = Annotated[
    float | None,
    typer.Option(
        "--lr",
        help="Peak learning rate [default: 2e-3 under a linear or cosine schedule from scratch, else 1e-3].",
        rich_help_panel=OPTIM,
        show_default=False,
    ),
]
Warmup = Annotated[int, typer.Option("--warmup", help="Linear warm-up updates.", rich_help_panel=OPTIM)]
Sched = Annotated[
    Schedule,
    typer.Option(
        "--schedule",
        help="Learning rate after warm-up: plateau halves it when dev stops improving; linear and "
        "cosine decay it to --min-lr exactly at --max-steps or --max-time (whichever comes first); "
        "auto: linear when a new run is given --max-steps or --max-time (not with --init-from), "
        "else plateau.",
        rich_help_panel=OPTIM,
    ),
]
MinLr = Annotated[
    float,
    typer.Option(
        "--min-lr", help="Where linear and cosine schedules end (at the limit).", rich_help_panel=OPTIM
    ),
]
Smoothing = Annotated[
    float,
    typer.Option(
        "--label-smoothing",
        help="Label smoothing: probability spread over the other pieces (0 = off; 0.1 is usual).",
        rich_help_panel=OPTIM,
    ),
]
Clip = Annotated[
    float, typer.Option("--clip", help="Gradient clipping norm (0 = off).", rich_help_panel=OPTIM)
]
Seed = Annotated[
    int,
    typer.Option("--seed", help="Random seed: initial weights, batch order, dropout.", rich_help_panel=OPTIM),
]
MaxSteps = Annotated[
    int,
    typer.Option("--max-steps", help="Stop after this many updates (0 = no limit).", rich_help_panel=STOP),
]
MaxEpochs = Annotated[
    int,
    typer.Option("--max-epochs", help="Stop after this many epochs (0 = no limit).", rich_help_panel=STOP),
]
MaxTime = Annotated[
    float,
    typer.Option(
        "--max-time",
        parser=parsed(parse_duration),
        metavar="DURATION",
        show_default=False,
        help="Stop after this long, e.g. 30m, 2h, 90s (no limit by default).",
        rich_help_panel=STOP,
    ),
]
ValidEvery = Annotated[
    int,
    typer.Option("--valid-every", help="Validate (and checkpoint) every N updates.", rich_help_panel=STOP),
]
Metric = Annotated[
    ValidMetric,
    typer.Option(
        "--valid-metric",
        help="Dev score that picks the best checkpoint and counts patience.",
        rich_help_panel=STOP,
    ),
]
Patience = Annotated[
    int,
    typer.Option(
        "--patience", help="Stop after N validations without improvement (0 = never).", rich_help_panel=STOP
    ),
]
Threads = Annotated[
    int, typer.Option("--threads", help="CPU threads (0 = torch's default).", rich_help_panel=SPEED)
]
DeviceOpt = Annotated[
    Device, typer.Option("--device", help="Where to train (auto: CUDA when present).", rich_help_panel=SPEED)
]
Bf16 = Annotated[
    bool,
    typer.Option(
        "--bf16",
        help="bf16 matrix products (fp32 weights, states and loss): 1.2x faster on CPUs with AMX; "
        "on a CPU without bf16 units (emulated, ~30x slower) the run stays in fp32 and says so.",
        rich_help_panel=SPEED,
    ),
]
SaveEvery = Annotated[
    int,
    typer.Option(
        "--save-every",
        help="Also checkpoint every N updates (0 = only at validations).",
        rich_help_panel=OUTPUT,
    ),
]
KeepLast = Annotated[
    int,
    typer.Option("--keep-last", help="Keep the last K checkpoints (and the best).", rich_help_panel=OUTPUT),
]
KernelsOpt = Annotated[
    Kernels,
    typer.Option(
        "--kernels",
        help="auto: time the fast kernels (GRU scan, blocked attention) against torch's plain ones on the "
        "first batch and keep the faster (a resume keeps the run's choice); fast; plain.",
        rich_help_panel=SPEED,
    ),
]
AverageLast = Annotated[
    int,
    typer.Option(
        "--average-last",
        help="At the end, average the last K checkpoints (K >= 2; 0 = off) and make the average best.pt "
        "when it scores better on dev.",
        rich_help_panel=OUTPUT,
    ),
]
TuneAlpha = Annotated[
    bool,
    typer.Option(
        "--tune-alpha",
        help="At the end, tune beam search's length penalty on dev (beam 5); translate -m RUN uses it "
        "unless --alpha is given.",
        rich_help_panel=OUTPUT,
    ),
]
LogEvery = Annotated[
    int,
    typer.Option(
        "--log-every",
        help="Write loss and tokens/s to metrics.jsonl every N updates (and a progress line when stderr "
        "is no terminal).",
        rich_help_panel=OUTPUT,
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Less on stderr: no progress, no validation lines, no summary.",
        rich_help_panel=OUTPUT,
    ),
]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="JSON on stdout at the end: one object (steps, why it stopped, best and last scores, "
        "checkpoints, versions).",
        rich_help_panel=OUTPUT,
    ),
]
Board = Annotated[
    Path | None,
    typer.Option(
        "--tensorboard",
        metavar="DIR",
        show_default=False,
        help="Also log the curves for TensorBoard in DIR (needs the tensorboard package).",
        rich_help_panel=OUTPUT,
    ),
]
DumpConfig = Annotated[
    str | None,
    typer.Option(
        "--dump-config",
        metavar="FILE|-",
        show_default=False,
        help="Write every option as resolved to this YAML file (- = stdout) and exit: --config reads it.",
        rich_help_panel=OUTPUT,
    ),
]

EXAMPLES = """
nmt train data --out run --max-time 1h
nmt train data --out run --cell lstm --layers 2 --label-smoothing 0.1
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
    attention: Attention = "bahdanau",
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
    label_smoothing: Smoothing = 0.0,
    clip: Clip = 1.0,
    max_steps: MaxSteps = 0,
    max_epochs: MaxEpochs = 0,
    max_time: MaxTime = 0.0,
    valid_every: ValidEvery = 500,
    valid_metric: Metric = "bleu",
    save_every: SaveEvery = 0,
    log_every: LogEvery = 100,
    patience: Patience = 10,
    keep_last: KeepLast = 3,
    average_last: AverageLast = 0,
    tune_alpha: TuneAlpha = False,
    seed: Seed = 1,
    threads: Threads = 0,
    device: DeviceOpt = "auto",
    bf16: Bf16 = False,
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
