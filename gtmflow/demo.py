"""The offline demo: a sample world, the three classic rules, an exactly-once outbox.

`run_demo` generates a deterministic sample workspace (HubSpot contact export, ~100 events per
contact with a few Segment payloads and a few bad rows), ingests it, runs the inbound router as of
the world's end, delivers the outbox to a file, then ingests and runs everything again to show that
a replay changes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gtmflow._scaffold import scaffold
from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.runtime import STATE_DIR, Workspace

__all__ = ["print_demo", "run_demo"]


def run_demo(
    directory: str | Path, *, contacts: int = 500, seed: int = 7, progress: bool | None = None
) -> dict[str, Any]:
    """Build and run the demo workspace in `directory`, starting from a clean state.

    Returns:
        A JSON-ready summary: the world, ingest and run reports, outbox counts, delivery, the
        replay check and one example contact per rule.
    """
    root = Path(directory)
    shutil.rmtree(root / STATE_DIR, ignore_errors=True)
    world = generate_sample_world(root / "data", contacts=contacts, seed=seed)
    scaffold(root)
    with Workspace.open(root) as ws:
        ingested = {
            "contacts": ws.ingest(world.contacts_csv, kind="contacts", progress=progress).to_json(),
            "events": ws.ingest(world.events_jsonl, progress=progress).to_json(),
        }
        report = ws.run(as_of=world.end, progress=progress)
        delivered = ws.deliver()
        replay_ingest = ws.ingest(world.events_jsonl, progress=False)
        replay_run = ws.run(as_of=world.end, progress=False)
        return {
            "workspace": str(ws.root),
            "world": {
                "contacts": world.contacts,
                "events": world.events,
                "start": world.start.isoformat(),
                "end": world.end.isoformat(),
            },
            "ingest": ingested,
            "run": report.to_json(),
            "outbox": ws.outbox.counts(),
            "delivered": {
                "sent": delivered.sent,
                "failed": delivered.failed,
                "unknown": delivered.unknown,
                "file": str(ws.state_dir / "delivered.jsonl"),
            },
            "replay": {
                "accepted": replay_ingest.accepted,
                "duplicates": replay_ingest.duplicates,
                "new_actions": replay_run.actions,
            },
            "examples": _examples(ws),
        }


def _examples(ws: Workspace) -> dict[str, str]:
    """The first contact (by id) each rule fired for."""
    examples: dict[str, str] = {}
    for record in ws.outbox.records():
        examples.setdefault(record.action.source, record.action.contact_id)
    return dict(sorted(examples.items()))


def print_demo(report: dict[str, Any], console: Console) -> None:
    """Render the demo summary as tables."""
    world, ingest, run = report["world"], report["ingest"], report["run"]
    console.rule("[bold]gtmflow demo")
    console.print(
        f"world: {world['contacts']} contacts, {world['events']:,} events, "
        f"{world['start'][:10]} → {world['end'][:10]}"
    )
    table = Table(
        "file",
        "accepted",
        "duplicates",
        "rejected",
        "blank",
        "dead letter",
        title="ingest",
        title_justify="left",
    )
    for name, data in ingest.items():
        table.add_row(
            name,
            *(str(data[k]) for k in ("accepted", "duplicates", "rejected", "ignored_blank")),
            str(data["dead_letter"]),
        )
    console.print(table)
    rules = Table(
        "rule",
        "actions",
        title=f"run as of {run['as_of']}: {run['contacts']} contacts evaluated",
        title_justify="left",
    )
    for rule, count in run["by_rule"].items():
        rules.add_row(rule, str(count))
    console.print(rules)
    replay = report["replay"]
    console.print(
        f"outbox: {report['outbox']}; delivered {report['delivered']['sent']} to "
        f"{report['delivered']['file']}\nreplay: re-ingest accepted {replay['accepted']} "
        f"({replay['duplicates']:,} duplicates), re-run added {replay['new_actions']} actions "
        "(exactly once)"
    )
    for rule, contact in report["examples"].items():
        console.print(f"why? [cyan]gtmflow explain {contact} -w {report['workspace']}[/]  ({rule})")
