"""bf16 products on padded rows: same values as unpadded bf16, nothing changes without autocast."""

from __future__ import annotations

import torch
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
