"""`forget` erases a person from every file under `.gtmflow`: stores, Chroma's write-ahead log,
delivered and dead-letter files, the writer lock; it matches exact thread ids, and a second call
finishes an erasure that stopped half way."""

from __future__ import annotations

import json
import re
import sqlite3
import textwrap
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtmflow import VirtualClock, Workspace
from gtmflow.cli import app
from gtmflow.models import Contact, Event
from gtmflow.tools.context.writer_lock import WriterLock
from gtmflow.tools.events.ingest import ingest_events

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PERSON = "ada-77"
EMAIL = "ada.lovelace@analytical.example"
NAME = "Ada Lovelace"
OTHERS = ("x:ada-77", "nurture:ada-77", "grace-1")  # ids ending like hers must survive

TOML = """
[gtmflow]
rules = "rules:RULES"
sequences = "sequences:SEQUENCES"
[governor]
frequency_cap = false
quiet_hours = false
"""
RULES = """
from gtmflow import pipes as p
RULES = [
    p.Rule("start", when=p.event("signup"), then=p.enroll("nurture")),
    p.Rule("pricing-hot", when=p.count("page_view", path="/pricing", at_least=2, within="7d"),
           then=p.alert_sales()),
]
"""
SEQUENCES = """
from gtmflow.graphs.sequences import Sequence, send, wait
SEQUENCES = [Sequence("nurture", steps=[
    send("welcome", subject="Welcome {name}", body="Hello {first_name} at {company}"),
    wait("3d"),
    send("second", subject="Next steps, {first_name}", body="..."),
])]
"""


def _people() -> list[Contact]:
    return [
        Contact(id=PERSON, email=EMAIL, name=NAME, company="Analytical Engines"),
        Contact(id="x:ada-77", email="x@other.example", name="Xavier Other"),
        Contact(id="nurture:ada-77", email="n@other.example", name="Nora Other"),
        Contact(id="grace-1", email="grace@navy.example", name="Grace Hopper"),
    ]


def _events(contact: str) -> list[Event]:
    return [
        Event(id=f"s-{contact}", type="signup", contact_id=contact, timestamp=START),
        *(
            Event(
                id=f"p{i}-{contact}",
                type="page_view",
                contact_id=contact,
                timestamp=START + timedelta(hours=i),
                properties={"path": "/pricing"},
            )
            for i in range(2)
        ),
    ]


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    for name, text in (("gtmflow.toml", TOML), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as workspace:
        yield workspace


def _populate(ws: Workspace, tmp_path: Path) -> None:
    """The person everywhere gtmflow keeps data, next to others whose ids end like hers."""
    ws.events.write_contacts(_people())
    for contact in (PERSON, *OTHERS):
        ws.events.write_events(_events(contact))
    ws.run(as_of=START + timedelta(hours=2), progress=False)
    ws.tick(START + timedelta(hours=2), progress=False)  # delivered.jsonl: her welcome email
    ws.context.remember(PERSON, f"{NAME} <{EMAIL}> asked about pricing for her team")
    ws.context.remember("grace-1", "Grace Hopper asked about COBOL support")
    ws.context.remember_transcript(PERSON, "call-1", [f"{NAME} wants SSO, write to {EMAIL}"])
    bad = tmp_path / "more.jsonl"
    bad.write_text(
        json.dumps({"id": "e9", "type": "page_view", "contact_id": PERSON, "timestamp": "soon",
                    "properties": {"email": EMAIL, "name": NAME}}) + "\n"
        + json.dumps({"id": "e8", "type": "page_view", "contact_id": "grace-1",
                      "timestamp": "never"}) + "\n"
    )  # fmt: skip
    dead = ws.state_dir / "dead-letter"
    dead.mkdir(exist_ok=True)  # where dead-letter files live
    report = ingest_events(ws.events, bad, dead_letter=dead)
    assert report.rejected == 2 and report.dead_letter is not None


def _traces(root: Path) -> dict[str, list[str]]:
    """Every file under `.gtmflow` that still holds her email, name or id (not a longer id)."""
    own_id = re.compile(rb"(?<![:\w])" + re.escape(PERSON.encode()) + rb"(?![\w-])")
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in (root / ".gtmflow").rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [
            what
            for what, hit in (
                ("email", EMAIL.encode() in data.lower()),
                ("name", NAME.encode() in data),
                ("id", own_id.search(data) is not None),
            )
            if hit
        ]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def test_forget_leaves_no_trace_in_any_file_under_gtmflow(ws: Workspace, tmp_path: Path) -> None:
    _populate(ws, tmp_path)
    assert _traces(tmp_path)  # the check finds her before
    report = ws.forget(PERSON)
    ws.close()
    assert report["complete"] is True
    assert _traces(tmp_path) == {}
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as again:
        for other in OTHERS:  # the others are all still there
            assert again.events.contact(other) is not None
            assert len(again.events.events(other)) == 3
        assert [n.text for n in again.context.notes("grace-1")] == [
            "Grace Hopper asked about COBOL support"
        ]
        lines = (tmp_path / ".gtmflow" / "delivered.jsonl").read_text().splitlines()
        delivered = [json.loads(line) for line in lines]
        assert {d["contact_id"] for d in delivered} >= set(OTHERS)
        dead = next((tmp_path / ".gtmflow" / "dead-letter").iterdir()).read_text()
        assert "grace-1" in dead and "never" in dead


def test_forget_matches_exact_thread_ids(ws: Workspace, tmp_path: Path) -> None:
    _populate(ws, tmp_path)

    def threads() -> set[str]:
        with closing(sqlite3.connect(ws.state_dir / "checkpoints.db")) as conn:
            rows = conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
        return {row[0] for row in rows}

    before = threads()
    assert {"inbound_router:x:ada-77", "inbound_router:nurture:ada-77"} <= before
    report = ws.forget(PERSON)
    assert report["checkpoint_threads"] == 2  # the router's and the sequence's, hers only
    assert before - threads() == {"inbound_router:ada-77", "sequence:nurture:ada-77"}


def test_the_lock_file_never_records_the_command_line(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "writer.lock").acquire()
    try:
        text = (tmp_path / "writer.lock").read_text()
    finally:
        lock.release()
    assert re.fullmatch(r"pid \d+: \S+\n", text), text  # the program, never its arguments


def test_an_erasure_that_stops_half_way_says_so_and_a_second_call_finishes(
    ws: Workspace, tmp_path: Path
) -> None:
    _populate(ws, tmp_path)
    ws.close()
    other = WriterLock(tmp_path / ".gtmflow" / "chroma" / "writer.lock").acquire()  # busy
    runner = CliRunner()
    try:
        first = runner.invoke(app, ["forget", PERSON, "-w", str(tmp_path), "--json"])
    finally:
        other.release()
    assert first.exit_code == 1, first.output
    stopped = json.loads(first.stdout)
    assert stopped["complete"] is False
    assert "context store" in " ".join(stopped["remaining"])
    assert "run `gtmflow forget ada-77` again" in first.stderr
    second = runner.invoke(app, ["forget", PERSON, "-w", str(tmp_path), "--json"])
    assert second.exit_code == 0, second.output
    finished = json.loads(second.stdout)
    assert finished["complete"] is True and finished["resumed"] is True
    assert finished["context_records"] >= 2
    assert _traces(tmp_path) == {}


def test_forget_turns_on_secure_delete(ws: Workspace, tmp_path: Path) -> None:
    _populate(ws, tmp_path)
    ws.forget(PERSON)
    assert len(ws.stores.sqlite_connections) >= 8  # every ledger, the events, the checkpoints
    for conn in ws.stores.sqlite_connections:
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_dead_letter_lines_naming_her_without_id_or_email_are_erased(
    ws: Workspace, tmp_path: Path
) -> None:
    _populate(ws, tmp_path)
    dead = ws.state_dir / "dead-letter" / "typed-by-hand.jsonl"
    rows = [
        {"line": 3, "reason": "no contact id", "row": {"name": "Ada  Lovelace", "note": "x"}},
        {"line": 4, "reason": "no contact id", "row": {"name": "ADA LOV\u00c9LACE"}},
        {"line": 6, "reason": "no contact id", "row": {"name": "Ada Lovelacey"}},
        {"line": 7, "reason": "no contact id", "row": {"name": "Grace Hopper"}},
    ]
    escaped = '{"line": 5, "reason": "bad timestamp", "row": {"owner": "\\u0041da Lovelace"}}\n'
    dead.write_text("".join(json.dumps(row) + "\n" for row in rows) + escaped)
    (ws.state_dir / "notes.jsonl").write_text(json.dumps({"said": "Ada Lovelace"}) + "\n")
    report = ws.forget(PERSON)
    assert report["complete"] is True
    kept = [json.loads(line)["line"] for line in dead.read_text().splitlines()]
    assert kept == [4, 6, 7]  # 3 and 5 (escaped) name her; another spelling and others stay
    # outside dead letters a line needs her id or email: a name alone may be someone else's
    assert (ws.state_dir / "notes.jsonl").read_text().strip()
