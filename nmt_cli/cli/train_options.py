"""The options of ``nmt train``: one ``Annotated`` type per option, grouped in help panels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.choices import (
    Cell,
    DecayFrom,
    Device,
    Kernels,
    Optimizer,
    OutputVocab,
    Placement,
    Schedule,
    SubwordSides,
    ValidMetric,
    parse_duration,
)
from nmt_cli.cli.common import parsed

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
        help="Where attention sits. post: query = state after the step, context combined for the output "
        "(the whole target side in one recurrent call: about 2x the updates of bahdanau on long sentences); "
        "bahdanau: the original paper's, query = previous decoder state, context fed to the cell.",
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
        help="Label smoothing: probability spread over the other pieces (0 = off). "
        "Dev loss is never smoothed.",
        rich_help_panel=OPTIM,
    ),
]
SubwordAlpha = Annotated[
    float,
    typer.Option(
        "--subword-alpha",
        help="Subword regularisation: every epoch, segment the training pairs afresh by sampling "
        "(SentencePiece's alpha: unigram models' smoothing, 0.1-0.5 usual with --subword-nbest -1; "
        "BPE models' dropout rate). 0 = off: the stored segmentation. With target sampling the output "
        "layer scores every target piece.",
        rich_help_panel=RUN,
    ),
]
SubwordNbest = Annotated[
    int,
    typer.Option(
        "--subword-nbest",
        help="Sample among this many best segmentations (-1: among all of them).",
        rich_help_panel=RUN,
    ),
]
SubwordSidesOpt = Annotated[
    SubwordSides,
    typer.Option("--subword-sides", help="Sides --subword-alpha samples.", rich_help_panel=RUN),
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
DecayPatience = Annotated[
    int,
    typer.Option(
        "--decay-patience",
        help="With a budgeted schedule (linear, cosine): after N validations without a better dev score, "
        "decay from the current rate to --min-lr over the next --valid-every updates and stop there, "
        "before the limit (0 = decay at the limit only).",
        rich_help_panel=STOP,
    ),
]
DecayFromOpt = Annotated[
    DecayFrom,
    typer.Option(
        "--decay-from",
        help="Where --decay-patience's decay starts: the weights as they are (last), or the best "
        "validation's, with Adam's moments restarted (best).",
        rich_help_panel=STOP,
    ),
]
Threads = Annotated[
    int, typer.Option("--threads", help="CPU threads (0 = torch's default).", rich_help_panel=SPEED)
]
DeviceOpt = Annotated[
    Device, typer.Option("--device", help="Where to train (auto: CUDA when present).", rich_help_panel=SPEED)
]
Bf16 = Annotated[
    bool | None,
    typer.Option(
        "--bf16/--fp32",
        show_default=False,
        help="Precision of the matrix products (weights, states and loss stay fp32). By default bf16 is "
        "timed against fp32 on the first batch on a CPU with bf16 units (AMX, AVX-512 BF16) and taken "
        "when faster; fp32 elsewhere. --bf16 asks for it (on a CPU without bf16 units, where it would be "
        "emulated ~30x slower, the run stays in fp32 and says so); --fp32 never uses it.",
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
