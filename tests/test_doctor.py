"""nmt doctor: the machine and nmt's kernel choices, for people and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_nmt

from nmt_cli.doctor import cpu_report, lines, report
from nmt_cli.kernels.bf16 import cpu_has_bf16_units

XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8

processor\t: 1
model name\t: something else
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes sve sve2 bf16 i8mm
CPU implementer\t: 0x41
"""


def test_cpu_report_reads_model_and_the_flags_that_matter(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(XEON)
    cpu = cpu_report(info)
    assert cpu["model"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu["flags"] == ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                            "amx_tile", "amx_bf16", "amx_int8"]  # fmt: skip
    info.write_text(GRAVITON)
    assert cpu_report(info)["flags"] == ["asimd", "sve", "sve2", "bf16", "i8mm"]
    assert cpu_report(tmp_path / "missing")["flags"] == []


def test_onednn_isa_cap_turns_bf16_units_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(XEON)
    assert cpu_has_bf16_units(info)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    assert not cpu_has_bf16_units(info)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert cpu_has_bf16_units(info)


def test_report_for_people_has_one_line_per_item() -> None:
    rep = report()
    text = lines(rep)
    names = [line.split("  ")[0] for line in text]
    assert names[:5] == ["cpu", "flags", "isa caps", "torch", "gpu"]
    assert any(line.startswith("nmt int8") for line in text)
    assert all(len(line) < 200 for line in text)


def test_cli_json_reflects_an_isa_cap() -> None:
    proc = run_nmt("doctor", "--json", env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert proc.returncode == 0 and proc.stderr == b""
    rep = json.loads(proc.stdout)
    assert rep["isa_env"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert rep["kernels"]["int8"].startswith("torch._int_mm")
    assert "emulated" in rep["kernels"]["bf16"]
    assert rep["cpu"]["cores"] >= 1 and rep["torch"]["threads"] >= 1
    plain = run_nmt("doctor")
    assert plain.returncode == 0 and plain.stdout.decode().startswith("cpu ")
