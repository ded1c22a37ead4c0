"""The follow-up graph in a real workspace: triggers, decisions, drafts, outbox, replays, policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow import Workspace
from gtmflow.agents.content_writer import ContentWriter
from gtmflow.agents.next_action import NextBestAction
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.errors import ConfigError
from gtmflow.examples.sample_transcripts import SAMPLE_CALLS, SELLER, write_sample_transcripts
from gtmflow.graphs.followup import build_followup_graph
from gtmflow.models import Contact, Event
from gtmflow.testing import ScriptedChatModel
from gtmflow.tools.transcripts import TranscriptFolder

SNAPSHOT = Path(__file__).parent / "snapshots" / "followup.mmd"
AS_OF = max(c.occurred_at for c in SAMPLE_CALLS) + timedelta(days=1)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def event(id: str, type: str, contact: str, when: datetime, **properties: Any) -> Event:
    return Event(id=id, type=type, contact_id=contact, timestamp=when, properties=properties)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    write_sample_transcripts(tmp_path / "transcripts")
    with Workspace.open(tmp_path) as workspace:
        workspace.events.write_contacts([c.contact for c in SAMPLE_CALLS])
        workspace.events.write_events(
            [
                event(
                    f"ev-{c.id}",
                    "call_completed",
                    c.contact.id,
                    c.occurred_at + timedelta(hours=1),
                    transcript_id=c.id,
                )
                for c in SAMPLE_CALLS
            ]
        )
        yield workspace


def graph(ws: Workspace, **agents: Any) -> Any:
    agents.setdefault("analyst", TranscriptAnalyst(embeddings="off", own_names=[SELLER]))
    folder = TranscriptFolder(ws.root / "transcripts", seller_company=SELLER)
    return build_followup_graph(transcripts=folder, **agents)


def by_contact(ws: Workspace) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for record in ws.outbox.records():
        out.setdefault(record.action.contact_id, []).append(record.action)
    return out


def test_calls_become_grounded_followups_in_the_outbox(ws: Workspace) -> None:
    report = ws.run(graph(ws), as_of=AS_OF, progress=False)
    assert report.contacts == 4
    assert report.by_rule == {"followup:create_task": 1, "followup:send_followup": 2}
    actions = by_contact(ws)
    acme = actions["c-acme-sam"][0]
    assert acme.kind == "send_email" and acme.payload["to"] == "sam.patel@acme.example"
    assert (
        acme.payload["author"] == "template" and acme.payload["trigger"] == "ev-call-acme-discovery"
    )
    assert "your weekly operations report is a mess" in acme.payload["body"]  # said back
    assert all(c["supported"] for c in acme.payload["claims"])
    assert "c-cobalt-raj" not in actions  # unsubscribed: no email, nothing to do
    task = actions["c-dynamo-kim"][0]
    assert task.kind == "create_task"  # the injection call goes to a person
    for action in (a for group in actions.values() for a in group):
        addresses = set(EMAIL.findall(str(action.payload)))
        contact = ws.events.contact(action.contact_id)
        assert contact is not None and addresses <= {contact.email}


def test_each_decision_is_recorded_with_its_reason(ws: Workspace) -> None:
    ws.run(graph(ws), as_of=AS_OF, progress=False)
    rules = ws.explain("c-cobalt-raj")["rules"]
    assert rules[0]["rule"] == "followup:decide" and not rules[0]["fired"]
    assert rules[0]["evidence"] == ["ev-call-cobalt-stalled"]
    assert "cannot be emailed (unsubscribed)" in rules[0]["reason"]
    injected = ws.explain("c-dynamo-kim")["rules"][0]
    assert injected["reason"].startswith("create_task: The transcript contains instructions")


def test_replays_add_nothing_and_a_new_trigger_gets_its_own_followup(ws: Workspace) -> None:
    g = graph(ws)
    ws.run(g, as_of=AS_OF, progress=False)
    assert ws.run(g, as_of=AS_OF, progress=False).actions == 0
    later = AS_OF + timedelta(days=3)
    ws.events.write_events(
        [
            event(
                "ev-webinar",
                "webinar_attended",
                "c-acme-sam",
                later - timedelta(hours=2),
                webinar="Ops reporting 101",
            )
        ]
    )
    report = ws.run(g, as_of=later, progress=False)
    assert report.actions == 1
    emails = [a for a in by_contact(ws)["c-acme-sam"] if a.payload.get("trigger") == "ev-webinar"]
    assert emails[0].payload["subject"] == "Thanks for joining Ops reporting 101"


def test_llm_brains_with_policy_after_every_decision(ws: Workspace) -> None:
    decider = NextBestAction(
        brain=ScriptedChatModel(
            script=[{"action": "send_followup", "rationale": "Email them.", "confidence": 0.9}],
            repeat_last=True,
        )
    )
    writer = ContentWriter(
        brain=ScriptedChatModel(
            script=[
                {
                    "subject": "Hi",
                    "greeting": "Hi,",
                    "sign_off": "Dana",
                    "sentences": [{"text": "Thanks for the call.", "source": "none"}],
                }
            ],
            repeat_last=True,
        )
    )
    ws.run(graph(ws, decider=decider, writer=writer), as_of=AS_OF, progress=False)
    actions = by_contact(ws)
    assert actions["c-acme-sam"][0].payload["author"] == "ai"  # the governor's approval applies
    assert "c-cobalt-raj" not in actions  # the model chose to email; policy said no
    assert actions["c-dynamo-kim"][0].kind == "create_task"  # injection: review, not send
    reason = ws.explain("c-cobalt-raj")["rules"][0]["reason"]
    assert "brain chose 'send_followup'" in reason and "unsubscribed" in reason


def test_the_graph_diagram_matches_its_snapshot() -> None:
    drawn = build_followup_graph(analyst=TranscriptAnalyst(embeddings="off")).get_graph()
    text = drawn.draw_mermaid()
    if not SNAPSHOT.exists():
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def test_wiring_mistakes_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        build_followup_graph(
            decider=NextBestAction(allowed=("no_action",)),
            allowed=("send_followup", "no_action"),
            triggers=("page_view",),
        )
    assert "allowed differs" in str(info.value) and "triggers ['page_view']" in str(info.value)


def test_insights_are_written_to_the_contacts_memory(ws: Workspace) -> None:
    ws.run(graph(ws), as_of=AS_OF, progress=False)
    notes = ws.context.notes("c-acme-sam")
    assert notes and all(n.metadata["contact_id"] == "c-acme-sam" for n in notes)
    assert any("pain:" in n.text for n in notes)
    again = ws.context.counts()
    ws.run(graph(ws), as_of=AS_OF + timedelta(hours=1), progress=False)
    assert ws.context.counts() == again  # one note per transcript: a replay adds nothing
    hits = ws.context.for_contact("c-acme-sam", "what is hurting their reporting?", k=1)
    assert hits and hits[0].source_id


def test_contacts_without_a_trigger_event_are_not_invoked(ws: Workspace) -> None:
    ws.events.write_events(
        [Event(id="pv", type="page_view", contact_id="c-visitor", timestamp=AS_OF)]
    )
    report = ws.run(graph(ws), as_of=AS_OF, progress=False)
    assert report.contacts == 4  # the four callers; the page viewer has no call or webinar


STALLED_CALL = """Dana Reyes (Account Executive, Northwind): Thanks for the time today, Lee.
Lee Chen (Head of Finance, Orbit): Our month-end close takes nine days because it all lives in \
spreadsheets.
Lee Chen (Head of Finance, Orbit): Honestly this is not the right time, we are mid ERP migration.
"""


@pytest.fixture
def lee(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace with one contact whose call ends in a timing objection."""
    with Workspace.open(tmp_path / "lee") as workspace:
        workspace.events.write_contacts([Contact(id="c-lee", email="lee@orbit.example")])
        workspace.events.write_events(
            [
                event(
                    "ev-call-lee",
                    "call_completed",
                    "c-lee",
                    AS_OF - timedelta(hours=1),
                    transcript=STALLED_CALL,
                )
            ]
        )
        yield workspace


def waiting_graph(decider: NextBestAction | None = None) -> Any:
    return build_followup_graph(
        analyst=TranscriptAnalyst(embeddings="off", own_names=["Northwind"]),
        decider=decider or NextBestAction(allowed=("send_followup", "create_task", "wait:14d")),
    )


def test_a_wait_is_a_durable_timer_after_which_the_graph_decides_again(lee: Workspace) -> None:
    reply = {"rationale": "They asked for time.", "confidence": 0.6}
    model = ScriptedChatModel(
        script=[reply | {"action": "wait:14d"}, reply | {"action": "send_followup"}]
    )
    g = waiting_graph(NextBestAction(brain=model, allowed=("send_followup", "wait:14d")))
    assert lee.run(g, as_of=AS_OF, progress=False).actions == 0
    (timer,) = lee.scheduler.pending(contact_id="c-lee")
    assert (timer.graph, timer.due_at) == ("followup", AS_OF + timedelta(days=14))
    assert "decide again at" in lee.explain("c-lee")["rules"][0]["reason"]

    assert lee.run(g, as_of=AS_OF + timedelta(days=5), progress=False).contacts == 0
    assert lee.tick(AS_OF + timedelta(days=20), progress=False).get("resumed", 0) == 0
    assert lee.scheduler.pending(contact_id="c-lee") == [timer]  # tick leaves graph timers

    report = lee.run(g, as_of=AS_OF + timedelta(days=15), progress=False)
    assert (report.contacts, report.by_rule) == (1, {"followup:send_followup": 1})
    (email,) = by_contact(lee)["c-lee"]
    assert email.payload["trigger"] == "ev-call-lee"
    assert "month-end close" in email.payload["body"]  # the insights kept from the first pass
    assert lee.scheduler.pending() == [] and len(model.calls) == 2
    second_prompt = str(model.calls[1])
    assert "wait:14d" not in second_prompt  # after a wait, waiting again is not on offer
    assert "since the trigger" in second_prompt
    assert lee.run(g, as_of=AS_OF + timedelta(days=40), progress=False).contacts == 0


def test_a_reply_during_the_wait_goes_to_a_person(lee: Workspace) -> None:
    g = waiting_graph()
    lee.run(g, as_of=AS_OF, progress=False)
    assert [w.reason for w in lee.scheduler.pending()] == ["wait:14d after ev-call-lee"]
    replied = Event(
        id="re-1", type="email_replied", contact_id="c-lee", timestamp=AS_OF + timedelta(days=3)
    )
    lee.events.write_events([replied])
    lee.run(g, as_of=AS_OF + timedelta(days=14), progress=False)
    (task,) = by_contact(lee)["c-lee"]
    assert task.kind == "create_task"
    reason = lee.explain("c-lee")["rules"][-1]["reason"]
    assert "replied on" in reason and "decided again after wait:14d" in reason


def test_a_new_trigger_during_the_wait_replaces_it(lee: Workspace) -> None:
    g = waiting_graph()
    lee.run(g, as_of=AS_OF, progress=False)
    webinar = event(
        "ev-webinar-lee",
        "webinar_attended",
        "c-lee",
        AS_OF + timedelta(days=2),
        webinar="Faster month-end close",
    )
    lee.events.write_events([webinar])
    lee.run(g, as_of=AS_OF + timedelta(days=2, hours=1), progress=False)
    assert lee.scheduler.pending() == []
    (email,) = by_contact(lee)["c-lee"]
    assert email.payload["trigger"] == "ev-webinar-lee"
    assert lee.run(g, as_of=AS_OF + timedelta(days=20), progress=False).actions == 0


def test_followups_recommend_the_workspaces_library_without_wiring(ws: Workspace) -> None:
    from gtmflow.examples.sample_content import sample_content_items

    ws.run(graph(ws), as_of=AS_OF, progress=False)  # no library yet: nothing to recommend
    before = by_contact(ws)["c-acme-sam"][0].payload["claims"]
    assert not [c for c in before if c["source"] == "content"]

    ws.context.upsert_content(sample_content_items())
    later = AS_OF + timedelta(days=1)
    ws.events.write_events(
        [
            event(
                "ev-call-acme-2",
                "call_completed",
                "c-acme-sam",
                later - timedelta(hours=1),
                transcript_id=SAMPLE_CALLS[0].id,
            )
        ]
    )
    ws.run(graph(ws), as_of=later, progress=False)
    email = next(
        a for a in by_contact(ws)["c-acme-sam"] if a.payload["trigger"] == "ev-call-acme-2"
    )
    cited = [c for c in email.payload["claims"] if c["source"] == "content"]
    assert cited and all(c["supported"] for c in cited)
    assert cited[0]["ref"].split("#")[0] in {item.id for item in sample_content_items()}


def test_a_call_whose_transcript_is_missing_is_decided_without_it_and_says_so(
    ws: Workspace,
) -> None:
    ws.events.write_events(
        [
            event(
                "ev-call-lost",
                "call_completed",
                "c-acme-sam",
                AS_OF - timedelta(minutes=5),
                transcript_id="no-such-call",
            )
        ]
    )
    ws.run(graph(ws), as_of=AS_OF, progress=False)
    reasons = [r["reason"] for r in ws.explain("c-acme-sam")["rules"]]
    assert any("transcript 'no-such-call' not found: decided without it" in r for r in reasons)
