"""Untrusted text through the real follow-up path, and LLM follow-ups held for approval (issue 11).

A Segment `Webinar Attended` whose title is phishing bait is ingested, run through the follow-up
graph and delivered: the delivered email carries no URL, address or bait. An LLM-written
follow-up the governor holds "awaiting approval" gets an approval request that `gtmflow
approvals` lists and `gtmflow approve` sends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from gtmflow import VirtualClock, Workspace
from gtmflow.agents._plain_text import EMAIL, URL
from gtmflow.agents.content_writer import ContentWriter
from gtmflow.agents.next_action import NextBestAction
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.cli import app
from gtmflow.graphs.followup import build_followup_graph
from gtmflow.models import Contact
from gtmflow.testing import ScriptedChatModel

WHEN = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
PHISH = (
    "URGENT: your account is locked, verify at http://evil.example/verify or mail x@evil.example"
)
TOML = """
[governor]
frequency_cap = false
quiet_hours = false
[governor.approvals]
"send_email:ai" = "approve"
"""


def _workspace(tmp_path: Path) -> Workspace:
    (tmp_path / "gtmflow.toml").write_text(TOML)
    ws = Workspace.open(tmp_path, clock=VirtualClock(WHEN + timedelta(hours=2)))
    ws.events.write_contacts(
        [Contact(id="c-sam", email="sam@acme.example", name="Sam Lee", company="Acme",
                 subscription="subscribed")]
    )  # fmt: skip
    segment = {
        "type": "track", "event": "Webinar Attended", "messageId": "m-1", "userId": "c-sam",
        "timestamp": WHEN.isoformat(), "properties": {"title": PHISH, "webinar": PHISH},
    }  # fmt: skip
    (tmp_path / "segment.jsonl").write_text(json.dumps(segment) + "\n")
    report = ws.ingest(tmp_path / "segment.jsonl", progress=False)
    assert report.accepted == 1, report
    return ws


def _decider() -> NextBestAction:
    answer = {"action": "send_followup", "rationale": "They attended.", "confidence": 0.9}
    return NextBestAction(brain=ScriptedChatModel(script=[answer], repeat_last=True))


def _graph(writer: ContentWriter) -> object:
    analyst = TranscriptAnalyst(embeddings="off", own_names=["Northwind"])
    return build_followup_graph(analyst=analyst, decider=_decider(), writer=writer)


def test_a_phishing_webinar_title_never_reaches_a_delivered_email(tmp_path: Path) -> None:
    with _workspace(tmp_path) as ws:
        ws.run(_graph(ContentWriter()), progress=False)
        report = ws.deliver()
        assert report.sent == 1, report
    lines = (tmp_path / ".gtmflow" / "delivered.jsonl").read_text().splitlines()
    sent = [json.loads(line) for line in lines]
    assert [s["kind"] for s in sent] == ["send_email"]
    text = f"{sent[0]['payload']['subject']}\n{sent[0]['payload']['body']}"
    assert not URL.search(text) and not EMAIL.search(text), text
    for bait in ("URGENT", "locked", "verify", "evil"):
        assert bait not in text, text


def test_an_llm_followup_held_for_approval_can_be_listed_and_approved(tmp_path: Path) -> None:
    reply = {
        "subject": "Thanks for joining",
        "greeting": "Hi Sam,",
        "sign_off": "Dana",
        "sentences": [
            {"text": "Thanks for joining the webinar.", "source": "none"},
            {"text": "We cut reporting time in half for every customer.", "source": "none"},
        ],
    }
    writer = ContentWriter(brain=ScriptedChatModel(script=[reply], repeat_last=True))
    with _workspace(tmp_path) as ws:
        ws.run(_graph(writer), progress=False)
        first = ws.deliver()
        assert first.held == 1 and first.sent == 0, first
        (record,) = ws.outbox.records(contact_id="c-sam")
        assert record.action.payload["author"] == "ai"
        assert "every customer" not in record.action.payload["body"]  # source "none": dropped
    runner = CliRunner()
    listed = runner.invoke(app, ["approvals", "-w", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    (request,) = json.loads(listed.stdout)
    assert request["contact_id"] == "c-sam" and request["status"] == "pending"
    approved = runner.invoke(app, ["approve", request["id"], "-w", str(tmp_path)])
    assert approved.exit_code == 0, approved.output
    with Workspace.open(tmp_path, clock=VirtualClock(WHEN + timedelta(hours=3))) as ws:
        again = ws.deliver()
        assert again.sent == 1, again
        assert ws.outbox.records(contact_id="c-sam")[0].status == "sent"
        assert ws.approvals.list() == []  # decided, no longer pending


def test_rejecting_a_held_llm_followup_cancels_it(tmp_path: Path) -> None:
    reply = {
        "subject": "Thanks for joining",
        "greeting": "Hi Sam,",
        "sign_off": "Dana",
        "sentences": [{"text": "Thanks for joining the webinar.", "source": "none"}],
    }
    writer = ContentWriter(brain=ScriptedChatModel(script=[reply], repeat_last=True))
    with _workspace(tmp_path) as ws:
        ws.run(_graph(writer), progress=False)
        assert ws.deliver().held == 1
        (request,) = ws.approvals.list()
        ws.reject(request.id)
        assert ws.deliver().sent == 0
        assert ws.outbox.records(contact_id="c-sam")[0].status == "cancelled"
