"""The machine a benchmark figure comes from: `nmt doctor --json` under the benchmark's own environment
(ISA caps included), shown once on stderr as `nmt doctor` prints it. Imported by the bench scripts."""

from __future__ import annotations

import json
import subprocess
import sys

NMT = [sys.executable, "-m", "nmt_cli"]
_shown: list[bool] = []


def machine() -> dict[str, object]:
    """CPU model and flags, ISA caps, torch build and threads, and the kernels nmt picks."""
    out = subprocess.run([*NMT, "doctor", "--json"], capture_output=True, check=True).stdout
    if not _shown:
        subprocess.run([*NMT, "doctor"], stdout=sys.stderr, check=True)
        _shown.append(True)
    return json.loads(out)  # type: ignore[no-any-return]
