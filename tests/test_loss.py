"""The fused summed cross-entropy against F.cross_entropy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nmt_cli.loss import cross_entropy_sum


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_matches_torch_cross_entropy_in_value_and_gradient(eps: float, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    logits = (torch.randn(7, 11) * 3).to(dtype).requires_grad_()
    gold = torch.randint(0, 11, (7,))
    want = F.cross_entropy(logits.float(), gold, reduction="sum", label_smoothing=eps)
    (want_grad,) = torch.autograd.grad(want * 2.5, [logits])
    got = cross_entropy_sum(logits, gold, eps)
    (got_grad,) = torch.autograd.grad(got * 2.5, [logits])
    assert got.dtype == torch.float32 and got_grad.dtype == dtype
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got_grad, want_grad)
