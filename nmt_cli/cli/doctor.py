"""``nmt doctor``: options -> ``doctor.render``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nmt_cli.cli.common import run

Json = Annotated[
    bool,
    typer.Option("--json", help="JSON on stdout: one object (cpu, isa_env, torch, kernels, versions)."),
]

EXAMPLES = """
nmt doctor
nmt doctor --json | jq .cpu.flags
ONEDNN_MAX_CPU_ISA=AVX2 nmt doctor
"""


def doctor(json_out: Json = False) -> None:
    """Show this machine and what nmt would run on it: CPU model and flags (AVX2, AVX-512, VNNI,
    BF16, AMX), instruction-set caps, cores, memory, torch build and threads, GPUs, and the kernels
    nmt picks here. Paste it into bug reports."""

    def go() -> None:
        from nmt_cli.doctor import render

        sys.stdout.write(render(json_out) + "\n")

    run(go)
