#!/usr/bin/env python3
"""The pieces of a training step on the benchmark model's sizes, each against what it replaced.

One 2,000-token batch shape (65 sentences x 35 pieces, attention 512), 2 threads, milliseconds
(median of --repeats after a warm-up; forward and backward where there is one):
  attention   kernels.additive.additive_scores vs autograd over the whole (B, T, S, A) energy tensor
  encoder     kernels.gru.bidirectional vs nn.GRU on packed sequences (biGRU 2 x 256)
  adam        fused vs foreach Adam over 7.6M parameters (the step only)
  loss        the output layer and label-smoothed cross-entropy over 1,800 real target pieces (512 ->
              6,000 output pieces): kernels.xent.linear_cross_entropy vs F.linear + F.cross_entropy
  tanh        elementwise tanh over (60, 30, 512) in fp32 vs bf16 (why attention scores stay fp32)
  energy      one search-sized block of attention energies (2^18 numbers, in cache): tanh against
              sigmoid (why kernels/additive.py computes v·tanh(x) as 2 v·σ(2x) - Σv)
  bf16 shapes a bf16 product (N x 512) @ (512 x 4300) with a new N each call vs the same N again:
              what oneDNN's per-shape kernel compiling costs (why kernels/bf16.py pads row counts)
Prints one JSON object. Run nothing else meanwhile.

usage: bench/train_parts.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("GOMP_SPINCOUNT", "5000")  # as the CLI does

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from nmt_cli.kernels import additive, gru, xent  # noqa: E402


def ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def attention_pair(repeats: int) -> dict[str, float]:
    b, t, s, a = 65, 35, 35, 512
    q, k = torch.randn(b, t, a, requires_grad=True), torch.randn(b, s, a, requires_grad=True)
    v, g = torch.randn(a, requires_grad=True), torch.randn(b, t, s)

    def full() -> None:
        ((torch.tanh(q.unsqueeze(2) + k.unsqueeze(1)) @ v) * g).sum().backward()

    def blocked() -> None:
        (additive.additive_scores(q, k, v) * g).sum().backward()

    return {"attention_autograd_ms": ms(full, repeats), "attention_additive_scores_ms": ms(blocked, repeats)}


def encoder_pair(repeats: int) -> dict[str, float]:
    rnn = torch.nn.GRU(256, 256, batch_first=True, bidirectional=True)
    x = torch.randn(60, 35, 256, requires_grad=True)
    lengths = torch.randint(25, 36, (60,))
    lengths[0] = 35

    def packed() -> None:
        out, h = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        (pad_packed_sequence(out, batch_first=True)[0].sum() + h.sum()).backward()

    def scan() -> None:
        states, h = gru.bidirectional(rnn, x, lengths)
        (states.sum() + h.sum()).backward()

    return {"encoder_packed_nn_gru_ms": ms(packed, repeats), "encoder_recurrent_ms": ms(scan, repeats)}


def adam_pair(repeats: int) -> dict[str, float]:
    params = [torch.nn.Parameter(torch.randn(760_000)) for _ in range(10)]
    for p in params:
        p.grad = torch.randn_like(p)
    out = {}
    for name, kw in (("foreach", {"foreach": True}), ("fused", {"fused": True})):
        opt = torch.optim.Adam(params, lr=1e-3, **kw)
        out[f"adam_{name}_ms"] = ms(opt.step, repeats)
    return out


def loss_pair(repeats: int) -> dict[str, float]:
    x = torch.randn(1800, 512, requires_grad=True)
    w, b = (torch.randn(6000, 512) * 0.05).requires_grad_(), torch.zeros(6000, requires_grad=True)
    gold = torch.randint(0, 6000, (1800,))

    def plain() -> None:
        logits = F.linear(x, w, b)
        F.cross_entropy(logits, gold, reduction="sum", label_smoothing=0.1).backward()

    def fused() -> None:
        xent.linear_cross_entropy(x, w, b, gold, 0.1).backward()

    return {"loss_plain_ms": ms(plain, repeats), "loss_fused_ms": ms(fused, repeats)}


def tanh_pair(repeats: int) -> dict[str, float]:
    x = torch.randn(60, 30, 512)
    xb = x.bfloat16()
    return {
        "tanh_fp32_ms": ms(lambda: torch.tanh(x), repeats * 10),
        "tanh_bf16_ms": ms(lambda: torch.tanh(xb), repeats * 10),
    }


def energy_pair(repeats: int) -> dict[str, float]:
    x = torch.randn(1 << 18) * 2
    y = torch.empty_like(x)
    return {
        "energy_tanh_ms": ms(lambda: torch.tanh(x, out=y), repeats * 20),
        "energy_sigmoid_ms": ms(lambda: torch.sigmoid(x, out=y), repeats * 20),
    }


def bf16_shapes(repeats: int) -> dict[str, float]:
    w = torch.randn(512, 4300).bfloat16()
    fresh = [torch.randn(1500 + 7 * i, 512).bfloat16() for i in range(repeats)]
    start = time.perf_counter()
    for x in fresh:
        x @ w
    first = (time.perf_counter() - start) / repeats
    again = ms(lambda: fresh[0] @ w, repeats)
    return {"bf16_product_new_shape_ms": round(first * 1000, 1), "bf16_product_same_shape_ms": again}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    result: dict[str, float] = {}
    parts = (attention_pair, encoder_pair, adam_pair, loss_pair, tanh_pair, energy_pair, bf16_shapes)
    for part in parts:
        result.update(part(args.repeats))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
