"""The command line as users meet it: fast help, both cells end to end, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_MODEL, run_nmt

HEAVY = ("torch", "datasets", "sentencepiece", "sacrebleu", "numpy")


def test_importing_the_cli_stays_light() -> None:
    code = f"import sys, nmt_cli.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_every_command() -> None:
    proc = run_nmt("--help")
    assert proc.returncode == 0
    for command in ("prepare", "train", "translate", "evaluate", "demo-corpus"):
        assert command in proc.stdout.decode()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_each_cell_trains_translates_and_scores(
    cell: str, data_dir: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    run = tmp_path / cell
    sizes = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_MODEL.items()]
    train = run_nmt(
        "train", str(data_dir), "--out", str(run), "--cell", cell, "--max-steps", "25", "--valid-every", "25",
        "--batch-tokens", "600", "--threads", "1", *sizes,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr.decode()
    assert (run / "best.pt").exists() and (run / "last.pt").exists()
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["cell"] == cell
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 25 and "bleu" in metrics[-1]
    test_src = (corpus_dir / "test.en").read_text()
    hyp = run_nmt("translate", "-m", str(run), "--beam", "3", stdin=test_src)
    assert hyp.returncode == 0
    assert hyp.stdout.decode().count("\n") == test_src.count("\n")
    score = run_nmt("evaluate", "-r", str(corpus_dir / "test.es"), "--json", stdin=hyp.stdout)
    assert score.returncode == 0, score.stderr.decode()
    assert json.loads(score.stdout)["scores"]["bleu"]["score"] >= 0


def test_evaluate_with_model_equals_translate_then_evaluate(
    run_dir: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    src, ref = corpus_dir / "test.en", corpus_dir / "test.es"
    hyp = tmp_path / "hyp"
    assert run_nmt("translate", "-m", str(run_dir), str(src), "-o", str(hyp)).returncode == 0
    two_steps = run_nmt("evaluate", "-r", str(ref), str(hyp))
    one_step = run_nmt("evaluate", "-m", str(run_dir), "--src", str(src), "-r", str(ref))
    assert one_step.returncode == 0, one_step.stderr.decode()
    assert one_step.stdout == two_steps.stdout


def test_usage_errors_exit_2_without_traceback(data_dir: Path, tmp_path: Path) -> None:
    for args in (
        ["train", str(data_dir), "--out", str(tmp_path / "r"), "--cell", "rnn"],
        ["train", str(data_dir), "--out", str(tmp_path / "r"), "--max-time", "soon"],
        ["translate", "-m", str(tmp_path), "--beam", "2", "--nbest", "3"],
    ):
        proc = run_nmt(*args, stdin="")
        assert proc.returncode == 2, (args, proc.stderr)
        assert b"Traceback" not in proc.stderr


def test_train_on_missing_data_is_a_data_error(tmp_path: Path) -> None:
    proc = run_nmt("train", str(tmp_path / "nothing"), "--out", str(tmp_path / "run"))
    assert proc.returncode == 1
    assert b"not a data directory" in proc.stderr and b"Traceback" not in proc.stderr


def test_info_and_average(run_dir: Path, tmp_path: Path) -> None:
    info = run_nmt("info", str(run_dir), "--json")
    assert info.returncode == 0, info.stderr.decode()
    record = json.loads(info.stdout)
    assert [v["step"] for v in record["validations"]] == [20, 40, 60]
    shown = run_nmt("info", str(run_dir))
    assert shown.stderr == b"" and b"dev BLEU" in shown.stdout and b"train loss" in shown.stdout
    avg = tmp_path / "avg.pt"
    proc = run_nmt("average", str(run_dir), "--last", "2", "-o", str(avg))
    assert proc.returncode == 0, proc.stderr.decode()
    import torch

    from nmt_cli import checkpoint

    averaged = checkpoint.load_file(avg)
    last_two = [checkpoint.load_file(run_dir / f"step-{s:08d}.pt") for s in (40, 60)]
    key = "decoder.attention.v.weight"
    torch.testing.assert_close(
        averaged["model"][key], (last_two[0]["model"][key] + last_two[1]["model"][key]) / 2
    )
    out = run_nmt("translate", "-m", str(avg), stdin="the cat\n\n")
    assert out.returncode == 0 and out.stdout.count(b"\n") == 2
