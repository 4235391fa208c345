"""`nmt prepare` on the real corpora in ../shared/corpora, and memory against corpus size (slow)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nmt_cli.data.encoded import DataDir

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPORA.exists(), reason=f"real corpora not found at {CORPORA}"),
]


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def prepare(out: Path, *args: str) -> tuple[dict, int]:
    """Run `nmt prepare` in its own process; return the report and the process's peak RSS in MiB."""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(out.parent / "hf-cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmt_cli", "prepare", "-o", str(out), "-q", *args],
        stderr=subprocess.PIPE,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read().decode() if proc.stderr else ""
    return json.loads((out / "report.json").read_text()), usage.ru_maxrss // 1024


@pytest.mark.parametrize(
    ("corpus", "src", "tgt", "min_kept"),
    [
        ("tatoeba-en-es", "en", "es", 0.999),
        ("bible-es-en", "es", "en", 0.99),
        ("multi30k-task1", "de", "en", 0.999),
    ],
)
def test_real_corpus_prepares_cleanly(
    tmp_path: Path, corpus: str, src: str, tgt: str, min_kept: float
) -> None:
    folder = CORPORA / corpus
    train = [str(folder / f"train.{src}"), str(folder / f"train.{tgt}")]
    dev = [str(folder / f"dev.{src}"), str(folder / f"dev.{tgt}")]
    report, _ = prepare(tmp_path / "data", "--train", *train, "--dev", *dev)
    n_train = lines(folder / f"train.{src}")
    assert report["train"]["total"] == n_train
    assert report["train"]["kept"] >= min_kept * n_train
    assert report["dev"]["kept"] == report["dev"]["total"] == lines(folder / f"dev.{src}")
    data = DataDir(tmp_path / "data")
    assert len(data.split("train")) == report["train"]["kept"]
    assert data.text("dev", "tgt") == (folder / f"dev.{tgt}").read_text(encoding="utf-8").split("\n")[:-1]


def test_tatoeba_as_dataset_streams_to_the_same_bytes(tmp_path: Path) -> None:
    folder = CORPORA / "tatoeba-en-es"
    jsonl = tmp_path / "tatoeba.jsonl"
    with open(jsonl, "w", encoding="utf-8") as out:
        en = (folder / "train.en").read_text(encoding="utf-8").split("\n")[:-1]
        es = (folder / "train.es").read_text(encoding="utf-8").split("\n")[:-1]
        out.writelines(
            json.dumps({"translation": {"en": a, "es": b}}, ensure_ascii=False) + "\n" for a, b in zip(en, es)
        )
    carve = ["--dev-size", "2000", "--test-size", "2000"]
    prepare(tmp_path / "files", "--train", str(folder / "train.en"), str(folder / "train.es"), *carve)
    prepare(
        tmp_path / "stream", "--hf", str(jsonl), "--src-lang", "en", "--tgt-lang", "es", "--streaming", *carve
    )
    for name in (
        "spm.model",
        "train.src.ids",
        "train.tgt.ids",
        "train.offsets.npy",
        "dev.src",
        "test.tgt.ids",
    ):
        assert (tmp_path / "files" / name).read_bytes() == (tmp_path / "stream" / name).read_bytes(), name


def test_streaming_memory_is_flat_in_corpus_size(tmp_path: Path) -> None:
    """Peak RSS for 200k and 800k pairs differs by little more than the 8-byte-per-pair dedup hashes."""
    folder = CORPORA / "tatoeba-en-es"
    en = (folder / "train.en").read_text(encoding="utf-8").split("\n")[:-1]
    es = (folder / "train.es").read_text(encoding="utf-8").split("\n")[:-1]
    rng = random.Random(1)
    peaks = {}
    for n in (200_000, 800_000):
        path = tmp_path / f"{n}.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for _ in range(n):
                picks = [rng.randrange(len(en)) for _ in range(rng.randint(2, 4))]
                row = {"en": " ".join(en[i] for i in picks), "es": " ".join(es[i] for i in picks)}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        args = ["--hf", str(path), "--src-lang", "en", "--tgt-lang", "es", "--streaming"]
        _, peaks[n] = prepare(tmp_path / f"data-{n}", *args, "--input-sentence-size", "100000")
    assert peaks[800_000] - peaks[200_000] < 60, (
        peaks
    )  # 600k more pairs: ~5 MiB of hashes, not ~400 MiB of text
