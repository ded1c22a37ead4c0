"""The offline demo: a sample world, the classic rules, written journeys, an exactly-once outbox.

`run_demo` generates a deterministic sample workspace (HubSpot contact export, ~100 events per
contact with a few Segment payloads and a few bad rows, sales calls, and a webinar whose
attendees asked questions in its Q&A), ingests it, runs the rules and graphs as of the world's
end, lets three weeks pass (sequences send, wait, branch; the `webinar-followup` journey writes
each attendee three emails from what they said), delivers the outbox to a file, then ingests and
runs everything again to show that a replay changes nothing.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gtmflow.clock import VirtualClock
from gtmflow.errors import ConfigError
from gtmflow.examples.sample_content import copy_sample_content, seed_context
from gtmflow.examples.sample_deals import generate_sample_deals
from gtmflow.examples.sample_transcripts import SELLER, add_sample_calls
from gtmflow.examples.sample_webinar import SAMPLE_ATTENDEES, WEBINAR, add_sample_webinar
from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.runtime.scaffold import scaffold
from gtmflow.runtime.workspace import STATE_DIR, Workspace

__all__ = ["TICK_DAYS", "print_demo", "run_demo"]

TICK_DAYS = 21
"""After the rules run, the demo lets three weeks pass on a virtual clock."""

DEMO_MARKER = ".gtmflow-demo"
"""The file that marks a folder as the demo's own: it rebuilds such a folder from scratch."""


def run_demo(
    directory: str | Path, *, contacts: int = 500, seed: int = 7, progress: bool | None = None
) -> dict[str, Any]:
    """Build and run the demo workspace in `directory`, starting from a clean state.

    Returns:
        A JSON-ready summary: the world, ingest and run reports, outbox counts, delivery, the
        replay check and one example contact per rule.
    """
    root = Path(directory)
    _claim(root)
    shutil.rmtree(root / STATE_DIR, ignore_errors=True)
    world = generate_sample_world(root / "data", contacts=contacts, seed=seed)
    generate_sample_deals(root / "data", seed=seed)  # for `gtmflow attribution` and `report`
    # This version's rules, sequences and graphs, even over an older demo's (graphs.py holds the
    # call follow-up graph, sequences.py the webinar journey).
    scaffold(root, seller_company=SELLER, overwrite=True)
    copy_sample_content(root)
    clock = VirtualClock(world.end)
    with Workspace.open(root, clock=clock) as ws:
        people = ws.ingest(world.contacts_csv, kind="contacts", progress=progress)
        events = ws.ingest(world.events_jsonl, progress=progress)
        context = seed_context(ws.context, contacts=contacts, seed=seed)
        add_sample_calls(ws.events, root / "transcripts", before=world.end)
        add_sample_webinar(ws.events, at=world.end - timedelta(days=1))
        reports = ws.run_all(as_of=world.end, progress=progress)  # what `gtmflow run` does
        report, followups = reports["inbound_router"], reports["followup"]
        ticked = ws.tick(world.end + timedelta(days=TICK_DAYS), progress=progress)
        replay_ingest = ws.ingest(world.events_jsonl, progress=False)
        replay_run = ws.run_all(as_of=world.end, progress=False)
        replay_tick = ws.tick(clock.now(), progress=False)
        return {
            "workspace": str(ws.root),
            "world": {
                "contacts": world.contacts,
                "events": world.events,
                "start": world.start.isoformat(),
                "end": world.end.isoformat(),
            },
            "ingest": {"contacts": people.to_json(), "events": events.to_json()},
            "run": report.to_json(),
            "followups": followups.to_json(),
            "context": {kind: dict(counts) for kind, counts in context.items()},
            "tick": ticked,
            "outbox": _outbox_summary(ws),
            "delivered_file": str(ws.state_dir / "delivered.jsonl"),
            "replay": {
                "accepted": replay_ingest.accepted,
                "duplicates": replay_ingest.duplicates,
                "new_actions": sum(r.actions for r in replay_run.values()),
                "new_deliveries": replay_tick.get("sent", 0),
            },
            "dead_letters": _dead_letters(events.dead_letter),
            "sample_keys": _sample_keys(ws),
            "example": _example(ws),
            "webinar": _webinar_example(ws),
        }


def _outbox_summary(ws: Workspace) -> dict[str, dict[str, int]]:
    """Outbox records by kind and status."""
    summary: dict[str, Counter[str]] = {}
    for record in ws.outbox.records():
        summary.setdefault(record.action.kind, Counter())[record.status] += 1
    return {kind: dict(sorted(c.items())) for kind, c in sorted(summary.items())}


def _dead_letters(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "raw"} for line in lines]


def _sample_keys(ws: Workspace) -> dict[str, str]:
    """The first idempotency key (shortened) each rule wrote to the outbox."""
    keys: dict[str, str] = {}
    for record in ws.outbox.records():
        keys.setdefault(record.action.source, record.action.idempotency_key[:12] + "…")
    return keys


def _example(ws: Workspace) -> dict[str, Any]:
    """`explain` of the first contact alerted by pricing-hot (else the first with an action)."""
    records = ws.outbox.records()
    hot = [r for r in records if r.action.source == "pricing-hot"] or records
    return ws.explain(hot[0].action.contact_id) if hot else {"contact_id": "", "rules": []}


def _webinar_example(ws: Workspace) -> dict[str, Any]:
    """One webinar attendee: what they said in the Q&A and the emails their journey wrote."""
    attendee = SAMPLE_ATTENDEES[0]
    contact = attendee.contact
    own = f"{contact.name} ("
    said = [line.partition(": ")[2] for line in attendee.qa.splitlines() if line.startswith(own)]
    records = ws.outbox.records(contact_id=contact.id, kinds=["send_email"])
    emails = [
        {
            "step": r.action.payload.get("template"),
            "status": r.status,
            "at": (r.delivered_at or r.action.created_at).isoformat(),
            "subject": r.action.payload.get("subject"),
            "body": r.action.payload.get("body"),
            "author": r.action.payload.get("author"),
        }
        for r in records
    ]
    return {"contact_id": contact.id, "name": contact.name, "company": contact.company,
            "webinar": WEBINAR, "said": said, "emails": emails}  # fmt: skip


def _claim(root: Path) -> None:
    """Make `root` the demo's folder, refusing a workspace the demo did not build.

    The demo deletes the folder's state and rewrites its config, rules, sequences and graphs;
    run in a real workspace that would lose its events and the user's own rules.

    Raises:
        ConfigError: `root` holds a `gtmflow.toml` the demo did not write.
    """
    older_demo = (root / "data" / "events.jsonl").exists()  # demos before the marker existed
    if (root / "gtmflow.toml").exists() and not (root / DEMO_MARKER).exists() and not older_demo:
        raise ConfigError(
            f"'{root}' is a gtmflow workspace the demo did not create; the demo rebuilds its "
            "folder from scratch (state, rules, sequences, graphs), so give it a folder of its "
            "own, e.g. `gtmflow demo -w gtmflow-demo`"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text(
        "Built by `gtmflow demo`, which rebuilds this folder from scratch on every run.\n",
        encoding="utf-8",
    )


def print_demo(report: dict[str, Any], console: Console) -> None:
    """Render the demo summary as tables: ingest, dead letters, rules, one explanation."""
    world, run = report["world"], report["run"]
    console.rule(Text("gtmflow demo", style="bold"))
    console.print(
        f"world: {world['contacts']} contacts, {world['events']:,} events, "
        f"{world['start'][:10]} → {world['end'][:10]}\n"
    )
    console.print(_ingest_table(report["ingest"]))
    console.print(_dead_letter_table(report["dead_letters"]))
    console.print(Text.assemble("\n", ("run", "bold"), f" as of {run['as_of']}: "
                                f"{run['contacts']} contacts evaluated"))  # fmt: skip
    rules = Table("rule", "new actions", "outbox key prefix")
    for rule, count in run["by_rule"].items():
        rules.add_row(rule, str(count), report["sample_keys"].get(rule, ""))
    console.print(rules)
    follow = report["followups"]
    console.print(Text.assemble(
        "\n", ("follow-ups", "bold"), ": sales calls analysed (pains, objections, next steps "
        f"with verbatim evidence), then decided and drafted: {follow['by_rule']}"
    ))  # fmt: skip
    console.print(Text.assemble(
        "\n", (f"{TICK_DAYS} days pass", "bold"), " (virtual clock): sequences send, wait and "
        "branch, webinar journeys write each email at send time; the governor holds what quiet "
        "hours and caps forbid"
    ))  # fmt: skip
    console.print(_outbox_table(report["outbox"]))
    replay = report["replay"]
    console.print(Text.assemble(
        f"delivered to {report['delivered_file']}\n", ("replay", "bold"),
        f": re-ingest accepted {replay['accepted']} ({replay['duplicates']:,} duplicates); "
        f"re-run added {replay['new_actions']} actions, re-tick delivered "
        f"{replay['new_deliveries']}: exactly once\n",
    ))  # fmt: skip
    _print_example(report["example"], console)
    _print_webinar(report["webinar"], console)


def _print_webinar(webinar: dict[str, Any], console: Console) -> None:
    who = f"{webinar['name']} ({webinar['company']})"
    console.print(
        Text.assemble("\n", ("webinar follow-up", "bold"),
                      f": {who} said in the Q&A of '{webinar['webinar']}':")
    )  # fmt: skip
    for line in webinar["said"]:
        console.print(Text(f"  “{line}”", style="italic"))
    console.print("and the webinar-followup journey wrote these, one step at a time:")
    for n, email in enumerate(webinar["emails"], 1):
        title = f"email {n} · {email['step']} · {email['status']} {email['at'][:16]}"
        body = Text.assemble((f"Subject: {email['subject']}", "bold"), "\n\n", email["body"])
        console.print(Panel(body, title=title, title_align="left", expand=False, width=100))


def _outbox_table(outbox: dict[str, dict[str, int]]) -> Table:
    statuses = ["sent", "held", "cancelled", "pending", "failed", "unknown"]
    table = Table("action", *statuses, title="outbox", title_justify="left")
    for kind, counts in outbox.items():
        table.add_row(kind, *(str(counts.get(s, 0)) for s in statuses))
    return table


def _ingest_table(ingest: dict[str, Any]) -> Table:
    table = Table(
        "file",
        "accepted",
        "duplicates",
        "rejected",
        "blank lines",
        title="ingest",
        title_justify="left",
    )
    for name, data in ingest.items():
        table.add_row(
            name, *(f"{data[k]:,}" for k in ("accepted", "duplicates", "rejected", "ignored_blank"))
        )
    return table


def _dead_letter_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        "line", "why it was set aside (nothing is lost)", title="dead letter", title_justify="left"
    )
    for row in rows:
        table.add_row(str(row["line"]), row["reason"])
    return table


def _print_example(example: dict[str, Any], console: Console) -> None:
    table = Table(
        "rule",
        "fired",
        "at",
        "why",
        title=f"why did {example['contact_id']} get an alert? (`gtmflow explain`)",
        title_justify="left",
    )
    for verdict in example["rules"]:
        table.add_row(
            verdict["rule"],
            "yes" if verdict["fired"] else "no",
            verdict["at"][:16],
            verdict["reason"],
        )
    console.print(table)
