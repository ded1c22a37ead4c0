"""What a follow-up email works from: the needs a contact raised, what earlier emails used, and
what the contact did since.

`situation(...)` sorts the insights into needs the writer can answer (pains, asks, real
objections, competitors as context, the timeline, the seller's promises, the prospect's requests),
drops what an earlier email of the enrollment already used (a quote, a pain, a piece), and knows
whose words each quote is, so the seller's words are never put in the prospect's mouth. `focus`
picks what this step's email is about: step 1 answers (the main pain and every ask), step 2 takes
a new angle, step 3 checks in. Both brains write from the same situation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from gtmflow.agents._plain_text import safe_title
from gtmflow.agents._restate import content_words
from gtmflow.agents.insights import Evidence, Insight, NextStep, TranscriptInsights, normalise
from gtmflow.models import Contact, Event, Transcript

if TYPE_CHECKING:
    from gtmflow.agents.content_writer import Draft

__all__ = ["Activity", "Focus", "Need", "Situation", "Usage", "focus", "quoted_spans", "situation"]

Occasion = Literal["call", "webinar"]
NeedKind = Literal["pain", "ask", "objection", "liked", "incumbent", "rival", "timeline", "promise",
                   "request"]  # fmt: skip
Angle = Literal["answer", "new_angle", "check_in"]
_QUOTED = re.compile(r"[\"“]([^\"”]{3,400})[\"”]")
_REQUEST = re.compile(
    r"^(?:(?:can|could|would) you (?:also |please )?|(?:please )?)(?:send|share|forward|email)"
    r"|^let'?s\b|^(?:can|could) (?:we|you)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Need:
    """One thing the email can answer, with the quote behind it (the claim's reference)."""

    kind: NeedKind
    item: Insight
    quote: str

    @property
    def ref(self) -> str:
        """The quote as earlier emails recorded it, for "never repeat"."""
        return normalise(self.quote).lower()

    @property
    def key(self) -> str:
        """This need's identity in one email: its quote (two asks in one sentence are two)."""
        kind = getattr(self.item, "kind", "") if self.kind == "ask" else ""
        return f"{kind}:{self.ref}" if kind else self.ref


@dataclass(frozen=True)
class Usage:
    """What the earlier emails of this enrollment already used."""

    refs: frozenset[str] = frozenset()
    pieces: frozenset[str] = frozenset()
    quotes: frozenset[str] = frozenset()
    subjects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Activity:
    """What the contact did since the last step."""

    pricing: bool = False
    consumed: tuple[str, ...] = ()
    consumed_title: str | None = None
    opened: bool = False


@dataclass(frozen=True)
class Situation:
    """Everything one email is written from; the needs exclude what earlier emails used."""

    contact: Contact
    occasion: Occasion
    title: str | None
    step: int
    asked_in_qa: bool
    pains: tuple[Need, ...] = ()
    asks: tuple[Need, ...] = ()
    objections: tuple[Need, ...] = ()
    competitors: tuple[Need, ...] = ()
    timeline: Need | None = None
    promises: tuple[Need, ...] = ()
    requests: tuple[Need, ...] = ()
    first_pain: Need | None = None
    usage: Usage = Usage()
    activity: Activity = Activity()
    events: tuple[Event, ...] = ()
    names: frozenset[str] = frozenset()
    rivals_named: tuple[str, ...] = ()
    prospect_quotes: tuple[str, ...] = ()
    seller_quotes: tuple[str, ...] = ()

    @property
    def first_name(self) -> str:
        """How to greet the contact."""
        words = [w for w in (self.contact.name or "").split() if not w.endswith(".")]
        return words[0] if words else "there"


@dataclass(frozen=True)
class Focus:
    """What this step's email is about."""

    angle: Angle
    main: Need | None = None
    asks: tuple[Need, ...] = ()
    context: tuple[Need, ...] = ()
    promise: Need | None = None
    request: Need | None = None

    def needs(self) -> list[Need]:
        """Every need this email answers, main first."""
        found = [self.main, *self.asks, *self.context, self.promise, self.request]
        return [n for n in found if n is not None]


def situation(
    contact: Contact,
    insights: TranscriptInsights | None,
    *,
    transcript: Transcript | None,
    occasion: Occasion | None,
    topic: str | None,
    activity: Sequence[Event] = (),
    earlier: Sequence[Draft] = (),
    step: int = 1,
) -> Situation:
    """Sort what the contact said into needs, minus what `earlier` emails already used."""
    usage = usage_of(earlier)
    roles = _Roles(transcript, insights)
    found = insights or TranscriptInsights(transcript_id="-")
    fresh = _Fresh(usage)
    pains = [Need("pain", p, _quote(p, roles)) for p in found.pain_points if roles.theirs(p)]
    competitors = [_competitor_need(c, roles) for c in found.competitors if roles.theirs(c)]
    kept = [Need("liked", s, _quote(s, roles)) for s in found.stack if roles.theirs(s)]
    asks = [Need("ask", a, _quote(a, roles)) for a in found.asks if roles.theirs(a)]
    return Situation(
        contact=contact,
        occasion=occasion or ("webinar" if topic else "call"),
        title=safe_title(topic),
        step=max(step, 1),
        asked_in_qa=bool(roles.prospect_texts),
        pains=fresh(pains),
        asks=fresh(asks),
        objections=fresh(_objections(found, roles, [*kept, *competitors])),
        competitors=fresh([*kept, *(c for c in competitors if c is not None)]),
        timeline=next(iter(fresh(_timeline(found, roles))), None),
        promises=fresh(_steps(found, roles, seller=True, asks=asks)),
        requests=fresh(_steps(found, roles, seller=False, asks=asks)),
        first_pain=pains[0] if pains else None,
        usage=usage,
        activity=_activity(activity),
        events=tuple(activity),
        names=_names(contact, found, transcript),
        rivals_named=tuple(c.name for c in found.competitors),
        prospect_quotes=tuple(roles.prospect_texts),
        seller_quotes=tuple(roles.seller_texts),
    )


def focus(s: Situation) -> Focus:
    """What this step's email is about: answer first, then a new angle, then a check-in."""
    liked = tuple(c for c in s.competitors if c.kind in ("liked", "incumbent"))
    rivals = tuple(c for c in s.competitors if c.kind == "rival")
    if s.step == 1:
        main = next(iter(s.pains or s.objections or rivals), None)
        later = [*s.pains[1:], *s.objections, *rivals, s.timeline]
        keep_for_later = main is not None and not any(later)  # email 2 needs a reason too
        return Focus(
            "answer",
            main=main,
            asks=s.asks,
            context=() if keep_for_later else liked,
            promise=next(iter(s.promises), None),
            request=next(iter(s.requests), None) if not s.asks else None,
        )
    if s.step == 2:
        main = next(iter([*s.pains, *s.objections, *rivals]), s.timeline)
        context = tuple(r for r in rivals[:1] if r is not main) + liked
        return Focus(
            "new_angle",
            main=main or next(iter(liked), None),
            asks=s.asks,
            context=context if main else liked[1:],
        )
    main = s.timeline or next(iter([*s.pains, *s.objections, *rivals]), None)
    return Focus("check_in", main=main, asks=s.asks)


def usage_of(earlier: Sequence[Draft]) -> Usage:
    """The quotes, pains and pieces earlier drafts used, read from their claims and body."""
    refs: set[str] = set()
    pieces: set[str] = set()
    quotes: set[str] = set()
    for draft in earlier:
        for claim in draft.claims:
            if claim.source == "transcript" and claim.ref and claim.supported:
                refs.add(normalise(claim.ref).lower())
            if claim.source == "content" and claim.ref and claim.supported:
                pieces.add(claim.ref.split("#")[0])
        pieces.update(r.split("#")[0] for r in draft.recommended)
        quotes.update(normalise(q).lower() for q in quoted_spans(draft.body))
    return Usage(
        frozenset(refs),
        frozenset(pieces),
        frozenset(quotes),
        tuple(d.subject or "" for d in earlier),
    )


def quoted_spans(text: str) -> list[str]:
    """The spans of `text` inside quotation marks."""
    return [m.group(1).strip() for m in _QUOTED.finditer(text)]


@dataclass
class _Fresh:
    """Filters needs an earlier email used (same quote, or largely the same words)."""

    usage: Usage
    seen: set[str] = field(default_factory=set)

    def __call__(self, needs: Sequence[Need]) -> tuple[Need, ...]:
        kept = []
        for need in needs:
            if need.key in self.seen or self._used(need):
                continue
            self.seen.add(need.key)
            kept.append(need)
        return tuple(kept)

    def _used(self, need: Need) -> bool:
        if need.ref in self.usage.refs:
            return True
        words = content_words(need.quote)
        return any(
            words and len(words & content_words(ref)) / len(words) >= 0.8 for ref in self.usage.refs
        )


class _Roles:
    """Whose words each quote is: the transcript's roles, or the insights' speakers without one."""

    def __init__(self, transcript: Transcript | None, insights: TranscriptInsights | None) -> None:
        self.transcript = transcript
        self.prospect_texts: list[str] = []
        self.seller_texts: list[str] = []
        if transcript is not None:
            for u in transcript.utterances:
                (self.seller_texts if u.role == "seller" else self.prospect_texts).append(u.text)
        pains = insights.pain_points if insights else ()
        self.prospects = {e.speaker for p in pains for e in p.evidence if e.speaker}

    def role(self, evidence: Evidence) -> str:
        """`seller`, `prospect` or `unknown` for the speaker of one quote."""
        index = evidence.utterance
        count = len(self.transcript.utterances) if self.transcript is not None else 0
        if self.transcript is not None and index is not None and 0 <= index < count:
            return self.transcript.utterances[index].role
        if self.transcript is not None:
            text = normalise(evidence.quote)
            if any(text in normalise(t) for t in self.seller_texts):
                return "seller"
            return (
                "prospect" if any(text in normalise(t) for t in self.prospect_texts) else "unknown"
            )
        if self.prospects:
            return "prospect" if evidence.speaker in self.prospects else "seller"
        return "unknown"

    def theirs(self, item: Insight) -> bool:
        """Whether any of the item's quotes is the prospect's (or of unknown role)."""
        return any(self.role(e) != "seller" for e in item.evidence)

    def seller_said(self, item: Insight) -> bool:
        """Whether the item's quotes are the seller's."""
        return all(self.role(e) == "seller" for e in item.evidence)


def _quote(item: Insight, roles: _Roles) -> str:
    theirs = [e for e in item.evidence if roles.role(e) != "seller"]
    return (theirs or list(item.evidence))[0].quote


def _competitor_need(item: Insight, roles: _Roles) -> Need | None:
    role = getattr(item, "role", "mentioned")
    sentiment = getattr(item, "sentiment", None)
    quote = _quote(item, roles)
    if role == "incumbent" and sentiment == "positive":
        return Need("liked", item, quote)
    if role == "incumbent" and sentiment != "negative":
        return Need("incumbent", item, quote)
    if role in ("past", "evaluating", "incumbent"):
        return Need("rival", item, quote)
    return None  # named only: nothing to say about it


def _objections(
    insights: TranscriptInsights, roles: _Roles, competitors: Sequence[Need | None]
) -> list[Need]:
    """Real objections: not a complaint about a competitor, not about a tool they like."""
    context = [normalise(c.quote) for c in competitors if c is not None]
    names = [c.name.lower() for c in (*insights.competitors, *insights.stack)]
    kept = []
    for objection in insights.objections:
        if not roles.theirs(objection):
            continue
        quote = _quote(objection, roles)
        if any(_overlaps(quote, other) for other in context):
            continue
        named = any(name and name in quote.lower() for name in names)
        if named and not _PRICE_WORDS.search(quote):
            continue  # about another vendor, not about us: liked or disliked, never "a concern"
        kept.append(Need("objection", objection, quote))
    return kept


_PRICE_WORDS = re.compile(r"\b(?:price|pricing|cost|cheaper|expensive|quote|budget)\w*", re.I)


def _overlaps(a: str, b: str) -> bool:
    wa, wb = content_words(a), content_words(b)
    return bool(wa and wb) and len(wa & wb) / min(len(wa), len(wb)) >= 0.6


def _timeline(insights: TranscriptInsights, roles: _Roles) -> list[Need]:
    found = insights.timeline
    return [Need("timeline", found, _quote(found, roles))] if found and roles.theirs(found) else []


def _steps(
    insights: TranscriptInsights, roles: _Roles, *, seller: bool, asks: Sequence[Need]
) -> list[Need]:
    """The seller's promises, or the prospect's requests that no ask already covers."""
    out = []
    for step in insights.next_steps:
        if roles.seller_said(step) != seller:
            continue
        quote = step.evidence[0].quote
        if seller:
            out.append(Need("promise", step, quote))
        elif _REQUEST.search(_request_text(step)) and not any(
            _overlaps(quote, a.quote) for a in asks
        ):
            out.append(Need("request", step, quote))
    return out


def _request_text(step: NextStep) -> str:
    return normalise(step.evidence[0].quote).lstrip("\"' ").removeprefix("Great. ")


def _activity(events: Sequence[Event]) -> Activity:
    pricing = any(
        e.type == "page_view" and "pricing" in str(e.properties.get("path", "")) for e in events
    )
    consumed: list[str] = []
    title = None
    for event in events:
        if event.type in ("email_click", "content_download"):
            props = event.properties
            ident = props.get("content_id") or props.get("asset_id")
            if isinstance(ident, str) and ident:
                consumed.append(ident)
            title = safe_title(props.get("title")) or title
    opened = any(e.type in ("email_open", "email_click") for e in events)
    return Activity(pricing, tuple(dict.fromkeys(consumed)), title, opened)


def _names(
    contact: Contact, insights: TranscriptInsights, transcript: Transcript | None
) -> frozenset[str]:
    """Words to keep capitalised when a clause is said back: names of people, firms, products."""
    names = {w for text in (contact.company or "", contact.name or "") for w in text.split()}
    names |= {w for c in (*insights.competitors, *insights.stack) for w in c.name.split()}
    lower: set[str] = set()
    for text in (u.text for u in transcript.utterances) if transcript else ():
        words = [w.strip(",.;:!?\"'") for w in text.split()]
        lower |= {w for w in words if w.islower()}
        names |= {
            w
            for before, w in zip(text.split(), words[1:], strict=False)
            if w[:1].isupper() and not before.endswith((".", "!", "?"))
        }
    # "Trucks" in "StreetStack Food Trucks" is still a common noun when "trucks" is said too.
    return frozenset(n for n in names if n and n != "I" and n.lower() not in lower)
