"""A user's second week (issue 12): encoding new data with an existing tokenizer, ..."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_nmt
from typer.testing import CliRunner

from nmt_cli.cli import app
from nmt_cli.data.encoded import DataDir

runner = CliRunner()


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second corpus (another seed of the demo grammar): the 'new domain'."""
    from nmt_cli.data.demo.grammar import write_demo_corpus

    out = tmp_path_factory.mktemp("domain")
    write_demo_corpus(out, seed=77, n_train=400, n_dev=20, n_test=20)
    return out


def prepare(out: Path, domain: Path, *args: str) -> tuple[int, str]:
    files = ["--train", str(domain / "train.en"), str(domain / "train.es"), "--dev-size", "20"]
    result = runner.invoke(app, ["prepare", "-o", str(out), "-q", *files, *args])
    return result.exit_code, result.stderr


@pytest.mark.parametrize("source", ["data", "run", "model-file", "checkpoint"])
def test_a_reused_tokenizer_gives_the_same_ids(
    source: str, data_dir: Path, run_dir: Path, domain: Path, tmp_path: Path
) -> None:
    where = {
        "data": data_dir,
        "run": run_dir,
        "model-file": data_dir / "spm.model",
        "checkpoint": run_dir / "best.pt",
    }[source]
    code, err = prepare(tmp_path / "new", domain, "--tokenizer", str(where))
    assert code == 0, err
    new, old = DataDir(tmp_path / "new"), DataDir(data_dir)
    assert (tmp_path / "new" / "spm.model").read_bytes() == (data_dir / "spm.model").read_bytes()
    sentence = (domain / "train.en").read_text().splitlines()[0]
    assert new.tokenizer().encode_src([sentence]) == old.tokenizer().encode_src([sentence])
    assert len(new.tokenizer().encode_src([sentence])[0]) > 1
    manifest = json.loads((tmp_path / "new" / "manifest.json").read_text())
    assert manifest["tokenizer"] == {"trained": False, "from": str(where.resolve())}
    assert json.loads((data_dir / "manifest.json").read_text())["tokenizer"] == {"trained": True}


def test_a_tokenizer_that_is_not_one_is_a_usage_error(domain: Path, tmp_path: Path) -> None:
    (tmp_path / "junk.model").write_bytes(b"not a model")
    code, err = prepare(tmp_path / "a", domain, "--tokenizer", str(tmp_path / "junk.model"))
    assert code == 2 and err.endswith("junk.model: not a SentencePiece model\n") and err.count("\n") == 1
    code, err = prepare(tmp_path / "b", domain, "--tokenizer", str(tmp_path))
    assert code == 2 and "not a run directory, a checkpoint, a data directory or a .model file" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_foreign_sentencepiece_model_is_refused_by_its_special_ids(domain: Path, tmp_path: Path) -> None:
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    lines = (domain / "train.en").read_text().splitlines()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=60)
    (tmp_path / "theirs.model").write_bytes(model.getvalue())  # sentencepiece's defaults: unk 0, bos 1...
    code, err = prepare(tmp_path / "out", domain, "--tokenizer", str(tmp_path / "theirs.model"))
    assert code == 2 and "special ids" in err and err.count("\n") == 1


def test_translating_new_data_with_the_old_model_needs_no_new_tokenizer(
    run_dir: Path, domain: Path, tmp_path: Path
) -> None:
    code, err = prepare(tmp_path / "new", domain, "--tokenizer", str(run_dir))
    assert code == 0, err
    proc = run_nmt("translate", "-m", str(run_dir), str(tmp_path / "new" / "dev.src"))
    assert proc.returncode == 0 and proc.stdout.count(b"\n") == 20
