"""Subword regularisation: sampled segmentations spell the same text, are a function of (seed,
epoch), and a run that samples resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, TINY_TRAIN, run_nmt, train_tiny

from nmt_cli import checkpoint
from nmt_cli.data.encoded import DataDir, EncodedSplit, IdPairs, SplitWriter
from nmt_cli.data.sampling import sample_split
from nmt_cli.settings import ModelSettings, Sampling, TrainSettings
from nmt_cli.tokenizer import Tokenizer
from nmt_cli.training import train_model


@pytest.fixture(scope="module")
def train(data_dir: Path) -> tuple[EncodedSplit, Tokenizer]:
    data = DataDir(data_dir)
    return data.split("train"), data.tokenizer()


def pairs(split: IdPairs) -> list[tuple[list[int], list[int]]]:
    return [(split.src(i).tolist(), split.tgt(i).tolist()) for i in range(len(split))]


def test_sampled_pieces_spell_the_stored_text(train: tuple[EncodedSplit, Tokenizer]) -> None:
    split, tok = train
    sampled = sample_split(split, tok, Sampling(0.5), seed=1, epoch=1)
    assert len(sampled) == len(split)
    assert sampled.src_lengths.tolist() == [len(s) for s, _ in pairs(sampled)]
    for (src, tgt), (src0, tgt0) in zip(pairs(sampled), pairs(split)):
        assert tok.src.Decode(src) == tok.src.Decode(src0)
        assert tok.tgt.Decode(tgt) == tok.tgt.Decode(tgt0)
    changed = sum(a != b for a, b in zip(pairs(sampled), pairs(split)))
    assert changed > len(split) // 4  # (sampling does change segmentations)


def test_sampling_is_a_function_of_seed_and_epoch(train: tuple[EncodedSplit, Tokenizer]) -> None:
    split, tok = train
    how = Sampling(0.5)
    first = pairs(sample_split(split, tok, how, seed=1, epoch=1))
    second = pairs(sample_split(split, tok, how, seed=1, epoch=2))
    assert pairs(sample_split(split, tok, how, seed=1, epoch=1)) == first  # (after another epoch's)
    assert second != first
    assert pairs(sample_split(split, tok, how, seed=2, epoch=1)) != first


def test_source_only_sampling_keeps_the_stored_targets(train: tuple[EncodedSplit, Tokenizer]) -> None:
    split, tok = train
    sampled = sample_split(split, tok, Sampling(0.5, target=False), seed=1, epoch=1)
    assert [t for _, t in pairs(sampled)] == [t for _, t in pairs(split)]
    assert [s for s, _ in pairs(sampled)] != [s for s, _ in pairs(split)]


def losses(run: Path) -> dict[int, float]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in lines if "loss" in r}


def test_a_sampling_run_resumes_exactly_across_epochs(data_dir: Path, tmp_path: Path) -> None:
    """20 updates straight, or 10 and then 10 more: the same losses and weights (15 batches an
    epoch: the resume lands inside the first, and the second is sampled after it)."""
    kw = dict(subword_alpha=0.5, batch_tokens=4000)
    straight = train_tiny(data_dir, tmp_path / "straight", steps=20, **kw)
    resumed = train_tiny(data_dir, tmp_path / "resumed", steps=10, **kw)
    cfg = TrainSettings(**{**TINY_TRAIN, "max_steps": 20, **kw})  # type: ignore[arg-type]
    model = ModelSettings(**TINY_MODEL)  # type: ignore[arg-type]
    train_model(data_dir, resumed, model, cfg, quiet=True, explicit={"max_steps"})  # (as `--max-steps 20`)
    a, b = losses(straight), losses(resumed)
    assert sorted(b) == list(range(1, 21)) and a == b
    saved = checkpoint.load(straight, "last")
    assert saved["run_state"]["epoch"] >= 2, saved["run_state"]  # (epoch 2 sampled after the resume)
    wa, wb = saved["model"], checkpoint.load(resumed, "last")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    tok = DataDir(data_dir).tokenizer()  # sampled targets: the output layer scores every piece
    assert wa["generator.out_ids"].tolist() == list(range(tok.tgt_vocab_size))


def test_a_run_without_sampling_differs(data_dir: Path, tmp_path: Path) -> None:
    """The option reaches training: the first losses differ from a run on the stored segmentation."""
    plain = losses(train_tiny(data_dir, tmp_path / "plain", steps=3))
    sampled = losses(train_tiny(data_dir, tmp_path / "sampled", steps=3, subword_alpha=0.5))
    assert plain[1] != sampled[1]


@pytest.mark.parametrize("option", [["--subword-alpha", "-0.1"], ["--subword-nbest", "1"]])
def test_bad_sampling_options_are_refused(data_dir: Path, tmp_path: Path, option: list[str]) -> None:
    done = run_nmt("train", str(data_dir), "--out", str(tmp_path / "run"), "--subword-alpha", "0.1", *option)
    assert done.returncode == 2, done.stderr.decode()
    assert "--subword" in done.stderr.decode() and "Traceback" not in done.stderr.decode()
    assert not (tmp_path / "run").exists()


def test_no_pairs_sample_to_no_pairs(tmp_path: Path, train: tuple[EncodedSplit, Tokenizer]) -> None:
    writer = SplitWriter(tmp_path, "train")
    writer.close()
    sampled = sample_split(EncodedSplit(tmp_path, "train"), train[1], Sampling(0.5), seed=1, epoch=1)
    assert len(sampled) == 0 and sampled.src_lengths.size == 0 and sampled.tgt_lengths.size == 0
