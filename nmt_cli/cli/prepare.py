"""``nmt prepare``: clean a parallel corpus, train SentencePiece, write a data directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from nmt_cli.choices import SpmModel
from nmt_cli.cli.common import options, run

Pair = tuple[Path, Path] | None
Out = Annotated[
    Path, typer.Option("--out", "-o", help="Data directory to create (must not exist, or be empty).")
]
Train = Annotated[Pair, typer.Option("--train", help="Line-aligned source and target files (plain or .gz).")]
Dev = Annotated[Pair, typer.Option("--dev", help="Dev source and target files (kept as given).")]
Test = Annotated[Pair, typer.Option("--test", help="Test source and target files (kept as given).")]
Tsv = Annotated[
    Path | None,
    typer.Option("--tsv", help="One file holding both sides: TSV, or CSV when named .csv (plain or .gz)."),
]
Columns = Annotated[
    str,
    typer.Option("--columns", help="Source,target columns: 0-based indices, or header names (e.g. en,es)."),
]
Hf = Annotated[
    str | None,
    typer.Option(
        "--hf",
        help="Hugging Face dataset: hub name, save_to_disk folder, folder of data files, "
        "or .json/.jsonl/.csv/.parquet file(s) (a glob in quotes).",
    ),
]
HfConfig = Annotated[str | None, typer.Option("--hf-config", help="Dataset configuration, e.g. en-es.")]
HfSplit = Annotated[str, typer.Option("--hf-split", help="Dataset split used as train.")]
HfDev = Annotated[str | None, typer.Option("--hf-dev-split", help="Dataset split used as dev.")]
HfTest = Annotated[str | None, typer.Option("--hf-test-split", help="Dataset split used as test.")]
Streaming = Annotated[
    bool, typer.Option("--streaming", help="Stream the dataset instead of downloading/caching it first.")
]
SrcLang = Annotated[
    str | None,
    typer.Option(
        "--src-lang", help="Source language key in a dataset's translation column (or column name)."
    ),
]
TgtLang = Annotated[
    str | None,
    typer.Option(
        "--tgt-lang", help="Target language key in a dataset's translation column (or column name)."
    ),
]
DevSize = Annotated[int, typer.Option("--dev-size", help="Carve about this many dev pairs out of train.")]
TestSize = Annotated[int, typer.Option("--test-size", help="Carve about this many test pairs out of train.")]
VocabSize = Annotated[int, typer.Option("--vocab-size", help="SentencePiece vocabulary size.")]
Separate = Annotated[bool, typer.Option("--separate-vocab", help="One vocabulary per side.")]
ModelType = Annotated[SpmModel, typer.Option("--model-type", help="SentencePiece model.")]
Coverage = Annotated[float, typer.Option("--character-coverage", help="SentencePiece coverage.")]
ByteFallback = Annotated[
    bool, typer.Option("--byte-fallback/--no-byte-fallback", help="Spell unknown characters as UTF-8 bytes.")
]
SampleSize = Annotated[
    int, typer.Option("--input-sentence-size", help="Sentences sampled from train to fit SentencePiece.")
]
MaxPieces = Annotated[int, typer.Option("--max-pieces", help="Drop pairs with more pieces on a side.")]
MaxChars = Annotated[int, typer.Option("--max-chars", help="Drop pairs with more characters on a side.")]
MaxRatio = Annotated[
    float,
    typer.Option("--max-ratio", help="Drop pairs whose longer side has more than this times the pieces."),
]
RatioMin = Annotated[
    int,
    typer.Option(
        "--ratio-min-pieces", help="Check --max-ratio only when the longer side has this many pieces."
    ),
]
KeepCopies = Annotated[bool, typer.Option("--keep-copies", help="Keep pairs whose source == target.")]
KeepDuplicates = Annotated[bool, typer.Option("--keep-duplicates", help="Keep exact duplicate pairs.")]
KeepOverlap = Annotated[
    bool, typer.Option("--keep-overlap", help="Keep training pairs whose source is also a dev/test source.")
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for carving splits and tokenizer sampling.")]
Json = Annotated[bool, typer.Option("--json", help="Also print the filter report as JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines and no table on stderr.")]


def prepare(
    ctx: typer.Context,
    out: Out,
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
    max_pieces: MaxPieces = 200,
    max_chars: MaxChars = 2000,
    max_ratio: MaxRatio = 3.0,
    ratio_min_pieces: RatioMin = 10,
    keep_copies: KeepCopies = False,
    keep_duplicates: KeepDuplicates = False,
    keep_overlap: KeepOverlap = False,
    seed: Seed = 1,
    json_out: Json = False,
    quiet: Quiet = False,
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
    report = prepare_data(spec, settings, out, log=None if quiet else display.info)
    if not quiet:
        display.show_filter_report(report, out)
    if given["json_out"]:
        sys.stdout.write(json.dumps(report, sort_keys=True, ensure_ascii=False) + "\n")
        sys.stdout.flush()
