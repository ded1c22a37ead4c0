"""The command line: JSON shapes for scripts, exit codes and messages for people."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gtmflow.cli import app

from .conftest import at, ev, write_events

runner = CliRunner()


def _json(args: list[str], code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _world(tmp_path: Path) -> Path:
    rows = [
        ev("p1", "page_view", "hot", at(0), path="/pricing"),
        ev("p2", "page_view", "hot", at(1), path="/pricing"),
        ev("p3", "page_view", "hot", at(2), path="/pricing"),
        ev("d1", "content_download", "reader", at(1), asset_type="ebook"),
    ]
    path = write_events(tmp_path / "events.jsonl", rows)
    with path.open("a") as handle:
        handle.write(
            '{"id": "bad", "type": "x", "contact_id": "c", "timestamp": "2026-01-01 10:00"}\n'
        )
    return path


def test_init_ingest_run_outbox_explain_deliver(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    init = _json(["init", ws])
    written = {Path(p).name for p in init["written"]}
    assert written == {
        "gtmflow.toml",
        "rules.py",
        "sequences.py",
        "graphs.py",
        "langgraph.json",
        "studio.py",
    }

    ingest = _json(["ingest", "events", str(_world(tmp_path)), "-w", ws])
    assert set(ingest) == {
        "accepted",
        "duplicates",
        "rejected",
        "ignored_blank",
        "dead_letter",
        "warnings",
    }
    assert (ingest["accepted"], ingest["rejected"]) == (4, 1)
    dead = [json.loads(line) for line in Path(ingest["dead_letter"]).read_text().splitlines()]
    assert dead[0]["line"] == 5 and "has no timezone" in dead[0]["reason"]

    run = _json(["run", "-w", ws, "--as-of", "2026-03-05T00:00:00Z"])
    assert run["by_rule"] == {"ebook-nurture": 1, "pricing-hot": 1}
    assert (run["contacts"], run["actions"]) == (2, 2)

    outbox = _json(["outbox", "-w", ws])
    assert {(o["contact_id"], o["kind"], o["rule"], o["status"]) for o in outbox} == {
        ("hot", "alert_sales", "pricing-hot", "pending"),
        ("reader", "enroll", "ebook-nurture", "pending"),
    }
    assert all(len(o["idempotency_key"]) == 32 for o in outbox)

    explain = _json(["explain", "hot", "-w", ws])
    assert set(explain) == {"contact_id", "rules", "actions"}
    fired = [r for r in explain["rules"] if r["fired"]]
    assert [(r["rule"], r["evidence"]) for r in fired] == [("pricing-hot", ["p1", "p2", "p3"])]

    assert _json(["deliver", "-w", ws]) == {
        "sent": 2, "failed": 0, "unknown": 0, "held": 0, "cancelled": 0, "deferred": 0,
        "skipped": 0, "reasons": {},
    }  # fmt: skip
    pending = _json(["outbox", "-w", ws, "--status", "pending"])
    # delivering the enroll action started the nurture sequence, whose first email now waits
    assert [(o["contact_id"], o["kind"], o["rule"]) for o in pending] == [
        ("reader", "send_email", "nurture#1")
    ]
    assert _json(["run", "-w", ws, "--as-of", "2026-03-05T00:00:00Z"])["actions"] == 0

    compact = _json(["compact", "-w", ws])
    assert set(compact) == {
        "threads", "checkpoints_removed", "writes_removed", "bytes_before", "bytes_after",
    }  # fmt: skip
    assert compact["threads"] >= 3 and compact["bytes_after"] <= compact["bytes_before"]


def test_human_output_has_tables(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    runner.invoke(app, ["init", ws])
    result = runner.invoke(app, ["ingest", "events", str(_world(tmp_path)), "-w", ws])
    assert result.exit_code == 0
    assert "accepted" in result.stdout and "rejected" in result.stdout


def test_errors_are_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    missing = runner.invoke(
        app, ["ingest", "events", str(tmp_path / "nope.jsonl"), "-w", str(tmp_path)]
    )
    assert missing.exit_code == 2
    assert "nope.jsonl" in missing.output
    unknown = runner.invoke(app, ["explain", "ghost", "-w", str(tmp_path)])
    assert unknown.exit_code == 2 and "'ghost' is not in this workspace" in unknown.output
    naive = runner.invoke(app, ["run", "-w", str(tmp_path), "--as-of", "2026-03-05T00:00"])
    assert naive.exit_code == 2 and "has no timezone" in naive.output


def test_schema_exports_every_model() -> None:
    result = runner.invoke(app, ["schema"])
    schemas = json.loads(result.stdout)
    assert {"Contact", "Event", "Action", "RouteDecision", "Deal"} <= set(schemas)
    event = json.loads(runner.invoke(app, ["schema", "Event"]).stdout)
    assert event["properties"]["timestamp"]["format"] == "date-time"


def test_forget_json(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    _json(["init", ws])
    _json(["ingest", "events", str(_world(tmp_path)), "-w", ws])
    _json(["run", "-w", ws, "--as-of", "2026-03-05T00:00:00Z"])
    report = _json(["forget", "hot", "-w", ws])
    assert report["events"] == 3 and report["outbox_redacted"] == 1
    assert _json(["outbox", "-w", ws, "--contact", "hot"]) == []


def test_run_answers_calls_with_the_scaffolded_followup_graph(tmp_path: Path) -> None:
    from gtmflow import Workspace
    from gtmflow.examples.sample_transcripts import SAMPLE_CALLS, SELLER, write_sample_transcripts

    ws = tmp_path / "ws"
    _json(["init", str(ws)])
    graphs_py = ws / "graphs.py"
    graphs_py.write_text(graphs_py.read_text().replace('"Your Company"', repr(SELLER)))
    write_sample_transcripts(ws / "transcripts")
    call = SAMPLE_CALLS[0]
    with Workspace.open(ws) as opened:
        opened.events.write_contacts([call.contact])
    done = call.occurred_at + timedelta(hours=1)
    events = [ev("call-1", "call_completed", call.contact.id, done, transcript_id=call.id)]
    _json(["ingest", "events", str(write_events(tmp_path / "calls.jsonl", events)), "-w", str(ws)])

    as_of = (done + timedelta(hours=1)).isoformat()
    report = _json(["run", "-w", str(ws), "--as-of", as_of])
    assert report["actions"] == 0  # the rules: nothing for a call
    assert report["graphs"]["followup"]["by_rule"] == {"followup:send_followup": 1}
    (email,) = _json(["outbox", "-w", str(ws)])
    assert (email["kind"], email["graph"], email["status"]) == ("send_email", "followup", "pending")
    assert email["payload"]["to"] == call.contact.email
    assert _json(["run", "-w", str(ws), "--as-of", as_of])["graphs"]["followup"]["actions"] == 0


def test_a_broken_graphs_module_is_a_clear_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _json(["init", str(ws)])
    (ws / "graphs.py").write_text("GRAPHS = ['not a graph']\n")
    result = runner.invoke(app, ["run", "-w", str(ws)])
    assert result.exit_code == 2
    assert "must be a list of compiled LangGraph graphs" in result.output
    (ws / "graphs.py").write_text(
        "from gtmflow.graphs.followup import build_followup_graph\n"
        "GRAPHS = [build_followup_graph(), build_followup_graph()]\n"
    )
    clash = runner.invoke(app, ["run", "-w", str(ws)])
    assert clash.exit_code == 2 and "['followup'] are used twice" in clash.output
