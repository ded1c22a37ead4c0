"""LangGraph Studio: the `langgraph.json` a workspace ships and the graphs it names.

`gtmflow init` writes `langgraph.json` and `studio.py` so `langgraph dev` opens the workspace's
graphs (the rules' router, the graphs in graphs.py, one graph per sequence). Studio brings its
own persistence, so the graphs it loads carry no checkpointer; `gtmflow run` attaches the
workspace's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gtmflow.config import WorkspaceConfig, load_graphs, load_rules, load_sequences
from gtmflow.graphs.inbound_router import build_inbound_router
from gtmflow.graphs.sequences import SEQUENCE_PREFIX, build_sequence_graph

__all__ = ["LANGGRAPH_JSON", "studio_graph", "studio_graphs", "write_studio_files"]

LANGGRAPH_JSON = "langgraph.json"
STUDIO_PY = '''"""Graphs for LangGraph Studio (`langgraph dev`): langgraph.json names each one."""

from pathlib import Path

from gtmflow.runtime.studio import studio_graph

HERE = Path(__file__).parent

{assignments}
'''


def studio_graphs(root: Path) -> dict[str, Any]:
    """Every graph of the workspace at `root` by its graph name, compiled without a checkpointer."""
    config = WorkspaceConfig.load(root)
    graphs: dict[str, Any] = {
        "inbound_router": build_inbound_router(rules=load_rules(config.rules, root=root))
    }
    graphs |= {g.name: g for g in load_graphs(config.graphs, root=root)}
    for sequence in load_sequences(config.sequences, root=root):
        graphs[f"{SEQUENCE_PREFIX}{sequence.name}"] = build_sequence_graph(sequence)
    return graphs


def studio_graph(root: Path, name: str) -> Any:
    """One graph of the workspace at `root`, by its graph name (what studio.py calls)."""
    return studio_graphs(root)[name]


def write_studio_files(root: Path) -> list[Path]:
    """Write `langgraph.json` and `studio.py` naming every graph of the workspace at `root`."""
    names = list(studio_graphs(root))
    variables = {name: _identifier(name) for name in names}
    assignments = "\n".join(f"{v} = studio_graph(HERE, {n!r})" for n, v in variables.items())
    studio = root / "studio.py"
    studio.write_text(STUDIO_PY.format(assignments=assignments), encoding="utf-8")
    spec = {
        "dependencies": ["."],
        "graphs": {var: f"./studio.py:{var}" for var in variables.values()},
    }
    manifest = root / LANGGRAPH_JSON
    manifest.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return [manifest, studio]


def _identifier(name: str) -> str:
    """A graph name as a Python identifier: `sequence:re-engagement` → `sequence_re_engagement`."""
    return re.sub(r"\W+", "_", name).strip("_") or "graph"
