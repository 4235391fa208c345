"""Ensembles (`translate -m A -m B`): the mean of the models' log-probabilities at each step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import run_nmt, train_tiny

from nmt_cli.ensemble import Ensemble
from nmt_cli.search import beam_search, greedy
from nmt_cli.settings import DecodeSettings
from nmt_cli.translate import Translator, load_model

LINES = ["the cat sees the dog", "a red bird sleeps", "", "the old man walks to the house"]


@pytest.fixture(scope="module")
def other_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A second model on the same data (another seed, so other weights)."""
    return train_tiny(data_dir, tmp_path_factory.mktemp("runs") / "other", steps=30, seed=11)


def _translate(model: object, tok: object, opts: DecodeSettings) -> list[tuple[list[str], list[float], list]]:
    results = Translator(model, tok, opts).translate(LINES)  # type: ignore[arg-type]
    return [(r.texts, [h.score for h in r.hyps], [h.attention.tolist() for h in r.hyps]) for r in results]


@pytest.mark.parametrize("beam,nbest", [(1, 1), (4, 3)])
@pytest.mark.parametrize("shared", [True, False])
def test_a_model_with_itself_is_the_model(run_dir: Path, beam: int, nbest: int, shared: bool) -> None:
    """Same texts, scores and attention, greedy and beam (n-best), in the model's output positions
    and in the full vocabulary (the route taken when the models' output vocabularies differ)."""
    opts = DecodeSettings(beam=beam, nbest=nbest, threads=1)
    model, tok = load_model(run_dir, opts)
    ensemble = Ensemble([model, model])
    ensemble.shared = shared
    assert _translate(ensemble, tok, opts) == _translate(model, tok, opts)


def test_log_probs_are_the_mean_of_the_models(run_dir: Path, other_run: Path) -> None:
    a, tok = load_model(run_dir, DecodeSettings())
    b, _ = load_model(other_run, DecodeSettings())
    src = torch.tensor([[5, 6, 7, 3], [8, 9, 3, 0]])
    lengths = torch.tensor([4, 3])
    ensemble = Ensemble([a, b])
    memory, state = ensemble.encode(src, lengths)
    y = torch.tensor([2, 2])
    logp, attn, _ = ensemble.log_probs(y, memory, state)
    logp_a, attn_a, _ = a.log_probs(y, *a.encode(src, lengths))
    logp_b, attn_b, _ = b.log_probs(y, *b.encode(src, lengths))
    assert not torch.allclose(logp_a, logp_b)  # two different models
    assert torch.allclose(logp, (logp_a + logp_b) / 2)
    assert torch.allclose(attn, (attn_a + attn_b) / 2)
    assert torch.allclose(attn.sum(-1), torch.ones(2))


def test_ensemble_search_differs_from_either_model_only_through_the_mean(
    run_dir: Path, other_run: Path
) -> None:
    """Greedy with the ensemble picks, at every step, the argmax of the mean log-probs."""
    a, _ = load_model(run_dir, DecodeSettings())
    b, _ = load_model(other_run, DecodeSettings())
    ensemble = Ensemble([a, b])
    src, lengths = torch.tensor([[5, 6, 7, 3]]), torch.tensor([4])
    hyp = greedy(ensemble, src, lengths, torch.tensor([12]))[0]
    memory, state = ensemble.encode(src, lengths)
    y = torch.tensor([2])
    ends = [3] if len(hyp.ids) < 12 else []  # (at the cap, EOS is forced)
    for piece in [*hyp.ids, *ends]:
        logp, _, state = ensemble.log_probs(y, memory, state)
        assert int(logp.argmax(-1)) == int(a.to_positions(torch.tensor([piece])))
        y = torch.tensor([piece])
    beams = beam_search(ensemble, src, lengths, torch.tensor([12]), beam=3, nbest=3)[0]
    assert len(beams) == 3 and beams[0].score >= beams[-1].score


def test_cli_ensemble_of_a_model_with_itself(run_dir: Path) -> None:
    text = "\n".join(LINES) + "\n"
    one = run_nmt("translate", "-m", str(run_dir), "--beam", "3", "--json", stdin=text)
    two = run_nmt("translate", "-m", str(run_dir), "-m", str(run_dir), "--beam", "3", "--json", stdin=text)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout == one.stdout and len(one.stdout.splitlines()) == len(LINES)


def test_cli_ensemble_of_two_models(run_dir: Path, other_run: Path, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("\n".join(LINES) + "\n")
    out = run_nmt("translate", "-m", str(run_dir), "-m", str(other_run), "--beam", "2", str(src))
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == len(LINES)
    scored = run_nmt(
        "evaluate", "-m", str(run_dir), "-m", str(other_run), "--src", str(src), "-r", str(src), "--json"
    )
    assert scored.returncode == 0, scored.stderr


def test_models_with_other_tokenizers_are_refused(run_dir: Path, corpus_dir: Path, tmp_path: Path) -> None:
    from nmt_cli.data.prepare import prepare_data
    from nmt_cli.settings import PrepareSettings, SourceSettings

    data = tmp_path / "data"
    spec = SourceSettings(
        train=(corpus_dir / "train.en", corpus_dir / "train.es"),
        dev=(corpus_dir / "dev.en", corpus_dir / "dev.es"),
    )
    prepare_data(spec, PrepareSettings(vocab_size=300), data)
    stranger = train_tiny(data, tmp_path / "stranger", steps=2)
    out = run_nmt("translate", "-m", str(run_dir), "-m", str(stranger), stdin="the cat\n")
    assert out.returncode == 2 and out.stdout == b""
    err = out.stderr.decode()
    assert "tokenizer" in err and str(stranger) in err and "Traceback" not in err
