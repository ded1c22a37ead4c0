"""The command line is lazy at the edges: `--help` and `import gtmflow.cli` load no runtimes."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("langgraph", "langchain_core", "chromadb", "numpy", "onnxruntime", "matplotlib")


def _loaded_after(statement: str) -> list[str]:
    probe = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_importing_the_cli_loads_no_model_runtime_or_database() -> None:
    assert _loaded_after("import gtmflow.cli") == []


def test_help_of_every_command_loads_none_of_them() -> None:
    statement = (
        "from typer.testing import CliRunner; from gtmflow.cli import app; "
        "[CliRunner().invoke(app, [c, '--help']) for c in "
        "('run', 'attribution', 'report', 'analyze', 'context', 'ingest', 'tick')]"
    )
    assert _loaded_after(statement) == []


def test_the_public_api_still_resolves_every_name_on_first_use() -> None:
    import gtmflow

    for name in gtmflow.__all__:
        assert getattr(gtmflow, name) is not None, name
    assert _loaded_after("import gtmflow") == []


def test_names_the_cli_repeats_to_stay_light_match_their_homes() -> None:
    from gtmflow.cli import attribution_commands, workspace_commands
    from gtmflow.graphs.inbound_router import GRAPH_NAME
    from gtmflow.tools.attribution.heuristics import MODELS

    assert attribution_commands.MODEL_NAMES == MODELS
    assert workspace_commands.GRAPH_NAME == GRAPH_NAME
