"""Finishing a run: checkpoint averaging (best.pt only when better on dev) and length-penalty tuning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import run_nmt, train_tiny

import nmt_cli.training.finish as finish_module
from nmt_cli import checkpoint
from nmt_cli.record import tuned_alpha
from nmt_cli.settings import DecodeSettings
from nmt_cli.training.finish import ALPHAS, rerank
from nmt_cli.translate import Translator, load_model

LINES = ["the cat sees the dog", "a red bird sleeps", "the old man walks to the house", "a dog"]


def test_reranking_one_search_is_beam_search_with_each_alpha(run_dir: Path) -> None:
    model, tok = load_model(run_dir, DecodeSettings())
    pool = Translator(model, tok, DecodeSettings(beam=4, nbest=4, alpha=0.0)).translate(LINES)
    for alpha in (0.0, 0.6, 1.5):
        direct = Translator(model, tok, DecodeSettings(beam=4, alpha=alpha)).translate(LINES)
        assert [rerank(r.hyps, alpha).ids for r in pool] == [r.hyps[0].ids for r in direct]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load_file(path)["model"]  # type: ignore[no-any-return]


def _mean(run: Path, names: list[str]) -> dict[str, torch.Tensor]:
    loaded = [_weights(run / n) for n in names]
    return {k: torch.stack([w[k].float() for w in loaded]).mean(0) for k in loaded[0]}


@pytest.mark.parametrize("wins", [True, False])
def test_the_average_becomes_best_only_when_it_scores_better(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wins: bool
) -> None:
    monkeypatch.setattr(finish_module, "better", lambda metric, new, old: wins)
    run = train_tiny(data_dir, tmp_path / "run", steps=60, valid_every=20, average_last=2)
    done = json.loads((run / "finish.json").read_text())["average"]
    assert done["promoted"] is wins and len(done["checkpoints"]) == 2
    manifest = checkpoint.read_manifest(run)
    best = _weights(run / "best.pt")
    want = _mean(run, done["checkpoints"]) if wins else _weights(run / manifest["best"])
    assert all(torch.allclose(best[k].float(), want[k].float()) for k in want)
    assert (run / manifest["best"]).exists()  # the single best is kept either way


def test_tuned_alpha_is_stored_and_used_unless_alpha_is_given(data_dir: Path, tmp_path: Path) -> None:
    run = train_tiny(data_dir, tmp_path / "run", steps=40, valid_every=20, tune_alpha=True)
    done = json.loads((run / "finish.json").read_text())["length_penalty"]
    assert set(done["bleu_by_alpha"]) == {f"{a:g}" for a in ALPHAS}
    assert done["bleu_by_alpha"][f"{done['alpha']:g}"] == max(done["bleu_by_alpha"].values())
    assert tuned_alpha(run) == done["alpha"]
    text = "\n".join(LINES) + "\n"
    default = run_nmt("translate", "-m", str(run), "--beam", "4", "--nbest", "2", stdin=text)
    given = run_nmt(
        "translate", "-m", str(run), "--beam", "4", "--nbest", "2", "--alpha", f"{done['alpha']}", stdin=text
    )
    assert default.returncode == 0 and default.stdout == given.stdout  # the n-best scores show alpha
    other = 1.5 if done["alpha"] != 1.5 else 0.0  # a stored alpha other than the tuned one is used too
    finish_json = run / "finish.json"
    finish_json.write_text(json.dumps({"length_penalty": {**done, "alpha": other}}))
    moved = run_nmt("translate", "-m", str(run), "--beam", "4", "--nbest", "2", stdin=text)
    at_other = run_nmt(
        "translate", "-m", str(run), "--beam", "4", "--nbest", "2", "--alpha", f"{other}", stdin=text
    )
    assert moved.stdout == at_other.stdout != default.stdout


def test_switched_off_nothing_changes(data_dir: Path, tmp_path: Path) -> None:
    plain = train_tiny(data_dir, tmp_path / "plain", steps=40, valid_every=20)
    assert not (plain / "finish.json").exists()
    manifest = checkpoint.read_manifest(plain)
    best, single = _weights(plain / "best.pt"), _weights(plain / manifest["best"])
    assert all(torch.equal(best[k], single[k]) for k in single)
    finished = train_tiny(data_dir, tmp_path / "finished", steps=40, valid_every=20, tune_alpha=True)
    last_a, last_b = _weights(plain / "last.pt"), _weights(finished / "last.pt")
    assert all(torch.equal(last_a[k], last_b[k]) for k in last_a)  # training itself is untouched


def test_average_last_needs_as_many_kept_checkpoints(data_dir: Path, tmp_path: Path) -> None:
    proc = run_nmt(
        "train", str(data_dir), "--out", str(tmp_path / "r"), "--average-last", "5", "--max-steps", "5"
    )
    assert proc.returncode == 2 and b"--keep-last 5" in proc.stderr
