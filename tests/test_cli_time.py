"""CLI for time and people: tick, approvals, replies, simulate."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gtmflow.cli import app

from .test_sequences import RULES, SEQUENCES, TOML

runner = CliRunner()


def _json(args: list[str], code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _workspace(tmp_path: Path) -> str:
    for name, text in (("gtmflow.toml", TOML), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps(
            {
                "id": "c1",
                "type": "call_completed",
                "contact_id": "ana",
                "timestamp": "2026-03-02T09:00:00Z",
            }
        )
        + "\n"
    )
    _json(["ingest", "events", str(events), "-w", str(tmp_path)])
    _json(["run", "-w", str(tmp_path), "--as-of", "2026-03-02T09:00:00Z"])
    return str(tmp_path)


def test_tick_then_approve_an_edited_draft(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    tick = _json(["tick", "-w", ws, "--until", "2026-03-02T09:05:00Z"])
    assert tick["sent"] == 1  # the enroll action started the ai-followup sequence
    (request,) = _json(["approvals", "-w", ws])
    assert request["status"] == "pending" and request["contact_id"] == "ana"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(request["payload"] | {"body": "Edited by Ana"}))
    approved = _json(["approve", request["id"], "-w", ws, "--edit", str(edited), "--by", "ana"])
    assert approved["status"] == "approved" and approved["decided_by"] == "ana"
    _json(["tick", "-w", ws, "--until", "2026-03-02T09:10:00Z"])
    sent = _json(["outbox", "-w", ws, "--status", "sent"])
    emails = [o for o in sent if o["kind"] == "send_email"]
    assert [e["payload"]["body"] for e in emails] == ["Edited by Ana"]
    again = runner.invoke(app, ["approve", request["id"], "-w", ws])
    assert again.exit_code == 2 and "already approved" in again.output


def test_reply_file_supersedes_the_pending_draft(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _json(["tick", "-w", ws, "--until", "2026-03-02T09:05:00Z"])
    (request,) = _json(["approvals", "-w", ws])
    replies = tmp_path / "replies.csv"
    replies.write_text("contact_id,timestamp,subject\nana,2026-03-02T10:00:00Z,Re: our call\n")
    assert _json(["ingest", "replies", str(replies), "-w", ws])["accepted"] == 1
    _json(["tick", "-w", ws, "--until", "2026-03-05T00:00:00Z"])
    (after,) = _json(["approvals", "-w", ws, "--status", "all"])
    assert (after["id"], after["status"]) == (request["id"], "superseded")
    assert not [
        o for o in _json(["outbox", "-w", ws, "--status", "sent"]) if o["kind"] == "send_email"
    ]


def test_simulate_reports_invariants(tmp_path: Path) -> None:
    report = _json(["simulate", "--days", "10", "--contacts", "60", "--dir", str(tmp_path)])
    assert set(report["invariants"]) == {
        "no_message_to_suppressed",
        "frequency_cap_respected",
        "no_delivery_in_quiet_hours",
        "no_duplicate_message_ids",
        "every_due_wait_resumed",
        "no_send_after_exit",
        "no_repeats_in_a_journey",
    }
    assert all(check["ok"] for check in report["invariants"].values()), report["invariants"]
    assert report["actions"]["send_email"]["sent"] > 0


def test_approve_prints_the_edited_payload_readable_at_80_columns(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _json(["tick", "-w", ws, "--until", "2026-03-02T09:05:00Z"])
    (request,) = _json(["approvals", "-w", ws])
    body = "Hi Ana,\n\n" + "Thanks for the call about onboarding the finance team. " * 4
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(request["payload"] | {"body": body, "subject": "Your rollout"}))
    shown = runner.invoke(
        app, ["approve", request["id"], "-w", ws, "--edit", str(edited)], env={"COLUMNS": "80"}
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "subject: Your rollout" in lines
    words = " ".join(lines[lines.index("body:") + 1 :]).split()
    assert " ".join(body.split()) in " ".join(words)
    assert '"body"' not in shown.output  # the payload is shown as fields, not one JSON cell
