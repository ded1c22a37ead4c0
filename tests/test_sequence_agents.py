"""Agent steps in sequences: emails written at send time from what the contact said, once."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow import VirtualClock, Workspace
from gtmflow.errors import GtmflowWarning
from gtmflow.examples.sample_webinar import SAMPLE_ATTENDEES, WEBINAR
from gtmflow.governor import payload_digest
from gtmflow.models import Event
from gtmflow.tools.delivery.outbox import OutboxRecord

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday afternoon
SELLER = "Northwind Analytics"
CALL = (
    f"Dana Reyes (Account Executive, {SELLER}): What is slowing you down?\n"
    "Sam Patel (COO, Acme Logistics): Our month-end reporting takes two days because "
    "everything is copied by hand."
)

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
    p.Rule("webinar", when=p.event("webinar_attended"), then=p.enroll("webinar"), cooldown="1d"),
    p.Rule("call", when=p.event("call_completed"), then=p.enroll("ai-call")),
    p.Rule("recap", when=p.event("meeting_held"), then=p.enroll("recap")),
]
"""
SEQUENCES = """
from pathlib import Path
from gtmflow import pipes as p
from gtmflow.agents.content_writer import ContentWriter
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.graphs.sequences import Sequence, branch, decide, send, wait, write
from gtmflow.testing import ScriptedChatModel

HERE = Path(__file__).parent
SELLER = "Northwind Analytics"
LEFT = p.event("email_replied") | p.event("meeting_booked")
QUOTE = "Our month-end reporting takes two days because everything is copied by hand."

def reply(messages, tools):
    with open(HERE / "model-calls.txt", "a") as calls:
        calls.write("x")
    return {"subject": "Two days of month-end reporting", "greeting": "Hi Sam,",
            "sentences": [{"text": "You said month-end reporting takes two days.",
                           "source": "transcript", "ref": QUOTE},
                          {"text": "Would a short call next week help?", "source": "none"}],
            "sign_off": "Best regards,\\nDana", "recommended": []}

ANALYST = TranscriptAnalyst(own_names=[SELLER])
SEQUENCES = [
    Sequence("webinar", steps=[
        write("w1"),
        wait("3d"),
        branch(p.event("email_open", within="3d"), name="engaged",
               then=[write("w2-engaged")], otherwise=[write("w2-quiet")]),
        wait("7d"),
        write("w3"),
    ], exit_when=LEFT, reenroll="after_exit",
       writer=ContentWriter(sender="Dana Reyes"), analyst=ANALYST),
    Sequence("ai-call", steps=[write("a1"), wait("2d"), write("a2")], exit_when=LEFT,
             writer=ContentWriter(sender="Dana",
                                  brain=ScriptedChatModel(script=[reply], repeat_last=True)),
             analyst=ANALYST),
    Sequence("recap", steps=[write("r1")], writer=ContentWriter(sender="Dana"), analyst=ANALYST),
]
"""


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    for name, text in (("gtmflow.toml", TOML), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as workspace:
        yield workspace


def _event(ws: Workspace, id: str, type: str, when: datetime, contact: str, **props: Any) -> None:
    ws.events.write_events(
        [Event(id=id, type=type, contact_id=contact, timestamp=when, properties=props)]
    )


def _emails(ws: Workspace, contact: str | None = None) -> list[OutboxRecord]:
    sent = ws.outbox.records(status="sent", kinds=["send_email"])
    return [r for r in sent if contact is None or r.action.contact_id == contact]


def _model_calls(ws: Workspace) -> int:
    path = ws.root / "model-calls.txt"
    return len(path.read_text()) if path.exists() else 0


PRIYA = SAMPLE_ATTENDEES[0]


def _attend(ws: Workspace, id: str = "w-priya", when: datetime = START) -> None:
    ws.events.write_contacts([PRIYA.contact])
    _event(ws, id, "webinar_attended", when, PRIYA.contact.id, webinar=WEBINAR,
           webinar_id="wb-1", transcript=PRIYA.qa)  # fmt: skip


def test_webinar_journey_writes_three_emails_from_what_they_said(ws: Workspace) -> None:
    _attend(ws)
    ws.run(as_of=START, progress=False)
    ws.tick(START, progress=False)
    _event(ws, "open-1", "email_open", START + timedelta(days=1), PRIYA.contact.id)
    ws.tick(START + timedelta(days=3), progress=False)
    pricing = START + timedelta(days=5)
    _event(ws, "pv-1", "page_view", pricing, PRIYA.contact.id, path="/pricing")
    ws.tick(START + timedelta(days=10, hours=1), progress=False)
    emails = [r.action.payload for r in _emails(ws)]
    assert [e["template"] for e in emails] == ["w1", "w2-engaged", "w3"]  # she opened email 1
    first, second, third = emails
    assert WEBINAR in first["body"] and "Q&A" in first["body"]
    assert "your CFO doesn't trust the attribution numbers" in first["body"]
    assert "the comparison slides" in first["body"]  # what she asked for is answered
    assert first["subject"] == "Your CFO doesn't trust the attribution numbers"
    assert "HubSpot" in second["body"] and "CFO doesn't trust" not in second["body"]
    assert "put exact numbers together" in third["body"]  # she looked at pricing since email 2
    assert third["subject"].startswith("Re: ")
    for email in emails:
        assert {"subject", "body", "author", "sequence", "claims"} <= set(email)
        assert email["author"] == "template" and email["sequence"] == "webinar"
        assert all(c["supported"] for c in email["claims"])
    quotes = [c["ref"] for e in emails for c in e["claims"] if c["source"] == "transcript"]
    assert len(quotes) == len(set(quotes))  # no quote or pain said twice
    notes = ws.context.notes(PRIYA.contact.id)  # what she said is in her memory too
    assert any("HubSpot" in n.text for n in notes)
    reasons = [d.reason for d in ws.decisions.for_contact(PRIYA.contact.id)]
    assert any(r.startswith("then: ") for r in reasons)  # the branch says why


def test_a_draft_is_written_once_across_approval_restart_and_a_crash(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.events.write_contacts([SAMPLE_ATTENDEES[1].contact.model_copy(update={"id": "sam"})])
    _event(ws, "call-1", "call_completed", START, "sam", transcript=CALL)
    ws.run(as_of=START, progress=False)
    ws.tick(START, progress=False)
    (request,) = ws.approvals.list()  # a model wrote it: a person approves first
    assert _model_calls(ws) == 1 and _emails(ws) == []
    assert request.payload["author"] == "ai" and request.payload["template"] == "a1"
    ws.close()  # a restart while the draft waits
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as again:
        again.tick(START + timedelta(hours=1), progress=False)
        again.approve(request.id, by="ana")
        again.tick(START + timedelta(hours=1), progress=False)
        (sent,) = _emails(again)
        assert sent.action.payload["body"] == request.payload["body"]  # the approved words
        assert sent.action.payload["approval"]["digest"] == payload_digest(request.payload)
        assert _model_calls(again) == 1

        import gtmflow.graphs._sequence_agents as agents

        real = agents.check_decision

        def crash(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(agents, "check_decision", real)
            raise RuntimeError("power cut between writing and sending")

        monkeypatch.setattr(agents, "check_decision", crash)
        # one contact's crash is recorded and the pass goes on (the others are not stopped)
        with pytest.warns(GtmflowWarning, match="power cut between writing and sending"):
            again.tick(START + timedelta(days=2, hours=1), progress=False)
        assert _emails(again) == [sent]  # nothing sent by the crashed step
        assert _model_calls(again) == 2  # the second email was written before the crash
        again.tick(START + timedelta(days=2, hours=2), progress=False)  # resumes the step
        (second,) = again.approvals.list()
        again.approve(second.id, by="ana")
        again.tick(START + timedelta(days=2, hours=3), progress=False)
        assert [r.action.payload["template"] for r in _emails(again)] == ["a1", "a2"]
        assert _model_calls(again) == 2  # resume, crash and replay never wrote it again
        again.run(as_of=START + timedelta(days=3), progress=False)
        again.tick(START + timedelta(days=4), progress=False)
        assert len(_emails(again)) == 2 and _model_calls(again) == 2


def test_a_reply_supersedes_the_pending_draft(ws: Workspace) -> None:
    ws.events.write_contacts([SAMPLE_ATTENDEES[1].contact.model_copy(update={"id": "sam"})])
    _event(ws, "call-1", "call_completed", START, "sam", transcript=CALL)
    ws.run(as_of=START, progress=False)
    ws.tick(START, progress=False)
    (request,) = ws.approvals.list()
    _event(ws, "r1", "email_replied", START + timedelta(hours=2), "sam")
    ws.tick(START + timedelta(days=5), progress=False)
    assert ws.approvals.get(request.id).status == "superseded"  # type: ignore[union-attr]
    assert _emails(ws) == [] and _model_calls(ws) == 1
    state = ws.enrollments.graph("ai-call").get_state(
        {"configurable": {"thread_id": "sequence:ai-call:sam"}}
    )
    assert state.values["status"] == "exited"


def test_two_identical_attendance_events_send_one_journey(ws: Workspace) -> None:
    _attend(ws, "w-priya")
    ws.run(as_of=START, progress=False)
    ws.tick(START + timedelta(days=11), progress=False)  # the first journey ends
    _attend(ws, "w-priya-resent", START + timedelta(days=12))  # a re-sent webhook, new id
    ws.run(as_of=START + timedelta(days=12), progress=False)
    ws.tick(START + timedelta(days=30), progress=False)
    assert [r.action.payload["template"] for r in _emails(ws)] == ["w1", "w2-quiet", "w3"]
    (refused,) = [r for r in ws.outbox.records(kinds=["enroll"]) if r.status == "cancelled"]
    assert "is already followed up by sequence:webinar#1" in (refused.note or "")


def test_the_scaffolded_webinar_journey_owns_webinars(tmp_path: Path) -> None:
    from gtmflow.runtime.scaffold import scaffold

    scaffold(tmp_path, seller_company=SELLER)
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as ws:
        _attend(ws)
        ws.run_all(as_of=START, progress=False)
        ws.tick(START + timedelta(days=11), progress=False)
        emails = _emails(ws)
        assert [e.action.graph for e in emails] == ["sequence:webinar-followup"] * 3
        assert [e.action.payload["template"] for e in emails] == [
            "webinar-1", "webinar-2-quiet", "webinar-3",
        ]  # fmt: skip


def test_whoever_follows_a_trigger_up_first_owns_it(ws: Workspace) -> None:
    from gtmflow.agents.transcript_analyst import TranscriptAnalyst
    from gtmflow.graphs.followup import build_followup_graph

    followup = build_followup_graph(
        analyst=TranscriptAnalyst(own_names=[SELLER], embeddings="off"),
        triggers=("webinar_attended",),
    )
    _attend(ws)
    ws.run(as_of=START, progress=False)  # the rule enrolls her in the webinar journey ...
    ws.tick(START, progress=False)  # ... which claims the webinar and writes email 1
    ws.run(followup, as_of=START + timedelta(minutes=5), progress=False)
    skipped = [d for d in ws.decisions.for_contact(PRIYA.contact.id) if d.rule == "followup:skip"]
    assert skipped and "followed up by sequence:webinar#1" in skipped[0].reason
    assert [r.action.graph for r in ws.outbox.records(kinds=["send_email"])] == ["sequence:webinar"]

    other = PRIYA.contact.model_copy(update={"id": "c-2", "email": "two@fernbrook.example"})
    ws.events.write_contacts([other])
    later = START + timedelta(hours=1)
    _event(ws, "w-2", "webinar_attended", later, "c-2", webinar=WEBINAR, transcript=PRIYA.qa)
    ws.run(as_of=later, progress=False)  # the enroll waits in the outbox ...
    ws.run(followup, as_of=later, progress=False)  # ... the follow-up graph claims it first
    ws.tick(later + timedelta(days=11), progress=False)
    mail = [r for r in ws.outbox.records(kinds=["send_email"]) if r.action.contact_id == "c-2"]
    assert [r.action.graph for r in mail] == ["followup"]
    (refused,) = [r for r in ws.outbox.records(kinds=["enroll"]) if r.action.contact_id == "c-2"]
    assert refused.status == "cancelled" and "followed up by followup" in (refused.note or "")


def _decide_sequence(agent: Any = None) -> Any:
    from gtmflow.agents.transcript_analyst import TranscriptAnalyst
    from gtmflow.graphs.sequences import Sequence, decide, send, write

    options = {
        "send_followup": [write("written")],
        "alert_sales": [send("alert", kind="alert_sales", subject="Hot", body="{name} asked")],
        "no_action": [],
    }
    return Sequence(
        "d", steps=[decide("next", options=options, agent=agent), send("after", subject="s",
                    body="b")],
        analyst=TranscriptAnalyst(own_names=[SELLER], embeddings="off"),
    )  # fmt: skip


def _decide_run(contact: Any, agent: Any = None) -> dict[str, Any]:
    from gtmflow import Deps
    from gtmflow.graphs.sequences import build_sequence_graph
    from gtmflow.tools.events.event_store import SQLiteEventStore

    store = SQLiteEventStore(":memory:")
    store.write_contacts([contact])
    call = Event(id="call", type="call_completed", contact_id=contact.id, timestamp=START,
                 properties={"transcript": CALL})  # fmt: skip
    store.write_events([call])
    trigger = {"event_id": "call", "type": "call_completed", "at": START.isoformat(),
               "inline": True}  # fmt: skip
    start = {"contact_id": contact.id, "as_of": START.isoformat(), "enrollment": 1,
             "status": "active", "started_at": START.isoformat(), "trigger": trigger}  # fmt: skip
    graph = build_sequence_graph(_decide_sequence(agent))
    result: dict[str, Any] = graph.invoke(
        start, context=Deps(events=store, clock=VirtualClock(START))
    )
    return result


def test_decide_lets_the_agent_pick_the_branch_and_records_why() -> None:
    sam = SAMPLE_ATTENDEES[1].contact.model_copy(update={"id": "sam"})
    state = _decide_run(sam)
    (choice,) = [d for d in state["decisions"] if d["rule"] == "d:next"]
    assert choice["reason"].startswith("send_followup: ") and choice["evidence"] == ["call"]
    assert [a["payload"]["template"] for a in state["actions"]] == ["written", "after"]
    assert "month-end reporting takes two days" in state["actions"][0]["payload"]["body"]


def test_decide_then_the_policy_check_may_change_the_branch() -> None:
    from gtmflow.agents.next_action import NextBestAction
    from gtmflow.testing import ScriptedChatModel

    gone = SAMPLE_ATTENDEES[1].contact.model_copy(
        update={"id": "x", "subscription": "unsubscribed"}
    )
    brain = ScriptedChatModel(script=[{"action": "send_followup", "rationale": "asked for it",
                                       "confidence": 0.9, "evidence": []}])  # fmt: skip
    agent = NextBestAction(allowed=("send_followup", "alert_sales", "no_action"), brain=brain)
    state = _decide_run(gone, agent)
    (choice,) = [d for d in state["decisions"] if d["rule"] == "d:next"]
    assert choice["reason"].startswith("no_action: ") and "unsubscribed" in choice["reason"]
    assert "brain chose 'send_followup'" in choice["reason"]
    assert [a["payload"]["template"] for a in state["actions"]] == ["after"]


def test_without_a_readable_transcript_the_writer_reads_the_contact_memory(ws: Workspace) -> None:
    from gtmflow.agents.transcript_analyst import TranscriptAnalyst
    from gtmflow.tools.transcripts import parse_transcript

    transcript = parse_transcript(CALL, seller_company=SELLER, transcript_id="t-7").transcript
    insights = TranscriptAnalyst(own_names=[SELLER]).analyze(transcript)
    ws.events.write_contacts([SAMPLE_ATTENDEES[1].contact.model_copy(update={"id": "sam"})])
    ws.library.remember_transcript(  # what an earlier analysis (the follow-up graph's) kept
        "sam", "t-7", insights.memory_lines(), details=insights.model_dump(mode="json")
    )
    _event(ws, "m-1", "meeting_held", START, "sam", transcript_id="t-7")  # no folder to read
    ws.run(as_of=START, progress=False)
    ws.tick(START, progress=False)
    (email,) = _emails(ws, "sam")
    assert "month-end reporting takes two days" in email.action.payload["body"]
    (wrote,) = [d for d in ws.decisions.for_contact("sam") if d.rule == "recap:r1"]
    assert "the contact's memory of transcript 't-7'" in wrote.reason


KILLED_AFTER_WRITING = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timedelta
    import gtmflow.graphs._sequence_agents as agents
    from gtmflow import VirtualClock, Workspace
    def killed(*args, **kwargs):
        os._exit(9)  # the process dies after the model wrote the draft, before any send
    agents.check_decision = killed
    at = datetime.fromisoformat(sys.argv[2])
    with Workspace.open(sys.argv[1], clock=VirtualClock(at)) as ws:
        ws.outbox.lease = timedelta(0)  # the enroll's lease has run out by the next tick
        ws.tick(at, progress=False)
""")


def test_a_killed_process_never_writes_the_draft_again(tmp_path: Path) -> None:
    import subprocess
    import sys

    for name, text in (("gtmflow.toml", TOML), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as ws:
        ws.events.write_contacts([SAMPLE_ATTENDEES[1].contact.model_copy(update={"id": "sam"})])
        _event(ws, "call-1", "call_completed", START, "sam", transcript=CALL)
        ws.run(as_of=START, progress=False)
    args = [sys.executable, "-c", KILLED_AFTER_WRITING, str(tmp_path), START.isoformat()]
    assert subprocess.run(args, capture_output=True, timeout=300).returncode == 9
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as ws:
        assert _model_calls(ws) == 1 and ws.approvals.list() == []
        ws.tick(START + timedelta(minutes=5), progress=False)  # the next tick finishes the step
        (request,) = ws.approvals.list()
        assert _model_calls(ws) == 1  # read back from the checkpoint, not written again
        ws.approve(request.id, by="ana")
        ws.tick(START + timedelta(minutes=10), progress=False)
        assert [r.action.payload["template"] for r in _emails(ws)] == ["a1"]


def test_nul_characters_in_what_they_said_never_stop_a_journey_on_either_backend(
    tmp_path: Path, store_backend: str
) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000 (LangGraph's saver keeps a string channel in
    jsonb); a NUL in a transcript or a webinar title must not fail the run on either backend, and
    never reaches an email."""
    for name, text in (("gtmflow.toml", TOML), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as ws:
        ws.events.write_contacts([PRIYA.contact])
        ws.events.write_contacts([SAMPLE_ATTENDEES[1].contact.model_copy(update={"id": "sam"})])
        _event(ws, "w-priya", "webinar_attended", START, PRIYA.contact.id,
               webinar=WEBINAR.replace(" ", " \x00", 1), webinar_id="wb-1",
               transcript=PRIYA.qa.replace(". ", ".\x00 "))  # fmt: skip
        _event(ws, "call-1", "call_completed", START, "sam", transcript=CALL.replace(":", ":\x00"))

        report = ws.run(as_of=START, progress=False)
        ws.tick(START + timedelta(days=11), progress=False)

        assert not report.errors
        (request,) = ws.approvals.list()  # sam's AI-written email waits for a person
        assert "\x00" not in json.dumps(request.payload).replace("\\u0000", "\x00")
        emails = [r.action.payload for r in _emails(ws, PRIYA.contact.id)]
        assert [e["template"] for e in emails] == ["w1", "w2-quiet", "w3"]
        assert "your CFO doesn't trust the attribution numbers" in emails[0]["body"]
        assert WEBINAR in emails[0]["body"]  # the title, its NUL dropped
        assert all("\x00" not in e["subject"] + e["body"] for e in emails)
