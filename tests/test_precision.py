"""bf16 products on padded rows: same values as unpadded bf16, nothing changes without autocast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import train_tiny
from torch import nn

from nmt_cli import precision


def test_pad_rows_appends_zero_rows_to_a_multiple() -> None:
    x = torch.ones(3, 70, 2)
    padded = precision.pad_rows(x, dim=1)
    assert padded.shape == (3, 80, 2)  # small counts: multiples of 16
    assert torch.equal(padded[:, :70], x) and not padded[:, 70:].any()
    assert precision.pad_rows(torch.ones(300, 2)).shape == (320, 2)  # larger: multiples of 64
    assert precision.pad_rows(torch.ones(64, 2)).shape == (64, 2)


def test_linear_under_bf16_autocast_matches_plain_bf16_and_keeps_gradients() -> None:
    torch.manual_seed(0)
    layer = precision.Linear(8, 5)
    x = torch.randn(3, 7, 8, requires_grad=True)  # 21 rows -> padded to 64 inside
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = layer(x)
        want = nn.functional.linear(x, layer.weight, layer.bias)
    assert got.shape == (3, 7, 5) and got.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)
    got.float().sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(3, 7, 8), atol=0.05, rtol=0.02)


def test_without_autocast_linear_is_nn_linear_and_plain_linears_converts() -> None:
    layer = precision.Linear(4, 2)
    x = torch.randn(5, 4)
    torch.testing.assert_close(layer(x), nn.functional.linear(x, layer.weight, layer.bias))
    model = nn.Sequential(layer, nn.Tanh())
    precision.plain_linears(model)
    assert type(model[0]) is nn.Linear


@pytest.mark.parametrize("attention", ["post", "bahdanau"])
def test_bf16_training_follows_fp32_step_for_step(data_dir: Path, tmp_path: Path, attention: str) -> None:
    runs = {}
    for bf16 in (False, True):
        run = train_tiny(data_dir, tmp_path / f"run-{bf16}", steps=25, attention=attention, bf16=bf16)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        runs[bf16] = [r["loss"] for r in rows if "loss" in r]
    fp32, bf16_losses = runs[False], runs[True]
    assert len(fp32) == len(bf16_losses) == 25
    assert fp32 != bf16_losses  # the products really ran in bf16
    for a, b in zip(fp32, bf16_losses):
        assert abs(a - b) < 0.02 * a  # same batches, same curve
    assert bf16_losses[-1] < 0.95 * bf16_losses[0]  # and it learns
    weights = torch.load(tmp_path / "run-True" / "last.pt", weights_only=True)["model"]
    assert all(w.dtype != torch.bfloat16 for w in weights.values())  # fp32 master weights


def test_cpu_bf16_units_are_read_from_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "old").write_text("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    (tmp_path / "new").write_text("flags\t\t: fpu sse2 avx512bw avx512_bf16 amx_bf16 amx_tile\n")
    assert not precision.cpu_has_bf16_units(tmp_path / "old")
    assert precision.cpu_has_bf16_units(tmp_path / "new")
    assert precision.cpu_has_bf16_units(tmp_path / "absent")  # cannot tell: no warning
