"""Data-parallel training with torchrun (gloo on CPU): the same quality as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_nmt

DEMO = ["--emb", "128", "--enc-hidden", "128", "--dec-hidden", "256", "--attn-dim", "128", "--dropout", "0.1"]


def best_bleu(run: Path) -> float:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return max(r["bleu"] for r in rows if "bleu" in r)


@pytest.mark.slow
def test_two_processes_match_one(tmp_path: Path) -> None:
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    assert run_nmt("demo-corpus", str(corpus)).returncode == 0
    prep = run_nmt(
        "prepare", "--train", str(corpus / "train.en"), str(corpus / "train.es"),
        "--dev", str(corpus / "dev.en"), str(corpus / "dev.es"), "--vocab-size", "1000", "--out", str(data),
    )  # fmt: skip
    assert prep.returncode == 0, prep.stderr.decode()
    common = [str(data), *DEMO, "--max-steps", "1000", "--valid-every", "500", "-q"]
    one_args = ["--out", str(tmp_path / "one"), "--batch-tokens", "3000", "--threads", "2"]
    one = run_nmt("train", *common, *one_args, timeout=1800)
    assert one.returncode == 0, one.stderr.decode()
    torchrun = Path(sys.executable).with_name("torchrun")
    two = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "nmt_cli", "train", *common,
         "--out", str(tmp_path / "two"), "--batch-tokens", "1500", "--threads", "1"],
        capture_output=True, timeout=1800, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert two.returncode == 0, two.stderr.decode()
    assert json.loads((tmp_path / "two" / "config.json").read_text())["world_size"] == 2
    b1, b2 = best_bleu(tmp_path / "one"), best_bleu(tmp_path / "two")
    assert b1 > 80 and b2 > 80
    assert abs(b1 - b2) < 5
