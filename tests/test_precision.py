"""--bf16 only where it pays: on a CPU without bf16 units the run trains in fp32 and says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import train_tiny

import nmt_cli.training.session as session_module
from nmt_cli import checkpoint


def test_bf16_without_bf16_units_trains_the_fp32_run_and_records_it(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "cpu_has_bf16_units", lambda: False)
    asked = train_tiny(data_dir, tmp_path / "asked", steps=8, bf16=True, valid_every=8)
    plain = train_tiny(data_dir, tmp_path / "plain", steps=8, valid_every=8)
    config = json.loads((asked / "config.json").read_text())
    assert config["precision"] == {"bf16_asked": True, "bf16": False}
    assert config["machine"]["cores"] >= 1
    wa, wb = checkpoint.load(asked, "last")["model"], checkpoint.load(plain, "last")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # the very fp32 run


def test_bf16_decoding_without_bf16_units_runs_in_fp32(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nmt_cli.devices as devices
    from nmt_cli.forced import ForcedScorer
    from nmt_cli.settings import DecodeSettings
    from nmt_cli.translate import Translator, load_model

    model, tok = load_model(run_dir, DecodeSettings())
    monkeypatch.setattr(devices, "cpu_has_bf16_units", lambda: True)
    assert Translator(model, tok, DecodeSettings(quantize="bf16")).precision == "bf16"
    monkeypatch.setattr(devices, "cpu_has_bf16_units", lambda: False)
    lines = ["the cat sees the dog", "a red bird sleeps"]
    asked = Translator(model, tok, DecodeSettings(quantize="bf16"))
    assert (
        asked.precision == "none"
        and ForcedScorer(model, tok, DecodeSettings(quantize="bf16")).precision == "none"
    )
    plain = Translator(model, tok, DecodeSettings())
    assert [r.hyps[0].score for r in asked.translate(lines)] == [
        r.hyps[0].score for r in plain.translate(lines)
    ]
