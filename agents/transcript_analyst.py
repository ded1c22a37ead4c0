"""The transcript analyst: a call transcript in, grounded `TranscriptInsights` out.

Example:
    >>> from gtmflow.tools.transcripts import parse_transcript
    >>> call = parse_transcript(
    ...     "Dana (AE, Northwind): What is slowing you down?\\n"
    ...     "Sam (COO, Acme): Honestly our reporting is a mess and it takes two days a month.",
    ...     seller_company="Northwind",
    ... )
    >>> insights = TranscriptAnalyst(embeddings="off").analyze(call.transcript)
    >>> [e.quote for p in insights.pain_points for e in p.evidence]
    ['Honestly our reporting is a mess and it takes two days a month.']

Either brain gives the same output type. The LLM's claims are grounded afterwards: each quote
must occur verbatim in the transcript (whitespace and typographic quotes normalised), takes the
real speaker and timestamp, and items without one are dropped and counted in `dropped`. Pains and
objections must come from the prospect's side when roles are known. Money and dates are
re-derived from the quotes, so a model cannot invent an amount or a deadline. Injection attempts
are flagged by a deterministic check whichever brain runs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from gtmflow.agents._analyst_settings import AnalystSettings
from gtmflow.agents._extractors import find_money
from gtmflow.agents._injection import find_injections
from gtmflow.agents._lexicons import DEFAULT_COMPETITORS
from gtmflow.agents._rules_analyst import AnalystOptions, RulesAnalyst, SentenceClassifier
from gtmflow.agents._timeline import find_time_bounds
from gtmflow.agents.insights import (
    Ask,
    AskKind,
    Authority,
    Budget,
    BuyingSignal,
    CompetitorMention,
    CompetitorRole,
    Evidence,
    Grounder,
    Insight,
    NextStep,
    Objection,
    ObjectionCategory,
    PainPoint,
    Sentiment,
    Timeline,
    TranscriptInsights,
)
from gtmflow.batch import run_batch
from gtmflow.brains import Brain, BrainSpec, resolve_brain
from gtmflow.models import Transcript
from gtmflow.prompts import RenderedPrompt, load_prompt

__all__ = ["InsightsDraft", "TranscriptAnalyst", "ground_insights", "render_transcript"]

AGENT = "transcript_analyst"
_Item = Insight
_MONEY_FIELDS = ("amount", "amount_max", "currency", "period")


class _Claim(BaseModel):
    summary: str = Field(description="The finding in a few words.")
    quotes: list[str] = Field(
        min_length=1, max_length=3, description="1-3 verbatim quotes from one turn."
    )


class _ObjectionClaim(_Claim):
    category: ObjectionCategory = "other"


class _CompetitorClaim(_Claim):
    name: str = Field(description="The vendor's name as usually written; never the seller's.")
    role: CompetitorRole = Field(
        default="mentioned",
        description="incumbent (used now), evaluating (being weighed), past (used before, left), "
        "mentioned (named only).",
    )
    sentiment: Literal["positive", "neutral", "negative"] | None = Field(
        default=None, description="How the prospect feels about it (incumbents), when they said."
    )


class _AskClaim(_Claim):
    kind: AskKind = Field(
        description="material, reference, pricing, pilot, meeting or intro: what they asked for."
    )
    item: str | None = Field(default=None, description="What exactly, in their words.")


class _BudgetClaim(_Claim):
    amount: float | None = None
    amount_max: float | None = None
    currency: str | None = Field(default=None, description="ISO 4217 code, e.g. USD.")
    period: Literal["year", "quarter", "month", "one_time"] | None = None


class _TimelineClaim(_Claim):
    phrase: str = Field(description="The time expression as said, e.g. 'end of Q3'.")


class _AuthorityClaim(_Claim):
    person: str | None = None
    role: Literal["decision_maker", "approver", "influencer", "champion"] = "influencer"


class _NextStepClaim(_Claim):
    owner: str | None = Field(default=None, description="Who will do it, when stated.")


class InsightsDraft(BaseModel):
    """What the LLM fills; gtmflow grounds it into `TranscriptInsights`."""

    pain_points: list[_Claim] = Field(default_factory=list)
    objections: list[_ObjectionClaim] = Field(default_factory=list)
    buying_signals: list[_Claim] = Field(default_factory=list)
    competitors: list[_CompetitorClaim] = Field(default_factory=list)
    stack: list[_CompetitorClaim] = Field(
        default_factory=list,
        description="Tools the prospect uses and keeps and wants the offer to work with.",
    )
    asks: list[_AskClaim] = Field(default_factory=list)
    budget: _BudgetClaim | None = None
    timeline: _TimelineClaim | None = None
    authority: list[_AuthorityClaim] = Field(default_factory=list)
    next_steps: list[_NextStepClaim] = Field(default_factory=list)
    sentiment: Literal["positive", "neutral", "negative"] = "neutral"
    sentiment_score: float = Field(default=0.0, ge=-1, le=1)
    suspicious_instructions: bool = False


class TranscriptAnalyst:
    """Extracts pains, objections, buying signals, BANT and next steps from a call transcript.

    Args:
        brain: "rules" (default), "provider:model", a chat model or a `Brain`; None reads the
            workspace config and `GTMFLOW_BRAIN*` (see `gtmflow.brains.resolve_brain`).
        root: Workspace folder whose `gtmflow.toml` `[brains]` and `[analyst]` tables to read.
        competitors: The workspace's competitor names (spelling tolerant); None: `[analyst]
            competitors` from `gtmflow.toml`. Either way the default list stays a prior and
            other vendors are found from how they are talked about.
        own_names: Your company and product names, never reported as competitors; added to
            `[analyst] own_names`.
        fiscal_year_start: Month your prospects' fiscal year starts, for "Q3" and "this FY".
        embeddings: The rules backend's sentence head on the offline MiniLM embedder: "auto"
            uses it when the model is installed, "on" requires it, "off" uses cue lexicons only
            (about 7x faster, recall much lower).
        classifier: A ready sentence classifier (overrides `embeddings`).
    """

    name = AGENT

    def __init__(
        self,
        *,
        brain: BrainSpec = None,
        root: str | Path | None = None,
        competitors: Sequence[str] | None = None,
        own_names: Sequence[str] = (),
        fiscal_year_start: int = 1,
        embeddings: Literal["auto", "on", "off"] = "auto",
        classifier: SentenceClassifier | None = None,
    ) -> None:
        self.brain: Brain = resolve_brain(brain, agent=AGENT, root=root)
        settings = AnalystSettings.load(root)
        self.competitors = tuple(settings.competitors if competitors is None else competitors)
        self.fiscal_year_start = fiscal_year_start
        self.own_names = tuple(dict.fromkeys([*settings.own_names, *own_names]))
        self.embeddings = embeddings
        if classifier is not None or embeddings == "on":  # "on" fails now if it cannot load
            self.classifier = classifier or _classifier(embeddings)

    @cached_property
    def classifier(self) -> SentenceClassifier | None:
        """The rules backend's sentence classifier, loaded when first needed (None: lexicons)."""
        return _classifier(self.embeddings)

    @cached_property
    def rules(self) -> RulesAnalyst:
        """The offline analyser (the rules brain, and the LLM brain's fallback)."""
        return RulesAnalyst(
            AnalystOptions(
                competitors=self.competitors,
                own_names=self.own_names,
                fiscal_year_start=self.fiscal_year_start,
                classifier=self.classifier,
            )
        )

    def analyze(
        self, transcript: Transcript, *, call_date: dt.date | None = None
    ) -> TranscriptInsights:
        """Analyse one transcript; `call_date` defaults to the transcript's `occurred_at`."""
        day = _call_date(transcript, call_date)
        outcome = self.brain.run(
            InsightsDraft,
            self.prompt(transcript, day),
            rules=lambda: _as_draft(self._rules(transcript, day)),
        )
        return self._finish(transcript, day, outcome.output, outcome.run)

    async def aanalyze(
        self, transcript: Transcript, *, call_date: dt.date | None = None
    ) -> TranscriptInsights:
        """`analyze` for asyncio batch runs (see `gtmflow.batch.run_batch`)."""
        day = _call_date(transcript, call_date)
        outcome = await self.brain.arun(
            InsightsDraft,
            self.prompt(transcript, day),
            rules=lambda: _as_draft(self._rules(transcript, day)),
        )
        return self._finish(transcript, day, outcome.output, outcome.run)

    async def analyze_many(
        self,
        transcripts: Sequence[Transcript],
        *,
        concurrency: int = 20,
        rate: float | None = None,
    ) -> list[TranscriptInsights]:
        """Analyse many transcripts concurrently (bounded, optionally rate-limited), in order."""
        return await run_batch(self.aanalyze, list(transcripts), concurrency=concurrency, rate=rate)

    def prompt(self, transcript: Transcript, call_date: dt.date | None) -> RenderedPrompt:
        """The rendered prompt for this transcript (the LLM path's input)."""
        return load_prompt(AGENT).render(
            transcript=render_transcript(transcript),
            call_date=call_date.isoformat() if call_date else "unknown",
            competitors=", ".join((self.competitors or DEFAULT_COMPETITORS)[:12]),
            own_names=", ".join(self.own_names) or "the seller's company and products",
        )

    def _rules(self, transcript: Transcript, day: dt.date | None) -> TranscriptInsights:
        return self.rules.analyze(transcript, call_date=day)

    def _finish(
        self, transcript: Transcript, day: dt.date | None, draft: Any, run: Any
    ) -> TranscriptInsights:
        if isinstance(draft, _RulesDraft):
            insights = draft.insights
        else:
            insights = _from_draft(draft, transcript.id, day, self.fiscal_year_start)
        if run.produced_by == "rules":
            model = "rules:lexicons+embeddings" if self.classifier else "rules:lexicons"
            run = run.model_copy(update={"model": model})
        grounded = ground_insights(
            insights,
            transcript,
            fiscal_year_start=self.fiscal_year_start,
            own_names=self.own_names,
        )
        return grounded.model_copy(update={"run": run})


class _RulesDraft(InsightsDraft):
    """The rules backend's result carried through `Brain.run` unchanged."""

    insights: TranscriptInsights


def _as_draft(insights: TranscriptInsights) -> InsightsDraft:
    return _RulesDraft(insights=insights)


def ground_insights(
    insights: TranscriptInsights,
    transcript: Transcript,
    *,
    fiscal_year_start: int = 1,
    own_names: Sequence[str] = (),
) -> TranscriptInsights:
    """Keep only items whose quotes occur in `transcript`; re-derive amounts and dates.

    Every evidence quote is looked up (whitespace-normalised) and replaced by the transcript's
    own words, speaker and timestamp; pains, objections and asks must be the prospect's words
    when roles are known. A vendor must be named in its quotes and never be one of
    `own_names` ('own_name'). Dropped items are counted by reason in `dropped`.
    """
    g = Grounder(transcript)
    day = insights.call_date

    def keep(items: Sequence[_Item], *, prospect: bool = False) -> list[Any]:
        out = []
        for item in items:
            evidence = g.evidence([e.quote for e in item.evidence], prospect_only=prospect)
            if evidence:
                out.append(item.model_copy(update={"evidence": evidence}))
        return _dedupe(out, g.dropped)

    budget = keep([insights.budget] if insights.budget else [])
    timeline = keep([insights.timeline] if insights.timeline else [])
    suspicious = keep(insights.suspicious)
    flagged = insights.suspicious_instructions or bool(suspicious) or _injected(transcript)
    return insights.model_copy(
        update={
            "pain_points": tuple(keep(insights.pain_points, prospect=True)),
            "objections": tuple(keep(insights.objections, prospect=True)),
            "buying_signals": tuple(keep(insights.buying_signals)),
            "competitors": tuple(_named(keep(insights.competitors), own_names, g.dropped)),
            "stack": tuple(_named(keep(insights.stack), own_names, g.dropped)),
            "asks": tuple(keep(insights.asks, prospect=True)),
            "budget": _checked_budget(budget[0]) if budget else None,
            "timeline": _checked_timeline(timeline[0], day, fiscal_year_start)
            if timeline
            else None,
            "authority": tuple(keep(insights.authority)),
            "next_steps": tuple(_checked_step(s, day) for s in keep(insights.next_steps)),
            "sentiment": insights.sentiment.model_copy(
                update={
                    "evidence": g.evidence_quietly([e.quote for e in insights.sentiment.evidence])
                }
            ),
            "suspicious_instructions": flagged,
            "suspicious": tuple(suspicious) or _injection_items(transcript, g),
            "dropped": dict(sorted((Counter(insights.dropped) + g.dropped).items())),
        }
    )


def render_transcript(transcript: Transcript) -> str:
    """One line per turn, `[hh:mm:ss] speaker (role): text`, as the prompt shows it."""
    lines = []
    for u in transcript.utterances:
        stamp = _stamp(u.timestamp) + " " if u.timestamp is not None else ""
        lines.append(f"{stamp}{u.speaker} ({u.role}): {u.text}")
    return "\n".join(lines)


def _from_draft(
    draft: InsightsDraft, transcript_id: str, day: dt.date | None, fy: int
) -> TranscriptInsights:
    def ev(claim: _Claim) -> tuple[Evidence, ...]:
        return tuple(Evidence(quote=q) for q in claim.quotes if q.strip())

    def items(claims: Sequence[_Claim], cls: type[Insight], **extra: Any) -> list[Any]:
        return [
            cls(summary=c.summary, evidence=ev(c), confidence=0.7, **_fields(c, extra))
            for c in claims
            if ev(c)
        ]

    budgets = items([draft.budget] if draft.budget else [], Budget, **dict.fromkeys(_MONEY_FIELDS))
    timelines = items([draft.timeline] if draft.timeline else [], Timeline, phrase=None)
    return TranscriptInsights(
        transcript_id=transcript_id,
        call_date=day,
        pain_points=tuple(items(draft.pain_points, PainPoint)),
        objections=tuple(items(draft.objections, Objection, category=None)),
        buying_signals=tuple(items(draft.buying_signals, BuyingSignal)),
        competitors=tuple(
            items(draft.competitors, CompetitorMention, name=None, role=None, sentiment=None)
        ),
        stack=tuple(items(draft.stack, CompetitorMention, name=None, role=None, sentiment=None)),
        asks=tuple(items(draft.asks, Ask, kind=None, item=None)),
        budget=budgets[0] if budgets else None,
        timeline=timelines[0] if timelines else None,
        authority=tuple(items(draft.authority, Authority, person=None, role=None)),
        next_steps=tuple(items(draft.next_steps, NextStep, owner=None)),
        sentiment=Sentiment(label=draft.sentiment, score=draft.sentiment_score),
        suspicious_instructions=draft.suspicious_instructions,
        dropped={"quote_not_found": _empty_claims(draft)} if _empty_claims(draft) else {},
    )


def _fields(claim: _Claim, extra: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(claim, name) for name in extra}


def _empty_claims(draft: InsightsDraft) -> int:
    groups: list[Sequence[_Claim]] = [
        draft.pain_points, draft.objections, draft.buying_signals, draft.competitors,
        draft.stack, draft.asks, draft.authority, draft.next_steps,
    ]  # fmt: skip
    singles = [c for c in (draft.budget, draft.timeline) if c is not None]
    return sum(1 for g in [*groups, singles] for c in g if not any(q.strip() for q in c.quotes))


def _dedupe(items: list[Any], dropped: Counter[str]) -> list[Any]:
    """One item per quote set; two vendors (or asks) in one sentence are two items."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for item in items:
        named = (str(getattr(item, "name", "")), str(getattr(item, "kind", "")))
        key = (*named, *sorted(e.quote for e in item.evidence))
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        out.append(item)
    return out


def _named(
    mentions: list[CompetitorMention], own_names: Sequence[str], dropped: Counter[str]
) -> list[CompetitorMention]:
    """Vendors named in their own quotes (spelling tolerant), never the seller's own names."""
    own = {_letters(n) for n in own_names} - {""}
    kept = []
    for mention in mentions:
        name = _letters(mention.name)
        if any(o in name or name in o for o in own):
            dropped["own_name"] += 1
        elif not any(fuzz.partial_ratio(name, _letters(e.quote)) >= 85 for e in mention.evidence):
            dropped["name_not_in_quote"] += 1
        else:
            kept.append(mention)
    return kept


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _checked_budget(budget: Budget) -> Budget:
    """Amount, range and currency as the quotes state them, never as claimed."""
    money = [m for e in budget.evidence for m in find_money(e.quote)]
    first = money[0] if money else None
    return budget.model_copy(
        update={
            "amount": first.amount if first else None,
            "amount_max": first.amount_max if first else None,
            "currency": first.currency if first else None,
            "period": (first.period or budget.period) if first else None,
        }
    )


def _checked_timeline(timeline: Timeline, day: dt.date | None, fy: int) -> Timeline:
    """The day bound resolved from the quoted words (the phrase must be among them)."""
    for evidence in timeline.evidence:
        bounds = find_time_bounds(evidence.quote, call_date=day, fiscal_year_start=fy)
        if bounds:
            best = next(
                (b for b in bounds if b.phrase.lower() in timeline.phrase.lower()), bounds[0]
            )
            return timeline.model_copy(
                update={"phrase": best.phrase, "date": best.date, "within_days": best.within_days}
            )
    return timeline.model_copy(update={"date": None, "within_days": None})


def _checked_step(step: NextStep, day: dt.date | None) -> NextStep:
    bounds = [b for e in step.evidence for b in find_time_bounds(e.quote, call_date=day) if b.date]
    return step.model_copy(update={"due": bounds[0].date if bounds else None})


def _injected(transcript: Transcript) -> bool:
    return next(find_injections(transcript), None) is not None


def _injection_items(transcript: Transcript, g: Grounder) -> tuple[Insight, ...]:
    items = []
    for flagged in find_injections(transcript):
        evidence = g.evidence_quietly([flagged.text])
        if evidence:
            summary = f"Suspicious: {flagged.reason}"
            items.append(Insight(summary=summary, evidence=evidence, confidence=0.9))
    return tuple(items)


def _call_date(transcript: Transcript, call_date: dt.date | None) -> dt.date | None:
    if call_date is not None:
        return call_date
    return transcript.occurred_at.date() if transcript.occurred_at else None


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    return f"[{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}]"


def _classifier(mode: Literal["auto", "on", "off"]) -> SentenceClassifier | None:
    if mode == "off":
        return None
    try:
        from gtmflow.agents.sentence_head import default_head

        return default_head()
    except Exception:
        if mode == "on":
            raise
        return None
