"""The typed checkpoint record: one loader for inference, one for resume, the on-disk keys unchanged."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nmt_cli import checkpoint, record
from nmt_cli.errors import CheckpointError
from nmt_cli.record import RunState
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
    names = record.average(run_dir, 2, out)["checkpoints"]
    rec = record.model_record(checkpoint.load_file(out), str(out))
    assert rec.averaged_from == names == ["step-00000040.pt", "step-00000060.pt"]
    assert not TRAINING_ONLY & set(checkpoint.load_file(out))


def test_a_run_state_without_the_newer_fields_still_resumes(run_dir: Path) -> None:
    """Step files written before best_saved and the loss window existed load with their defaults."""
    payload = dict(checkpoint.load(run_dir, "last"))
    old = {
        k: v
        for k, v in payload["run_state"].items()
        if k not in ("best_saved", "window_loss", "window_tokens")
    }
    resumed = record.resume_record({**payload, "run_state": old}, "old.pt")
    assert resumed.run_state.best_saved is None and resumed.run_state.window_tokens == 0
    assert resumed.run_state.step == 60


def test_a_run_state_this_version_does_not_know_is_refused(run_dir: Path) -> None:
    payload = dict(checkpoint.load(run_dir, "last"))
    for run_state in ({**payload["run_state"], "from_the_future": 1}, [1, 2]):
        with pytest.raises(CheckpointError, match="cannot resume"):
            record.resume_record({**payload, "run_state": run_state}, "new.pt")


def test_the_best_regular_validation_outlives_pruning(run_dir: Path, tmp_path: Path) -> None:
    # One step file kept: the best regular validation's (10) stays, though a stop-time validation at 30
    # took best.pt from it (--decay-from best goes back to it); the others but the last are gone.
    resumed = record.load_resume_record(run_dir)
    assert resumed is not None
    state = RunState(history=[{"step": 10, "best": True}, {"step": 20, "best": False}])
    assert state.best_step == 10 and RunState().best_step is None
    for step in (10, 20, 30, 40):
        record.save(tmp_path, replace(resumed, run_state=state), step, is_best=step == 30, keep_last=1)
    kept = sorted(p.name for p in tmp_path.glob("step-*.pt"))
    assert kept == ["step-00000010.pt", "step-00000030.pt", "step-00000040.pt"]
