"""Where decoding runs (``--device auto|cpu|cuda``), in which precision, and how many rows a batch has.

``translate``, ``evaluate -m`` and ``score`` load their models onto the device ``resolve`` names and
search there: search allocates every tensor on the source batch's device and moves only the finished
hypotheses back. Precision follows ``--quantize``: fp32 by default on either device; ``bf16`` autocast
on a CPU or a GPU; ``fp16`` autocast on a GPU only; ``int8`` on a CPU only (its kernels are CPU ones).
"""

from __future__ import annotations

import contextlib

import torch

from nmt_cli.errors import UsageError
from nmt_cli.kernels.bf16 import cpu_has_bf16_units
from nmt_cli.settings import DecodeSettings

# Hypotheses (sentences x beam) searched at once: a CPU is fastest with batches that stay in its caches;
# a GPU needs wide batches to fill its cores (and has the memory: a row is a few MB at most).
CPU_ROWS, GPU_ROWS = 160, 2048
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve(name: str) -> torch.device:
    """``auto``: the first CUDA GPU when one is visible, else the CPU; ``cuda`` without a GPU: refused."""
    if name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if name == "cuda":
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise UsageError(f"--device cuda: {why} (torch {torch.__version__}); use --device cpu or auto")
    return torch.device("cpu")


def check_precision(device: torch.device, quantize: str) -> None:
    """Refuse a --quantize the device cannot run."""
    if quantize == "int8" and device.type != "cpu":
        raise UsageError("--quantize int8 runs on a CPU only: add --device cpu, or use bf16 or fp16 on a GPU")
    if quantize == "fp16" and device.type == "cpu":
        raise UsageError("--quantize fp16 is for GPUs (--device cuda); on a CPU use bf16 or int8")
    if quantize == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError("--quantize bf16: this GPU has no bf16 support; use --quantize fp16")


def precision(device: torch.device, quantize: str) -> str:
    """The --quantize that runs: ``bf16`` on a CPU without bf16 units would be emulated, several times
    slower than fp32 (kernels/bf16.py), so it runs as ``none`` (fp32) there."""
    if quantize == "bf16" and device.type == "cpu" and not cpu_has_bf16_units():
        return "none"
    return quantize


def autocast(device: torch.device, quantize: str) -> contextlib.AbstractContextManager[object]:
    """The autocast context for ``quantize`` on ``device`` (none for fp32 and int8)."""
    dtype = AUTOCAST.get(quantize)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def sentences_per_batch(opts: DecodeSettings, device: torch.device) -> int:
    """--batch-size, or as many sentences as make the device's rows per batch at this beam size."""
    rows = CPU_ROWS if device.type == "cpu" else GPU_ROWS
    return opts.batch_size or max(1, rows // opts.beam)


def describe(device: torch.device, quantize: str) -> str:
    """``cuda (NVIDIA H100), fp16`` or ``cpu, fp32``: for the line a GPU run writes on stderr."""
    precision = quantize if quantize in AUTOCAST else "fp32"
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}), {precision}"
    return f"{device.type}, {precision}"
