"""Agent steps of a sequence: `write` (the ContentWriter at send time) and `decide` (NBA).

A `write` step runs in two passes of its node. The first writes the draft and returns it under
the step's idempotency key; the graph loops back to the node (the `written` edge), so the draft
is in the step's checkpoint (`durability="sync"`) before the second pass checks the policy,
asks a person to approve it (LangGraph `interrupt`) and emits the action. An approval that
resumes the node, a crash (even SIGKILL) between writing and sending, or a replay of the step
read the kept draft back: the model never writes it twice, and an approval binds that exact
draft. The kept draft then says what became of it (queued, not approved, blocked), so later
steps know what the enrollment already said (never repeat a quote, pain or piece).

The next-best-action agent of a `decide` step runs as a LangGraph task, so a node that runs
again after an error reads its choice back from the checkpoint.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from langgraph.func import task
from langgraph.runtime import Runtime

from gtmflow.agents.content_writer import ContentWriter, Draft, Occasion
from gtmflow.agents.insights import TranscriptInsights
from gtmflow.agents.next_action import Decision, NextBestAction
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.models import Contact, Event, Transcript
from gtmflow.policy import check_decision
from gtmflow.tools.deps import Deps
from gtmflow.tools.transcripts import parse_transcript

from gtmflow.graphs._sequence_steps import StepContext, approve, halted  # isort: skip
from gtmflow.graphs.sequences import Decide, Placed, Sequence, SequenceState, Write  # isort: skip

__all__ = ["ACTIVITY_EVENTS", "DecideNode", "WriteNode"]

ACTIVITY_EVENTS = ("email_open", "email_click", "page_view", "content_download")
"""What a contact did between two emails that the next one may answer."""
_HISTORY = timedelta(days=90)


def _analyse(
    analyst: TranscriptAnalyst, transcript: Transcript, deps: Deps, contact_id: str, at: str | None
) -> dict[str, Any]:
    """Analyse once; what it revealed also goes to the contact's memory."""
    when = datetime.fromisoformat(at) if at else None
    insights = analyst.analyze(transcript, call_date=when.date() if when else None)
    if deps.memory is not None and insights.memory_lines():
        deps.memory.remember_transcript(
            contact_id, transcript.id, insights.memory_lines(), date=when,
            details=insights.model_dump(mode="json"),
        )  # fmt: skip
    return insights.model_dump(mode="json")


def _decide_once(agent: NextBestAction, contact: Contact, inputs: dict[str, Any]) -> dict[str, Any]:
    """Choose the next action; the policy check runs inside the agent."""
    return agent.decide(contact, **inputs).model_dump(mode="json")


# A task: its result is in the checkpoint, so a node that runs again reads it back.
_decide: Any = task(name="decide_next")(cast(Any, _decide_once))


class _Said:
    """What the contact said: the trigger's transcript, and its insights (analysed once)."""

    def __init__(self, sequence: Sequence, analyst: TranscriptAnalyst, ctx: StepContext) -> None:
        self.seq, self.analyst, self.ctx = sequence, analyst, ctx
        self.trigger: dict[str, Any] = dict(ctx.state.get("trigger") or {})
        self.notes: list[str] = []

    def transcript(self) -> Transcript | None:
        """The trigger's Q&A or call: inline under `transcript`, or a `transcript_id`."""
        text = self._inline()
        if text:
            return parse_transcript(
                text, transcript_id=self.trigger["event_id"], contact_id=self.ctx.contact_id,
                seller_company=self._seller(),
            ).transcript  # fmt: skip
        ident = self.trigger.get("transcript_id")
        if not ident:
            return None
        found = self.seq.transcripts.get(ident) if self.seq.transcripts is not None else None
        if found is None:
            self.notes.append(f"transcript '{ident}' not found: written without it")
        return found

    def insights(self, transcript: Transcript | None) -> dict[str, Any] | None:
        """The enrollment's insights: kept in the state, analysed now (once), or, when the
        sequence cannot read the trigger's transcript, what its analysis left in the contact's
        memory (the follow-up graph's, when it handed the trigger over with `enroll:...`)."""
        kept = self.ctx.state.get("insights")
        if kept is not None:
            return kept
        if transcript is None:
            return self._remembered()
        return _analyse(
            self.analyst, transcript, self.ctx.deps, self.ctx.contact_id, self.trigger.get("at")
        )

    def _remembered(self) -> dict[str, Any] | None:
        ident = self.trigger.get("transcript_id") or self.trigger.get("event_id")
        recall = getattr(self.ctx.deps.memory, "transcript_details", None)
        if not ident or recall is None:
            return None
        details = recall(self.ctx.contact_id, str(ident))
        if details is None:
            return None
        self.notes = [n for n in self.notes if "not found" not in n]
        self.notes.append(f"what they said: the contact's memory of transcript '{ident}'")
        return dict(details)

    def occasion(self) -> Occasion | None:
        """A webinar or a call, from the trigger's type (None: the writer decides)."""
        kind = self.trigger.get("type")
        return "webinar" if kind == "webinar_attended" else "call" if kind else None

    def _inline(self) -> str | None:
        if not self.trigger.get("inline"):
            return None
        events = self.ctx.deps.events.events(
            self.ctx.contact_id, types=[self.trigger["type"]], until=self.ctx.now
        )
        found = next((e for e in events if e.id == self.trigger["event_id"]), None)
        text = found.properties.get("transcript") if found else None
        return text if isinstance(text, str) and text.strip() else None

    def _seller(self) -> str | None:
        company = getattr(self.seq.transcripts, "seller_company", None)
        own = self.analyst.own_names
        return company if isinstance(company, str) else own[0] if own else None


class WriteNode:
    """Node: the ContentWriter writes this step's email now, once; then approval and policy."""

    def __init__(self, sequence: Sequence, placed: Placed) -> None:
        assert isinstance(placed.step, Write)
        self.seq, self.placed, self.step = sequence, placed, placed.step
        self.writer = self.step.writer or sequence.writer or ContentWriter()
        self.analyst = sequence.analyst or TranscriptAnalyst()

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        if halted(state):
            return {"route": "done"}
        ctx = StepContext(self.seq, state, runtime.context)
        if (left := ctx.left()) is not None:
            return left | {"route": "done"}
        key = ctx.key(self.placed.ordinal, self.step.kind)
        kept = (state.get("drafts") or {}).get(key)
        if kept is None:
            return self._write(ctx, key)
        if kept["status"] == "written":
            return self._send(ctx, key, kept)
        return {"route": "done"}  # decided before (queued, refused, blocked): nothing changes

    def _write(self, ctx: StepContext, key: str) -> dict[str, Any]:
        """First pass: write the draft; it is checkpointed under `key` before the second."""
        said = _Said(self.seq, self.analyst, ctx)
        transcript = said.transcript()
        insights = said.insights(transcript)
        raw = self._draft(ctx, said, transcript, insights, _earlier(ctx.state))
        record = {"draft": raw, "sent": False, "status": "written", "at": ctx.now.isoformat(),
                  "notes": said.notes}  # fmt: skip
        return {"insights": insights, "drafts": {key: record}, "route": "written"}

    def _send(self, ctx: StepContext, key: str, kept: dict[str, Any]) -> dict[str, Any]:
        """Second pass: the policy check, a person's approval if needed, then the action."""
        raw, trigger = kept["draft"], dict(ctx.state.get("trigger") or {})
        payload = self._payload(ctx, Draft.model_validate(raw), trigger)
        verdict = check_decision(
            "send_email", contact=ctx.contact, allowed=("send_email",), payload=payload,
            suspicious=bool((ctx.state.get("insights") or {}).get("suspicious_instructions")),
        )  # fmt: skip
        notes = [*kept.get("notes", ()), *verdict.reasons]
        if verdict.outcome == "block":
            return self._kept(ctx, key, raw, "blocked", notes)
        if self._needs_approval(payload, verdict.outcome):
            approved = approve(payload, ctx.thread_id, self.placed.ordinal)
            if approved is None:
                return self._kept(ctx, key, raw, "not approved", notes)
            payload = approved
        action = ctx.action(self.step.kind, payload, self.placed.ordinal)
        return self._kept(ctx, key, raw, "queued", notes) | {"actions": [action]}

    def _draft(
        self,
        ctx: StepContext,
        said: _Said,
        transcript: Transcript | None,
        insights: dict[str, Any] | None,
        earlier: list[Draft],
    ) -> dict[str, Any]:
        inputs: dict[str, Any] = {
            "insights": TranscriptInsights.model_validate(insights) if insights else None,
            "transcript": transcript,
            "topic": said.trigger.get("topic"),
            "content": ctx.deps.content,
            "occasion": said.occasion(),
            "activity": _activity(ctx, _since(ctx.state)),
            "earlier": earlier,
            "step": len(earlier) + 1,
        }
        return self.writer.followup(ctx.contact, **inputs).model_dump(mode="json")

    def _payload(self, ctx: StepContext, draft: Draft, trigger: dict[str, Any]) -> dict[str, Any]:
        author = "ai" if draft.run and draft.run.produced_by == "llm" else "template"
        return {
            "template": self.placed.name, "to": ctx.contact.email, "subject": draft.subject,
            "body": draft.body, "author": author, "sequence": self.seq.name,
            "trigger": trigger.get("event_id"), "webinar": trigger.get("topic"),
            "step": draft.step, "angle": draft.angle,
            "claims": [c.model_dump(mode="json") for c in draft.claims],
            "removed": list(draft.removed),
        }  # fmt: skip

    def _needs_approval(self, payload: dict[str, Any], outcome: str) -> bool:
        rule, by_model = self.step.approval, payload["author"] == "ai"
        return outcome == "review" or rule == "always" or (rule == "ai" and by_model)

    def _kept(
        self, ctx: StepContext, key: str, raw: dict[str, Any], status: str, notes: list[str]
    ) -> dict[str, Any]:
        """The draft kept under its key, and the decision that says what became of it."""
        sent = status == "queued"
        reason = f"{status}: step {raw.get('step')} ({raw.get('angle')}) '{raw.get('subject')}'"
        reason += "".join(f"; {n}" for n in notes)
        trigger = (ctx.state.get("trigger") or {}).get("event_id")
        decision = ctx.decision(
            self.placed, fired=sent, reason=reason, evidence=[trigger] if trigger else []
        )
        record = {"draft": raw, "sent": sent, "status": status, "at": ctx.now.isoformat()}
        return {"drafts": {key: record}, "decisions": [decision], "route": "done"}


class DecideNode:
    """Node: the next-best-action agent picks the branch among the options, then the policy."""

    def __init__(self, sequence: Sequence, placed: Placed) -> None:
        assert isinstance(placed.step, Decide)
        self.seq, self.placed, self.step = sequence, placed, placed.step
        self.agent = self.step.agent or NextBestAction(allowed=self.step.allowed)
        self.analyst = sequence.analyst or TranscriptAnalyst()
        self.otherwise = "no_action" if "no_action" in self.step.allowed else "continue"

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        if halted(state):
            return {"route": self.otherwise}
        ctx = StepContext(self.seq, state, runtime.context)
        if (left := ctx.left()) is not None:
            return left | {"route": self.otherwise}
        said = _Said(self.seq, self.analyst, ctx)
        insights = said.insights(said.transcript())
        trigger = said.trigger
        at = trigger.get("at")
        inputs: dict[str, Any] = {
            "insights": TranscriptInsights.model_validate(insights) if insights else None,
            "history": ctx.deps.events.events(
                ctx.contact_id, since=ctx.now - _HISTORY, until=ctx.now
            ),
            "score": ctx.deps.score(ctx.contact_id) if ctx.deps.score else None,
            "trigger": trigger.get("type", "enroll"),
            "now": ctx.now,
            "since": datetime.fromisoformat(at) if at else None,
        }
        decision = Decision.model_validate(_decide(self.agent, ctx.contact, inputs).result())
        label = decision.action if decision.action in self.step.allowed else self.otherwise
        why = f"{label}: {decision.rationale}"
        if decision.action != decision.decided:
            why += f" (brain chose '{decision.decided}'; policy: "
            why += "; ".join(decision.policy.get("reasons", [])) + ")"
        evidence = [trigger["event_id"]] if trigger.get("event_id") else []
        record = ctx.decision(self.placed, fired=True, reason=why, evidence=evidence)
        return {"route": label, "decisions": [record], "insights": insights}


def _earlier(state: SequenceState) -> list[Draft]:
    """The enrollment's emails sent before this step, oldest first."""
    drafts = (state.get("drafts") or {}).values()
    return [Draft.model_validate(d["draft"]) for d in drafts if d["sent"]]


def _since(state: SequenceState) -> datetime:
    """When the last email went out (or the enrollment started)."""
    drafts = [d for d in (state.get("drafts") or {}).values() if d["sent"]]
    last = drafts[-1]["at"] if drafts else state.get("started_at")
    return datetime.fromisoformat(last) if last else datetime.fromisoformat(str(state["as_of"]))


def _activity(ctx: StepContext, since: datetime) -> list[Event]:
    """Opens, clicks, page views and downloads since the last email."""
    events = ctx.deps.events.events(
        ctx.contact_id, types=list(ACTIVITY_EVENTS), since=since, until=ctx.now
    )
    return [e for e in events if e.timestamp > since]
