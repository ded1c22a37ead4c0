"""Command line for time and people: tick, serve, approvals, approve, reject, simulate, replies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
    table,
)
from gtmflow.errors import InputError

__all__ = ["register", "register_ingest"]

REPLY_DEFAULTS = {"type": "email_replied"}


def register(app: typer.Typer) -> None:
    """Add the time, approval and simulation commands to the app."""
    app.command()(tick)
    app.command()(serve)
    app.command()(approvals)
    app.command()(approve)
    app.command()(reject)
    app.command()(simulate)


def register_ingest(ingest_app: typer.Typer) -> None:
    """Add `gtmflow ingest replies`."""
    ingest_app.command("replies")(ingest_replies)


def tick(
    workspace: WorkspaceOpt = Path(),
    until: Annotated[
        str | None, typer.Option(help="Process everything due up to this ISO time.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Let time pass: resume due waits, react to new events, deliver through the governor."""
    when = parse_time(until)
    with open_workspace(workspace) as ws:
        report = ws.tick(when, progress=not json_out)
    _show("tick", report, json_out)


def serve(
    workspace: WorkspaceOpt = Path(),
    interval: Annotated[float, typer.Option(help="Seconds between ticks.")] = 60.0,
    ticks: Annotated[int | None, typer.Option(help="Stop after this many ticks.")] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes to start here (a shared PostgreSQL store).")
    ] = 1,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Run rules as of this ISO time (replays, tests)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Tick up to this ISO time (default: --as-of, or now).")
    ] = None,
) -> None:
    """Run rules and tick in a loop (a long-running worker); Ctrl-C stops it cleanly.

    A PostgreSQL store that goes away mid-tick is waited for (backoff up to 30 s) and the tick
    is done again when it is back: the open batch rolled back, every write is keyed, so
    nothing is committed twice or half.
    """
    from gtmflow.cli.workers import serve_loop, start_workers

    with errors():
        if workers > 1:
            args = ["--interval", str(interval)]
            args += ["--ticks", str(ticks)] if ticks is not None else []
            args += ["--as-of", as_of] if as_of else []
            args += ["--until", until] if until else []
            raise typer.Exit(start_workers(workspace, workers, args))
        at, end = parse_time(as_of), parse_time(until) or parse_time(as_of)
        serve_loop(workspace, interval=interval, ticks=ticks, as_of=at, until=end)


def approvals(
    workspace: WorkspaceOpt = Path(),
    status: Annotated[
        str, typer.Option(help="pending|approved|rejected|superseded|all")
    ] = "pending",
    json_out: JsonOpt = False,
) -> None:
    """List drafts waiting for (or given) a person's approval."""
    with open_workspace(workspace) as ws:
        chosen = None if status == "all" else status
        items = [a.to_json() for a in ws.approvals.list(status=chosen)]  # type: ignore[arg-type]
    if json_out:
        emit(items)
        return
    rows = [
        [a["id"], a["contact_id"], a["graph"], a["payload"].get("subject", ""), a["status"]]
        for a in items
    ]
    console().print(
        table(f"approvals ({status})", ["id", "contact", "graph", "subject", "status"], rows)
    )


def approve(
    request_id: Annotated[str, typer.Argument(help="The approval request id.")],
    workspace: WorkspaceOpt = Path(),
    edit: Annotated[Path | None, typer.Option(help="JSON file with the edited payload.")] = None,
    by: Annotated[str, typer.Option(help="Who approves (recorded).")] = "cli",
    json_out: JsonOpt = False,
) -> None:
    """Approve a draft (as is, or as edited in a JSON file); it is sent on the next tick."""
    with open_workspace(workspace) as ws:
        result = ws.approve(request_id, by=by, edit=_payload(edit) if edit else None)
    _show_decision("approved", result.to_json(), json_out)


def reject(
    request_id: Annotated[str, typer.Argument(help="The approval request id.")],
    workspace: WorkspaceOpt = Path(),
    by: Annotated[str, typer.Option(help="Who rejects (recorded).")] = "cli",
    json_out: JsonOpt = False,
) -> None:
    """Reject a draft: it is never sent."""
    with open_workspace(workspace) as ws:
        result = ws.reject(request_id, by=by)
    _show_decision("rejected", result.to_json(), json_out)


def simulate(
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 90,
    contacts: Annotated[int, typer.Option(help="Synthetic contacts.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same world.")] = 7,
    directory: Annotated[
        Path, typer.Option("--workspace", "-w", "--dir", help="Where to build the world.")
    ] = Path("gtmflow-sim"),
    json_out: JsonOpt = False,
) -> None:
    """Run the demo world on a virtual clock and check the invariants (exit 1 if one fails)."""
    from gtmflow.runtime.simulator import simulate as run_simulation

    with errors():
        report = run_simulation(
            directory, days=days, contacts=contacts, seed=seed, progress=not json_out
        )
    failed = [name for name, check in report["invariants"].items() if not check["ok"]]
    if json_out:
        emit(report)
    else:
        rows = [
            [name, "ok" if c["ok"] else "VIOLATED", c["violations"], "; ".join(c["examples"])]
            for name, c in report["invariants"].items()
        ]
        console().print(
            f"{report['days']} days, {report['contacts']} contacts, "
            f"{report['events']:,} events, {report['delivered']} deliveries in "
            f"{report['seconds']} s"
        )
        console().print(
            table("invariants", ["invariant", "result", "violations", "examples"], rows)
        )
    if failed:
        raise typer.Exit(1)


def ingest_replies(
    file: Annotated[Path, typer.Argument(help="JSONL/CSV of replies: contact_id, timestamp, …")],
    workspace: WorkspaceOpt = Path(),
    delimiter: DelimiterOpt = ",",
    json_out: JsonOpt = False,
) -> None:
    """Ingest replies (rows without a type are `email_replied`); `tick` then acts on them."""
    with open_workspace(workspace) as ws:
        from gtmflow.tools.events.mapping import EventMapping

        replies = EventMapping(defaults=REPLY_DEFAULTS)
        report = ws.ingest(file, mapping=replies, progress=not json_out, delimiter=delimiter)
    _show("ingest replies", report.to_json(), json_out)


def _payload(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(
            f"cannot read edited payload '{path}': {exc}; pass a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"edited payload '{path}' must be a JSON object like the draft's")
    return data


def _show(title: str, data: dict[str, Any], json_out: bool) -> None:
    show_counts(title, data, json_out)


def _show_decision(title: str, data: dict[str, Any], json_out: bool) -> None:
    """An approval decision and the payload that goes out, as lines a person reads at 80 columns.

    The payload is shown field by field (the body as its own wrapped paragraphs, claims one per
    line) rather than as one JSON cell, so a reviewer sees exactly what will be sent.
    """
    if json_out:
        emit(data)
        return
    out = console()
    out.print(
        f"{title} {data['id']}: {data['contact_id']} · {data['graph']} step {data['step']} · "
        f"by {data['decided_by']}"
    )
    payload = dict(data["payload"])
    body = payload.pop("body", None)
    claims = payload.pop("claims", None)
    for key, value in payload.items():
        out.print(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    if body is not None:
        out.print("body:")
        out.print(str(body))
    for claim in claims or []:
        if isinstance(claim, dict):
            source = f" (source: {claim['source']})" if claim.get("source") else ""
            out.print(f"  claim: {claim.get('text', '')}{source}")
        else:
            out.print(f"  claim: {claim}")
