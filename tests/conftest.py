"""Shared fixtures: a tiny demo corpus, its data directory, and tiny trained models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmt_cli.data.demo.grammar import write_demo_corpus
from nmt_cli.settings import ModelSettings, PrepareSettings, SourceSettings, TrainSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TINY_MODEL = dict(emb=32, enc_hidden=32, dec_hidden=48, attn_dim=24, dropout=0.1)
# The fixtures' tiny runs keep the schedule they were written for (a constant 1e-3, plateau halving),
# whatever --max-steps makes the auto schedule choose (tests/test_schedule.py covers that), and fp32
# products whatever the CPU (tests/test_autotune.py covers the default's bf16 timing).
TINY_TRAIN = dict(
    batch_tokens=600, valid_every=20, threads=1, seed=3, log_every=1, kernels="fast", schedule="plateau",
    bf16=False,
)  # fmt: skip


def run_nmt(
    *args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m nmt_cli ARGS`` as users do, stdout and stderr kept apart."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "nmt_cli", *args],
        input=data,
        capture_output=True,
        timeout=timeout,
        env=full_env,
    )


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    write_demo_corpus(out, seed=5, n_train=1200, n_dev=40, n_test=40)
    return out


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    from nmt_cli.data.prepare import prepare_data

    out = tmp_path_factory.mktemp("data") / "data"
    spec = SourceSettings(
        train=(corpus_dir / "train.en", corpus_dir / "train.es"),
        dev=(corpus_dir / "dev.en", corpus_dir / "dev.es"),
        test=(corpus_dir / "test.en", corpus_dir / "test.es"),
    )
    prepare_data(spec, PrepareSettings(vocab_size=400), out)
    return out


def train_tiny(data: Path, run: Path, steps: int = 40, **overrides: object) -> Path:
    from nmt_cli.training import train_model

    model_kw = {k: v for k, v in overrides.items() if k in ModelSettings.__dataclass_fields__}
    train_kw = {k: v for k, v in overrides.items() if k in TrainSettings.__dataclass_fields__}
    model_cfg = ModelSettings(**{**TINY_MODEL, **model_kw})  # type: ignore[arg-type]
    train_cfg = TrainSettings(**{**TINY_TRAIN, "max_steps": steps, **train_kw})  # type: ignore[arg-type]
    train_model(data, run, model_cfg, train_cfg, quiet=True)
    return run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A tiny GRU model trained for a few dozen updates (enough to emit varied output)."""
    return train_tiny(data_dir, tmp_path_factory.mktemp("runs") / "gru", steps=60)


@pytest.fixture(autouse=True)
def _search_products_back_to_torchs() -> object:
    """A test that loads a model for translation leaves kernels/fp32.py's choice behind: undo it."""
    yield
    fp32 = sys.modules.get("nmt_cli.kernels.fp32")
    if fp32 is not None:
        fp32.set_backend("mkl")  # type: ignore[attr-defined]
