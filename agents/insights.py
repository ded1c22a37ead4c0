"""What a transcript says, as typed insights that each point at a verbatim quote.

`TranscriptInsights` is the output of `TranscriptAnalyst` with either brain. Every item carries
`evidence`: quotes that occur verbatim in the transcript (after normalising whitespace and
typographic quotes/dashes) with their speaker and timestamp. `Grounder` enforces that: it finds a
claimed quote in the transcript, replaces it with the transcript's own text and the real speaker,
and drops what it cannot find, counting why.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gtmflow.brains import BrainRun
from gtmflow.models import Transcript

__all__ = [
    "Ask",
    "AskKind",
    "Authority",
    "Budget",
    "BuyingSignal",
    "CompetitorMention",
    "CompetitorRole",
    "Evidence",
    "Grounder",
    "Insight",
    "NextStep",
    "Objection",
    "ObjectionCategory",
    "PainPoint",
    "Sentiment",
    "Timeline",
    "TranscriptInsights",
    "normalise",
]

ObjectionCategory = Literal[
    "price", "timing", "authority", "need", "competition", "security", "integration",
    "implementation", "other",
]  # fmt: skip
CompetitorRole = Literal["incumbent", "evaluating", "past", "mentioned"]
"""What a named vendor is to the prospect: what they use now, weigh, used before, or just named."""
AskKind = Literal["material", "reference", "pricing", "pilot", "meeting", "intro"]
"""What the prospect asked for: a document or template, a reference customer, pricing, a pilot
or trial, a meeting or demo, an introduction to someone."""
_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u00a0": " "})  # fmt: skip
_SPACE = re.compile(r"\s+")
_EDGE = " \t\n\"'.,;:!?-()[]"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(_Frozen):
    """A verbatim quote from the transcript, with who said it and when."""

    quote: str = Field(description="Exact words from the transcript, copied verbatim.")
    speaker: str | None = Field(default=None, description="Who said it.")
    timestamp: float | None = Field(default=None, description="Seconds from the call's start.")
    utterance: int | None = Field(default=None, description="Index of the utterance quoted.")


class Insight(_Frozen):
    """One finding: a short summary and the quotes that support it."""

    summary: str = Field(description="The finding in a few words, in the speaker's own terms.")
    evidence: tuple[Evidence, ...] = Field(min_length=1)
    confidence: float = Field(default=0.5, ge=0, le=1)


class PainPoint(Insight):
    """A problem the prospect has today."""


class Objection(Insight):
    """A reason the prospect gives for not buying, or not yet."""

    category: ObjectionCategory = "other"


class BuyingSignal(Insight):
    """Words that show intent to buy: interest, urgency, asks for a proposal or a pilot."""


class CompetitorMention(Insight):
    """A vendor the prospect named (canonical name), with what it is to them.

    An `incumbent` they like is context (what to integrate with), not an objection; `sentiment`
    says how they feel about it when they said so.
    """

    name: str
    role: CompetitorRole = Field(
        default="mentioned",
        description="incumbent (used now), evaluating (being weighed), past (used before, left), "
        "mentioned (named only).",
    )
    sentiment: Literal["positive", "neutral", "negative"] | None = Field(
        default=None, description="How the prospect feels about this vendor, when they said so."
    )


class Ask(Insight):
    """Something the prospect asked for, which a follow-up must answer."""

    kind: AskKind = Field(
        description="material (a document, template, checklist), reference (a customer to talk "
        "to), pricing, pilot (a trial or a start with one team), meeting, intro (to a person)."
    )
    item: str | None = Field(
        default=None, description="What exactly, in their words, e.g. 'migration template'."
    )


class Budget(Insight):
    """Budget or price the prospect can accept, with the amount when one is stated."""

    amount: float | None = Field(default=None, ge=0)
    amount_max: float | None = Field(default=None, ge=0, description="Upper end of a range.")
    currency: str | None = Field(default=None, description="ISO 4217 code, e.g. 'USD'.")
    period: Literal["year", "quarter", "month", "one_time"] | None = None


class Timeline(Insight):
    """When the prospect needs to decide or go live, resolved against the call date."""

    phrase: str = Field(description="The time expression as said, e.g. 'end of Q3'.")
    date: dt.date | None = Field(default=None, description="The resolved day bound, if any.")
    within_days: int | None = Field(default=None, ge=0)


class Authority(Insight):
    """Who decides, approves or must be involved."""

    person: str | None = Field(default=None, description="A name or title, e.g. 'CFO'.")
    role: Literal["decision_maker", "approver", "influencer", "champion"] = "influencer"


class NextStep(Insight):
    """An agreed or requested next action, with its owner and due date when stated."""

    owner: str | None = None
    due: dt.date | None = None


class Sentiment(_Frozen):
    """How the prospect feels about the conversation and the offer (not about their pains)."""

    label: Literal["positive", "neutral", "negative"] = "neutral"
    score: float = Field(default=0.0, ge=-1, le=1)
    evidence: tuple[Evidence, ...] = ()


class TranscriptInsights(_Frozen):
    """Everything a call revealed, each item backed by verbatim evidence."""

    transcript_id: str
    call_date: dt.date | None = None
    pain_points: tuple[PainPoint, ...] = ()
    objections: tuple[Objection, ...] = ()
    buying_signals: tuple[BuyingSignal, ...] = ()
    competitors: tuple[CompetitorMention, ...] = ()
    stack: tuple[CompetitorMention, ...] = Field(
        default=(),
        description="Tools the prospect uses and keeps (their CRM, their ERP) and wants the offer "
        "to work with: context for a follow-up, not competitors.",
    )
    asks: tuple[Ask, ...] = ()
    budget: Budget | None = None
    timeline: Timeline | None = None
    authority: tuple[Authority, ...] = ()
    next_steps: tuple[NextStep, ...] = ()
    sentiment: Sentiment = Sentiment()
    suspicious_instructions: bool = Field(
        default=False, description="The transcript contains text that tries to instruct an AI."
    )
    suspicious: tuple[Insight, ...] = ()
    dropped: dict[str, int] = Field(
        default_factory=dict,
        description="Items dropped, by reason: 'quote_not_found', 'seller_side', 'duplicate'.",
    )
    run: BrainRun | None = None

    def memory_lines(self) -> list[str]:
        """One plain sentence per finding, for the contact's memory in the context store."""
        labelled: list[tuple[str, Insight | None]] = [
            *(("pain", i) for i in self.pain_points),
            *((f"objection ({i.category})", i) for i in self.objections),
            *(("buying signal", i) for i in self.buying_signals),
            *((f"competitor ({i.role})", i) for i in self.competitors),
            *(("uses and keeps", i) for i in self.stack),
            *((f"asked for ({i.kind})", i) for i in self.asks),
            ("budget", self.budget), ("timeline", self.timeline),
            *(("decision maker", i) for i in self.authority),
            *(("next step", i) for i in self.next_steps),
        ]  # fmt: skip
        return [f"{label}: {item.summary}" for label, item in labelled if item is not None]

    def quotes(self) -> list[Evidence]:
        """Every evidence quote of every item, in field order."""
        items: list[Insight | None] = [
            *self.pain_points, *self.objections, *self.buying_signals, *self.competitors,
            *self.stack, *self.asks, self.budget, self.timeline, *self.authority, *self.next_steps,
            *self.suspicious,
        ]  # fmt: skip
        return [e for item in items if item is not None for e in item.evidence]


def normalise(text: str) -> str:
    """Whitespace collapsed and typographic quotes/dashes made plain: the verbatim test's form."""
    return _SPACE.sub(" ", text.translate(_TYPOGRAPHY)).strip()


@dataclass
class _Located:
    utterance: int
    text: str


class Grounder:
    """Checks quotes against one transcript and counts what it drops.

    Args:
        transcript: The source every quote must come from.
    """

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.texts = [normalise(u.text) for u in transcript.utterances]
        self.roles_known = any(u.role != "unknown" for u in transcript.utterances)
        self.dropped: Counter[str] = Counter()

    def locate(self, quote: str, *, prospect_only: bool = False) -> Evidence | None:
        """Evidence for `quote` if it occurs in the transcript, else None (not counted).

        With `prospect_only` and known roles, only prospect (or unknown-role) turns qualify.
        """
        exact = normalise(quote)
        trimmed = exact.strip(_EDGE)
        if len(trimmed) < 3:
            return None
        found = self._find(exact, prospect_only) or self._find(trimmed, prospect_only)
        if found is None:
            return None
        utterance = self.transcript.utterances[found.utterance]
        return Evidence(
            quote=found.text,
            speaker=utterance.speaker,
            timestamp=utterance.timestamp,
            utterance=found.utterance,
        )

    def evidence(self, quotes: list[str], *, prospect_only: bool = False) -> tuple[Evidence, ...]:
        """Grounded evidence for the quotes found; counts why an item ends up with none."""
        found = [e for q in quotes if (e := self.locate(q, prospect_only=prospect_only))]
        if not found:
            seller = prospect_only and any(self.locate(q) for q in quotes)
            self.dropped["seller_side" if seller else "quote_not_found"] += 1
        return tuple(dict.fromkeys(found))

    def evidence_quietly(self, quotes: list[str]) -> tuple[Evidence, ...]:
        """Grounded evidence for the quotes found, without counting anything as dropped."""
        return tuple(dict.fromkeys(e for q in quotes if (e := self.locate(q))))

    def _find(self, wanted: str, prospect_only: bool) -> _Located | None:
        for index, text in enumerate(self.texts):
            start = text.find(wanted)
            if start < 0:
                continue
            role = self.transcript.utterances[index].role
            if prospect_only and self.roles_known and role == "seller":
                continue
            return _Located(index, text[start : start + len(wanted)])
        return None
