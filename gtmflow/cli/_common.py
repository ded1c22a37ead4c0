"""Shared plumbing of the command line: options, JSON output, errors, tables.

Command modules (`gtmflow.cli.*_commands`) import from here, so each area of the CLI can live in
its own module without importing the others.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.main import get_current_context as current_context  # type: ignore[attr-defined]

from gtmflow.errors import ConfigError, GtmflowError, GtmflowWarning, InputError

if TYPE_CHECKING:
    from gtmflow.runtime.workspace import Workspace

__all__ = [
    "DelimiterOpt",
    "JsonOpt",
    "PlainConsole",
    "WorkspaceOpt",
    "console",
    "emit",
    "errors",
    "open_workspace",
    "parse_time",
    "styled",
    "table",
]

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace folder.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DelimiterOpt = Annotated[
    str, typer.Option("--delimiter", help="CSV delimiter, e.g. ';' or tab (default ',').")
]


class PlainConsole(Console):
    """A console that prints strings as they are: brackets in messages are text, not markup.

    Rich would read `pip install 'gtmflow[ollama]'` or `then=[...]` as markup and drop the
    brackets; styling is explicit instead, through `styled`.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(Text(o) if isinstance(o, str) else o for o in objects), **kwargs)


def console(*, stderr: bool = False) -> Console:
    """The console for people (stdout, or stderr for errors and warnings)."""
    return PlainConsole(stderr=stderr)


def styled(template: str, *values: object) -> Text:
    """Rich markup in `template` with each `{}` filled by a value shown literally.

    Example:
        >>> styled("[bold red]error:[/] {}", "install 'gtmflow[ollama]'").plain
        "error: install 'gtmflow[ollama]'"
    """
    return Text.from_markup(template.format(*(escape(str(value)) for value in values)))


def emit(data: Any) -> None:
    """Print JSON for scripts on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def errors() -> Iterator[None]:
    """Turn gtmflow errors into one clear line on stderr and an exit code; print warnings.

    Warnings a person must see (an LLM brain that fell back to rules) are printed on stderr,
    one line per distinct message, whatever the command's outcome and with `--json` too.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always", GtmflowWarning)
            caught = recorded
            with _exit_codes():
                yield
    finally:
        _print_warnings(caught)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    ours = (w for w in caught if issubclass(w.category, GtmflowWarning))
    for text in dict.fromkeys(str(w.message) for w in ours):
        console(stderr=True).print(styled("[yellow]warning:[/] {}", text))
    for item in caught:  # anything else goes back to Python's own handling
        if not issubclass(item.category, GtmflowWarning):
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


@contextmanager
def _exit_codes() -> Iterator[None]:
    try:
        yield
    except (ConfigError, InputError) as exc:
        _report(exc, "error", code=2)
    except GtmflowError as exc:
        _report(exc, "failed", code=1)


def _report(exc: GtmflowError, label: str, *, code: int) -> NoReturn:
    """One line on stderr for a person; with `--json`, an error object on stdout for scripts."""
    console(stderr=True).print(styled(f"[bold red]{label}:[/] {{}}", exc))
    context = current_context(silent=True)  # typer's vendored click holds the context stack
    if context is not None and (context.params.get("json_out") or context.params.get("json")):
        emit({"error": {"type": type(exc).__name__, "message": str(exc), "exit_code": code}})
    raise typer.Exit(code) from None


@contextmanager
def open_workspace(path: Path) -> Iterator[Workspace]:
    """Open a workspace for one command; gtmflow errors become exit codes."""
    from gtmflow.runtime.workspace import Workspace  # lazy: `--help` loads no runtime

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
    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


def show_counts(title: str, data: dict[str, Any], json_out: bool) -> None:
    """A command's counts as one table row, then held/cancelled records by reason.

    Held and cancelled counts are always shown (0 too), so a quiet outcome is never hidden.
    """
    if json_out:
        emit(data)
        return
    reasons = data.get("reasons") or {}
    counts = {k: v for k, v in data.items() if k != "reasons"}
    counts = {"held": 0, "cancelled": 0} | counts if "sent" in counts else counts
    flat = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in counts.items()}
    out = console()
    out.print(table(title, list(flat), [list(flat.values())]))
    if reasons:
        rows = [[reason, n] for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
        out.print(table(f"{title}: held and cancelled, by reason", ["reason", "records"], rows))
