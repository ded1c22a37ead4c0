"""The follow-up graph: a finished call or an attended webinar becomes a grounded follow-up.

```
START → find_trigger ─(new trigger?)─ no ─────────────────────────────→ END
                      ├ yes → analyse → decide ─(send_followup?)─ yes → write → emit → END
                      └ wait over ────→ decide   └ no ───────────────────────→ emit → END
```

A trigger is a `call_completed` event whose properties name a transcript (`transcript_id`, read
from the injected `transcripts` source, or the text inline under `transcript`) or a
`webinar_attended` event (`webinar`/`title` names the topic). The analyst reads what the contact
said, the next-best-action agent chooses among `allowed`, the policy check runs, and the writer
drafts the email only when the decision is to send. Actions go into state for the runtime to
write to the outbox (an email is `send_email` with `author: "ai"` when an LLM wrote it, so the
governor's approval policy applies); each decision is recorded with its reason and evidence.
State stays small: the trigger, the insights, the decision and the draft of this run.

A trigger has one owner (`Deps.owners`): a webinar or call that another journey already follows
up (a sequence the rules enrolled the contact in for that webinar) is skipped, and the decision
log says by whom.

A `wait:<duration>` decision is durable: the state keeps the trigger and its insights under
`waiting`, and a row in the scheduler (`Deps.scheduler`) makes `Workspace.run` invoke the contact
again when the wait is over. The graph then decides again, with waits no longer allowed and the
contact's response since the trigger in view (a reply goes to a person, a booked meeting needs
nothing). A new trigger during the wait replaces it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from gtmflow.agents.content_writer import ContentWriter, Draft
from gtmflow.agents.insights import TranscriptInsights
from gtmflow.agents.next_action import DEFAULT_ALLOWED, Decision, NextBestAction
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError
from gtmflow.models import Action, Contact, Event, Transcript, idempotency_key
from gtmflow.pipes import EventFilter
from gtmflow.policy import check_decision
from gtmflow.state import GtmflowState, reset_outputs
from gtmflow.tools.deps import Deps
from gtmflow.tools.transcripts import TranscriptSource, parse_transcript

__all__ = ["FollowupState", "build_followup_graph"]

GRAPH_NAME = "followup"
TRIGGERS = ("call_completed", "webinar_attended")
_KEEP_HANDLED = 200


class FollowupState(GtmflowState, total=False):
    """Graph state: JSON-native and small (ids, this run's results)."""

    handled: list[str]
    trigger: dict[str, Any] | None
    insights: dict[str, Any] | None
    decision: dict[str, Any] | None
    draft: dict[str, Any] | None
    waiting: dict[str, Any] | None
    decided: int


class FindTrigger:
    """Node: the newest trigger event not followed up yet (older unhandled ones are skipped).

    Without a new trigger, a wait that is over brings its trigger back (marked `revisit`) with
    the insights kept from the first pass.
    """

    def __init__(self, triggers: tuple[str, ...], graph: str) -> None:
        self.triggers = triggers
        self.graph = graph

    has_sweep = False
    """Only a trigger event can start a follow-up."""

    def cares_about(self, item: Event) -> bool:
        """Whether this event is a follow-up trigger (the runtime's trigger index)."""
        return item.type in self.triggers

    @property
    def trigger_filters(self) -> tuple[EventFilter, ...]:
        """The trigger types as filters, so the run loop finds them in SQL."""
        return tuple(EventFilter(t) for t in self.triggers)

    def __call__(self, state: FollowupState, runtime: Runtime[Deps]) -> dict[str, Any]:
        as_of = _as_of(state, runtime.context)
        handled = list(state.get("handled", []))
        events = runtime.context.events.events(
            state["contact_id"], types=self.triggers, until=as_of
        )
        fresh = [e for e in events if e.id not in handled]
        reset: dict[str, Any] = {
            "trigger": None,
            "insights": None,
            "decision": None,
            "draft": None,
            **reset_outputs(),
        }
        waiting = state.get("waiting")
        if not fresh:
            if waiting and datetime.fromisoformat(waiting["until"]) <= as_of:
                trigger = waiting["trigger"] | {"revisit": waiting["action"]}
                insights = waiting["insights"]
                return reset | {"trigger": trigger, "insights": insights, "waiting": None}
            return reset
        latest = fresh[-1]
        kept = (handled + [e.id for e in fresh])[-_KEEP_HANDLED:]
        owner = self._other_owner(latest, runtime.context, as_of)
        if owner is not None:  # one journey per trigger: someone else follows this one up
            return reset | {"handled": kept, "decisions": [owner]}
        if waiting and runtime.context.scheduler is not None:
            runtime.context.scheduler.cancel(
                thread_id=f"{self.graph}:{state['contact_id']}", note="a new trigger arrived"
            )
        return reset | {"handled": kept, "trigger": _trigger(latest), "waiting": None}

    def _other_owner(self, event: Event, deps: Deps, at: datetime) -> dict[str, Any] | None:
        """The recorded skip when the trigger is another's (its claim came first)."""
        claim = deps.owners.claim(event, self.graph, at=at) if deps.owners is not None else None
        if claim is None or claim.owner == self.graph:
            return None
        why = f"skipped: {event.type} is followed up by {claim.owner} (event {claim.event_id})"
        return {"step": 0, "rule": f"{self.graph}:skip", "fired": False, "at": at.isoformat(),
                "evidence": [event.id], "reason": why}  # fmt: skip


class Analyse:
    """Node: analyse the trigger's transcript (a webinar without one has no insights)."""

    def __init__(self, analyst: TranscriptAnalyst, transcripts: TranscriptSource | None) -> None:
        self.analyst = analyst
        self.transcripts = transcripts

    def __call__(self, state: FollowupState, runtime: Runtime[Deps]) -> dict[str, Any]:
        transcript = self.transcript(state)
        if transcript is None:
            trigger = state.get("trigger") or {}
            if trigger.get("transcript_id"):  # named but not found: say so in the decision log
                return {"insights": None, "trigger": trigger | {"missing_transcript": True}}
            return {"insights": None}
        when = (state.get("trigger") or {}).get("at")
        call_date = datetime.fromisoformat(when).date() if when else None
        insights = self.analyst.analyze(transcript, call_date=call_date)
        memory = runtime.context.memory
        if memory is not None and insights.memory_lines():
            at = datetime.fromisoformat(when) if when else None
            memory.remember_transcript(
                state["contact_id"], transcript.id, insights.memory_lines(), date=at,
                details=insights.model_dump(mode="json"),
            )  # fmt: skip
        return {"insights": insights.model_dump(mode="json")}

    def transcript(self, state: FollowupState) -> Transcript | None:
        """The transcript the trigger points at, parsed with the contact attached."""
        trigger = state.get("trigger") or {}
        if trigger.get("text"):
            return parse_transcript(
                trigger["text"], transcript_id=trigger["event_id"], contact_id=state["contact_id"]
            ).transcript
        if trigger.get("transcript_id") and self.transcripts is not None:
            return self.transcripts.get(trigger["transcript_id"])
        return None


class Decide:
    """Node: choose the next action among the allowed ones; the policy check runs inside."""

    def __init__(self, agent: NextBestAction) -> None:
        self.agent = agent

    def __call__(self, state: FollowupState, runtime: Runtime[Deps]) -> dict[str, Any]:
        deps = runtime.context
        as_of = _as_of(state, deps)
        contact = _contact(state, deps)
        history = deps.events.events(contact.id, since=as_of - timedelta(days=90), until=as_of)
        trigger = state.get("trigger") or {}
        agent = self.agent.narrowed(without=("wait",)) if trigger.get("revisit") else self.agent
        decision = agent.decide(
            contact,
            _insights(state),
            history=history,
            score=deps.score(contact.id) if deps.score else None,
            trigger=trigger.get("type", "call_completed"),
            now=as_of,
            since=datetime.fromisoformat(trigger["at"]) if trigger.get("at") else None,
        )
        return {"decision": decision.model_dump(mode="json")}


class Write:
    """Node: draft the follow-up email (only reached when the decision is to send)."""

    def __init__(self, writer: ContentWriter, analyse: Analyse) -> None:
        self.writer = writer
        self.analyse = analyse

    def __call__(self, state: FollowupState, runtime: Runtime[Deps]) -> dict[str, Any]:
        draft = self.writer.followup(
            _contact(state, runtime.context),
            _insights(state),
            transcript=self.analyse.transcript(state),
            decision=Decision.model_validate(state["decision"]),
            topic=(state.get("trigger") or {}).get("topic"),
            content=runtime.context.content,
        )
        return {"draft": draft.model_dump(mode="json")}


class Emit:
    """Node: turn the decision (and draft) into actions and a recorded decision."""

    def __init__(self, graph: str, allowed: tuple[str, ...]) -> None:
        self.graph = graph
        self.allowed = allowed

    def __call__(self, state: FollowupState, runtime: Runtime[Deps]) -> dict[str, Any]:
        contact = _contact(state, runtime.context)
        decision = Decision.model_validate(state["decision"])
        trigger = state.get("trigger") or {}
        draft = Draft.model_validate(state["draft"]) if state.get("draft") else None
        action, reasons = decision.action, list(decision.policy.get("reasons", []))
        payload = _payload(decision, draft, contact, trigger)
        if draft is not None:  # the policy check runs again on the written payload
            verdict = check_decision(action, contact=contact, allowed=self.allowed, payload=payload)
            if verdict.action != action:
                action, reasons = verdict.action, reasons + list(verdict.reasons)
                payload = _payload(
                    decision.model_copy(update={"action": action, "kind": action}),
                    None,
                    contact,
                    trigger,
                )
        at = _as_of(state, runtime.context)
        step = state.get("decided", 0) + 1  # the decision log keeps every decision, numbered
        if action.startswith("wait:"):
            until = at + parse_duration(action.partition(":")[2])
            record = _record(decision, action, reasons, trigger, at, step=step, until=until)
            waiting = {
                "trigger": trigger, "until": until.isoformat(), "action": action,
                "insights": state.get("insights"),
            }  # fmt: skip
            if runtime.context.scheduler is not None:
                runtime.context.scheduler.schedule(
                    graph=self.graph, contact_id=contact.id,
                    thread_id=f"{self.graph}:{contact.id}", due_at=until,
                    reason=f"{action} after {trigger['event_id']}",
                )  # fmt: skip
            return {"actions": [], "decisions": [record], "waiting": waiting, "decided": step}
        actions = []
        if action != "no_action":
            actions.append(self._action(action, contact.id, payload, trigger, at))
        record = _record(decision, action, reasons, trigger, at, step=step)
        return {"actions": actions, "decisions": [record], "decided": step}

    def _action(
        self,
        action: str,
        contact_id: str,
        payload: dict[str, Any],
        trigger: dict[str, Any],
        at: datetime,
    ) -> dict[str, Any]:
        kind = {"send_followup": "send_email"}.get(
            action.partition(":")[0], action.partition(":")[0]
        )
        per_trigger = f"followup:{trigger['event_id']}"  # one follow-up per trigger, ever
        return Action(
            kind=kind,
            contact_id=contact_id,
            payload=payload,
            graph=self.graph,
            source=f"followup:{action.partition(':')[0]}",
            step=1,
            created_at=at,
            idempotency_key=idempotency_key(self.graph, contact_id, per_trigger, 1, kind),
        ).model_dump(mode="json")


def route_after_trigger(state: FollowupState) -> Literal["analyse", "decide", "__end__"]:
    """Deterministic edge: analyse a new trigger; decide again when a wait is over."""
    trigger = state.get("trigger")
    if not trigger:
        return "__end__"
    return "decide" if trigger.get("revisit") else "analyse"


def route_after_decide(state: FollowupState) -> Literal["write", "emit"]:
    """Deterministic edge: write a draft only when the decision is to send a follow-up."""
    return "write" if (state.get("decision") or {}).get("kind") == "send_followup" else "emit"


def build_followup_graph(
    *,
    analyst: TranscriptAnalyst | None = None,
    decider: NextBestAction | None = None,
    writer: ContentWriter | None = None,
    transcripts: TranscriptSource | None = None,
    allowed: tuple[str, ...] | None = None,
    triggers: tuple[str, ...] = TRIGGERS,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    name: str = GRAPH_NAME,
) -> CompiledStateGraph[FollowupState, Deps, FollowupState, FollowupState]:
    """Build the follow-up graph.

    Args:
        analyst: The transcript analyst (default: rules brain, cue lexicons and embeddings).
        decider: The next-best-action agent; its `allowed` list is the graph's.
        writer: The content writer.
        transcripts: Where `call_completed` events' `transcript_id`s are found.
        allowed: Allowed action ids (default: the decider's, else `DEFAULT_ALLOWED`).
        triggers: Event types that start a follow-up.
        checkpointer: Where threads persist (`Workspace.run` attaches its own when None).
        name: The graph's name; part of every thread id and idempotency key.

    Raises:
        ConfigError: Wiring problems, all listed together.
    """
    decider = decider or NextBestAction(allowed=allowed or DEFAULT_ALLOWED)
    problems = []
    if allowed is not None and tuple(allowed) != decider.allowed:
        problems.append("allowed differs from the decider's allowed list; pass one of them")
    unknown = [t for t in triggers if t not in TRIGGERS]
    if unknown or not triggers:
        problems.append(f"triggers {unknown or '()'} must be among {list(TRIGGERS)}")
    if problems:
        raise ConfigError("build_followup_graph: " + "; ".join(problems))
    analyse = Analyse(analyst or TranscriptAnalyst(), transcripts)
    builder = StateGraph(FollowupState, context_schema=Deps)
    builder.add_node("find_trigger", FindTrigger(tuple(triggers), name))
    builder.add_node("analyse", analyse)
    builder.add_node("decide", Decide(decider))
    builder.add_node("write", Write(writer or ContentWriter(), analyse))
    builder.add_node("emit", Emit(name, decider.allowed))
    builder.add_edge(START, "find_trigger")
    builder.add_conditional_edges("find_trigger", route_after_trigger)
    builder.add_edge("analyse", "decide")
    builder.add_conditional_edges("decide", route_after_decide)
    builder.add_edge("write", "emit")
    builder.add_edge("emit", END)
    return builder.compile(checkpointer=checkpointer, name=name)


def _trigger(event: Event) -> dict[str, Any]:
    props = event.properties
    return {
        "event_id": event.id,
        "type": event.type,
        "at": event.timestamp.isoformat(),
        "transcript_id": props.get("transcript_id"),
        "text": props.get("transcript") if isinstance(props.get("transcript"), str) else None,
        "topic": props.get("webinar") or props.get("title") or props.get("topic"),
    }


def _payload(
    decision: Decision, draft: Draft | None, contact: Contact, trigger: dict[str, Any]
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "trigger": trigger.get("event_id"),
        "decision": decision.action,
        "rationale": decision.rationale,
        "brain": decision.run.brain if decision.run else None,
    }
    kind = decision.action.partition(":")[0]
    if draft is not None and kind == "send_followup":
        author = "ai" if draft.run and draft.run.produced_by == "llm" else "template"
        return base | {
            "to": contact.email,
            "subject": draft.subject,
            "body": draft.body,
            "author": author,
            "claims": [c.model_dump(mode="json") for c in draft.claims],
            "removed": list(draft.removed),
        }
    quotes = [e.quote for e in decision.evidence]
    if kind == "alert_sales":
        name = contact.name or contact.id
        return base | {
            "message": f"{name}: {decision.rationale}",
            "channel": "sales",
            "evidence": quotes,
        }
    if kind == "enroll":
        return base | {"sequence": decision.params.get("sequence")}
    if kind == "create_task":
        return base | {
            "title": f"Review follow-up for {contact.name or contact.id}",
            "evidence": quotes,
        }
    return base


def _record(
    decision: Decision,
    action: str,
    reasons: list[str],
    trigger: dict[str, Any],
    at: datetime,
    *,
    step: int,
    until: datetime | None = None,
) -> dict[str, Any]:
    why = f"{action}: {decision.rationale}"
    if action != decision.decided:
        why += f" (brain chose '{decision.decided}'; policy: {'; '.join(reasons)})"
    if decision.run and decision.run.fallback:
        why += f" [fallback to rules: {decision.run.fallback_reason}]"
    if until is not None:
        why += f" (decide again at {until.isoformat()})"
    if trigger.get("revisit"):
        why += f" (decided again after {trigger['revisit']})"
    if trigger.get("missing_transcript"):
        why += f" (transcript '{trigger['transcript_id']}' not found: decided without it)"
    return {
        "step": step,
        "rule": "followup:decide",
        "fired": action != "no_action",
        "at": at.isoformat(),
        "evidence": [trigger["event_id"]],
        "reason": why[:2000],
    }


def _as_of(state: FollowupState, deps: Deps) -> datetime:
    raw = state.get("as_of")
    return datetime.fromisoformat(raw) if raw else deps.clock.now()


def _contact(state: FollowupState, deps: Deps) -> Contact:
    return deps.events.contact(state["contact_id"]) or Contact(id=state["contact_id"])


def _insights(state: FollowupState) -> TranscriptInsights | None:
    raw = state.get("insights")
    return TranscriptInsights.model_validate(raw) if raw else None
