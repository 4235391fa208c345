"""`nmt prepare` end to end: every input kind gives the same bytes, injected faults are counted exactly,
mismatched files and kills leave nothing behind, and the data directory is what `nmt train` reads."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # before anything imports datasets
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

from nmt_cli.cli import app  # noqa: E402
from nmt_cli.data.encoded import DataDir  # noqa: E402

runner = CliRunner()
SRC, TGT = "xx", "yy"  # language codes of the generated corpus
VOCAB = ["--vocab-size", "400"]
ENCODED = [
    f"{split}.{part}"
    for split in ("train", "dev", "test")
    for part in ("src.ids", "tgt.ids", "offsets.npy", "src", "tgt")
]


# ---------------------------------------------------------------- a small generated corpus


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnoprstuvz"
    return sorted({"".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(n)})


_RNG = random.Random(42)
WORDS = _words(_RNG, 150)
# A target word per source word, of the same length (so both sides cut into similar piece counts).
MAPPED = {w: "".join(chr((ord(c) - 97 + 3) % 26 + 97) for c in w) for w in WORDS}


def sentence_pair(rng: random.Random, n_words: int) -> tuple[str, str]:
    words = [rng.choice(WORDS) for _ in range(n_words)]
    src = " ".join(words).capitalize()
    tgt = " ".join(MAPPED[w] for w in reversed(words)).capitalize()
    punct = rng.choice([".", "?", "!", ", sí.", ' "dijo".'])
    return src + punct, tgt + punct


def clean_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        src, tgt = sentence_pair(rng, rng.randint(3, 9))
        if src not in seen:
            seen.add(src)
            out.append((src, tgt))
    return out


def identity_corpus() -> list[tuple[str, str]]:
    """Clean pairs plus faults every input format can carry (no tabs, no line breaks)."""
    pairs = clean_pairs(500)
    pairs[10] = ("", pairs[10][1])  # empty source
    pairs[20] = (pairs[20][0], "   ")  # whitespace-only target
    pairs[30] = (pairs[30][0], pairs[30][0])  # copy
    pairs[40] = pairs[5]  # duplicates
    pairs[41] = pairs[6]
    pairs[50] = (pairs[50][0] + ' "quoted, with commas"', pairs[50][1] + " «x»")
    return pairs


# ---------------------------------------------------------------- writing it in every format


def write_pair(d: Path, pairs: list[tuple[str, str]], gz: bool = False) -> list[str]:
    suffix = ".gz" if gz else ""
    src, tgt = d / f"train.{SRC}{suffix}", d / f"train.{TGT}{suffix}"
    opener: Callable[..., Any] = gzip.open if gz else open
    for path, side in ((src, 0), (tgt, 1)):
        with opener(path, "wt", encoding="utf-8", newline="\n") as fh:
            fh.write("".join(p[side] + "\n" for p in pairs))
    return ["--train", str(src), str(tgt)]


def write_tsv(d: Path, pairs: list[tuple[str, str]]) -> list[str]:
    path = d / "corpus.tsv"
    path.write_text("".join(f"{i}\t{t}\t{s}\n" for i, (s, t) in enumerate(pairs)), encoding="utf-8")
    return ["--tsv", str(path), "--columns", "2,1"]


def write_csv(d: Path, pairs: list[tuple[str, str]]) -> list[str]:
    path = d / "corpus.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", SRC, TGT])
        writer.writerows([i, s, t] for i, (s, t) in enumerate(pairs))
    return ["--tsv", str(path), "--columns", f"{SRC},{TGT}"]


def _rows(pairs: list[tuple[str, str]], nested: bool) -> list[dict[str, Any]]:
    if nested:
        return [{"translation": {SRC: s, TGT: t}} for s, t in pairs]
    return [{"id": i, SRC: s, TGT: t} for i, (s, t) in enumerate(pairs)]


def write_jsonl(d: Path, pairs: list[tuple[str, str]], nested: bool = True) -> list[str]:
    path = d / "corpus.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows(pairs, nested)), "utf-8")
    return ["--hf", str(path), "--src-lang", SRC, "--tgt-lang", TGT]


def write_parquet(d: Path, pairs: list[tuple[str, str]], nested: bool = True, shards: int = 1) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = d / "parquet"
    folder.mkdir()
    rows = _rows(pairs, nested)
    step = -(-len(rows) // shards)
    for k in range(shards):
        pq.write_table(
            pa.Table.from_pylist(rows[k * step : (k + 1) * step]), folder / f"part-{k:02d}.parquet"
        )
    target = folder if shards > 1 else folder / "part-00.parquet"
    return ["--hf", str(target), "--src-lang", SRC, "--tgt-lang", TGT]


def write_saved_dataset(d: Path, pairs: list[tuple[str, str]]) -> list[str]:
    import datasets

    dataset = datasets.Dataset.from_list(_rows(pairs, nested=True))
    datasets.DatasetDict({"train": dataset}).save_to_disk(str(d / "saved"))
    return ["--hf", str(d / "saved"), "--src-lang", SRC, "--tgt-lang", TGT]


KINDS: dict[str, Callable[[Path, list[tuple[str, str]]], list[str]]] = {
    "tsv": write_tsv,
    "csv-header": write_csv,
    "pair-gz": lambda d, p: write_pair(d, p, gz=True),
    "jsonl-translation": write_jsonl,
    "jsonl-flat": lambda d, p: write_jsonl(d, p, nested=False),
    "jsonl-streaming": lambda d, p: [*write_jsonl(d, p), "--streaming"],
    "parquet": write_parquet,
    "parquet-folder-flat": lambda d, p: write_parquet(d, p, nested=False, shards=3),
    "saved-dataset": write_saved_dataset,
    "saved-dataset-streaming": lambda d, p: [*write_saved_dataset(d, p), "--streaming"],
}


@pytest.fixture
def hf_offline(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stay offline, and keep datasets' Arrow cache out of the home directory."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.getbasetemp() / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def prepare(out: Path, *args: str) -> Any:
    result = runner.invoke(app, ["prepare", "-o", str(out), "-q", *args])
    return result


def encoded_bytes(out: Path) -> dict[str, str]:
    names = [n for n in ENCODED if (out / n).exists()] + [p.name for p in out.glob("spm*.model")]
    return {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in sorted(names)}


def counts_only(report: dict[str, Any]) -> dict[str, Any]:
    return {
        split: {
            "total": r["total"],
            "kept": r["kept"],
            "carved_out": r["carved_out"],
            **{f"dropped.{k}": v["count"] for k, v in r["dropped"].items() if v["count"]},
        }
        for split, r in report.items()
    }


CARVE = ["--dev-size", "40", "--test-size", "30"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, Any]]:
    d = tmp_path_factory.mktemp("baseline")
    result = prepare(d / "data", *write_pair(d, identity_corpus()), *VOCAB, *CARVE)
    assert result.exit_code == 0, result.output
    return encoded_bytes(d / "data"), json.loads((d / "data" / "report.json").read_text())


@pytest.mark.usefixtures("hf_offline")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_input_kind_gives_byte_identical_splits(
    kind: str, tmp_path: Path, baseline: tuple[dict[str, str], dict[str, Any]]
) -> None:
    args = KINDS[kind](tmp_path, identity_corpus())
    result = prepare(tmp_path / "data", *args, *VOCAB, *CARVE)
    assert result.exit_code == 0, result.output
    files, report = baseline
    assert set(files) >= {"train.src.ids", "dev.src", "test.tgt.ids", "spm.model"}
    assert encoded_bytes(tmp_path / "data") == files
    assert counts_only(json.loads((tmp_path / "data" / "report.json").read_text())) == counts_only(report)


def test_baseline_counts(baseline: tuple[dict[str, str], dict[str, Any]]) -> None:
    report = baseline[1]["train"]
    dropped = {k: v["count"] for k, v in report["dropped"].items() if v["count"]}
    assert dropped == {"empty": 2, "copy": 1, "duplicate": 2}
    assert report["carved_out"]["dev"] >= 40 and report["carved_out"]["test"] >= 30
    assert (
        report["total"] == 500 == report["kept"] + sum(dropped.values()) + sum(report["carved_out"].values())
    )


# ---------------------------------------------------------------- injected faults


def fault_corpus(tmp_path: Path) -> tuple[list[str], dict[str, list[int]], list[tuple[str, str]]]:
    """Write train.xx/train.yy with known faults; return the args, the expected line numbers per rule,
    and the pairs expected to survive the text rules (in order, as the cleaner leaves them)."""
    base = clean_pairs(420, seed=3)
    rng = random.Random(5)
    rows: list[tuple[bytes, bytes]] = []
    expect: dict[str, list[int]] = {}
    survivors: list[tuple[str, str]] = []
    fresh = iter(base[300:])

    def add(src: bytes, tgt: bytes, rule: str | None = None, keep: tuple[str, str] | None = None) -> None:
        rows.append((src, tgt))
        if rule:
            expect.setdefault(rule, []).append(len(rows))
        if keep:
            survivors.append(keep)

    def enc(pair: tuple[str, str]) -> tuple[bytes, bytes]:
        return pair[0].encode(), pair[1].encode()

    def long_words(n: int, short: bool = False) -> tuple[str, str]:
        """n words: at least n pieces; with ``short``, at most 3 letters each."""
        choice = [w for w in WORDS if len(w) <= 3] if short else WORDS
        words = [rng.choice(choice) for _ in range(n)]
        return " ".join(words), " ".join(MAPPED[w] for w in words)

    for i, pair in enumerate(base[:300]):
        add(*enc(pair), keep=pair)
        if i % 30 != 7:
            continue
        k = i // 30  # 0..9: one round of faults after every 30 clean pairs
        s, t = next(fresh)
        if k == 0:
            add(b"", t.encode(), "empty")
            add(s.encode(), b"  \t ", "empty")
            add("\u200b".encode(), t.encode(), "empty")
        elif k == 1:
            add(*enc((s, s)), "copy")
            add(*enc((t, t)), "copy")
            add(b"  same  ", b"same", "copy")
        elif k == 2:
            add(*enc(base[3]), "duplicate")
            add(*enc(base[4]), "duplicate")
            add(base[5][0].encode() + b"  ", b" " + base[5][1].encode(), "duplicate")  # equal once stripped
        elif k == 3:
            add(*enc(("x" * 801, t)), "too_long_chars")
            add(*enc((s, "y " * 401)), "too_long_chars")
        elif k == 4:
            add(*enc(long_words(110, short=True)), "too_long_pieces")  # <= 440 characters
            add(*enc(long_words(120, short=True)), "too_long_pieces")
        elif k == 5:
            # 12 words: 12 to 96 pieces; against at most 3 pieces
            add(*enc((long_words(12)[0], "Ok")), "length_ratio")
            add(*enc(("Ya", long_words(12)[1])), "length_ratio")
            add(*enc((long_words(12)[0], "Si")), "length_ratio")
        elif k == 6:
            add(*enc((s + "\x07", t)), "control_chars")
            add(*enc(("a\rb " + s, t)), "control_chars")  # a lone CR inside the line
            add(*enc((s, t + "\x00")), "control_chars")
            add(*enc((s, "\x85" + t + "\x85b")), "control_chars")
        elif k == 7:
            add(s.encode() + b" \xff", t.encode(), "invalid_utf8", keep=(s + " \ufffd", t))
            s2, t2 = next(fresh)
            add(s2.encode(), t2.encode() + b" \xc3", "invalid_utf8", keep=(s2, t2 + " \ufffd"))
            s3, t3 = next(fresh)
            add(
                b"\xe9" + s3.encode(),
                b"\xe9" + t3.encode(),
                "invalid_utf8",
                keep=("\ufffd" + s3, "\ufffd" + t3),
            )
        elif k == 8:
            add(*enc((s + "\u2028" + t, t)), keep=(s + "\u2028" + t, t))  # U+2028 stays inside the line
            s2, t2 = next(fresh)
            add(*enc((s2, "\u2028".join(t2.split(" ", 1)))), keep=(s2, "\u2028".join(t2.split(" ", 1))))
    # \r\n on every 7th line, and no newline after the last one
    data = [b"", b""]
    for n, (src, tgt) in enumerate(rows, start=1):
        end = b"\r\n" if n % 7 == 0 else b"\n"
        data[0] += src + end
        data[1] += tgt + end
    data = [d[:-1] for d in data]
    (tmp_path / f"train.{SRC}").write_bytes(data[0])
    (tmp_path / f"train.{TGT}").write_bytes(data[1])
    return ["--train", str(tmp_path / f"train.{SRC}"), str(tmp_path / f"train.{TGT}")], expect, survivors


# Clean pairs have at most 9 words of at most 7 letters: under 100 pieces and 800 characters.
FAULT_OPTS = ["--max-chars", "800", "--max-pieces", "100", *VOCAB]


@pytest.mark.parametrize("chunk", [8192, 7])  # 7: chunk edges everywhere, clean and broken chunks both
def test_injected_faults_are_counted_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from nmt_cli.data import hf, readers, text

    for module in (readers, hf, text):  # every module that reads in chunks
        monkeypatch.setattr(module, "CHUNK", chunk)
    args, expect, survivors = fault_corpus(tmp_path)
    n_lines = (tmp_path / f"train.{SRC}").read_bytes().count(b"\n") + 1
    result = prepare(tmp_path / "data", *args, *FAULT_OPTS)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "data" / "report.json").read_text())["train"]
    got = {rule: entry["first_lines"] for rule, entry in report["dropped"].items() if entry["count"]}
    got.update({rule: e["first_lines"] for rule, e in report["repaired"].items() if e["count"]})
    assert got == {rule: lines[:5] for rule, lines in expect.items()}
    counts = {
        rule: e["count"] for kind in ("dropped", "repaired") for rule, e in report[kind].items() if e["count"]
    }
    assert counts == {rule: len(lines) for rule, lines in expect.items()}
    # U+2028 and lone CRs never split a line: every line is one pair, and nothing is lost or shifted.
    assert report["total"] == n_lines
    dropped = sum(e["count"] for e in report["dropped"].values())
    assert report["kept"] == n_lines - dropped == len(survivors)
    data = DataDir(tmp_path / "data")
    tok, split = data.tokenizer(), data.split("train")
    assert [split.src(i).tolist() for i in range(len(split))] == tok.encode_src([s for s, _ in survivors])
    assert [split.tgt(i).tolist() for i in range(len(split))] == tok.encode_tgt([t for _, t in survivors])


def test_given_dev_keeps_odd_lines_as_they_are(tmp_path: Path) -> None:
    args = write_pair(tmp_path, clean_pairs(300))
    dev = ["plain", "in\u2028side", "lone\rcr", "", "   ", "nel\x85in", "tab\tin"]
    (tmp_path / "dev.xx").write_bytes(("\n".join(dev) + "\r\n").encode())
    (tmp_path / "dev.yy").write_bytes("".join(f"{line} yy\n" for line in dev).encode())
    result = prepare(
        tmp_path / "data", *args, "--dev", str(tmp_path / "dev.xx"), str(tmp_path / "dev.yy"), *VOCAB
    )
    assert result.exit_code == 0, result.output
    data = DataDir(tmp_path / "data")
    assert data.text("dev", "src") == dev
    assert data.text("dev", "tgt") == [f"{line} yy" for line in dev]
    assert len(data.split("dev")) == len(dev)


# ---------------------------------------------------------------- failures leave nothing behind


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


def test_different_line_counts_fail_cleanly(tmp_path: Path) -> None:
    (tmp_path / "a.xx").write_text("".join(f"s{i}\n" for i in range(12)))
    (tmp_path / "a.yy").write_text("".join(f"t{i}\n" for i in range(11)))
    out = tmp_path / "new" / "deeper" / "data"
    result = prepare(out, "--train", str(tmp_path / "a.xx"), str(tmp_path / "a.yy"))
    assert result.exit_code == 1
    assert result.stderr.startswith("nmt: error: ") and result.stderr.count("\n") == 1
    assert "has 12 lines" in result.stderr and "has 11" in result.stderr and "line 12" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "new").exists()  # not even the parents it would have created


def test_existing_output_is_refused_but_an_empty_folder_is_fine(tmp_path: Path) -> None:
    args = write_pair(tmp_path, clean_pairs(300))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = prepare(tmp_path / "full", *args, *VOCAB)
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert leftovers(tmp_path / "full") == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert prepare(tmp_path / "empty", *args, *VOCAB).exit_code == 0
    assert (tmp_path / "empty" / "manifest.json").exists()


def test_vocabulary_too_large_names_the_largest_workable_size(tmp_path: Path) -> None:
    args = write_pair(tmp_path, clean_pairs(60))
    result = prepare(tmp_path / "data", *args, "--vocab-size", "8000")
    assert result.exit_code == 1
    assert "--vocab-size 8000 is too large" in result.stderr
    suggested = result.stderr.rsplit("--vocab-size ", 1)[1].split(")")[0]
    assert not (tmp_path / "data").exists()
    assert prepare(tmp_path / "data", *args, "--vocab-size", suggested).exit_code == 0


def test_vocabulary_too_small_names_the_smallest_size(tmp_path: Path) -> None:
    args = write_pair(tmp_path, clean_pairs(60))
    result = prepare(tmp_path / "data", *args, "--vocab-size", "100")
    assert result.exit_code == 1 and "--vocab-size 100 is too small" in result.stderr
    assert "256 byte pieces" in result.stderr and "use at least --vocab-size " in result.stderr


def test_nothing_left_after_cleaning_is_a_data_error(tmp_path: Path) -> None:
    args = write_pair(tmp_path, [(f"same {i}", f"same {i}") for i in range(50)])
    result = prepare(tmp_path / "data", *args)
    assert result.exit_code == 1 and "no training pairs left" in result.stderr and "copy" in result.stderr
    args = write_pair(tmp_path, clean_pairs(50))
    result = prepare(tmp_path / "data", *args, "--dev-size", "60")
    assert result.exit_code == 1 and "nothing is left to train on" in result.stderr


def test_usage_errors(tmp_path: Path) -> None:
    args = write_pair(tmp_path, clean_pairs(50))
    both = prepare(tmp_path / "d", *args, "--dev", *args[1:], "--dev-size", "5")
    assert both.exit_code == 2 and "--dev-size" in both.stderr
    none = prepare(tmp_path / "d")
    assert none.exit_code == 2 and "give exactly one of" in none.stderr
    no_lang = prepare(tmp_path / "d", "--hf", str(tmp_path / f"train.{SRC}"))
    assert no_lang.exit_code == 2 and "--src-lang" in no_lang.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.usefixtures("hf_offline")
def test_hub_name_offline_is_one_line_data_error(tmp_path: Path) -> None:
    result = prepare(
        tmp_path / "d",
        "--hf",
        "Helsinki-NLP/opus_books",
        "--hf-config",
        "en-es",
        "--src-lang",
        "en",
        "--tgt-lang",
        "es",
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("nmt: error: --hf Helsinki-NLP/opus_books: cannot load split 'train'")
    assert result.stderr.count("\n") == 1


@pytest.mark.usefixtures("hf_offline")
def test_missing_language_in_translation_column(tmp_path: Path) -> None:
    args = write_jsonl(tmp_path, clean_pairs(20))
    result = prepare(tmp_path / "d", args[0], args[1], "--src-lang", "xx", "--tgt-lang", "fr")
    assert result.exit_code == 1 and "no language 'fr'" in result.stderr and "['xx', 'yy']" in result.stderr


@pytest.mark.usefixtures("hf_offline")
@pytest.mark.parametrize("streaming", [[], ["--streaming"]])
def test_unparsable_dataset_file_is_a_data_error(tmp_path: Path, streaming: list[str]) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"translation": {"xx": "a", "yy": "b"}}\n{"translation": {"xx": "c", "yy"\n')
    result = prepare(tmp_path / "d", "--hf", str(path), "--src-lang", SRC, "--tgt-lang", TGT, *streaming)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("nmt: error: ") and "JSON parse error" in result.stderr
    assert leftovers(tmp_path) == ["broken.jsonl"]


# ---------------------------------------------------------------- what train gets


def test_data_directory_contents(tmp_path: Path) -> None:
    args = write_pair(tmp_path, identity_corpus())
    result = runner.invoke(app, ["prepare", "-o", str(tmp_path / "data"), *args, *VOCAB, *CARVE, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout carries only the JSON report
    assert report == json.loads((tmp_path / "data" / "report.json").read_text())
    assert "kept / total" in result.stderr
    data = DataDir(tmp_path / "data")
    manifest = data.manifest
    assert [i["sha256"] for i in manifest["inputs"]] == [
        hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in args[1:]
    ]
    assert manifest["settings"]["vocab_size"] == 400 and manifest["settings"]["dev_size"] == 40
    assert set(manifest["versions"]) >= {"nmt", "python", "sentencepiece", "numpy"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "data" / name).read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(
        [*manifest["files"], "manifest.json"]
    )
    for split in ("train", "dev", "test"):
        encoded = data.split(split)
        assert manifest["counts"][split]["pairs"] == len(encoded) == report[split]["kept"]
        assert manifest["counts"][split]["src_pieces"] == int(encoded.src_lengths.sum())
        assert isinstance(encoded.src_ids, np.memmap)
    tok = data.tokenizer()
    dev_src, dev_tgt = data.text("dev", "src"), data.text("dev", "tgt")
    split = data.split("dev")
    assert [split.src(i).tolist() for i in range(len(split))] == tok.encode_src(dev_src)
    assert [split.tgt(i).tolist() for i in range(len(split))] == tok.encode_tgt(dev_tgt)
    train_sources = {
        tok.src.Decode(data.split("train").src(i).tolist()) for i in range(len(data.split("train")))
    }
    assert not train_sources & set(dev_src) and not train_sources & set(data.text("test", "src"))


def test_given_dev_sources_are_removed_from_train(tmp_path: Path) -> None:
    pairs = clean_pairs(300)
    args = write_pair(tmp_path, pairs)
    (tmp_path / "dev.xx").write_text("".join(s + "\n" for s, _ in pairs[100:110]))
    (tmp_path / "dev.yy").write_text("".join(t + "\n" for _, t in pairs[100:110]))
    dev = ["--dev", str(tmp_path / "dev.xx"), str(tmp_path / "dev.yy")]
    result = prepare(tmp_path / "data", *args, *dev, *VOCAB)
    assert result.exit_code == 0, result.output
    dropped = json.loads((tmp_path / "data" / "report.json").read_text())["train"]["dropped"]
    assert dropped["in_dev_test"] == {
        "count": 10,
        "first_lines": [101, 102, 103, 104, 105],
        "rule": "source is also a dev or test source",
    }
    assert prepare(tmp_path / "kept", *args, *dev, *VOCAB, "--keep-overlap").exit_code == 0
    assert len(DataDir(tmp_path / "kept").split("train")) == 300


@pytest.mark.parametrize("extra", [["--separate-vocab"], ["--model-type", "bpe", "--no-byte-fallback"]])
def test_tokenizer_variants(tmp_path: Path, extra: list[str]) -> None:
    args = write_pair(tmp_path, clean_pairs(300))
    result = prepare(tmp_path / "data", *args, *VOCAB, *extra)
    assert result.exit_code == 0, result.output
    data = DataDir(tmp_path / "data")
    tok = data.tokenizer()
    assert tok.joint == ("--separate-vocab" not in extra)
    assert (tmp_path / "data" / "spm.src.model").exists() == (not tok.joint)
    assert tok.src.GetPieceSize() == 400
    assert data.manifest["vocab"]["joint"] == tok.joint


def test_input_sentence_size_samples_the_tokenizer_corpus(tmp_path: Path) -> None:
    args = write_pair(tmp_path, clean_pairs(400))
    a = prepare(tmp_path / "a", *args, *VOCAB, "--input-sentence-size", "300")
    b = prepare(tmp_path / "b", *args, *VOCAB, "--input-sentence-size", "300")
    c = prepare(tmp_path / "c", *args, *VOCAB)
    assert a.exit_code == b.exit_code == c.exit_code == 0
    model = "spm.model"
    assert (tmp_path / "a" / model).read_bytes() == (tmp_path / "b" / model).read_bytes()  # seeded sample
    assert (tmp_path / "a" / model).read_bytes() != (tmp_path / "c" / model).read_bytes()
