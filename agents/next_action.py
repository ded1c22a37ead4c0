"""The next-best-action agent: insights, contact, history and score in; one allowed `Decision` out.

Example:
    >>> from gtmflow.models import Contact
    >>> agent = NextBestAction(allowed=("send_followup", "alert_sales", "no_action"))
    >>> ann = Contact(id="c-1", email="ann@acme.com", subscription="unsubscribed")
    >>> decision = agent.decide(ann)
    >>> decision.action, decision.policy["outcome"]
    ('no_action', 'allow')

The action is chosen among the ids the graph allows (`send_followup`, `alert_sales`,
`enroll:<sequence>`, `wait:<duration>`, `create_task`, `no_action`). For the LLM the choice is an
enum built from that list, so another action cannot even be expressed; `gtmflow.policy.
check_decision` then runs on every decision (unsubscribed, no address, other recipients, prompt
injection) and may replace the action with a safe one, recording why.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from gtmflow.agents.insights import Ask, Evidence, TranscriptInsights
from gtmflow.brains import Brain, BrainRun, BrainSpec, resolve_brain
from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError
from gtmflow.models import MEETING_EVENTS, REPLY_EVENTS, Contact, Event
from gtmflow.policy import check_decision
from gtmflow.prompts import RenderedPrompt, load_prompt

__all__ = ["DEFAULT_ALLOWED", "Decision", "NextBestAction", "parse_action"]

AGENT = "next_action"
DEFAULT_ALLOWED = (
    "send_followup", "alert_sales", "enroll:nurture", "wait:14d", "create_task", "no_action",
)  # fmt: skip
_ASKED = {
    "material": "material", "reference": "a reference customer", "pricing": "pricing",
    "pilot": "a pilot", "meeting": "a meeting", "intro": "an introduction",
}  # fmt: skip
_KINDS = ("send_followup", "alert_sales", "enroll", "wait", "create_task", "no_action")


class Decision(BaseModel):
    """The chosen action, why, how sure, on what evidence, and what policy made of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str = Field(description="The action id after the policy check, e.g. 'enroll:nurture'.")
    kind: str = Field(description="The action kind: send_followup, alert_sales, enroll, ...")
    params: dict[str, str] = Field(default_factory=dict, description="e.g. {'sequence': ...}.")
    decided: str = Field(description="What the brain chose, before the policy check.")
    rationale: str
    confidence: float = Field(ge=0, le=1)
    evidence: tuple[Evidence, ...] = ()
    policy: dict[str, Any] = Field(default_factory=dict, description="The PolicyVerdict.")
    run: BrainRun | None = None


def parse_action(action: str) -> tuple[str, dict[str, str]]:
    """Split an action id into kind and params: `"wait:7d"` → `("wait", {"duration": "7d"})`."""
    kind, _, arg = action.partition(":")
    if kind not in _KINDS:
        raise ConfigError(f"action '{action}' is not known; use one of {', '.join(_KINDS)}")
    if kind in ("enroll", "wait") and not arg:
        raise ConfigError(f"action '{action}' needs a value, e.g. 'enroll:nurture' or 'wait:7d'")
    if kind == "wait":
        parse_duration(arg)
        return kind, {"duration": arg}
    return kind, {"sequence": arg} if kind == "enroll" else {}


class NextBestAction:
    """Chooses one next action per contact among those the graph allows.

    Args:
        allowed: Action ids the graph allows; validated now.
        brain: "rules" (default), "provider:model", a chat model or a `Brain`.
        root: Workspace folder whose `gtmflow.toml` `[brains]` table to read.
        hot_score: A lead score at or above this counts as strong intent for the rules backend.
    """

    name = AGENT

    def __init__(
        self,
        *,
        allowed: Sequence[str] = DEFAULT_ALLOWED,
        brain: BrainSpec = None,
        root: str | Path | None = None,
        hot_score: float = 70.0,
    ) -> None:
        if not allowed:
            raise ConfigError("allowed is empty; give at least one action, e.g. ('no_action',)")
        for action in allowed:
            parse_action(action)
        self.allowed = tuple(dict.fromkeys(allowed))
        self.brain: Brain = resolve_brain(brain, agent=AGENT, root=root)
        self.hot_score = hot_score
        self.schema = _draft_schema(self.allowed)

    def decide(
        self,
        contact: Contact,
        insights: TranscriptInsights | None = None,
        *,
        history: Sequence[Event] = (),
        score: float | None = None,
        trigger: str = "call_completed",
        now: datetime | None = None,
        since: datetime | None = None,
    ) -> Decision:
        """Decide for one contact; the policy check always runs after the brain.

        Args:
            contact: Who to decide for.
            insights: What they said on the call (None: no transcript, e.g. a webinar).
            history: Their recent events.
            score: Their lead score, if known.
            trigger: The event type that asked for a decision.
            now: The moment of the decision (default: unknown; the prompt omits ages).
            since: When the trigger happened: `history` after it is their response so far
                (a reply or a booked meeting), which the rules backend and the prompt weigh.
        """
        prompt = self.prompt(
            contact, insights, history=history, score=score, trigger=trigger, now=now, since=since
        )
        rules = self._rules_for(contact, insights, score, _responses(history, since))
        outcome = self.brain.run(self.schema, prompt, rules=rules)
        return self._checked(outcome.output, outcome.run, contact, insights)

    async def adecide(
        self,
        contact: Contact,
        insights: TranscriptInsights | None = None,
        *,
        history: Sequence[Event] = (),
        score: float | None = None,
        trigger: str = "call_completed",
        now: datetime | None = None,
        since: datetime | None = None,
    ) -> Decision:
        """`decide` for asyncio batch runs."""
        prompt = self.prompt(
            contact, insights, history=history, score=score, trigger=trigger, now=now, since=since
        )
        rules = self._rules_for(contact, insights, score, _responses(history, since))
        outcome = await self.brain.arun(self.schema, prompt, rules=rules)
        return self._checked(outcome.output, outcome.run, contact, insights)

    def prompt(
        self,
        contact: Contact,
        insights: TranscriptInsights | None,
        *,
        history: Sequence[Event] = (),
        score: float | None = None,
        trigger: str = "call_completed",
        now: datetime | None = None,
        since: datetime | None = None,
    ) -> RenderedPrompt:
        """The rendered prompt for this decision."""
        return load_prompt(AGENT).render(
            allowed=", ".join(self.allowed),
            trigger=trigger,
            score="unknown" if score is None else f"{score:g}",
            contact=_contact_text(contact),
            insights=_insights_text(insights),
            history=_history_text(history, now, since),
        )

    def _rules_for(
        self,
        contact: Contact,
        insights: TranscriptInsights | None,
        score: float | None,
        responses: Sequence[Event],
    ) -> Callable[[], BaseModel]:
        """The rules backend's answer, computed only if the brain asks for it."""

        def answer() -> BaseModel:
            choice = _rules_choice(self, contact, insights, score, responses)
            action, why, confidence, quotes = choice
            return self.schema(action=action, rationale=why, confidence=confidence, quotes=quotes)

        return answer

    def _checked(
        self,
        draft: Any,
        run: BrainRun,
        contact: Contact,
        insights: TranscriptInsights | None,
    ) -> Decision:
        verdict = check_decision(
            draft.action,
            contact=contact,
            allowed=self.allowed,
            suspicious=bool(insights and insights.suspicious_instructions),
        )
        kind, params = parse_action(verdict.action)
        return Decision(
            action=verdict.action,
            kind=kind,
            params=params,
            decided=draft.action,
            rationale=draft.rationale,
            confidence=draft.confidence,
            evidence=_evidence(insights, draft.quotes),
            policy=verdict.to_json(),
            run=run,
        )

    def narrowed(self, *, without: Sequence[str]) -> NextBestAction:
        """This agent with some actions (ids or kinds: "wait" drops every wait) disallowed.

        The follow-up graph decides again after a wait with waits removed, so a contact is
        waited on once per trigger; for an LLM brain the enum itself loses those actions.
        """
        drop = set(without)
        kept = tuple(a for a in self.allowed if a not in drop and a.partition(":")[0] not in drop)
        narrowed = copy.copy(self)
        narrowed.allowed = kept or ("no_action",)
        narrowed.schema = _draft_schema(narrowed.allowed)
        return narrowed

    def pick(self, *wanted: str) -> str | None:
        """The first of `wanted` the graph allows (kinds match any value: "enroll" → "enroll:x")."""
        for want in wanted:
            for action in self.allowed:
                if action == want or action.partition(":")[0] == want:
                    return action
        return None


def _draft_schema(allowed: tuple[str, ...]) -> type[BaseModel]:
    """The LLM's output schema: `action` is an enum of exactly the allowed ids."""
    choice: Any = Literal.__getitem__(allowed)
    return create_model(
        "NextActionDraft",
        action=(choice, Field(description="One of the allowed actions, spelled exactly.")),
        rationale=(str, Field(description="One or two sentences: why this action now.")),
        confidence=(float, Field(ge=0, le=1, description="How sure, from 0 to 1.")),
        quotes=(
            list[str],
            Field(default_factory=list, max_length=3, description="Quotes from the insights."),
        ),
    )


def _rules_choice(
    agent: NextBestAction,
    contact: Contact,
    insights: TranscriptInsights | None,
    score: float | None,
    responses: Sequence[Event] = (),
) -> tuple[str, str, float, list[str]]:
    """The rules backend: a short, explainable decision list."""
    can_email = bool(contact.email) and contact.subscription not in ("unsubscribed", "bounced")
    intent, quotes = _intent(insights, score, agent.hot_score)
    if insights is not None and insights.suspicious_instructions:
        action = agent.pick("create_task", "alert_sales", "no_action") or "no_action"
        return (
            action,
            "The transcript contains instructions aimed at an AI; a person should look.",
            0.9,
            [],
        )
    if booked := [e for e in responses if e.type in MEETING_EVENTS]:
        when = f"{booked[-1].timestamp:%Y-%m-%d}"
        return "no_action", f"A meeting is already booked ({when}).", 0.8, []
    if replied := [e for e in responses if e.type in REPLY_EVENTS]:
        person = agent.pick("create_task", "alert_sales") or "no_action"
        why = f"They replied on {replied[-1].timestamp:%Y-%m-%d}; a person should answer."
        return person, why, 0.8, []
    if not can_email:
        if intent >= 2 and (hot := agent.pick("alert_sales", "create_task")):
            return (
                hot,
                "Strong intent but the contact cannot be emailed; hand to sales.",
                0.7,
                quotes,
            )
        return "no_action", f"The contact cannot be emailed ({contact.subscription}).", 0.8, []
    stall = _stall_days(insights)
    if stall is not None and intent < 2 and (wait := _closest_wait(agent.allowed, stall)):
        return wait, "They asked for time; wait before following up.", 0.6, quotes
    if intent >= 3 and (hot := agent.pick("alert_sales")) and not _has_asks(insights):
        return hot, "Strong buying intent: budget, timeline or an explicit ask.", 0.75, quotes
    if insights is not None and insights.asks and (send := agent.pick("send_followup")):
        asked = insights.asks[:3]
        why = f"They asked for {_listing([_asked(a) for a in asked])}; a follow-up answers it."
        return send, why, 0.75, [a.evidence[0].quote for a in asked]
    if (
        insights is not None
        and (insights.pain_points or insights.next_steps or intent)
        and (send := agent.pick("send_followup"))
    ):
        return send, "They shared pains or next steps that a follow-up can answer.", 0.7, quotes
    if insights is None and (send := agent.pick("send_followup")):
        return send, "A follow-up after the event keeps the conversation going.", 0.55, []
    if nurture := agent.pick("enroll"):
        return nurture, "Interest without urgency; nurture.", 0.5, quotes
    return "no_action", "Nothing in the call calls for an action now.", 0.5, []


def _intent(
    insights: TranscriptInsights | None, score: float | None, hot: float
) -> tuple[int, list[str]]:
    if insights is None:
        return (1 if score is not None and score >= hot else 0), []
    points = min(2, len(insights.buying_signals)) + (score is not None and score >= hot)
    points += insights.budget is not None and insights.budget.amount is not None
    points += insights.timeline is not None and insights.timeline.within_days is not None
    points += any(a.role in ("decision_maker", "approver") for a in insights.authority)
    points += any(a.kind in ("pricing", "pilot") for a in insights.asks)
    quotes = [e.quote for item in insights.buying_signals[:2] for e in item.evidence[:1]]
    return int(points), quotes


def _has_asks(insights: TranscriptInsights | None) -> bool:
    """The prospect asked for something an email answers (a proposal, a case study, ...)."""
    if insights is None:
        return False
    answerable = any(a.kind in ("material", "reference", "pricing") for a in insights.asks)
    return answerable or any(
        s.owner and s.owner != _prospect(insights) for s in insights.next_steps
    )


def _asked(ask: Ask) -> str:
    """What an ask was for, in a few words: "the migration template", "a reference"."""
    if ask.item:
        return ask.item
    return _ASKED[ask.kind]


def _listing(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _prospect(insights: TranscriptInsights) -> str | None:
    speakers = Counter(e.speaker for p in insights.pain_points for e in p.evidence)
    return speakers.most_common(1)[0][0] if speakers else None


def _stall_days(insights: TranscriptInsights | None) -> int | None:
    """Days to wait when the prospect's objections are about timing and their date is far."""
    if insights is None or not any(o.category == "timing" for o in insights.objections):
        return None
    timeline = insights.timeline
    if timeline and timeline.date and insights.call_date:
        days = (timeline.date - insights.call_date).days
        return days if days > 14 else None
    return 30


def _closest_wait(allowed: Sequence[str], days: int) -> str | None:
    waits = [
        (abs(parse_duration(a.partition(":")[2]) - timedelta(days=days)), a)
        for a in allowed
        if a.startswith("wait:")
    ]
    return min(waits)[1] if waits else None


def _evidence(insights: TranscriptInsights | None, quotes: Sequence[str]) -> tuple[Evidence, ...]:
    """The quotes the decision cites, kept only when they are evidence of these insights."""
    if insights is None:
        return ()
    known = {e.quote: e for e in insights.quotes()}
    return tuple(dict.fromkeys(known[q] for q in quotes if q in known))


def _contact_text(contact: Contact) -> str:
    fields = contact.model_dump(
        include={"id", "name", "title", "company", "lifecycle_stage", "subscription", "timezone"}
    )
    fields["has_email"] = bool(contact.email)
    return "\n".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, ""))


def _insights_text(insights: TranscriptInsights | None) -> str:
    if insights is None:
        return "no transcript"
    data = insights.model_dump(mode="json", exclude={"run", "dropped", "transcript_id"})
    return _compact(data)


def _history_text(history: Sequence[Event], now: datetime | None, since: datetime | None) -> str:
    if not history:
        return "no recorded activity"
    counts = Counter(e.type for e in history)
    last = max(history, key=lambda e: e.timestamp)
    ago = f" ({(now - last.timestamp).days} days before now)" if now else ""
    kinds = ", ".join(f"{t}={n}" for t, n in counts.most_common(8))
    text = f"activity counts: {kinds}; latest: {last.type} at {last.timestamp:%Y-%m-%d}{ago}"
    if since is not None:
        after = Counter(e.type for e in history if e.timestamp > since)
        response = ", ".join(f"{t}={n}" for t, n in after.most_common(8)) or "nothing yet"
        text += f"; since the trigger ({since:%Y-%m-%d}): {response}"
    return text


def _responses(history: Sequence[Event], since: datetime | None) -> list[Event]:
    """The contact's replies and booked meetings after the trigger, oldest first."""
    if since is None:
        return []
    wanted = REPLY_EVENTS | MEETING_EVENTS
    return sorted(
        (e for e in history if e.timestamp > since and e.type in wanted), key=lambda e: e.timestamp
    )


def _compact(data: Any) -> str:
    import json

    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
