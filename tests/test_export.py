"""nmt export: the artifact translates as nmt translate --beam 1 does, without nmt."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nmt_cli.export.artifact import export_run
from nmt_cli.export.graphs import export_programs
from nmt_cli.model import Seq2Seq, init_weights
from nmt_cli.settings import ModelSettings
from tests.conftest import run_nmt

RUNNER = Path(__file__).resolve().parents[1] / "nmt_cli" / "export" / "runner.py"
# Run the artifact with nmt made unimportable: any import of nmt_cli raises ImportError.
WITHOUT_NMT = (
    "import runpy, sys; sys.modules['nmt_cli'] = None; sys.argv[0] = sys.argv[1]; del sys.argv[1]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_artifact(pyz: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_NMT, str(pyz), *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def artifact(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "model.pyz"
    export_run(str(run_dir), str(out))
    return out


def test_the_runner_imports_only_torch_sentencepiece_and_the_standard_library() -> None:
    tree = ast.parse(RUNNER.read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names - set(sys.stdlib_module_names) == {"torch", "sentencepiece"}


def test_artifact_output_equals_nmt_greedy(artifact: Path, run_dir: Path, corpus_dir: Path) -> None:
    lines = (corpus_dir / "test.en").read_bytes().splitlines()
    text = b"\n".join(lines[:20] + [b"", b"   ", b"a b\r"] + lines[20:]) + b"\n"
    proc = run_artifact(artifact, "--threads", "1", "--batch-size", "7", stdin=text)
    assert proc.returncode == 0, proc.stderr.decode()
    ref = run_nmt("translate", "-m", str(run_dir), "--beam", "1", "--threads", "1", stdin=text)
    assert ref.returncode == 0, ref.stderr.decode()
    assert proc.stdout.decode().splitlines() == ref.stdout.decode().splitlines()
    assert proc.stdout.count(b"\n") == text.count(b"\n")
    assert len(set(proc.stdout.decode().splitlines())) > 5  # the fixture model writes varied lines


def test_artifact_reads_a_file_and_writes_one(artifact: Path, tmp_path: Path) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(b"una casa\n\xff\xfe roto\nla casa")  # invalid UTF-8, no final newline
    proc = run_artifact(artifact, str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert out.read_text(encoding="utf-8").count("\n") == 3
    assert "line 2: invalid UTF-8" in proc.stderr.decode()
    missing = run_artifact(artifact, str(tmp_path / "nope.txt"))
    assert missing.returncode == 1 and b"nope.txt" in missing.stderr


def test_artifact_info_is_the_meta(artifact: Path, run_dir: Path) -> None:
    proc = run_artifact(artifact, "--info")
    meta = json.loads(proc.stdout)
    assert meta["exported_from"] == str(run_dir)
    assert meta["model"]["cell"] == "gru" and meta["decode"]["search"] == "greedy"
    assert meta["versions"]["torch"] == torch.__version__


SHAPES = dict(src_vocab=40, tgt_vocab=50, emb=16, enc_hidden=8, dec_hidden=12, attn_dim=10, layers=2)


@pytest.mark.parametrize(
    "arch",
    [
        dict(cell="gru", attention="bahdanau"),
        dict(cell="lstm", attention="bahdanau"),
        dict(cell="gru", attention="post", input_feeding=True),
        dict(cell="lstm", attention="post"),
        dict(cell="gru", attention="post", tie_embeddings=True),
    ],
    ids=["gru-bahdanau", "lstm-bahdanau", "gru-post-feed", "lstm-post", "gru-post-tied"],
)
def test_programs_compute_what_the_model_computes(arch: dict[str, object]) -> None:
    model = Seq2Seq(ModelSettings(**{**SHAPES, **arch}, restrict_output=False))  # type: ignore[arg-type]
    init_weights(model, 4)
    model.eval()
    with torch.inference_mode():  # (a model that has searched before: caches must not reach the programs)
        model.log_probs(torch.tensor([2]), *model.encode(torch.tensor([[5, 3]]), torch.tensor([2])))
    encode, step = (p.module() for p in export_programs(model))
    # Other batch and source sizes than the ones traced, with padding: shapes are dynamic.
    src = torch.tensor([[5, 9, 11, 12, 13, 3], [7, 3, 0, 0, 0, 0], [4, 8, 9, 3, 0, 0], [6, 6, 3, 0, 0, 0]])
    lengths = src.ne(0).sum(1)
    with torch.inference_mode():
        memory, state = encode(src, lengths)
        ref_memory, ref_state = model.encode(src, lengths)
        real = src.ne(0).unsqueeze(-1)
        assert torch.equal(memory[2], ref_memory.mask)
        wants = [ref_memory.states, ref_memory.keys] + [ref_memory.gate_values] * (len(memory) == 4)
        for got, want in zip(memory[:2] + memory[3:], wants):  # padded positions are never read
            torch.testing.assert_close(got * real, want * real)
        refs = [t for t in (ref_state.h, ref_state.c) if t is not None]
        for got, want in zip(state, refs):
            torch.testing.assert_close(got, want)
        y = torch.tensor([2, 2, 2, 2])
        for _ in range(3):  # a few steps, feeding each step's argmax
            logp, attn, state = step(y, memory, state)
            ref_logp, ref_attn, ref_state = model.log_probs(y, ref_memory, ref_state)
            torch.testing.assert_close(logp, ref_logp, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(attn, ref_attn, atol=1e-6, rtol=1e-5)
            y = model.to_ids(ref_logp.argmax(-1))


def test_cli_writes_an_executable_artifact_and_refuses_other_names(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pyz"
    proc = run_nmt("export", str(run_dir), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    assert summary["output"] == str(out) and summary["bytes"] == out.stat().st_size
    assert os.access(out, os.X_OK)
    assert out.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    bad = run_nmt("export", str(run_dir), "-o", str(tmp_path / "m.onnx"))
    assert bad.returncode == 2 and b".pyz" in bad.stderr and not (tmp_path / "m.onnx").exists()
    missing = run_nmt("export", str(run_dir))
    assert missing.returncode == 2 and b"--output" in missing.stderr
    damaged = tmp_path / "broken.pt"
    damaged.write_bytes(b"not a checkpoint")
    failed = run_nmt("export", str(damaged), "-o", str(tmp_path / "x.pyz"))
    assert failed.returncode == 1 and not (tmp_path / "x.pyz").exists()
    assert len(failed.stderr.decode().strip().splitlines()) == 1


def test_head_closes_the_artifacts_pipe_quietly(artifact: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("the cat sees the dog\n" * 20_000)
    runner = f'"{sys.executable}" -c "{WITHOUT_NMT}" "{artifact}" "{big}"'
    cmd = f'{runner} | head -n 1; echo "${{PIPESTATUS[0]}}" >&2'
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=300)
    assert proc.stdout.count(b"\n") == 1
    assert b"Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1] == b"0"
