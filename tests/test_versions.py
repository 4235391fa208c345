"""The minimum versions pyproject.toml declares are the ones `make test-floor` tests."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def declared_floors() -> dict[str, str]:
    """name -> minimum version, from pyproject.toml's [project] dependencies and its extras (but test)."""
    if sys.version_info >= (3, 11):
        import tomllib

        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        extras = project["optional-dependencies"]
        deps = project["dependencies"] + [d for name, ds in extras.items() if name != "test" for d in ds]
    else:  # pragma: no cover
        pytest.skip("tomllib needs Python 3.11")
    floors = {}
    for dep in deps:
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)", dep)
        assert match, f"{dep}: every dependency needs a tested floor (NAME>=VERSION)"
        floors[match.group(1).lower()] = match.group(2)
    return floors


def pinned() -> dict[str, str]:
    """name -> version pinned in constraints/floor.txt."""
    pins = {}
    for line in (ROOT / "constraints" / "floor.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_every_floor_is_pinned_for_the_floor_test() -> None:
    from packaging.version import Version

    floors, pins = declared_floors(), pinned()
    for name, floor in floors.items():
        assert name in pins, f"{name}>={floor} is declared but constraints/floor.txt does not test it"
        assert Version(pins[name]) == Version(floor), f"{name}: declared >={floor}, tested {pins[name]}"


def test_torch_floor_closes_the_weights_only_advisories() -> None:
    major, minor = map(int, declared_floors()["torch"].split(".")[:2])
    assert (major, minor) >= (2, 10)  # CVE-2025-32434 (< 2.6) and the advisory for < 2.10


def test_datasets_floor_runs_no_loading_scripts() -> None:
    assert int(declared_floors()["datasets"].split(".")[0]) >= 4
