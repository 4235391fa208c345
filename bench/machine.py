"""The machine a benchmark figure comes from: `nmt doctor --json` under the benchmark's own environment
(ISA caps included), shown once on stderr as `nmt doctor` prints it. Imported by the bench scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

NMT = [sys.executable, "-m", "nmt_cli"]
# --isa LEVEL of the bench scripts: the instruction sets oneDNN, MKL and PyTorch's own kernels may use,
# so that one machine stands in for a CPU with fewer (an AMX Xeon for a Zen 4 server or an AVX2 laptop).
ISA_LEVELS: dict[str, dict[str, str]] = {
    "native": {},
    "avx512_core_bf16": {
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16",
        "MKL_ENABLE_INSTRUCTIONS": "AVX512",
        "ATEN_CPU_CAPABILITY": "avx512",
    },
    "avx512_core": {
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "MKL_ENABLE_INSTRUCTIONS": "AVX512",
        "ATEN_CPU_CAPABILITY": "avx512",
    },
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}
_shown: list[bool] = []


def set_isa(level: str, env: dict[str, str]) -> None:
    """Cap this process's children (``env`` and os.environ, which ``machine()`` reads) at ``level``."""
    caps = ISA_LEVELS[level]
    os.environ.update(caps)
    env.update(caps)


def machine() -> dict[str, object]:
    """CPU model and flags, ISA caps, torch build and threads, and the kernels nmt picks."""
    out = subprocess.run([*NMT, "doctor", "--json"], capture_output=True, check=True).stdout
    if not _shown:
        subprocess.run([*NMT, "doctor"], stdout=sys.stderr, check=True)
        _shown.append(True)
    return json.loads(out)  # type: ignore[no-any-return]
