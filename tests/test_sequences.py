"""Sequences on a virtual clock: sends, waits, branches, exits, re-enrollment, approvals."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow import VirtualClock, Workspace
from gtmflow.errors import ConfigError
from gtmflow.models import Event
from gtmflow.tools._database import StoreTarget
from gtmflow.tools.delivery.scheduler import Scheduler

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning

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
    p.Rule("start", when=p.event("signup"), then=p.enroll("onboarding"), cooldown="1d"),
    p.Rule("ai", when=p.event("call_completed"), then=p.enroll("ai-followup")),
]
"""
SEQUENCES = """
from gtmflow import pipes as p
from gtmflow.graphs.sequences import Sequence, branch, send, wait, wait_for
SEQUENCES = [
    Sequence("onboarding", steps=[
        send("welcome", subject="Welcome {first_name}", body="Hello from {company}"),
        wait("3d"),
        branch(p.event("email_open", within="3d"),
               then=[send("engaged", subject="Next steps", body="...")],
               otherwise=[send("resend", subject="Did you see this?", body="...")]),
        wait_for("demo_requested", timeout="7d",
                 on_timeout=[send("nudge", subject="Want a demo?", body="...")]),
        send("last", subject="One more thing", body="..."),
    ], exit_when=p.event("meeting_booked") | p.event("email_replied"),
       reenroll="after_cooldown", cooldown="30d"),
    Sequence("ai-followup", steps=[
        send("draft", subject="Following up on our call", body="You said ...", author="ai"),
        wait("2d"),
        send("bump", subject="Any thoughts?", body="..."),
    ], exit_when=p.event("email_replied")),
]
"""


@pytest.fixture
def ws(tmp_path: Path, store_backend: str) -> Iterator[Workspace]:
    for name, text in (("gtmflow.toml", TOML), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as workspace:
        yield workspace


def _event(ws: Workspace, id: str, type: str, when: datetime, contact: str = "c") -> None:
    ws.events.write_events([Event(id=id, type=type, contact_id=contact, timestamp=when)])


def _start(ws: Workspace, contact: str = "c", trigger: str = "signup") -> None:
    _event(ws, f"{trigger}-{contact}", trigger, START, contact)
    ws.run(as_of=START, progress=False)


def _sent(ws: Workspace) -> list[str]:
    return [
        r.action.payload["template"] for r in ws.outbox.records(status="sent", kinds=["send_email"])
    ]


def test_sequence_sends_waits_and_branches_on_time(ws: Workspace) -> None:
    _start(ws)
    ws.tick(START, progress=False)
    assert _sent(ws) == ["welcome"]
    ws.tick(START + timedelta(days=2, hours=23), progress=False)
    assert _sent(ws) == ["welcome"]  # the wait holds
    _event(ws, "o1", "email_open", START + timedelta(days=1))
    ws.tick(START + timedelta(days=3), progress=False)
    assert _sent(ws) == ["welcome", "engaged"]  # opened within 3 days: engaged branch
    ws.tick(START + timedelta(days=10, hours=1), progress=False)
    assert _sent(ws) == ["welcome", "engaged", "nudge", "last"]  # no demo in 7 days: timeout path
    state = ws.enrollments.graph("onboarding").get_state(
        {"configurable": {"thread_id": "sequence:onboarding:c"}}
    )
    assert state.values["status"] == "completed"
    assert ws.scheduler.pending() == []


def test_awaited_event_resumes_at_once_and_skips_the_timeout_branch(ws: Workspace) -> None:
    _start(ws)
    ws.tick(START + timedelta(days=3), progress=False)
    assert _sent(ws) == ["welcome", "resend"]
    _event(ws, "d1", "demo_requested", START + timedelta(days=4))
    ws.tick(START + timedelta(days=4, hours=1), progress=False)
    assert _sent(ws) == ["welcome", "resend", "last"]


def test_exit_event_leaves_at_once_and_cancels_the_wait(ws: Workspace) -> None:
    _start(ws)
    ws.tick(START + timedelta(hours=1), progress=False)
    assert len(ws.scheduler.pending(contact_id="c")) == 1
    _event(ws, "m1", "meeting_booked", START + timedelta(days=1))
    ws.tick(START + timedelta(days=30), progress=False)
    assert _sent(ws) == ["welcome"]
    assert ws.scheduler.pending(contact_id="c") == []
    verdict = [d for d in ws.decisions.for_contact("c") if d.rule == "onboarding:exited"]
    assert verdict and verdict[0].evidence == ("m1",)


def test_reenrollment_policy(ws: Workspace) -> None:
    _start(ws)
    ws.tick(START + timedelta(days=1), progress=False)
    _event(ws, "signup-2", "signup", START + timedelta(days=2))  # rule cooldown 1d: fires again
    ws.run(as_of=START + timedelta(days=2), progress=False)
    ws.tick(START + timedelta(days=2), progress=False)
    refused = [r for r in ws.outbox.records(kinds=["enroll"]) if r.status == "cancelled"]
    assert [r.note for r in refused] == ["already enrolled in 'onboarding'"]


def test_waits_survive_a_restart(ws: Workspace, tmp_path: Path) -> None:
    _start(ws)
    ws.tick(START, progress=False)
    ws.close()
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as again:
        assert [w.reason for w in again.scheduler.pending()] == ["wait (step 2)"]
        again.tick(START + timedelta(days=3), progress=False)
        assert _sent(again) == ["welcome", "resend"]


def test_ai_draft_waits_for_approval_bound_to_its_payload(ws: Workspace) -> None:
    _start(ws, trigger="call_completed")
    ws.tick(START, progress=False)
    assert _sent(ws) == []
    (request,) = ws.approvals.list()
    assert request.payload["subject"] == "Following up on our call"
    edited = request.payload | {"body": "You said onboarding took too long. Here is how ..."}
    ws.approve(request.id, by="ana", edit=edited)
    ws.tick(START + timedelta(minutes=1), progress=False)
    (sent,) = ws.outbox.records(status="sent", kinds=["send_email"])
    assert sent.action.payload["body"].startswith("You said onboarding took too long")
    assert sent.action.payload["approval"]["by"] == "ana"
    with pytest.raises(ConfigError, match="already approved"):
        ws.approve(request.id)


def test_rejected_draft_is_never_sent_and_the_sequence_goes_on(ws: Workspace) -> None:
    _start(ws, trigger="call_completed")
    ws.tick(START, progress=False)
    (request,) = ws.approvals.list()
    ws.reject(request.id)
    ws.tick(START + timedelta(days=2), progress=False)
    assert _sent(ws) == ["bump"]


def test_reply_supersedes_pending_drafts_and_cancels_follow_ups(ws: Workspace) -> None:
    _start(ws, trigger="call_completed")
    _start(ws, contact="d")  # onboarding for another contact is not touched
    ws.tick(START, progress=False)
    (request,) = ws.approvals.list()
    _event(ws, "r1", "email_replied", START + timedelta(hours=2))
    ws.tick(START + timedelta(days=5), progress=False)
    assert ws.approvals.get(request.id).status == "superseded"  # type: ignore[union-attr]
    assert "draft" not in _sent(ws) and "bump" not in _sent(ws)
    assert "welcome" in _sent(ws)


def test_scheduler_keeps_one_pending_wait_per_thread(ledger_target: StoreTarget) -> None:
    s = Scheduler(ledger_target)
    s.schedule(graph="g", contact_id="c", thread_id="g:c", due_at=START, reason="first")
    s.schedule(
        graph="g", contact_id="c", thread_id="g:c", due_at=START + timedelta(1), reason="second"
    )
    assert [w.reason for w in s.pending()] == ["second"]
    assert s.due(START) == []
    assert s.next_due() == START + timedelta(1)
    assert s.cancel(thread_id="g:c", note="exit") == 1
    assert s.pending() == [] and s.next_due() is None
