"""Workspace commands: init, ingest events/contacts, run, outbox (and outbox retry), deliver,
explain, forget, compact, migrate, demo, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gtmflow.cli._common import (
    DelimiterOpt,
    JsonOpt,
    WorkspaceOpt,
    console,
    emit,
    errors,
    open_workspace,
    parse_time,
    show_counts,
    styled,
    table,
)

if TYPE_CHECKING:
    from gtmflow.models import ActionStatus
    from gtmflow.tools.events.mapping import EventMapping

GRAPH_NAME = "inbound_router"  # the rules' router (gtmflow.graphs.inbound_router.GRAPH_NAME)

__all__ = ["register"]


def register(app: typer.Typer, ingest_app: typer.Typer) -> None:
    """Add the workspace commands to the app, and `ingest events` / `ingest contacts`."""
    for command in (init, run, deliver, explain, forget, compact, migrate, demo, schema):
        app.command()(command)
    outbox_app = typer.Typer(
        help="List outbox actions; `outbox retry` requeues failed or unknown ones.",
        invoke_without_command=True,
    )
    outbox_app.callback()(outbox)
    outbox_app.command("retry")(outbox_retry)
    app.add_typer(outbox_app, name="outbox")
    ingest_app.command("events")(ingest_events_cmd)
    ingest_app.command("contacts")(ingest_contacts_cmd)


# ---------------------------------------------------------------------------- commands


def init(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder to create the workspace in.", show_default=False)
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Same as the folder argument.", show_default=False),
    ] = None,
    company: Annotated[
        str | None,
        typer.Option(help="Your company as it signs emails and appears in transcripts."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Scaffold a workspace: gtmflow.toml, rules.py, sequences.py, graphs.py, langgraph.json."""
    from gtmflow.runtime.scaffold import scaffold
    from gtmflow.runtime.studio import write_studio_files
    from gtmflow.runtime.workspace import Workspace

    root = workspace or directory or Path()
    with errors():
        written = scaffold(root, seller_company=company or "Your Company")
        Workspace.open(root).close()
        written += write_studio_files(root)
    if json_out:
        emit({"workspace": str(root.resolve()), "written": [str(p) for p in written]})
        return
    for path in written:
        console().print(styled("wrote {}", path))
    console().print(styled("workspace ready at {}", root.resolve()))
    if company is None:
        console().print(
            styled(
                "[yellow]note:[/] emails are signed {} until you pass --company NAME "
                "(or edit SELLER in graphs.py)",
                '"The Your Company team"',
            )
        )


def _ingest(
    kind: str,
    file: Path,
    workspace: Path,
    json_out: bool,
    mapping: EventMapping | None = None,
    delimiter: str = ",",
) -> None:
    with open_workspace(workspace) as ws:
        report = ws.ingest(
            file,
            kind="events" if kind == "events" else "contacts",
            mapping=mapping,
            progress=not json_out,
            delimiter=delimiter,
        )
    data = report.to_json()
    if json_out:
        emit(data)
        return
    counts = {k: v for k, v in data.items() if k not in ("dead_letter", "warnings")}
    console().print(table(f"ingest {kind}: {file}", list(counts), [list(counts.values())]))
    if report.dead_letter is not None:  # in full: a table cell would cut the path short
        where = f"rejected rows, each with its reason: {report.dead_letter}"
        console().print(where, soft_wrap=True)


def ingest_events_cmd(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV of events (or Segment payloads).")],
    workspace: WorkspaceOpt = Path(),
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="Rename a column: SOURCE=FIELD, e.g. --map action=type (repeatable)."
        ),
    ] = None,
    timestamp_format: Annotated[
        str | None, typer.Option(help="strptime format of the timestamps, e.g. '%d-%m-%Y %H.%M'.")
    ] = None,
    assume_timezone: Annotated[
        str | None, typer.Option(help="IANA zone for timestamps without one, e.g. UTC.")
    ] = None,
    keep_event_names: Annotated[
        bool,
        typer.Option(
            help="With --map: store event names as written ('Page Viewed'), not as the Segment "
            "reader names them ('page_view', 'trial_started')."
        ),
    ] = False,
    delimiter: DelimiterOpt = ",",
    json_out: JsonOpt = False,
) -> None:
    """Ingest events; bad rows go to a dead-letter file with the reason."""
    mapping = None
    if map_ or timestamp_format or assume_timezone or keep_event_names:
        with errors():
            from gtmflow.tools.events.mapping import EventMapping

            mapping = EventMapping(
                columns=_pairs(map_ or []),
                timestamp_format=timestamp_format,
                assume_timezone=assume_timezone,
                event_names="keep" if keep_event_names else "segment",
            )
    _ingest("events", file, workspace, json_out, mapping, delimiter)


def _pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        source, eq, target = item.partition("=")
        if not eq or not source or not target:
            raise typer.BadParameter(
                f"--map '{item}' must look like SOURCE=FIELD, e.g. action=type"
            )
        pairs[source] = target
    return pairs


def ingest_contacts_cmd(
    file: Annotated[Path, typer.Argument(help="CSV/JSONL of contacts (HubSpot, Salesforce ok).")],
    workspace: WorkspaceOpt = Path(),
    delimiter: DelimiterOpt = ",",
    json_out: JsonOpt = False,
) -> None:
    """Ingest contacts; HubSpot and Salesforce export headers map automatically."""
    _ingest("contacts", file, workspace, json_out, delimiter=delimiter)


def run(
    workspace: WorkspaceOpt = Path(),
    as_of: Annotated[str | None, typer.Option(help="Evaluate at this ISO time.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the workspace's rules, then its graphs (graphs.py), over new events and due timers.

    `--json` prints the rules' report with the other graphs' reports under `graphs`.
    """
    when = parse_time(as_of)
    with open_workspace(workspace) as ws, errors():
        reports = ws.run_all(as_of=when, progress=not json_out)
    rules = reports.pop(GRAPH_NAME)
    if json_out:
        emit(rules.to_json() | {"graphs": {name: r.to_json() for name, r in reports.items()}})
        return
    reports = {GRAPH_NAME: rules, **reports}
    for name, report in reports.items():
        if report is not rules and not report.contacts:
            continue
        rows = [[rule, n] for rule, n in report.by_rule.items()]
        title = "run" if report is rules else f"run {name}"
        console().print(
            table(
                f"{title}: {report.contacts} contacts, {report.actions} new actions",
                ["rule", "actions"],
                rows,
            )
        )


def outbox(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path(),
    status: Annotated[
        str | None, typer.Option(help="pending|sent|failed|unknown|held|cancelled")
    ] = None,
    contact: Annotated[str | None, typer.Option(help="Only this contact.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List outbox actions (status, rule, payload, idempotency key)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_workspace(workspace) as ws:
        records = ws.outbox.records(status=_status(status), contact_id=contact, limit=limit)
    if json_out:
        emit([r.to_json() for r in records])
        return
    rows = [
        [
            r.action.contact_id,
            r.action.kind,
            r.action.source,
            r.status,
            r.action.idempotency_key[:12],
        ]
        for r in records
    ]
    console().print(
        table(f"outbox ({len(rows)})", ["contact", "kind", "rule", "status", "key"], rows)
    )


def outbox_retry(
    keys: Annotated[
        list[str] | None,
        typer.Argument(help="Idempotency keys (or the 12-character prefixes the listing shows)."),
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="failed|unknown: every record with this status.")
    ] = None,
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Requeue failed or unknown actions, after you checked they did not arrive; `deliver` or
    `tick` sends them again (same idempotency key)."""
    if status not in (None, "failed", "unknown"):
        raise typer.BadParameter(f"--status '{status}' is not one of failed, unknown")
    with open_workspace(workspace) as ws:
        requeued = ws.outbox.requeue(keys or (), status=status)  # type: ignore[arg-type]
    if json_out:
        emit({"requeued": requeued})
        return
    console().print(f"requeued {len(requeued)} action(s); `gtmflow deliver` sends them")


def _status(value: str | None) -> ActionStatus | None:
    allowed = ("pending", "sent", "failed", "unknown", "held", "cancelled")
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"status '{value}' is not one of {', '.join(allowed)}")
    return value  # type: ignore[return-value]


def deliver(workspace: WorkspaceOpt = Path(), json_out: JsonOpt = False) -> None:
    """Deliver pending outbox actions through the configured transport, each exactly once."""
    with open_workspace(workspace) as ws:
        report = ws.deliver()
    data: dict[str, Any] = {**report.counts(), "reasons": report.reasons}
    show_counts("deliver", data, json_out)


def explain(
    contact_id: Annotated[str, typer.Argument(help="The contact to explain.")],
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Why did this contact get what it got? Rule verdicts, evidence and actions."""
    with open_workspace(workspace) as ws:
        data = ws.explain(contact_id)
    if json_out:
        emit(data)
        return
    _print_explanation(data)


def _print_explanation(data: dict[str, Any]) -> None:
    rows = [
        [
            r["rule"],
            "fired" if r["fired"] else "no",
            r["at"],
            r["reason"],
            ", ".join(r["evidence"][:4]) + (" …" if len(r["evidence"]) > 4 else ""),
        ]
        for r in data["rules"]
    ]
    out = console()
    out.print(
        table(f"rules for {data['contact_id']}", ["rule", "fired", "at", "why", "evidence"], rows)
    )
    actions = [
        [
            a["kind"],
            a["rule"],
            json.dumps(a["payload"].get("sequence") or a["payload"].get("message") or ""),
            a["status"],
        ]
        for a in data["actions"]
    ]
    out.print(table("actions", ["kind", "rule", "detail", "status"], actions))


def forget(
    contact_id: Annotated[str, typer.Argument(help="The contact to erase.")],
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Erase a contact everywhere gtmflow keeps data, and report what was removed.

    Exits 1 when part of the erasure could not be done (e.g. the context store was busy): the
    report says what remains, and running the same command again finishes it.
    """
    with open_workspace(workspace) as ws:
        report = ws.forget(contact_id)
    if json_out:
        emit(report)
    else:
        counts = {k: v for k, v in report.items() if k != "remaining"}
        console().print(table(f"forgot {contact_id}", list(counts), [list(counts.values())]))
    if not report["complete"]:
        err = console(stderr=True)
        for part in report["remaining"]:
            err.print(styled("[red]not erased yet:[/] {}", part))
        err.print(styled("erasure stopped half way: run `gtmflow forget {}` again", contact_id))
        raise typer.Exit(1)


def compact(workspace: WorkspaceOpt = Path(), json_out: JsonOpt = False) -> None:
    """Keep each thread's latest checkpoint only, and give the freed space back to the disk."""
    with open_workspace(workspace) as ws:
        report = ws.compact()
    if json_out:
        emit(report.to_json())
        return
    data = report.to_json()
    console().print(table("compacted checkpoints", list(data), [list(data.values())]))


def migrate(workspace: WorkspaceOpt = Path(), json_out: JsonOpt = False) -> None:
    """Bring the workspace's PostgreSQL store up to this gtmflow's schema (versioned steps)."""
    from gtmflow.cli.workers import migrate_store

    with errors():
        report = migrate_store(workspace)
    if json_out:
        emit(report)
        return
    steps = report["applied"] or ["nothing to do"]
    console().print(f"{report['store']}: schema version {report['version']} ({'; '.join(steps)})")


def demo(
    directory: Annotated[
        Path,
        typer.Option("--workspace", "-w", "--dir", help="Where to build the demo workspace."),
    ] = Path("gtmflow-demo"),
    contacts: Annotated[int, typer.Option(help="Sample contacts to generate.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same world.")] = 7,
    json_out: JsonOpt = False,
) -> None:
    """Generate a sample world, ingest it, run the three classic rules, show the outbox."""
    from gtmflow.examples.demo import print_demo, run_demo

    with errors():
        report = run_demo(directory, contacts=contacts, seed=seed, progress=not json_out)
    if json_out:
        emit(report)
        return
    print_demo(report, console())


def schema(
    model: Annotated[str | None, typer.Argument(help="One model, e.g. Event.")] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="Accepted like everywhere; schemas are the same in every one."
        ),
    ] = None,
) -> None:
    """Print the JSON schema of the domain models (all, or one)."""
    from gtmflow.models import json_schemas

    schemas = json_schemas()
    if model is None:
        emit(schemas)
        return
    if model not in schemas:
        console(stderr=True).print(f"error: no model '{model}'; choose from {', '.join(schemas)}")
        raise typer.Exit(2)
    emit(schemas[model])
