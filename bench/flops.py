#!/usr/bin/env python3
"""How fast fp32 training can possibly be on this CPU: matrix-product work per target piece against
the fastest fp32 product this machine sustains.

  work     floating-point operations of the matrix products (torch.utils.flop_counter) in one
           training step (forward, loss and backward) of the benchmark model (model a: embeddings
           256, biGRU 2 x 256, GRU decoder 512, attention 512 after the step, output layer over
           --out-vocab pieces) on a batch of --sentences x --length pieces a side, per target piece;
  product  GFLOP/s of fp32 products of the step's largest shapes (the output layer and its two
           gradients, the pre-output layer), best of --repeats, 2 threads;
  ceiling  product / work: target pieces/s if every product ran at that speed and nothing else
           (elementwise work, attention energies, the optimizer, data) took any time.
The elementwise work is left out, so the ceiling is above any reachable speed: a peer's speed times
a goal factor above the ceiling cannot be reached in fp32 by any implementation of the same model.
With --peer TGT_PER_S, prints what fraction of the ceiling that speed is and what twice it would need.

With --model RUN (a model a run) the same for translation: the matrix-product FLOPs of translating the
bible-es-en dev split with greedy and beam 5 search (as `nmt translate`, fp32), per sentence, against
the fastest fp32 products of decoding's shapes (160 rows: a search batch), and the sentences/s that
would give if nothing but the products took time (no start-up, no tokenizing, no search bookkeeping).
Prints one JSON object, with the machine (`nmt doctor --json`). Run nothing else meanwhile.

usage: bench/flops.py [--sentences 65] [--length 31] [--out-vocab 4300] [--repeats 20] [--peer 2047]
                      [--model RUN] [--isa native|avx512_core_bf16|avx512_core|avx2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import ISA_LEVELS, machine, set_isa  # bench/machine.py

DEV = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "bible-es-en"


def step_flops(sentences: int, length: int, out_vocab: int) -> tuple[int, int]:
    """(matrix-product FLOPs of one training step, target pieces in it) for model a."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from nmt_cli.model import Seq2Seq
    from nmt_cli.settings import ModelSettings
    from nmt_cli.training.objective import LossModule

    cfg = ModelSettings(attention="post", src_vocab=8000, tgt_vocab=8000, out_vocab=out_vocab)
    loss_module = LossModule(Seq2Seq(cfg), 0.0).train()
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(4, 8000, (sentences, length), generator=gen)
    tgt = torch.randint(4, out_vocab, (sentences, length + 1), generator=gen)  # BOS .. / .. EOS
    lengths = torch.full((sentences,), length)
    with FlopCounterMode(display=False) as counter:
        loss, pieces = loss_module(src, lengths, tgt[:, :-1], tgt[:, 1:])
        loss.backward()
    return counter.get_total_flops(), int(pieces)


def decode_flops(model_path: str, beam: int) -> tuple[int, int]:
    """(matrix-product FLOPs of translating the bible dev split with ``beam``, sentences)."""
    from torch.utils.flop_counter import FlopCounterMode

    from nmt_cli.settings import DecodeSettings
    from nmt_cli.translate import translate_lines

    lines = (DEV / "dev.es").read_text(encoding="utf-8").splitlines()
    with FlopCounterMode(display=False) as counter:
        translate_lines([model_path], lines, DecodeSettings(beam=beam, threads=2))
    return counter.get_total_flops(), len(lines)


def product_gflops(rows: int, out_vocab: int, repeats: int) -> dict[str, float]:
    """Best GFLOP/s of the step's large fp32 products, 2 threads."""
    import torch

    torch.set_num_threads(2)
    shapes = {  # name: (m, k, n)
        "output": (rows, 512, out_vocab),
        "output_grad_input": (rows, out_vocab, 512),
        "output_grad_weight": (out_vocab, rows, 512),
        "pre_output": (rows, 1024, 512),
    }
    best = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            a @ b
        fastest = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            fastest = min(fastest, time.perf_counter() - start)
        best[name] = round(2 * m * k * n / fastest / 1e9, 1)
    return best


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--sentences", type=int, default=65)
    parser.add_argument("--length", type=int, default=31)
    parser.add_argument("--out-vocab", type=int, default=4300)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--peer", type=float, default=0.0, help="a peer's target pieces/s, same sitting")
    parser.add_argument("--model", help="a model a run: also count translation's work")
    parser.add_argument("--isa", choices=list(ISA_LEVELS), default="native")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inner:  # the ISA caps must be in the environment before torch is imported
        env = dict(os.environ)
        set_isa(args.isa, env)
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--inner"], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        result = json.loads(done.stdout)
        result["machine"] = machine()
        print(json.dumps(result, sort_keys=True))
        return
    flops, pieces = step_flops(args.sentences, args.length, args.out_vocab)
    gflops = product_gflops(args.sentences * args.length, args.out_vocab, args.repeats)
    per_piece = flops / pieces
    fastest = max(gflops.values())
    result: dict[str, object] = {
        "isa": args.isa,
        "batch": [args.sentences, args.length],
        "mflop_per_target_piece": round(per_piece / 1e6, 2),
        "fp32_product_gflops": gflops,
        "ceiling_target_pieces_per_s": round(fastest * 1e9 / per_piece),
    }
    if args.peer:
        result["peer_target_pieces_per_s"] = args.peer
        result["peer_fraction_of_ceiling"] = round(args.peer * per_piece / (fastest * 1e9), 2)
        result["twice_peer_needs_gflops"] = round(2 * args.peer * per_piece / 1e9, 1)
    if args.model:
        rows = product_gflops(160, args.out_vocab, args.repeats)
        result["fp32_product_gflops_160_rows"] = rows
        for beam in (1, 5):
            work, lines = decode_flops(args.model, beam)
            result[f"beam{beam}_mflop_per_sentence"] = round(work / lines / 1e6, 1)
            result[f"beam{beam}_ceiling_sentences_per_s"] = round(max(rows.values()) * 1e9 * lines / work, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
