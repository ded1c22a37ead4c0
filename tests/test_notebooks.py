"""Notebooks are documentation that runs: the suite executes each one."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CHARTS = {
    "quickstart.ipynb": 2,
    "attribution.ipynb": 3,
    "build_your_own_graph.ipynb": 2,
    "webinar_followup.ipynb": 1,
}
"""Charts each notebook must show (as SVG or PNG outputs)."""


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = [
        o
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    shown = [
        o
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if {"image/svg+xml", "image/png"} & set(o.get("data", {}))
    ]
    assert len(shown) >= CHARTS.get(path.name, 0), f"{path.name} shows {len(shown)} charts"
