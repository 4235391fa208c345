"""Data-parallel training with torchrun (gloo on CPU): the same quality as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, TINY_TRAIN, run_nmt

from nmt_cli import checkpoint, record

DEMO = ["--emb", "128", "--enc-hidden", "128", "--dec-hidden", "256", "--attn-dim", "128", "--dropout", "0.1"]


def best_bleu(run: Path) -> float:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return max(r["bleu"] for r in rows if "bleu" in r)


@pytest.mark.slow
def test_two_processes_match_one(tmp_path: Path) -> None:
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    assert run_nmt("demo-corpus", "-o", str(corpus)).returncode == 0
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


# Launched by torchrun instead of ``-m nmt_cli``: each rank works in its own directory (node{RANK}),
# so that a relative --out is a different, node-local run directory on every rank.
NODE_LOCAL = """\
import os, runpy, sys
os.chdir(sys.argv[1].replace("RANK", os.environ["RANK"]))
sys.argv = ["nmt", *sys.argv[2:]]
runpy.run_module("nmt_cli", run_name="__main__")
"""


def tiny_options() -> list[str]:
    model = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_MODEL.items()]
    train = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_TRAIN.items() if k != "bf16"]
    return [*model, *train, "--fp32", "-q"]


def torchrun(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    launcher = Path(sys.executable).with_name("torchrun")
    return subprocess.run(
        [str(launcher), "--nproc_per_node", "2", *args],
        capture_output=True, timeout=timeout, env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )  # fmt: skip


@pytest.mark.slow
def test_a_resume_on_node_local_disks_equals_the_uninterrupted_run(tmp_path: Path, data_dir: Path) -> None:
    """Rank 1 never sees the run directory; the resumed two-process run is the uninterrupted one."""
    train = ["train", str(data_dir), *tiny_options(), "--valid-every", "10"]
    full = torchrun("-m", "nmt_cli", *train, "--out", str(tmp_path / "full"), "--max-steps", "30")
    assert full.returncode == 0, full.stderr.decode()
    script = tmp_path / "node_local.py"
    script.write_text(NODE_LOCAL)
    for node in ("node0", "node1"):
        (tmp_path / node).mkdir()
    for steps in ("20", "30"):
        part = torchrun(str(script), str(tmp_path / "nodeRANK"), *train, "--out", "run", "--max-steps", steps)
        assert part.returncode == 0, part.stderr.decode()
    assert "resuming run at step 20" in part.stderr.decode()
    assert not list((tmp_path / "node1").iterdir()), "rank 1 wrote to its disk"
    a = record.load_resume_record(tmp_path / "full")
    b = record.load_resume_record(tmp_path / "node0" / "run")
    assert a is not None and b is not None
    assert a.run_state.step == b.run_state.step == 30
    assert a.rng["world_size"] == b.rng["world_size"] == 2
    for key, tensor in a.model.weights.items():
        assert torch.equal(tensor, b.model.weights[key]), key
    for i, moments in a.optimizer["state"].items():
        for key, tensor in moments.items():
            assert torch.equal(tensor, b.optimizer["state"][i][key]), (i, key)
    losses = [[h["train_loss"] for h in r.run_state.history] for r in (a, b)]
    assert losses[0] == losses[1]
    one = run_nmt(*train, "--out", str(tmp_path / "node0" / "run"), "--max-steps", "40")
    assert one.returncode == 2
    assert one.stderr.decode().strip().splitlines() == [
        f"nmt: error: {tmp_path / 'node0' / 'run'} was trained with 2 processes and this job has 1 process; "
        "resume it with 2 processes (torchrun --nproc_per_node, --nnodes) or use a new --out"
    ]


@pytest.mark.slow
def test_decay_from_best_sends_rank_0s_best_weights_to_every_rank(tmp_path: Path, data_dir: Path) -> None:
    """Rank 1 never sees best.pt: it trains on from the weights rank 0 reads. Checked against a run
    killed right after the decay began and resumed (the resume sends rank 0's checkpoint to every
    rank): a rank left on its own weights would average other gradients, and the two would differ."""
    train = ["train", str(data_dir), *tiny_options(), "--valid-every", "10", "--save-every", "5"]
    train += ["--schedule", "linear", "--decay-patience", "1", "--decay-from", "best", "--max-steps", "200"]
    train += ["--keep-last", "9", "--json"]
    script = tmp_path / "node_local.py"
    script.write_text(NODE_LOCAL)
    runs = {}
    for name, faults in (("full", ["dev-stalls@20"]), ("resumed", ["dev-stalls@20,kill-after-save@20", ""])):
        for node in ("node0", "node1"):
            (tmp_path / name / node).mkdir(parents=True)
        for fault in faults:
            env = {"NMT_FAULT": fault} if fault else {}
            proc = torchrun(str(script), str(tmp_path / name / "nodeRANK"), *train, "--out", "run", env=env)
        assert proc.returncode == 0, proc.stderr.decode()
        assert not list((tmp_path / name / "node1").iterdir()), "rank 1 wrote to its disk"
        summary = json.loads(proc.stdout.decode().splitlines()[0])
        assert (summary["stopped_by"], summary["step"]) == ("decayed", 30)
        runs[name] = tmp_path / name / "node0" / "run"
    at10, at20 = (checkpoint.load(runs["full"] / f"step-{s:08d}.pt")["model"] for s in (10, 20))
    assert all(torch.equal(at10[k], at20[k]) for k in at10)  # best (10) put back at 20
    a, b = (checkpoint.load(runs[name], "last")["model"] for name in ("full", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
