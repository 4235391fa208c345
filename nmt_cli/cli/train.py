"""``nmt train``: options -> model and training settings -> ``training.train_model``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.choices import (
    Cell,
    Device,
    Optimizer,
    OutputVocab,
    Placement,
    Schedule,
    ValidMetric,
    parse_duration,
)
from nmt_cli.cli.common import options, parsed, run

Data = Annotated[Path, typer.Argument(help="Data directory written by `nmt prepare`.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Run directory (created, or resumed).")]
CellOpt = Annotated[Cell, typer.Option("--cell", help="Recurrent cell.")]
Attention = Annotated[
    Placement,
    typer.Option(
        "--attention",
        help="bahdanau: query = previous decoder state, context fed to the cell; "
        "post: query = state after the step, context combined for the output.",
    ),
]
InputFeeding = Annotated[
    bool,
    typer.Option(
        "--input-feeding/--no-input-feeding",
        help="With --attention post: feed the last attentional output to the cell (Luong).",
    ),
]
Emb = Annotated[int, typer.Option("--emb", help="Embedding size.")]
EncHidden = Annotated[int, typer.Option("--enc-hidden", help="Encoder hidden size per direction.")]
DecHidden = Annotated[int, typer.Option("--dec-hidden", help="Decoder hidden size.")]
AttnDim = Annotated[int, typer.Option("--attn-dim", help="Attention MLP size (0 = decoder hidden size).")]
Layers = Annotated[int, typer.Option("--layers", help="Recurrent layers in encoder and decoder.")]
Dropout = Annotated[float, typer.Option("--dropout", help="Dropout on embeddings, between layers, output.")]
Tie = Annotated[bool, typer.Option("--tie-embeddings", help="Tie target embeddings and output.")]
Bridge = Annotated[
    bool, typer.Option("--bridge/--no-bridge", help="Initialise the decoder from the encoder.")
]
OutVocab = Annotated[
    OutputVocab,
    typer.Option("--output-vocab", help="seen: score only target pieces seen in training (faster); all."),
]
BatchTokens = Annotated[int, typer.Option("--batch-tokens", help="Token budget per batch (target side).")]
Accum = Annotated[int, typer.Option("--accum", help="Gradient accumulation steps.")]
Opt = Annotated[Optimizer, typer.Option("--optimizer", help="Optimizer.")]
Lr = Annotated[float, typer.Option("--lr", help="Peak learning rate.")]
Warmup = Annotated[int, typer.Option("--warmup", help="Linear warm-up steps.")]
Sched = Annotated[Schedule, typer.Option("--schedule", help="Learning-rate schedule after warm-up.")]
Smoothing = Annotated[float, typer.Option("--label-smoothing", help="Label smoothing of the loss (0 = off).")]
Clip = Annotated[float, typer.Option("--clip", help="Gradient clipping norm (0 = off).")]
MaxSteps = Annotated[int, typer.Option("--max-steps", help="Stop after this many updates (0 = no limit).")]
MaxEpochs = Annotated[int, typer.Option("--max-epochs", help="Stop after this many epochs (0 = no limit).")]
MaxTime = Annotated[
    float,
    typer.Option(
        "--max-time",
        parser=parsed(parse_duration),
        metavar="DURATION",
        show_default=False,
        help="Stop after this long, e.g. 30m, 2h, 90s.",
    ),
]
ValidEvery = Annotated[int, typer.Option("--valid-every", help="Validate every N updates.")]
Metric = Annotated[ValidMetric, typer.Option("--valid-metric", help="Dev score for best and patience.")]
SaveEvery = Annotated[int, typer.Option("--save-every", help="Also checkpoint every N updates (0 = off).")]
LogEvery = Annotated[int, typer.Option("--log-every", help="Log loss and tokens/s every N updates.")]
Patience = Annotated[int, typer.Option("--patience", help="Stop after N validations without improvement.")]
KeepLast = Annotated[int, typer.Option("--keep-last", help="Keep the last K checkpoints.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Threads = Annotated[int, typer.Option("--threads", help="CPU threads (0 = torch default).")]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Where to train.")]
Bf16 = Annotated[
    bool,
    typer.Option(
        "--bf16", help="bf16 matrix products (fp32 weights, states and loss): 1.2x faster on CPUs with AMX."
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Resume even if settings changed.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def train(
    ctx: typer.Context,
    data: Data,
    out: Out,
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
    lr: Lr = 1e-3,
    warmup: Warmup = 0,
    schedule: Sched = "plateau",
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
    seed: Seed = 1,
    threads: Threads = 0,
    device: DeviceOpt = "auto",
    bf16: Bf16 = False,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Train an attention RNN translator; rerunning the same command resumes exactly."""
    given = options(ctx)
    run(lambda: _train(given))


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
    train_model(data, out, model, settings, force=bool(given["force"]), quiet=bool(given["quiet"]))
