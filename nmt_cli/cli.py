"""The ``nmt`` command line. Parses options and calls one library function per command.

Nothing heavy is imported at module level: ``nmt --help`` must not pay for torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer

from nmt_cli.errors import EXIT_INTERRUPTED, NmtError

app = typer.Typer(
    name="nmt",
    help="Train, run and inspect attention RNN translators.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Cell(str, Enum):
    gru = "gru"
    lstm = "lstm"


class Placement(str, Enum):
    bahdanau = "bahdanau"
    post = "post"


class ModelType(str, Enum):
    unigram = "unigram"
    bpe = "bpe"


class AlignLevel(str, Enum):
    word = "word"
    piece = "piece"


class LongInput(str, Enum):
    crop = "crop"
    split_ = "split"


def _err(message: str) -> None:
    sys.stderr.write(f"nmt: error: {message}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@contextmanager
def guarded() -> Iterator[None]:
    """Map user-caused errors to one line on stderr and a documented exit code."""
    try:
        yield
    except NmtError as err:
        _err(str(err))
        raise typer.Exit(err.exit_code) from None
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _call(fn: Callable[[], object]) -> None:
    _tame_openmp()
    with guarded():
        fn()


# GNU OpenMP threads spin ~300k times at every barrier before sleeping. An RNN runs thousands of
# small parallel regions per batch, so when another process holds a core the spinning threads wait
# for it at every barrier. Measured on 2 cores, demo model, tokens/s idle / with one core busy:
# default 13.7k / 0.44k, 5000 spins 13.1k / 4.9k. Set before torch loads libgomp; a user's own
# setting wins.
OPENMP_DEFAULTS = {"GOMP_SPINCOUNT": "5000"}


def _exit_now() -> None:
    """Leave without the interpreter's teardown, which costs ~0.27 s once torch is loaded.

    Only after a command finished normally and wrote everything: output files are closed by then
    and the standard streams are flushed here.
    """
    if not _as_program:  # called in-process (tests, CliRunner): return normally
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(0)


def _tame_openmp() -> None:
    for key, value in OPENMP_DEFAULTS.items():
        os.environ.setdefault(key, value)


@app.command()
def prepare(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Data directory to create (must not exist, or be empty)."
    ),
    train: tuple[Path, Path] | None = typer.Option(
        None, "--train", help="Line-aligned source and target files (plain or .gz)."
    ),
    dev: tuple[Path, Path] | None = typer.Option(
        None, "--dev", help="Dev source and target files (kept as given)."
    ),
    test: tuple[Path, Path] | None = typer.Option(
        None, "--test", help="Test source and target files (kept as given)."
    ),
    tsv: Path | None = typer.Option(
        None, "--tsv", help="One file holding both sides: TSV, or CSV when named .csv (plain or .gz)."
    ),
    columns: str = typer.Option(
        "0,1", "--columns", help="Source,target columns: 0-based indices, or header names (e.g. en,es)."
    ),
    hf: str | None = typer.Option(
        None,
        "--hf",
        help="Hugging Face dataset: hub name, save_to_disk folder, folder of data files, "
        "or .json/.jsonl/.csv/.parquet file(s) (a glob in quotes).",
    ),
    hf_config: str | None = typer.Option(None, "--hf-config", help="Dataset configuration, e.g. en-es."),
    hf_split: str = typer.Option("train", "--hf-split", help="Dataset split used as train."),
    hf_dev_split: str | None = typer.Option(None, "--hf-dev-split", help="Dataset split used as dev."),
    hf_test_split: str | None = typer.Option(None, "--hf-test-split", help="Dataset split used as test."),
    streaming: bool = typer.Option(
        False, "--streaming", help="Stream the dataset instead of downloading/caching it first."
    ),
    src_lang: str | None = typer.Option(
        None, "--src-lang", help="Source language key in a dataset's translation column (or column name)."
    ),
    tgt_lang: str | None = typer.Option(
        None, "--tgt-lang", help="Target language key in a dataset's translation column (or column name)."
    ),
    dev_size: int = typer.Option(0, "--dev-size", help="Carve about this many dev pairs out of train."),
    test_size: int = typer.Option(0, "--test-size", help="Carve about this many test pairs out of train."),
    vocab_size: int = typer.Option(8000, "--vocab-size", help="SentencePiece vocabulary size."),
    separate_vocab: bool = typer.Option(False, "--separate-vocab", help="One vocabulary per side."),
    model_type: ModelType = typer.Option(ModelType.unigram, "--model-type", help="SentencePiece model."),
    character_coverage: float = typer.Option(1.0, "--character-coverage", help="SentencePiece coverage."),
    byte_fallback: bool = typer.Option(
        True, "--byte-fallback/--no-byte-fallback", help="Spell unknown characters as UTF-8 bytes."
    ),
    input_sentence_size: int = typer.Option(
        1_000_000, "--input-sentence-size", help="Sentences sampled from train to fit SentencePiece."
    ),
    max_pieces: int = typer.Option(200, "--max-pieces", help="Drop pairs with more pieces on a side."),
    max_chars: int = typer.Option(2000, "--max-chars", help="Drop pairs with more characters on a side."),
    max_ratio: float = typer.Option(
        3.0, "--max-ratio", help="Drop pairs whose longer side has more than this times the pieces."
    ),
    ratio_min_pieces: int = typer.Option(
        10, "--ratio-min-pieces", help="Check --max-ratio only when the longer side has this many pieces."
    ),
    keep_copies: bool = typer.Option(False, "--keep-copies", help="Keep pairs whose source == target."),
    keep_duplicates: bool = typer.Option(False, "--keep-duplicates", help="Keep exact duplicate pairs."),
    keep_overlap: bool = typer.Option(
        False, "--keep-overlap", help="Keep training pairs whose source is also a dev/test source."
    ),
    seed: int = typer.Option(1, "--seed", help="Seed for carving splits and tokenizer sampling."),
    json_out: bool = typer.Option(False, "--json", help="Also print the filter report as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines and no table on stderr."),
) -> None:
    """Clean a parallel corpus, train SentencePiece and write a data directory for `nmt train`.

    Each cleaning rule is counted, with the first line numbers it dropped: a table on stderr and
    DATA/report.json. DATA appears only when everything is written (a killed run leaves nothing there).

    Exit codes: 0 ok; 1 bad data (missing file, files with different line counts, nothing left after
    cleaning, vocabulary too large for the corpus); 2 usage error; 130 interrupted.
    """

    def run() -> None:
        import json

        from nmt_cli import display
        from nmt_cli.prepare import prepare_data
        from nmt_cli.settings import PrepareSettings, SourceSettings

        spec = SourceSettings(
            train=train,
            dev=dev,
            test=test,
            tsv=tsv,
            columns=columns,
            hf=hf,
            hf_config=hf_config,
            hf_split=hf_split,
            hf_dev_split=hf_dev_split,
            hf_test_split=hf_test_split,
            streaming=streaming,
            src_lang=src_lang,
            tgt_lang=tgt_lang,
        )
        opts = PrepareSettings(
            vocab_size=vocab_size,
            joint_vocab=not separate_vocab,
            model_type=model_type.value,
            character_coverage=character_coverage,
            byte_fallback=byte_fallback,
            input_sentence_size=input_sentence_size,
            max_pieces=max_pieces,
            max_chars=max_chars,
            max_ratio=max_ratio,
            ratio_min_pieces=ratio_min_pieces,
            drop_copies=not keep_copies,
            drop_duplicates=not keep_duplicates,
            drop_overlap=not keep_overlap,
            dev_size=dev_size,
            test_size=test_size,
            seed=seed,
        )
        if quiet:
            os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        report = prepare_data(spec, opts, out, log=None if quiet else display.info)
        if not quiet:
            display.show_filter_report(report, out)
        if json_out:
            sys.stdout.write(json.dumps(report, sort_keys=True, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    _call(run)


@app.command()
def train(
    data: Path = typer.Argument(..., help="Data directory written by `nmt prepare`."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (created, or resumed)."),
    cell: Cell = typer.Option(Cell.gru, "--cell", help="Recurrent cell."),
    attention: Placement = typer.Option(
        Placement.bahdanau,
        "--attention",
        help="bahdanau: query = previous decoder state, context fed to the cell; "
        "post: query = state after the step, context combined for the output.",
    ),
    input_feeding: bool = typer.Option(
        False,
        "--input-feeding/--no-input-feeding",
        help="With --attention post: feed the last attentional output to the cell (Luong).",
    ),
    emb: int = typer.Option(256, "--emb", help="Embedding size."),
    enc_hidden: int = typer.Option(256, "--enc-hidden", help="Encoder hidden size per direction."),
    dec_hidden: int = typer.Option(512, "--dec-hidden", help="Decoder hidden size."),
    attn_dim: int = typer.Option(0, "--attn-dim", help="Attention MLP size (0 = decoder hidden size)."),
    layers: int = typer.Option(1, "--layers", help="Recurrent layers in encoder and decoder."),
    dropout: float = typer.Option(0.2, "--dropout", help="Dropout on embeddings, between layers, output."),
    tie_embeddings: bool = typer.Option(False, "--tie-embeddings", help="Tie target embeddings and output."),
    bridge: bool = typer.Option(
        True, "--bridge/--no-bridge", help="Initialise the decoder from the encoder."
    ),
    output_vocab: str = typer.Option(
        "seen", "--output-vocab", help="seen: score only target pieces seen in training (faster); all."
    ),
    batch_tokens: int = typer.Option(2000, "--batch-tokens", help="Token budget per batch (target side)."),
    accum: int = typer.Option(1, "--accum", help="Gradient accumulation steps."),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam or adamw."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    warmup: int = typer.Option(0, "--warmup", help="Linear warm-up steps."),
    schedule: str = typer.Option("plateau", "--schedule", help="constant, plateau or rsqrt."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing"),
    clip: float = typer.Option(1.0, "--clip", help="Gradient clipping norm (0 = off)."),
    max_steps: int = typer.Option(0, "--max-steps", help="Stop after this many updates (0 = no limit)."),
    max_epochs: int = typer.Option(0, "--max-epochs", help="Stop after this many epochs (0 = no limit)."),
    max_time: str = typer.Option("", "--max-time", help="Stop after this long, e.g. 30m, 2h, 90s."),
    valid_every: int = typer.Option(500, "--valid-every", help="Validate every N updates."),
    valid_metric: str = typer.Option("bleu", "--valid-metric", help="bleu, chrf or loss."),
    save_every: int = typer.Option(0, "--save-every", help="Also checkpoint every N updates (0 = off)."),
    log_every: int = typer.Option(100, "--log-every", help="Log loss and tokens/s every N updates."),
    patience: int = typer.Option(10, "--patience", help="Stop after N validations without improvement."),
    keep_last: int = typer.Option(3, "--keep-last", help="Keep the last K checkpoints."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = torch default)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    bf16: bool = typer.Option(
        False,
        "--bf16",
        help="bf16 matrix products (fp32 weights, states and loss): 1.2x faster on CPUs with AMX.",
    ),
    force: bool = typer.Option(False, "--force", help="Resume even if settings changed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train an attention RNN translator; rerunning the same command resumes exactly."""

    def run() -> None:
        from nmt_cli.settings import ModelSettings, TrainSettings, parse_duration
        from nmt_cli.training import train_model

        model_cfg = ModelSettings(
            cell=cell.value,
            attention=attention.value,
            input_feeding=bool(input_feeding),
            emb=emb,
            enc_hidden=enc_hidden,
            dec_hidden=dec_hidden,
            attn_dim=attn_dim or dec_hidden,
            layers=layers,
            dropout=dropout,
            tie_embeddings=tie_embeddings,
            bridge=bridge,
            restrict_output=output_vocab != "all",
        )
        train_cfg = TrainSettings(
            batch_tokens=batch_tokens,
            accum=accum,
            optimizer=optimizer,
            lr=lr,
            warmup=warmup,
            schedule=schedule,
            label_smoothing=label_smoothing,
            clip=clip,
            max_steps=max_steps,
            max_epochs=max_epochs,
            max_seconds=parse_duration(max_time),
            valid_every=valid_every,
            valid_metric=valid_metric,
            save_every=save_every,
            log_every=log_every,
            patience=patience,
            keep_last=keep_last,
            seed=seed,
            threads=threads,
            device=device,
            bf16=bf16,
        )
        train_model(data, out, model_cfg, train_cfg, force=force, quiet=quiet)

    _call(run)


@app.command()
def translate(
    input_file: str = typer.Argument("-", metavar="[FILE|-]", help="Input text, one sentence a line."),
    model: str = typer.Option(..., "--model", "-m", help="Run directory or checkpoint file."),
    output: str = typer.Option("-", "--output", "-o", help="Output file ('-' = stdout)."),
    beam: int = typer.Option(1, "--beam", "-b", help="Beam size (1 = greedy)."),
    alpha: float = typer.Option(0.6, "--alpha", help="GNMT length-normalisation exponent for beam search."),
    nbest: int = typer.Option(1, "--nbest", help="Write the K best hypotheses per line (Moses format)."),
    batch_size: int = typer.Option(
        0, "--batch-size", help="Sentences per batch (0 = 160 / beam, about 160 hypotheses at a time)."
    ),
    max_src_len: int = typer.Option(250, "--max-src-len", help="Longest source, in pieces."),
    long_input: LongInput = typer.Option(LongInput.crop, "--long-input", help="What to do past it."),
    max_len_ratio: float = typer.Option(2.0, "--max-len-ratio", help="Output pieces per source piece."),
    max_len: int = typer.Option(400, "--max-len", help="Absolute cap on output pieces."),
    show_attention: bool = typer.Option(
        False, "--show-attention", help="Draw a heatmap per sentence on stderr (pieces; see --heatmap-words)."
    ),
    heatmap_words: bool = typer.Option(
        False, "--heatmap-words", help="Heatmaps over words: pieces merged, weights summed per source word."
    ),
    align: bool = typer.Option(False, "--align", help="Append Pharaoh alignments after ' ||| '."),
    align_level: AlignLevel = typer.Option(AlignLevel.word, "--align-level", help="word or piece."),
    json_out: bool = typer.Option(False, "--json", help="Write JSON Lines (id, src, hyp, score, alignment)."),
    attention_matrix: bool = typer.Option(False, "--attention", help="With --json: the full soft matrix."),
    strict_utf8: bool = typer.Option(False, "--strict-utf8", help="Stop on invalid UTF-8."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = torch default)."),
    quantize: str = typer.Option(
        "none",
        "--quantize",
        help="none, int8 (dynamic quantization) or bf16 (bf16 products: fast on CPUs with AMX).",
    ),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best or last (for a run directory)."),
) -> None:
    """Translate lines from FILE or stdin; one output line per input line, always."""

    def run() -> None:
        from nmt_cli.settings import DecodeSettings
        from nmt_cli.translate import translate_stream

        opts = DecodeSettings(
            beam=beam,
            alpha=alpha,
            nbest=nbest,
            batch_size=batch_size,
            max_src_len=max_src_len,
            long_input=long_input.value,
            max_len_ratio=max_len_ratio,
            max_len=max_len,
            show_attention=show_attention,
            heatmap_words=heatmap_words,
            align=align,
            align_level=align_level.value,
            json_out=json_out,
            attention_matrix=attention_matrix,
            strict_utf8=strict_utf8,
            threads=threads,
            quantize=quantize,
            checkpoint=checkpoint,
        )
        translate_stream(model, input_file, output, opts)

    _call(run)
    _exit_now()


@app.command()
def evaluate(
    hyp: str | None = typer.Argument(
        None, metavar="[HYP|-]", help="Hypotheses, one a line (default: stdin)."
    ),
    refs: list[str] | None = typer.Option(
        None, "--ref", "-r", help="Reference file, line-aligned with HYP; repeat for several references."
    ),
    systems: list[str] | None = typer.Option(
        None, "--system", "-s", help="Compare systems (paired bootstrap): repeat; the first is the baseline."
    ),
    metrics: str = typer.Option(
        "bleu,chrf,ter", "--metrics", help="Comma-separated: bleu, chrf, chrf++, ter."
    ),
    lowercase: bool = typer.Option(
        False, "--lowercase", help="Case-insensitive BLEU and chrF (TER is case-insensitive anyway)."
    ),
    tokenize: str | None = typer.Option(
        None,
        "--tokenize",
        help="BLEU tokenizer, as sacrebleu's --tokenize: 13a (default), intl, char, none...",
    ),
    width: int = typer.Option(1, "--width", "-w", help="Decimals printed (sacrebleu's --width)."),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON object: scores, signatures, segments, versions."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the numbers, one per metric."),
    fail_under: str = typer.Option(
        "",
        "--fail-under",
        help="Exit 3 when a score misses its bar, e.g. bleu=25,chrf=50. Bars are minimums, except for ter: "
        "a maximum, so ter=60 fails when TER > 60.",
    ),
    per_sentence: str | None = typer.Option(
        None,
        "--per-sentence",
        metavar="FILE|-",
        help="Write sentence scores as JSON Lines (id = line number, bleu, chrf...); "
        "with - they take stdout and the corpus scores go to stderr.",
    ),
    bootstrap_samples: int = typer.Option(
        1000, "--bootstrap-samples", help="Resamples for the paired bootstrap test (with -s)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Translate --src with this run directory or checkpoint, then score."
    ),
    src: str | None = typer.Option(None, "--src", help="Source file to translate (with -m)."),
    save_hyps: str | None = typer.Option(None, "--save-hyps", help="Also write the translations here."),
    beam: int = typer.Option(1, "--beam", "-b", help="Beam size for -m (1 = greedy)."),
    alpha: float = typer.Option(0.6, "--alpha", help="Length-normalisation exponent for -m."),
    batch_size: int = typer.Option(0, "--batch-size", help="Sentences per batch for -m (0 = 160 / beam)."),
    max_len_ratio: float = typer.Option(
        2.0, "--max-len-ratio", help="Output pieces per source piece for -m."
    ),
    threads: int = typer.Option(0, "--threads", help="CPU threads for -m (0 = torch default)."),
) -> None:
    """Score translations with sacreBLEU (BLEU, chrF, TER), each with its signature.

    Output (stdout), one line per metric: NAME = SCORE SIGNATURE, e.g.
    'BLEU = 34.5 nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0'. SCORE is printed as the
    sacrebleu command line prints it for the same files and options. With -s: tab-separated rows
    'system metric score mean ci p_value' (header first, p_value '-' for the baseline) and a table on stderr.

    Exit codes: 0 ok, 1 bad data (missing file, line counts differ), 2 usage error, 3 --fail-under missed.
    """

    def run() -> None:
        from nmt_cli.evaluate import EvaluateRequest, TranslateRequest, run_evaluate

        translate = None
        if model is not None or src is not None or save_hyps is not None:
            translate = TranslateRequest(
                model=model or "",
                src=src or "",
                beam=beam,
                alpha=alpha,
                batch_size=batch_size,
                max_len_ratio=max_len_ratio,
                threads=threads,
                save_hyps=save_hyps,
            )
        request = EvaluateRequest(
            refs=list(refs or []),
            hyp=hyp,
            systems=list(systems or []),
            translate=translate,
            metrics=metrics,
            lowercase=lowercase,
            tokenize=tokenize,
            width=width,
            json_out=json_out,
            quiet=quiet,
            fail_under=fail_under,
            per_sentence=per_sentence,
            bootstrap_samples=bootstrap_samples,
        )
        run_evaluate(request)

    _call(run)


@app.command()
def average(
    run: Path = typer.Argument(..., help="Run directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint file to write."),
    last: int = typer.Option(3, "--last", help="Average the last K kept checkpoints."),
) -> None:
    """Average the weights of the last K checkpoints of a run into one checkpoint."""

    def run_() -> None:
        from nmt_cli.checkpoint import average as average_checkpoints

        names = average_checkpoints(run, last, out)
        sys.stderr.write(f"nmt: averaged {', '.join(names)} into {out}\n")

    _call(run_)


@app.command()
def info(
    run: Path = typer.Argument(..., help="Run directory."),
    json_out: bool = typer.Option(False, "--json", help="Print the run record as JSON on stdout."),
) -> None:
    """Show a run: settings, checkpoints, and dev BLEU / loss over time."""

    def run_() -> None:
        from nmt_cli.runinfo import show_run

        show_run(run, json_out=json_out)

    _call(run_)


@app.command("demo-corpus")
def demo_corpus(
    out: Path = typer.Argument(..., help="Directory for train/dev/test .en/.es files."),
    seed: int = typer.Option(13, "--seed"),
    n_train: int = typer.Option(20000, "--train-size"),
    n_dev: int = typer.Option(500, "--dev-size"),
    n_test: int = typer.Option(500, "--test-size"),
) -> None:
    """Write the embedded synthetic English-to-Spanish demo corpus."""

    def run() -> None:
        from nmt_cli.demo import write_demo_corpus

        counts = write_demo_corpus(out, seed=seed, n_train=n_train, n_dev=n_dev, n_test=n_test)
        sys.stderr.write(f"nmt: demo corpus written to {out}: {counts}\n")

    _call(run)


_as_program = False


def main() -> None:
    global _as_program
    _as_program = True
    app()


if __name__ == "__main__":
    main()
