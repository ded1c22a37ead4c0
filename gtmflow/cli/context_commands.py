"""Command line for the context store: `ingest content`, `context search`, `context notes`.

`register(app)` adds the `context` group; `ingest_content_command` is meant for the existing
`ingest` group (`ingest_app.command("content")(ingest_content_command)`), and `forget_context`
is the context store's part of `gtmflow forget`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from gtmflow._progress import progress_bar, wants_progress
from gtmflow.cli._common import JsonOpt, WorkspaceOpt, console, emit, errors, styled, table
from gtmflow.errors import ConfigError

if TYPE_CHECKING:
    from gtmflow.tools.context.context_store import UpsertReport
    from gtmflow.tools.context.records import ContextHit

__all__ = ["forget_context", "ingest_content", "ingest_content_command", "register"]

Kind = Literal["content", "contacts"]


def register(app: typer.Typer) -> None:
    """Add the `context` command group to the gtmflow app."""
    context_app = typer.Typer(
        help="Search the context store: content chunks and contact notes.", no_args_is_help=True
    )
    context_app.command("search")(search_command)
    context_app.command("notes")(notes_command)
    context_app.command("stats")(stats_command)
    app.add_typer(context_app, name="context")


def ingest_content(
    directory: Path, workspace: Path, *, progress: bool | None = None
) -> UpsertReport:
    """Read a folder of markdown/HTML/text content and upsert it into the workspace's store.

    Files that cannot be read are reported in `rejected`, never fatal. Unchanged pieces are
    skipped; changed pieces replace their old chunks.
    """
    from gtmflow.tools.context.content_loader import load_content_dir
    from gtmflow.tools.context.context_store import ContextStore

    load = load_content_dir(directory)
    bar = progress_bar("embed chunks", None, enabled=wants_progress(progress))
    with ContextStore.for_workspace(_root(workspace)) as store, bar as advance:
        report = store.upsert_content(load.items, progress=advance)
    report.rejected = [{"file": str(path), "reason": why} for path, why in load.rejected]
    return report


def ingest_content_command(
    directory: Annotated[
        Path, typer.Argument(help="Folder of .md, .html and .txt files (front matter = metadata).")
    ],
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Chunk, embed and store a content library (idempotent; changed files replace old chunks)."""
    with errors():
        report = ingest_content(directory, workspace, progress=False if json_out else None)
    if json_out:
        emit(report.to_json())
        return
    data = report.to_json()
    rows = [[data["sources"], data["unchanged_sources"], data["chunks_added"],
             data["chunks_removed"], len(data["rejected"])]]  # fmt: skip
    out = console()
    out.print(
        table("content", ["pieces", "unchanged", "chunks added", "removed", "rejected"], rows)
    )
    for item in report.rejected:
        out.print(styled("[yellow]skipped[/] {}: {}", item["file"], item["reason"]))


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    kind: Annotated[
        str, typer.Option("--kind", help="Which collection: 'content' or 'contacts'.")
    ] = "content",
    contact: Annotated[
        str | None, typer.Option("--contact", help="Only this contact's notes (implies contacts).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="How many chunks to return.", min=1)] = 5,
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Find the chunks closest in meaning to QUERY, best first."""
    from gtmflow.tools.context.context_store import ContextStore

    chosen = _kind(kind, contact)
    with errors(), ContextStore.for_workspace(_root(workspace)) as store:
        hits = store.search(query, kind=chosen, contact_id=contact, k=k)
    if json_out:
        emit([hit.to_json() for hit in hits])
        return
    _print_hits(f"{chosen}: {query}", hits)


def notes_command(
    contact_id: Annotated[str, typer.Argument(help="The contact whose notes to list.")],
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """List everything the context store keeps about a contact, newest first."""
    from gtmflow.tools.context.context_store import ContextStore

    with errors(), ContextStore.for_workspace(_root(workspace)) as store:
        hits = store.notes(contact_id)
    if json_out:
        emit([hit.to_json() for hit in hits])
        return
    _print_hits(f"notes about {contact_id}", hits, scores=False)


def stats_command(workspace: WorkspaceOpt = Path(), json_out: JsonOpt = False) -> None:
    """Chunks per collection and the embedding model in use."""
    from gtmflow.tools.context.context_store import ContextStore

    with errors(), ContextStore.for_workspace(_root(workspace)) as store:
        data: dict[str, Any] = {**store.counts(), "embedding": store.embedder.model_id}
    if json_out:
        emit(data)
        return
    console().print(table("context store", list(data), [list(data.values())]))


def forget_context(workspace: Path, contact_id: str) -> dict[str, int]:
    """The context store's part of `gtmflow forget`: `{"context_records": removed}`."""
    from gtmflow.tools.context.context_store import ContextStore

    with ContextStore.for_workspace(_root(workspace)) as store:
        return {"context_records": store.forget(contact_id)}


def _root(workspace: Path) -> Path:
    root = workspace.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"workspace '{root}' is a file; pass a directory")
    return root


def _kind(kind: str, contact: str | None) -> Kind:
    if contact is not None and kind == "content":
        return "contacts"
    if kind not in ("content", "contacts"):
        raise typer.BadParameter(f"--kind '{kind}' is not known; use 'content' or 'contacts'")
    return "content" if kind == "content" else "contacts"


def _print_hits(title: str, hits: list[ContextHit], *, scores: bool = True) -> None:
    rows = [
        [
            f"{hit.score:.3f}" if scores else str(hit.metadata.get("date", ""))[:10],
            hit.source_id,
            " ".join(hit.text.split())[:160],
        ]
        for hit in hits
    ]
    heads = ["score" if scores else "date", "source", "text"]
    console().print(table(title, heads, rows))
