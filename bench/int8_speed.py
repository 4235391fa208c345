#!/usr/bin/env python3
"""int8 decoding (kernels/int8.py) against fp32 and against torch.ao's dynamic quantization, the route
int8 took before (deprecated by PyTorch; timed only while this PyTorch still has it).

Translates a source file in-process (model loaded once per variant), greedy and beam 5, 2 threads,
each variant twice in turn (the best of the two is reported); prints sentences/s and BLEU per
variant as one JSON object, with the CPU model and its int8/bf16 flags. Run nothing else meanwhile.

usage: bench/int8_speed.py MODEL SRC REF [--lines N]
  e.g. bench/int8_speed.py run ../shared/corpora/bible-es-en/dev.es ../shared/corpora/bible-es-en/dev.en
Set ONEDNN_MAX_CPU_ISA=AVX2 (or AVX512_CORE_VNNI) to stand in for a CPU without AMX.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_input import cpu  # noqa: E402


def torch_ao_route(model: Any) -> Any:
    """What --quantize int8 did before: torch.ao.quantization.quantize_dynamic on Linear, GRU, LSTM."""
    import torch
    from torch import nn

    from nmt_cli.kernels import bf16

    for module in model.modules():
        if type(module) is bf16.Linear:
            module.__class__ = nn.Linear
    qconfig = torch.ao.quantization.default_dynamic_qconfig
    spec: dict[Any, Any] = {t: qconfig for t in (nn.Linear, nn.GRU, nn.LSTM)}
    spec["decoder.attention.v"] = None
    return torch.ao.quantization.quantize_dynamic(model, spec)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("src", type=Path)
    parser.add_argument("ref", type=Path)
    parser.add_argument("--lines", type=int, default=0, help="only the first N lines (0 = all)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    import sacrebleu
    import torch

    import nmt_cli.translate as translate
    from nmt_cli.kernels import int8
    from nmt_cli.settings import DecodeSettings

    torch.set_num_threads(2)
    lines = args.src.read_text(encoding="utf-8").splitlines()
    refs = args.ref.read_text(encoding="utf-8").splitlines()
    if args.lines:
        lines, refs = lines[: args.lines], refs[: args.lines]
    variants: dict[str, Any] = {"fp32": None, "int8": int8.quantize_int8}
    if int8.onednn_available():
        variants["int8_int_mm"] = lambda m: int8.quantize_int8(m, backend="int_mm")
    if hasattr(torch.ao.quantization, "quantize_dynamic"):
        variants["int8_torch_ao"] = torch_ao_route
    best: dict[str, float] = {}
    result: dict[str, Any] = {"model": args.model, "sentences": len(lines), "torch": torch.__version__}
    result["cpu"], result["cpu_flags"] = cpu(FLAGS)
    result["onednn_max_cpu_isa"] = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
    for _ in range(2):
        for name, quantize in variants.items():
            for beam in (1, 5):
                translate.quantize_int8 = quantize or int8.quantize_int8
                opts = DecodeSettings(beam=beam, quantize="none" if quantize is None else "int8")
                start = time.perf_counter()
                hyps = translate.translate_lines([args.model], lines, opts)
                rate = len(lines) / (time.perf_counter() - start)
                tag = f"{name}_{'greedy' if beam == 1 else 'beam5'}"
                best[tag] = max(best.get(tag, 0.0), rate)
                result[f"sents_per_s_{tag}"] = round(best[tag], 1)
                result[f"bleu_{tag}"] = round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
                print(f"{tag}: {rate:.1f} sentences/s", file=sys.stderr, flush=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
