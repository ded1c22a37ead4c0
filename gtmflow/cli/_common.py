"""Shared plumbing of the command line: options, JSON output, errors, tables.

Command modules (`gtmflow.cli.*_commands`) import from here, so each area of the CLI can live in
its own module without importing the others.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gtmflow.errors import ConfigError, GtmflowError, InputError
from gtmflow.runtime.workspace import Workspace

__all__ = [
    "JsonOpt",
    "WorkspaceOpt",
    "console",
    "emit",
    "errors",
    "open_workspace",
    "parse_time",
    "table",
]

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace folder.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def console() -> Console:
    """The stdout console for people."""
    return Console()


def emit(data: Any) -> None:
    """Print JSON for scripts on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def errors() -> Iterator[None]:
    """Turn gtmflow errors into one clear line on stderr and an exit code."""
    try:
        yield
    except (ConfigError, InputError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except GtmflowError as exc:
        Console(stderr=True).print(f"[bold red]failed:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


@contextmanager
def open_workspace(path: Path) -> Iterator[Workspace]:
    """Open a workspace for one command; gtmflow errors become exit codes."""
    with errors(), Workspace.open(path) as ws:
        yield ws


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 option value as an aware datetime (None stays None)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not ISO-8601, e.g. 2026-03-31T00:00:00Z") from None
    if when.tzinfo is None:
        raise typer.BadParameter(f"'{value}' has no timezone; add Z or an offset like +02:00")
    return when


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A rich table with a left-aligned title."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    return table
