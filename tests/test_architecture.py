"""The shape of the house (docs/architecture.md): imports run one way, from the command line down.

Every module of the package belongs to a layer; a module may import its own layer and the layers
below it, never one above (function-local imports included). A new module must be placed in a layer.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nmt_cli"

# Lowest first. A name ending in "." is a package: every module under it.
LAYERS = [
    ["nmt_cli", "nmt_cli.errors", "nmt_cli.choices", "nmt_cli.settings", "nmt_cli.faults", "nmt_cli.durable",
     "nmt_cli.textio", "nmt_cli.display", "nmt_cli.locks"],
    ["nmt_cli.tokenizer", "nmt_cli.data.", "nmt_cli.batching", "nmt_cli.alignment"],
    ["nmt_cli.kernels.", "nmt_cli.devices", "nmt_cli.attention", "nmt_cli.encoder", "nmt_cli.decoder",
     "nmt_cli.model", "nmt_cli.search", "nmt_cli.ensemble"],
    ["nmt_cli.checkpoint", "nmt_cli.runfiles", "nmt_cli.record", "nmt_cli.scoring"],
    ["nmt_cli.translate", "nmt_cli.evaluate", "nmt_cli.runinfo", "nmt_cli.forced", "nmt_cli.export.",
     "nmt_cli.doctor"],
    ["nmt_cli.training."],
    ["nmt_cli.cli.", "nmt_cli.__main__"],
]  # fmt: skip


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or (name.endswith(".") and (module + ".").startswith(name)):
                return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def imports(path: Path) -> set[str]:
    """nmt_cli modules imported anywhere in the file (``from nmt_cli import x`` counts x when a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}: use absolute imports"
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nmt_cli")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nmt_cli"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / sub.replace(".", "/")
                ).is_dir()
                found.add(sub if is_module else node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_imports_a_layer_above_it(path: Path) -> None:
    me = module_name(path)
    above = sorted(m for m in imports(path) if layer_of(m) > layer_of(me))
    assert not above, f"{me} (layer {layer_of(me)}) imports {above} from a higher layer"


def test_the_command_line_loads_no_heavy_package() -> None:
    heavy = ("torch", "datasets", "sentencepiece", "sacrebleu", "numpy")
    code = (
        "import sys, nmt_cli.cli, nmt_cli.cli.common, nmt_cli.settings; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_no_import_cycles() -> None:
    """Module-level imports form no cycle (a package's ``from pkg import x`` counts as importing pkg)."""
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        deps = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nmt_cli"):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("nmt_cli")}
        graph[module_name(path)] = deps - {module_name(path)}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        assert module not in trail, f"import cycle: {' -> '.join([*trail[trail.index(module) :], module])}"
        if module in done or module not in graph:
            return
        for dep in sorted(graph[module]):
            visit(dep, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
