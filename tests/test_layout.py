"""The house shows its architecture: rooms by domain, one meaning per name, imports one way.

These tests read the source (no imports), so they hold for every module, including ones no other
test loads.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The setuptools package-dir mapping of pyproject.toml: import name -> folder.
ROOTS = {
    "gtmflow": REPO / "gtmflow",
    "gtmflow.agents": REPO / "agents",
    "gtmflow.graphs": REPO / "graphs",
    "gtmflow.tools": REPO / "tools",
    "gtmflow.prompts": REPO / "prompts",
    "gtmflow.examples": REPO / "examples",
}
ROOMS = ("events", "delivery", "context", "attribution")

# Lower layers never import higher ones (DESIGN.md: models <- tools <- agents <- graphs <- runtime).
# `pipes` is the rules vocabulary beside the models: it imports only layer 0, so tools (lead
# scoring) may build on it.
LAYERS: list[tuple[str, ...]] = [
    ("gtmflow.models", "gtmflow.errors", "gtmflow.clock", "gtmflow.pipes", "gtmflow.state"),
    ("gtmflow.tools", "gtmflow.prompts", "gtmflow._progress"),
    (
        "gtmflow.policy",
        "gtmflow.governor",
        "gtmflow.brains",
        "gtmflow._structured",
        "gtmflow.batch",
        "gtmflow.triggers",
        "gtmflow.routing",
        "gtmflow.testing",
    ),
    ("gtmflow.agents",),
    ("gtmflow.graphs",),
    (
        "gtmflow",
        "gtmflow.__main__",
        "gtmflow.config",
        "gtmflow.runtime",
        "gtmflow.cli",
        "gtmflow.examples",
    ),
]


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def stem(self) -> str:
        return self.name.rpartition(".")[2]


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for prefix, folder in ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if prefix == "gtmflow" and parts and parts[0] in {"agents", "graphs", "tools"}:
                continue  # never the case on disk; guards against a stray copy
            name = ".".join((prefix, *parts))
            found[name] = Module(name, path)
    return found


MODULES = _modules()


def _layer(name: str) -> int:
    best = (-1, -1)  # (length of the longest matching prefix, its layer)
    for index, members in enumerate(LAYERS):
        for member in members:
            if (name == member or name.startswith(member + ".")) and len(member) > best[0]:
                best = (len(member), index)
    if best[1] < 0:
        raise AssertionError(f"module '{name}' has no layer: add it to LAYERS in {__file__}")
    return best[1]


def _imports(module: Module) -> set[str]:
    """Every gtmflow module this one imports, at the top or inside functions."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # `from gtmflow import pipes` imports gtmflow.pipes
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in MODULES else base)
    return {t for t in targets if t == "gtmflow" or t.startswith("gtmflow.")}


def test_imports_flow_one_way() -> None:
    wrong = []
    for module in MODULES.values():
        own = _layer(module.name)
        for target in sorted(_imports(module)):
            if _layer(target) > own:
                wrong.append(f"{module.name} (layer {own}) imports {target} ({_layer(target)})")
    assert not wrong, "lower rooms import higher ones:\n" + "\n".join(wrong)


def test_the_direction_check_catches_an_upward_import(tmp_path: Path) -> None:
    upward = tmp_path / "outbox.py"
    upward.write_text("from gtmflow.graphs.followup import build_followup_graph\n")
    module = Module("gtmflow.tools.delivery.outbox", upward)
    assert {_layer(t) for t in _imports(module)} == {4} and _layer(module.name) == 1


def test_module_names_have_one_meaning() -> None:
    by_stem: dict[str, list[str]] = {}
    for module in MODULES.values():
        if module.stem in ("__main__", "_common") or module.name in ROOTS:
            continue
        by_stem.setdefault(module.stem.lstrip("_"), []).append(module.name)
    shared = {stem: names for stem, names in by_stem.items() if len(names) > 1}
    assert not shared, f"module names used twice: {shared}"


def test_no_module_is_over_the_size_budget() -> None:
    code = [m for m in MODULES.values() if not m.name.startswith("gtmflow.examples")]
    sizes = {m.name: len(m.path.read_text(encoding="utf-8").splitlines()) for m in code}
    assert not {name: n for name, n in sizes.items() if n > 600}


def test_the_package_root_is_small() -> None:
    root = [p.name for p in (REPO / "gtmflow").glob("*.py")]
    assert len(root) <= 16, sorted(root)


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_says_what_it_holds(room: str) -> None:
    package = importlib.import_module(f"gtmflow.tools.{room}")
    doc = package.__doc__ or ""
    assert doc.lower().startswith(room), doc  # "Delivery: the outbox, transports, ..."
    assert 1 <= len(package.__all__) <= 12
    for name in package.__all__:
        assert getattr(package, name).__doc__, f"gtmflow.tools.{room}.{name} has no docstring"
    on_disk = {p.stem for p in (REPO / "tools" / room).glob("*.py")} - {"__init__"}
    for stem in on_disk:  # the docstring's table names every module of the room
        assert f"`{stem}`" in doc, f"gtmflow.tools.{room}'s docstring does not name '{stem}'"


def test_importing_the_context_room_does_not_import_chromadb() -> None:
    import subprocess
    import sys

    code = "import sys, gtmflow.tools.context; print('chromadb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
