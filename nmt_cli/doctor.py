"""``nmt doctor``: what this machine is and what nmt would run on it, on one screen (or ``--json``).

CPU model and the instruction-set flags that decide speed (AVX2, AVX-512, VNNI, BF16, AMX), the
caps set by ``ONEDNN_MAX_CPU_ISA``/``MKL_ENABLE_INSTRUCTIONS``/``ATEN_CPU_CAPABILITY``, cores and
memory, the torch build and its threads, GPUs, and the kernels nmt picks here. Users paste it into
bug reports; the benchmarks print it with every figure.
"""

from __future__ import annotations

import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from nmt_cli import devices
from nmt_cli.kernels.bf16 import cpu_has_bf16_units
from nmt_cli.kernels.int8 import cpu_has_vnni

CPUINFO = Path("/proc/cpuinfo")
# The flags that decide which kernels run fast, in /proc/cpuinfo's names (x86, then ARM).
FLAGS = (
    "avx", "avx2", "fma", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2", "bf16", "i8mm",
)  # fmt: skip
ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS")


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() and fields:
            break
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_report(cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """Model, flags that matter, cores (usable and present), memory."""
    try:
        fields = _cpuinfo_fields(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        fields = {}
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "model": fields.get("model name") or fields.get("Model name") or platform.processor() or "unknown",
        "arch": platform.machine(),
        "flags": [f for f in FLAGS if f in flags],
        "cores": usable,
        "cores_present": os.cpu_count(),
        "memory_gib": _memory_gib(),
    }


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def torch_report() -> dict[str, Any]:
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "mkl": torch.backends.mkl.is_available(),
        "cuda": torch.version.cuda,
        "gpus": gpus,
    }


def kernel_choices() -> dict[str, str]:
    """What nmt runs here by default, and what ``--bf16/--fp32``/``--quantize`` would take."""
    device = devices.resolve("auto")
    on_gpu = device.type == "cuda"
    bf16_units = cpu_has_bf16_units()
    return {
        "device": devices.describe(device, "none"),
        "gru": "cuDNN (torch's nn.GRU)" if on_gpu else "scan (kernels/gru.py) or nn.GRU, timed per run",
        "attention_scores": "blocked (kernels/additive.py) or plain, timed per run (train --kernels auto)",
        "loss": "F.cross_entropy" if on_gpu else "fused (kernels/xent.py) or F.cross_entropy, timed per run",
        "bf16": "bf16 units: train times bf16 against fp32 on the first batch, takes bf16 if 1.1x faster"
        if bf16_units
        else "no bf16 units (or capped): emulated, slower than fp32; train --bf16 trains fp32",
        "fp32": "cuBLAS" if on_gpu else "search products: MKL or oneDNN, timed when translate loads a model",
        "int8": "oneDNN or torch._int_mm, timed when a model is quantized"
        if cpu_has_vnni()
        else "torch._int_mm (no VNNI: oneDNN saturates)",
    }


def _versions() -> dict[str, str]:
    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    names = ("nmt-cli", "sentencepiece", "sacrebleu", "typer", "rich", "datasets")
    return {"python": platform.python_version(), **{n: of(n) for n in names}}


def report() -> dict[str, Any]:
    return {
        "cpu": cpu_report(),
        "isa_env": {k: os.environ[k] for k in ISA_ENV if k in os.environ},
        "torch": torch_report(),
        "kernels": kernel_choices(),
        "versions": _versions(),
    }


def lines(rep: dict[str, Any]) -> list[str]:
    """The report for people: one ``name  value`` line each."""
    cpu, tch, kern = rep["cpu"], rep["torch"], rep["kernels"]
    memory = f", {cpu['memory_gib']} GiB" if cpu["memory_gib"] is not None else ""
    cores = f"{cpu['cores']} of {cpu['cores_present']} cores usable"
    gpu = f"none visible (CUDA {tch['cuda']})" if tch["cuda"] else "none (CPU build)"
    rows = [
        ("cpu", f"{cpu['model']} ({cpu['arch']}), {cores}{memory}"),
        ("flags", " ".join(cpu["flags"]) or "none of the ones that matter"),
        ("isa caps", " ".join(f"{k}={v}" for k, v in rep["isa_env"].items()) or "none"),
        ("torch", f"{tch['version']}, {tch['threads']} threads, kernels up to {tch['cpu_capability']}, "
         f"oneDNN {'yes' if tch['mkldnn'] else 'no'}, MKL {'yes' if tch['mkl'] else 'no'}"),
        ("gpu", ", ".join(tch["gpus"]) or gpu),
    ]  # fmt: skip
    rows += [(f"nmt {name.replace('_', ' ')}", value) for name, value in kern.items()]
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in rep["versions"].items())))
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]


def render(as_json: bool) -> str:
    rep = report()
    return json.dumps(rep, sort_keys=True) if as_json else "\n".join(lines(rep))
