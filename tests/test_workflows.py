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


TINY = ["--emb", "32", "--enc-hidden", "32", "--dec-hidden", "48", "--attn-dim", "24", "--dropout", "0.1"]
STEPS = ["--batch-tokens", "600", "--threads", "1", "--seed", "3", "--log-every", "1", "--valid-every", "10"]


@pytest.fixture(scope="module")
def tuned_data(run_dir: Path, domain: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tuned-data") / "data"
    code, err = prepare(out, domain, "--tokenizer", str(run_dir))
    assert code == 0, err
    return out


def train(data: Path, out: Path, *args: str) -> tuple[int, str]:
    proc = run_nmt("train", str(data), "--out", str(out), *STEPS, *args)
    return proc.returncode, proc.stderr.decode()


def first_losses(run: Path, n: int) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r][:n]


def test_init_from_starts_from_the_weights_with_a_fresh_optimizer(
    run_dir: Path, tuned_data: Path, tmp_path: Path
) -> None:
    from nmt_cli import checkpoint

    code, err = train(tuned_data, tmp_path / "tuned", "--init-from", str(run_dir), "--max-steps", "10")
    assert code == 0, err
    assert f"starting from the weights of {run_dir}" in err
    code, err = train(tuned_data, tmp_path / "fresh", *TINY, "--max-steps", "10")
    assert code == 0, err
    tuned, fresh = first_losses(tmp_path / "tuned", 3), first_losses(tmp_path / "fresh", 10)
    # It starts where the trained model is, not from scratch: below all ten updates of a fresh run.
    assert max(tuned) < min(fresh)
    saved = checkpoint.load(tmp_path / "tuned", "last")
    assert saved["run_state"]["step"] == 10 and saved["run_state"]["bad_validations"] == 0
    steps = {int(s["step"]) for s in saved["optimizer"]["state"].values()}
    assert steps == {10}  # Adam's own count: 10 updates here, not the 60 of the run it came from
    from nmt_cli import record

    tuned_model = record.load_model_record(tmp_path / "tuned").model_settings
    assert tuned_model.emb == record.load_model_record(run_dir).model_settings.emb == 32
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["train"]["init_from"] == str(run_dir)
    again, err = train(tuned_data, tmp_path / "tuned", "--init-from", str(run_dir), "--max-steps", "20")
    assert again == 0 and "resuming" in err and "at step 10" in err  # the same command continues it


def test_init_from_refuses_another_tokenizer_and_another_architecture(
    run_dir: Path, data_dir: Path, domain: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    code, err = prepare(other, domain, "--vocab-size", "300")  # its own tokenizer
    assert code == 0, err
    code, err = train(other, tmp_path / "a", "--init-from", str(run_dir), "--max-steps", "5")
    assert code == 2 and "tokenizer is not the data's" in err and f"--tokenizer {run_dir}" in err
    assert err.count("\n") == 1
    code, err = train(
        data_dir, tmp_path / "b", "--init-from", str(run_dir), "--emb", "64", "--max-steps", "5"
    )
    assert code == 2 and "--emb (32)" in err and err.count("\n") == 1
    code, err = train(
        data_dir, tmp_path / "c", "--init-from", str(run_dir), "--dropout", "0.3", "--max-steps", "5"
    )
    assert code == 0, err  # dropout changes no weight


def test_new_output_pieces_start_fresh_and_old_ones_keep_their_rows(
    run_dir: Path, tuned_data: Path, tmp_path: Path
) -> None:
    import torch

    from nmt_cli import record
    from nmt_cli.data.encoded import DataDir
    from nmt_cli.model import Seq2Seq, init_weights
    from nmt_cli.training import init_from

    init = record.load_model_record(run_dir)
    tok = DataDir(tuned_data).tokenizer()
    seen = [0, 1, 2, 3, *range(4, tok.tgt_vocab_size)]  # every piece: some the run never scored
    ids = init_from.output_vocabulary(init, seen)
    cfg = init_from.model_settings(init.model_settings, init.model_settings, (), {"out_vocab": len(ids)})
    model = Seq2Seq(cfg)
    init_weights(model, 1)
    model.generator.set_vocabulary(ids)
    init_from.load_weights(model, init, str(run_dir))
    old_ids = init.weights["generator.out_ids"].tolist()
    assert len(ids) > len(old_ids)
    weight, old_weight = model.generator.linear.weight, init.weights["generator.linear.weight"]  # type: ignore[union-attr]
    for row, piece in enumerate(ids[:50]):
        if piece in old_ids:
            assert torch.equal(weight[row], old_weight[old_ids.index(piece)])
    assert torch.equal(model.state_dict()["decoder.out.weight"], init.weights["decoder.out.weight"])


def test_a_run_resumes_with_its_data_and_out_alone(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    # non-defaults (label smoothing 0 is a run trained before 0.1 became the default) kept on resume
    first = ["--lr", "0.003", "--schedule", "constant", "--label-smoothing", "0", "--max-steps", "10"]
    code, err = train(data_dir, run, *TINY, *first)
    assert code == 0, err
    proc = run_nmt("train", str(data_dir), "--out", str(run), "--max-steps", "20", "--threads", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"at step 10" in proc.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["lr"] == 0.003 and config["train"]["label_smoothing"] == 0.0
    assert config["model"]["emb"] == 32 and config["train"]["max_steps"] == 20
    changed = run_nmt("train", str(data_dir), "--out", str(run), "--lr", "0.01", "--emb", "64")
    err = changed.stderr.decode()
    assert changed.returncode == 2 and "other settings (emb, lr)" in err and err.count("\n") == 1


def test_a_config_file_round_trips_through_dump_config(data_dir: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    args = [
        "train",
        str(data_dir),
        "--out",
        str(tmp_path / "run"),
        *TINY,
        "--cell",
        "lstm",
        "--max-time",
        "2m",
    ]
    assert run_nmt(*args, "--dump-config", str(first)).returncode == 0
    assert not (tmp_path / "run").exists()  # dumping trains nothing
    second = tmp_path / "second.yaml"
    proc = run_nmt("train", "--config", str(first), "--dump-config", str(second))
    assert proc.returncode == 0, proc.stderr.decode()
    assert second.read_text() == first.read_text()
    import yaml

    values = yaml.safe_load(first.read_text())
    assert values["cell"] == "lstm" and values["emb"] == 32 and values["max-time"] == "120s"
    wins = run_nmt("train", "--config", str(first), "--emb", "48", "--dump-config", "-")
    assert yaml.safe_load(wins.stdout)["emb"] == 48  # the command line wins over the file


def test_a_config_file_trains_and_resumes(data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        f"data: {data_dir}\nout: {tmp_path / 'run'}\nemb: 32\nenc-hidden: 32\ndec_hidden: 48\n"
        "attn-dim: 24\nmax-steps: 10\nvalid-every: 10\nbatch-tokens: 600\nthreads: 1\nlr: 0.003\n"
    )
    proc = run_nmt("train", "--config", str(config), "-q", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["step"] == 10
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["dec_hidden"] == 48 and saved["train"]["lr"] == 0.003
    more = run_nmt("train", "--config", str(config), "--max-steps", "15", "-q", "--json")
    assert more.returncode == 0 and json.loads(more.stdout)["step"] == 15


def test_config_files_work_for_every_command_and_bad_ones_say_where(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "beam.yaml").write_text("beam: 3\nmodel: " + str(run_dir) + "\n")
    text = "the cat sees the dog\nthe girl\n"
    by_file = run_nmt("translate", "--config", str(tmp_path / "beam.yaml"), stdin=text)
    by_flags = run_nmt("translate", "-m", str(run_dir), "--beam", "3", stdin=text)
    assert by_file.returncode == 0 and by_file.stdout == by_flags.stdout
    (tmp_path / "bad.yaml").write_text("beam: 3\nsnow: yes\n")
    bad = run_nmt("translate", "--config", str(tmp_path / "bad.yaml"), stdin=text)
    assert bad.returncode == 2 and b"'snow' is not an option of nmt translate" in bad.stderr
    (tmp_path / "broken.yaml").write_text("beam: 3\n  model: [\n")
    broken = run_nmt("translate", "--config", str(tmp_path / "broken.yaml"), stdin=text)
    assert broken.returncode == 2 and b"broken.yaml:" in broken.stderr and b"not valid YAML" in broken.stderr
    assert broken.stderr.count(b"\n") == 1
