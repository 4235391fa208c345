"""The typed checkpoint record: one loader for inference, one for resume, the on-disk keys unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nmt_cli import checkpoint, record
from nmt_cli.errors import CheckpointError
from nmt_cli.settings import ModelSettings

# The keys of a step file and of best.pt as format 1 writes them: readers of older files rely on them.
STEP_KEYS = {
    "format", "model_config", "train_config", "model", "optimizer", "schedule", "run_state", "rng",
    "spm_src", "spm_tgt", "data_sha256", "versions",
}  # fmt: skip
TRAINING_ONLY = {"optimizer", "schedule", "rng"}


def test_files_on_disk_keep_their_keys(run_dir: Path) -> None:
    last = checkpoint.load(run_dir, "last")
    assert set(last) == STEP_KEYS
    assert set(checkpoint.load_file(run_dir / "best.pt")) == STEP_KEYS - TRAINING_ONLY


def test_inference_record_rebuilds_settings_and_tokenizer(run_dir: Path) -> None:
    rec = record.load_model_record(run_dir)
    assert isinstance(rec.model_settings, ModelSettings)
    assert rec.model_settings.src_vocab > 0 and rec.spm_src and rec.spm_tgt
    assert "decoder.attention.v.weight" in rec.weights
    assert rec.train_settings["seed"] == 3


def test_resume_record_round_trips_through_a_payload(run_dir: Path) -> None:
    resumed = record.load_resume_record(run_dir)
    assert resumed is not None
    assert resumed.run_state.step == 60 and resumed.run_state.history
    payload = record.to_payload(resumed)
    assert set(payload) == STEP_KEYS
    again = record.resume_record(payload, "memory")
    assert again.run_state == resumed.run_state
    for key, tensor in resumed.model.weights.items():
        assert torch.equal(again.model.weights[key], tensor)


def test_a_run_without_checkpoints_has_no_resume_record(tmp_path: Path) -> None:
    assert record.load_resume_record(tmp_path) is None


def test_a_model_only_file_is_no_resume_record(run_dir: Path) -> None:
    with pytest.raises(CheckpointError, match="without training state"):
        record.resume_record(checkpoint.load_file(run_dir / "best.pt"), "best.pt")


def test_averaging_writes_a_model_record(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "avg.pt"
    names = record.average(run_dir, 2, out)
    rec = record.model_record(checkpoint.load_file(out), str(out))
    assert rec.averaged_from == names == ["step-00000040.pt", "step-00000060.pt"]
    assert not TRAINING_ONLY & set(checkpoint.load_file(out))
