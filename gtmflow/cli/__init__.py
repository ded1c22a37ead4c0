"""The `gtmflow` command line: one module per command group, assembled into one Typer app.

Every command takes `--workspace/-w` (default: the current folder) and `--json`, which prints
machine-readable JSON on stdout and turns progress bars off. Errors go to stderr with exit code 2
for a mistake in the call or the config, 1 when the world failed.

| module | commands |
| --- | --- |
| `workspace_commands` | init, ingest events/contacts, run, outbox, deliver, explain, forget, |
| | compact, migrate, demo, schema |
| `workers` | the `serve` loop, retries through store outages, `serve --workers N`; `migrate` |
| `time_commands` | tick, serve, approvals, approve, reject, simulate, ingest replies |
| `agent_commands` | analyze, followup, repurpose |
| `attribution_commands` | attribution, score, report |
| `context_commands` | ingest content, context search/notes/stats |
"""

from __future__ import annotations

import typer

from gtmflow.cli import (
    agent_commands,
    attribution_commands,
    context_commands,
    time_commands,
    workspace_commands,
)

__all__ = ["app"]

app = typer.Typer(
    name="gtmflow",
    help="Agentic go-to-market orchestration: deterministic pipes, intelligent flow.",
    no_args_is_help=True,
    add_completion=False,
)
ingest_app = typer.Typer(help="Ingest events or contacts from JSONL or CSV.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

workspace_commands.register(app, ingest_app)
time_commands.register(app)
attribution_commands.register(app)
agent_commands.register(app)
context_commands.register(app)
ingest_app.command("content")(context_commands.ingest_content_command)
time_commands.register_ingest(ingest_app)
