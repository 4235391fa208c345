"""``nmt prepare``: clean a parallel corpus, train SentencePiece, write a data directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.choices import SpmModel
from nmt_cli.cli.common import options, run
from nmt_cli.cli.config import Config

Pair = tuple[Path, Path] | None
FILES, HF, SPLITS, TOKENIZER, CLEANING, OUTPUT = (
    "Corpus files",
    "Hugging Face datasets (needs the [hf] extra)",
    "Splits",
    "Tokenizer (SentencePiece)",
    "Cleaning",
    "Output",
)

Out = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Data directory to create (must not exist, or be empty).",
        rich_help_panel=OUTPUT,
    ),
]
Train = Annotated[
    Pair,
    typer.Option(
        "--train",
        metavar="SRC TGT",
        help="Line-aligned source and target files (plain or .gz).",
        rich_help_panel=FILES,
    ),
]
Dev = Annotated[
    Pair,
    typer.Option(
        "--dev", metavar="SRC TGT", help="Dev source and target files (kept as given).", rich_help_panel=FILES
    ),
]
Test = Annotated[
    Pair,
    typer.Option(
        "--test",
        metavar="SRC TGT",
        help="Test source and target files (kept as given).",
        rich_help_panel=FILES,
    ),
]
Tsv = Annotated[
    Path | None,
    typer.Option(
        "--tsv",
        metavar="FILE",
        help="One file holding both sides: TSV, or CSV when named .csv (plain or .gz).",
        rich_help_panel=FILES,
    ),
]
Columns = Annotated[
    str,
    typer.Option(
        "--columns",
        metavar="SRC,TGT",
        help="Source,target columns of --tsv: 0-based indices, or header names (e.g. en,es).",
        rich_help_panel=FILES,
    ),
]
Hf = Annotated[
    str | None,
    typer.Option(
        "--hf",
        metavar="NAME|PATH",
        help="Hugging Face dataset: hub name, save_to_disk folder, folder of data files, "
        "or .json/.jsonl/.csv/.parquet file(s) (a glob in quotes).",
        rich_help_panel=HF,
    ),
]
HfConfig = Annotated[
    str | None,
    typer.Option(
        "--hf-config", metavar="NAME", help="Dataset configuration, e.g. en-es.", rich_help_panel=HF
    ),
]
HfSplit = Annotated[
    str, typer.Option("--hf-split", metavar="SPLIT", help="Dataset split used as train.", rich_help_panel=HF)
]
HfDev = Annotated[
    str | None,
    typer.Option("--hf-dev-split", metavar="SPLIT", help="Dataset split used as dev.", rich_help_panel=HF),
]
HfTest = Annotated[
    str | None,
    typer.Option("--hf-test-split", metavar="SPLIT", help="Dataset split used as test.", rich_help_panel=HF),
]
Streaming = Annotated[
    bool,
    typer.Option(
        "--streaming", help="Stream the dataset instead of downloading/caching it first.", rich_help_panel=HF
    ),
]
SrcLang = Annotated[
    str | None,
    typer.Option(
        "--src-lang",
        metavar="KEY",
        help="Source language key in a dataset's translation column (or column name).",
        rich_help_panel=HF,
    ),
]
TgtLang = Annotated[
    str | None,
    typer.Option(
        "--tgt-lang",
        metavar="KEY",
        help="Target language key in a dataset's translation column (or column name).",
        rich_help_panel=HF,
    ),
]
DevSize = Annotated[
    int,
    typer.Option(
        "--dev-size", help="Dev pairs: carve about this many out of train (0 = none).", rich_help_panel=SPLITS
    ),
]
TestSize = Annotated[
    int,
    typer.Option(
        "--test-size",
        help="Test pairs: carve about this many out of train (0 = none).",
        rich_help_panel=SPLITS,
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed", help="Random seed: carving splits, sampling for the tokenizer.", rich_help_panel=SPLITS
    ),
]
VocabSize = Annotated[
    int, typer.Option("--vocab-size", help="SentencePiece vocabulary size.", rich_help_panel=TOKENIZER)
]
Separate = Annotated[
    bool,
    typer.Option(
        "--separate-vocab",
        help="One vocabulary per side (default: one joint vocabulary).",
        rich_help_panel=TOKENIZER,
    ),
]
ModelType = Annotated[
    SpmModel, typer.Option("--model-type", help="SentencePiece model type.", rich_help_panel=TOKENIZER)
]
Coverage = Annotated[
    float,
    typer.Option(
        "--character-coverage",
        help="Share of characters the vocabulary covers (1.0 for alphabets, 0.9995 for CJK).",
        rich_help_panel=TOKENIZER,
    ),
]
ByteFallback = Annotated[
    bool,
    typer.Option(
        "--byte-fallback/--no-byte-fallback",
        help="Spell unknown characters as UTF-8 bytes.",
        rich_help_panel=TOKENIZER,
    ),
]
Reuse = Annotated[
    Path | None,
    typer.Option(
        "--tokenizer",
        metavar="RUN|DATA|FILE",
        show_default=False,
        help="Encode with an existing SentencePiece model instead of training one: a run directory or "
        "checkpoint (its tokenizer), a data directory, or a .model file. The ids match that model's, "
        "as train --init-from needs; the --vocab-size, --model-type and other tokenizer options are "
        "then unused.",
        rich_help_panel=TOKENIZER,
    ),
]
SampleSize = Annotated[
    int,
    typer.Option(
        "--input-sentence-size",
        help="Sentences sampled from train to fit SentencePiece.",
        rich_help_panel=TOKENIZER,
    ),
]
MaxPieces = Annotated[
    int, typer.Option("--max-pieces", help="Drop pairs with more pieces on a side.", rich_help_panel=CLEANING)
]
MaxChars = Annotated[
    int,
    typer.Option("--max-chars", help="Drop pairs with more characters on a side.", rich_help_panel=CLEANING),
]
MaxRatio = Annotated[
    float,
    typer.Option(
        "--max-ratio",
        help="Drop pairs whose longer side has more than this times the pieces.",
        rich_help_panel=CLEANING,
    ),
]
RatioMin = Annotated[
    int,
    typer.Option(
        "--ratio-min-pieces",
        help="Check --max-ratio only when the longer side has this many pieces.",
        rich_help_panel=CLEANING,
    ),
]
KeepCopies = Annotated[
    bool, typer.Option("--keep-copies", help="Keep pairs whose source == target.", rich_help_panel=CLEANING)
]
KeepDuplicates = Annotated[
    bool, typer.Option("--keep-duplicates", help="Keep exact duplicate pairs.", rich_help_panel=CLEANING)
]
KeepOverlap = Annotated[
    bool,
    typer.Option(
        "--keep-overlap",
        help="Keep training pairs whose source is also a dev/test source.",
        rich_help_panel=CLEANING,
    ),
]
Json = Annotated[
    bool,
    typer.Option("--json", help="JSON on stdout: the filter report, one object.", rich_help_panel=OUTPUT),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Less on stderr: no progress lines, no report table.", rich_help_panel=OUTPUT
    ),
]

EXAMPLES = """
nmt prepare --train train.en train.es --dev-size 1000 --test-size 1000 -o data
nmt prepare --tsv pairs.tsv.gz --columns en,es --vocab-size 16000 -o data
nmt prepare --train domain.en domain.es --dev-size 500 --tokenizer run -o data2
nmt prepare --hf Helsinki-NLP/opus_books --hf-config en-es \\
    --src-lang en --tgt-lang es --dev-size 500 --test-size 500 -o data
"""


def prepare(
    ctx: typer.Context,
    train: Train = None,
    dev: Dev = None,
    test: Test = None,
    tsv: Tsv = None,
    columns: Columns = "0,1",
    hf: Hf = None,
    hf_config: HfConfig = None,
    hf_split: HfSplit = "train",
    hf_dev_split: HfDev = None,
    hf_test_split: HfTest = None,
    streaming: Streaming = False,
    src_lang: SrcLang = None,
    tgt_lang: TgtLang = None,
    dev_size: DevSize = 0,
    test_size: TestSize = 0,
    vocab_size: VocabSize = 8000,
    separate_vocab: Separate = False,
    model_type: ModelType = "unigram",
    character_coverage: Coverage = 1.0,
    byte_fallback: ByteFallback = True,
    input_sentence_size: SampleSize = 1_000_000,
    tokenizer: Reuse = None,
    max_pieces: MaxPieces = 200,
    max_chars: MaxChars = 2000,
    max_ratio: MaxRatio = 3.0,
    ratio_min_pieces: RatioMin = 10,
    keep_copies: KeepCopies = False,
    keep_duplicates: KeepDuplicates = False,
    keep_overlap: KeepOverlap = False,
    seed: Seed = 1,
    out: Out = ...,  # type: ignore[assignment]
    json_out: Json = False,
    quiet: Quiet = False,
    config: Config = None,
) -> None:
    """Clean a parallel corpus, train SentencePiece and write a data directory for `nmt train`.

    Each cleaning rule is counted, with the first line numbers it dropped: a table on stderr and
    DATA/report.json. DATA appears only when everything is written (a killed run leaves nothing there).

    Exit codes: 0 ok; 1 bad data (missing file, files with different line counts, nothing left after
    cleaning, vocabulary too large for the corpus); 2 usage error; 130 interrupted.
    """
    given = options(ctx)
    run(lambda: _prepare(given))


def _prepare(given: dict[str, object]) -> None:
    import json

    from nmt_cli import display
    from nmt_cli.data.prepare import prepare_data
    from nmt_cli.settings import PrepareSettings, SourceSettings, build

    spec = build(SourceSettings, given)
    settings = build(
        PrepareSettings,
        given,
        joint_vocab=not given["separate_vocab"],
        drop_copies=not given["keep_copies"],
        drop_duplicates=not given["keep_duplicates"],
        drop_overlap=not given["keep_overlap"],
    )
    out, quiet = Path(str(given["out"])), bool(given["quiet"])
    if quiet:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    reuse = None
    if given["tokenizer"] is not None:
        from nmt_cli.data.prepare import ReusedTokenizer
        from nmt_cli.record import tokenizer_of

        origin = Path(str(given["tokenizer"]))
        reuse = ReusedTokenizer(*tokenizer_of(origin), origin=str(origin.resolve()))
    report = prepare_data(spec, settings, out, log=None if quiet else display.info, reuse=reuse)
    if not quiet:
        display.show_filter_report(report, out)
    if given["json_out"]:
        sys.stdout.write(json.dumps(report, sort_keys=True, ensure_ascii=False) + "\n")
        sys.stdout.flush()
