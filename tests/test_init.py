"""`gtmflow init`: the scaffold, the signature and the LangGraph Studio manifest."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from typer.testing import CliRunner

from gtmflow.cli import app

runner = CliRunner()


def test_langgraph_json_names_graphs_that_all_load(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", "-w", str(tmp_path)]).exit_code == 0
    manifest = json.loads((tmp_path / "langgraph.json").read_text())
    assert {"inbound_router", "followup", "sequence_nurture"} <= set(manifest["graphs"])
    for variable, target in manifest["graphs"].items():
        file, _, attribute = target.partition(":")
        spec = importlib.util.spec_from_file_location(f"studio_{variable}", tmp_path / file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        graph = getattr(module, attribute)
        assert graph.checkpointer is None  # Studio brings its own persistence
        assert graph.name.replace(":", "_").replace("-", "_") == variable
        assert "__start__" in graph.get_graph().draw_mermaid()


def test_company_fills_the_signature_and_without_it_init_says_so(tmp_path: Path) -> None:
    named = runner.invoke(app, ["init", str(tmp_path / "a"), "--company", "Acme Robotics"])
    assert named.exit_code == 0 and "--company" not in named.stdout
    assert 'SELLER = "Acme Robotics"' in (tmp_path / "a" / "graphs.py").read_text()
    unnamed = runner.invoke(app, ["init", str(tmp_path / "b")])
    assert "The Your Company team" in unnamed.stdout and "--company NAME" in unnamed.stdout


def test_every_command_takes_workspace(tmp_path: Path) -> None:
    for command in ("init", "demo", "simulate", "schema", "run", "tick", "deliver", "outbox"):
        result = runner.invoke(app, [command, "--help"])
        assert "--workspace" in result.stdout and "-w" in result.stdout, command
    result = runner.invoke(app, ["schema", "Event", "-w", str(tmp_path)])
    assert result.exit_code == 0 and json.loads(result.stdout)["title"] == "Event"
