"""`nmt score`: forced-decoding log-probabilities, one line out per line in."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from conftest import run_nmt

from nmt_cli.batching import source_batch
from nmt_cli.ensemble import Ensemble
from nmt_cli.forced import ForcedScorer, Pair
from nmt_cli.search import greedy
from nmt_cli.settings import DecodeSettings
from nmt_cli.translate import load_model


@pytest.fixture(scope="module")
def sources(corpus_dir: Path) -> list[str]:
    return (corpus_dir / "test.en").read_text().splitlines()[:30]


@pytest.fixture(scope="module")
def greedy_out(run_dir: Path, sources: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("score") / "greedy.txt"
    done = run_nmt("translate", "-m", str(run_dir), "-o", str(out), stdin="\n".join(sources) + "\n")
    assert done.returncode == 0, done.stderr
    return out


def _columns(stdout: bytes) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in (line.split("\t") for line in stdout.decode().splitlines())]


def test_own_greedy_output_scores_above_a_shuffled_target(
    run_dir: Path, sources: list[str], greedy_out: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src.txt"
    src.write_text("\n".join(sources) + "\n")
    hyps = greedy_out.read_text().splitlines()
    shuffled = hyps[:]
    random.Random(1).shuffle(shuffled)
    (tmp_path / "shuffled.txt").write_text("\n".join(shuffled) + "\n")
    own = run_nmt("score", "-m", str(run_dir), str(src), str(greedy_out))
    other = run_nmt("score", "-m", str(run_dir), str(src), str(tmp_path / "shuffled.txt"))
    assert own.returncode == 0 and other.returncode == 0, own.stderr + other.stderr
    own_scores, other_scores = _columns(own.stdout), _columns(other.stdout)
    assert len(own_scores) == len(other_scores) == len(sources)
    differ = [k for k in range(len(hyps)) if hyps[k] != shuffled[k]]
    above = [k for k in differ if own_scores[k][1] > other_scores[k][1]]
    assert len(differ) > 20 and len(above) > len(differ) / 2  # (a tiny model: most, not all)
    assert sum(s[1] for s in own_scores) > sum(s[1] for s in other_scores)
    for total, normalised in own_scores:
        assert total < 0 and normalised < 0 and total <= normalised


def test_the_total_is_greedy_searchs_own_log_probability(run_dir: Path, sources: list[str]) -> None:
    """Scoring greedy's own ids gives the sum of the log-probs greedy added up (alpha 0); a
    hypothesis that reached the length cap got its EOS for free (forced), so it is scored without."""
    model, tok = load_model(run_dir, DecodeSettings())
    ids = tok.encode_src(sources[:8])
    src, lengths = source_batch(ids)
    cap = 40
    hyps = greedy(model, src, lengths, torch.full((len(ids),), cap), alpha=0.0)
    scorer = ForcedScorer(model, tok, DecodeSettings())
    with_eos = scorer._batch(ids, [h.ids for h in hyps])
    without = scorer._batch(ids, [h.ids for h in hyps], eos=False)
    totals = [w if len(h.ids) == cap else e for h, e, w in zip(hyps, with_eos, without)]
    assert totals == pytest.approx([h.score for h in hyps], abs=1e-4)
    assert all(e < w for e, w in zip(with_eos, without))
    ensemble = ForcedScorer(Ensemble([model, model]), tok, DecodeSettings())
    assert ensemble._batch(ids, [h.ids for h in hyps]) == pytest.approx(with_eos, abs=1e-6)


def test_batching_does_not_change_scores(run_dir: Path, sources: list[str], greedy_out: Path) -> None:
    model, tok = load_model(run_dir, DecodeSettings())
    pairs = [Pair(k + 1, s, t) for k, (s, t) in enumerate(zip(sources, greedy_out.read_text().splitlines()))]
    one = ForcedScorer(model, tok, DecodeSettings(batch_size=1)).score(pairs)
    many = ForcedScorer(model, tok, DecodeSettings(batch_size=7)).score(pairs)
    assert [s.total for s in many] == pytest.approx([s.total for s in one], abs=1e-4)
    assert [s.pieces for s in many] == [s.pieces for s in one]


def test_tsv_on_stdin_json_and_the_line_contract(run_dir: Path) -> None:
    tsv = "the cat sees\tel gato ve\n\n\tel perro\nthe dog\t\n"
    out = run_nmt("score", "-m", str(run_dir), "--json", stdin=tsv)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["src"] == "the cat sees" and rows[0]["tgt"] == "el gato ve"
    assert rows[0]["score"] < 0 and rows[0]["normalised"] == pytest.approx(
        rows[0]["score"] / rows[0]["pieces"]
    )
    assert rows[1]["score"] is None and rows[2]["score"] is None  # no source: no score
    assert rows[3]["pieces"] == 1 and rows[3]["score"] < 0  # an empty target: EOS alone
    plain = run_nmt("score", "-m", str(run_dir), stdin=tsv)
    lines = plain.stdout.decode().split("\n")
    assert len(lines) == 5 and lines[1] == lines[2] == "" and lines[4] == ""
    assert float(lines[0].split("\t")[0]) == pytest.approx(rows[0]["score"], abs=1e-5)


@pytest.mark.parametrize(
    "tsv,message",
    [("a\tb\nno tab here\n", "line 2: expected source TAB target, found 1 fields"), ("a\tb\tc\n", "line 1")],
)
def test_bad_tsv_is_refused_with_its_line(run_dir: Path, tmp_path: Path, tsv: str, message: str) -> None:
    path, out = tmp_path / "pairs.tsv", tmp_path / "out.txt"
    path.write_text(tsv)
    done = run_nmt("score", "-m", str(run_dir), str(path), "-o", str(out))
    assert done.returncode == 1 and message in done.stderr.decode() and str(path) in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode() and not out.exists()  # no half-written output


def test_files_of_different_lengths_are_refused(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "s").write_text("a\nb\nc\n")
    (tmp_path / "t").write_text("a\nb\n")
    done = run_nmt("score", "-m", str(run_dir), str(tmp_path / "s"), str(tmp_path / "t"))
    assert done.returncode == 1
    assert f"{tmp_path / 's'}: more lines than {tmp_path / 't'}" in done.stderr.decode()


def test_nbest_rescoring_and_reranking(run_dir: Path, sources: list[str], tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("\n".join(sources[:6]) + "\n")
    nbest = run_nmt("translate", "-m", str(run_dir), "--beam", "4", "--nbest", "4", str(src))
    assert nbest.returncode == 0, nbest.stderr
    (tmp_path / "nbest.txt").write_bytes(nbest.stdout)
    rescored = run_nmt("score", "-m", str(run_dir), "--nbest-list", str(tmp_path / "nbest.txt"), str(src))
    assert rescored.returncode == 0, rescored.stderr
    old, new = nbest.stdout.decode().splitlines(), rescored.stdout.decode().splitlines()
    assert len(new) == len(old) == 24
    groups: dict[int, list[tuple[float, str]]] = {}
    for a, b in zip(old, new):
        ida, hyp_a, _ = a.split(" ||| ")
        idb, hyp_b, score = b.split(" ||| ")
        assert (ida, hyp_a) == (idb, hyp_b)
        groups.setdefault(int(idb), []).append((float(score), hyp_b))
    reranked = run_nmt(
        "score", "-m", str(run_dir), "--nbest-list", str(tmp_path / "nbest.txt"), "--rerank", str(src)
    )
    assert reranked.returncode == 0, reranked.stderr
    assert reranked.stdout.decode().splitlines() == [max(groups[i])[1] for i in range(6)]


def test_nbest_ids_past_the_source_are_refused(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "src").write_text("the cat\n")
    (tmp_path / "nbest").write_text("0 ||| el gato ||| -1.0\n3 ||| el perro ||| -2.0\n")
    done = run_nmt(
        "score", "-m", str(run_dir), "--nbest-list", str(tmp_path / "nbest"), str(tmp_path / "src")
    )
    assert done.returncode == 1 and "line 2: id 3" in done.stderr.decode()
