"""The offline transcript analyser: cue lexicons, extractors and an optional sentence classifier.

Every sentence of every turn is scored per category by weighted cue lexicons (`_lexicons.py`);
an optional sentence classifier (the MiniLM `SentenceHead`, `sentence_head.py`) adds its vote.
Vendors come from how they are talked about (`_vendors.py`: frames, brand shapes, the workspace
list and a default prior), asks from request forms (`_asks.py`; each ask is a buying signal too),
injection flags from `_injection.py`, budgets from our money parser, timelines from
fiscal-aware time rules, sentiment from VADER with a sales-language patch, computed over the
prospect's sentences that are not pains (a prospect describing a painful status quo is not
unhappy with you). Quotes are whole sentences, so they are verbatim by construction; the agent
still grounds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

from gtmflow.agents._asks import find_ask
from gtmflow.agents._extractors import Sentence, find_money, split_sentences
from gtmflow.agents._injection import find_injections
from gtmflow.agents._lexicons import (
    AUTHORITY_TITLES,
    CUES,
    DEFAULT_COMPETITORS,
    NEGATORS,
    OBJECTION_TOPICS,
    SALES_SENTIMENT,
    TIMELINE_CONTEXT,
)
from gtmflow.agents._timeline import TimeBound, find_time_bounds
from gtmflow.agents._vendors import SaidSentence, VendorFinder, VendorMention
from gtmflow.agents.insights import (
    Ask,
    Authority,
    Budget,
    BuyingSignal,
    CompetitorMention,
    Evidence,
    Insight,
    NextStep,
    Objection,
    ObjectionCategory,
    PainPoint,
    Sentiment,
    Timeline,
    TranscriptInsights,
)
from gtmflow.models import Transcript

__all__ = ["AnalystOptions", "RulesAnalyst", "SentenceClassifier"]

CATEGORIES = ("pain", "objection", "buying_signal", "next_step", "authority", "budget")
_PROSPECT_ONLY = {"pain", "objection", "buying_signal", "budget"}
_FIRST_PERSON = re.compile(r"\b(?:i'll|i will|i'm going to|let me|i can|i'd|we'll|we will)\b", re.I)
_ASK_OTHER = re.compile(
    r"(?:please )?(?:send|share|email|forward) (?:me|us)\b|(?:\w+ )?(?:can|could|would) you\b", re.I
)
_ACCEPT = re.compile(
    r"\b(?:ballpark|that works|works for us|within (?:our )?budget|fits|reasonable|doable|fair)\b",
    re.I,
)
_OBJECTION_ORDER: tuple[ObjectionCategory, ...] = (
    "price", "authority", "timing", "security", "implementation", "integration", "competition",
    "need",
)  # fmt: skip
_STRONG_TIMELINE = re.compile(
    r"\b(?:need|in place|go[- ]live|live|launch\w*|decid\w+|decision|sign\w*|deadline|roll ?out|"
    r"implement\w*|up and running|renew\w*|deploy\w*|start\w*|choose|select\w*|purchase)\b",
    re.I,
)


class SentenceClassifier(Protocol):
    """Scores sentences per category in [0, 1]; the embedding classifier implements it."""

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One `{category: score}` per text, over `CATEGORIES`."""
        ...


@dataclass(frozen=True)
class AnalystOptions:
    """Settings of the rules analyser.

    Attributes:
        competitors: The workspace's competitor names (spelling tolerant).
        prior: Vendor names found like `competitors` without a frame; a prior, not a gate:
            other vendors are found from how they are talked about.
        own_names: Your company and product names, never reported as competitors.
        fiscal_year_start: Month (1-12) your prospects' fiscal year starts, for "Q3".
        classifier: Optional sentence classifier (e.g. `SentenceHead`) fused with cues.
        classifier_weight: How much a classifier score of 1.0 adds to the cue score.
        threshold: Score a sentence needs for a category.
    """

    competitors: Sequence[str] = DEFAULT_COMPETITORS
    prior: Sequence[str] = DEFAULT_COMPETITORS
    own_names: Sequence[str] = ()
    fiscal_year_start: int = 1
    classifier: SentenceClassifier | None = None
    classifier_weight: float = 1.0
    threshold: float = 1.0
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Scored:
    sentence: Sentence
    role: str
    speaker: str
    timestamp: float | None
    scores: dict[str, float]
    labels: set[str] = field(default_factory=set)


class RulesAnalyst:
    """Analyses one transcript offline; deterministic for the same inputs."""

    def __init__(self, options: AnalystOptions | None = None) -> None:
        self.options = options or AnalystOptions()
        self.vendors = VendorFinder(
            known=self.options.competitors,
            prior=self.options.prior,
            own_names=self.options.own_names,
        )
        self._vader: Any = None

    def analyze(self, transcript: Transcript, *, call_date: date | None) -> TranscriptInsights:
        """Insights with sentence quotes; `call_date` resolves relative time expressions."""
        flagged = list(find_injections(transcript))
        machines = {f.utterance for f in flagged if f.reason.startswith("a turn labelled")}
        scored = [s for s in self._score(transcript) if s.sentence.utterance not in machines]
        prospects = [s for s in scored if s.role != "seller"]
        said = [SaidSentence(s.sentence.text, s.role, s.speaker) for s in scored]
        mentions = self.vendors.find(said)
        rivals = [m for m in mentions if not m.kept]
        return TranscriptInsights(
            transcript_id=transcript.id,
            call_date=call_date,
            pain_points=tuple(PainPoint(**i) for i in _items(scored, "pain")),
            objections=tuple(
                Objection(category=_category(i["evidence"][0].quote, rivals), **i)
                for i in _items(scored, "objection")
            ),
            buying_signals=tuple(BuyingSignal(**i) for i in _items(scored, "buying_signal")),
            competitors=tuple(_mention(m, scored) for m in rivals),
            stack=tuple(_mention(m, scored) for m in mentions if m.kept),
            asks=_asks(scored),
            budget=self._budget(scored),
            timeline=self._timeline(prospects or scored, call_date),
            authority=self._authority(scored),
            next_steps=self._next_steps(scored, call_date),
            sentiment=self._sentiment(prospects or scored),
            suspicious_instructions=bool(flagged),
            suspicious=tuple(
                Insight(
                    summary=f"Suspicious: {f.reason}",
                    evidence=(_utterance_evidence(transcript, f.utterance, f.text),),
                    confidence=0.9,
                )
                for f in flagged
            ),
        )

    def _score(self, transcript: Transcript) -> list[_Scored]:
        roles_known = any(u.role != "unknown" for u in transcript.utterances)
        scored = [
            _Scored(s, u.role, u.speaker, u.timestamp, cue_scores(s.text))
            for index, u in enumerate(transcript.utterances)
            for s in split_sentences(index, u.text)
        ]
        classifier = self.options.classifier
        if classifier is not None and scored:
            votes = classifier.scores([s.sentence.text for s in scored])
            for item, vote in zip(scored, votes, strict=True):
                for category, value in vote.items():
                    if category in item.scores:
                        item.scores[category] += self.options.classifier_weight * value
        for item in scored:
            item.labels = _labels(item, roles_known, self.options.threshold)
        return scored

    def _budget(self, scored: list[_Scored]) -> Budget | None:
        best: tuple[float, _Scored, list[Any]] | None = None
        for index, item in enumerate(scored):
            money = find_money(item.sentence.text)
            accepted = _accepted_after(scored, index)
            weight = item.scores["budget"] + (1.0 if item.role != "seller" else 0.0)
            if money and (item.role != "seller" or accepted):
                weight += 1.0 + (0.5 if accepted else 0.0)
            elif not money and ("budget" not in item.labels or item.role == "seller"):
                continue
            if best is None or weight > best[0]:
                best = (weight, item, money)
        if best is None:
            return None
        _, item, money = best
        first = money[0] if money else None
        return Budget(
            summary=_summary(item.sentence.text),
            evidence=(_evidence(item),),
            confidence=0.8 if item.role != "seller" else 0.6,
            amount=first.amount if first else None,
            amount_max=first.amount_max if first else None,
            currency=first.currency if first else None,
            period=first.period if first else None,
        )

    def _timeline(self, scored: list[_Scored], call_date: date | None) -> Timeline | None:
        candidates: list[tuple[float, _Scored, TimeBound]] = []
        for item in scored:
            context = TIMELINE_CONTEXT.search(item.sentence.text)
            for bound in find_time_bounds(
                item.sentence.text,
                call_date=call_date,
                fiscal_year_start=self.options.fiscal_year_start,
            ):
                short = bound.within_days is None and re.search(
                    r"day|week|tomorrow|monday|tuesday|wednesday|thursday|friday",
                    bound.phrase,
                    re.I,
                )
                if short and "next_step" in item.labels:
                    continue  # "send it by Friday" is a next step, not a buying timeline
                weight = (0.7 if context else 0.2) + (0.5 if "next_step" not in item.labels else 0)
                weight += 0.5 if _STRONG_TIMELINE.search(item.sentence.text) else 0.0
                weight -= 0.6 if "pain" in item.labels else 0.0
                candidates.append((weight, item, bound))
        if not candidates:
            return None
        weight, item, bound = max(candidates, key=lambda c: c[0])
        if weight < 1.0:
            return None
        return Timeline(
            summary=_summary(item.sentence.text),
            evidence=(_evidence(item),),
            confidence=min(0.9, 0.4 + 0.3 * weight),
            phrase=bound.phrase,
            date=bound.date,
            within_days=bound.within_days,
        )

    def _authority(self, scored: list[_Scored]) -> tuple[Authority, ...]:
        items = []
        for item in scored:
            if "authority" not in item.labels:
                continue
            text = item.sentence.text
            title = AUTHORITY_TITLES.search(text)
            person = title.group("title") if title else None
            if person is None and re.search(r"\b(?:i|i'm|i am)\b", text, re.I):
                person = item.speaker
            role: Literal["decision_maker", "approver", "influencer"] = "influencer"
            if re.search(r"decision|final (?:say|call|word)|sign", text, re.I):
                role = "decision_maker"
            elif re.search(r"approv|budget (?:holder|owner)", text, re.I):
                role = "approver"
            items.append(
                Authority(
                    summary=_summary(text),
                    evidence=(_evidence(item),),
                    confidence=_confidence(item.scores["authority"]),
                    person=person,
                    role=role,
                )
            )
        return tuple(items)

    def _next_steps(self, scored: list[_Scored], call_date: date | None) -> tuple[NextStep, ...]:
        steps = []
        for index, item in enumerate(scored):
            if "next_step" not in item.labels:
                continue
            text = item.sentence.text
            bounds = [b for b in find_time_bounds(text, call_date=call_date) if b.date is not None]
            owner = item.speaker if _FIRST_PERSON.search(text) else None
            if _ASK_OTHER.match(text) or (owner is None and _ASK_OTHER.search(text)):
                owner = _other_party(scored, index)
            steps.append(
                NextStep(
                    summary=_summary(text),
                    evidence=(_evidence(item),),
                    confidence=_confidence(item.scores["next_step"]),
                    owner=owner,
                    due=bounds[0].date if bounds else None,
                )
            )
        return tuple(steps)

    def _sentiment(self, scored: list[_Scored]) -> Sentiment:
        judged = [(self._polarity(s.sentence.text), s) for s in scored if "pain" not in s.labels]
        judged = [(p, s) for p, s in judged if abs(p) >= 0.05]
        if not judged:
            return Sentiment()
        score = round(sum(p for p, _ in judged) / len(judged), 3)
        label = "positive" if score >= 0.2 else "negative" if score <= -0.2 else "neutral"
        ranked = sorted(judged, key=lambda ps: ps[0], reverse=score >= 0)
        evidence = tuple(_evidence(s) for _, s in ranked[:2]) if label != "neutral" else ()
        return Sentiment(label=label, score=max(-1.0, min(1.0, score)), evidence=evidence)

    def _polarity(self, text: str) -> float:
        if self._vader is None:
            from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
                SentimentIntensityAnalyzer,
            )

            self._vader = SentimentIntensityAnalyzer()
            self._vader.lexicon.update(SALES_SENTIMENT)
        return float(self._vader.polarity_scores(text)["compound"])


def cue_scores(text: str) -> dict[str, float]:
    scores = {
        category: sum(weight for pattern, weight in cues if pattern.search(text))
        for category, cues in CUES.items()
    }
    if NEGATORS.search(text):
        scores["pain"] -= 1.0
        scores["objection"] -= 1.0
    return scores


def _labels(item: _Scored, roles_known: bool, threshold: float) -> set[str]:
    labels = {c for c, score in item.scores.items() if score >= threshold}
    if roles_known and item.role == "seller":
        labels -= _PROSPECT_ONLY
    if {"pain", "objection"} <= labels:
        loser = "pain" if item.scores["objection"] >= item.scores["pain"] else "objection"
        labels.discard(loser)
    if "budget" in labels and not (find_money(item.sentence.text) or item.scores["budget"] >= 1.5):
        labels.discard("budget")
    if item.role != "seller" and find_ask(item.sentence.text):
        labels.add("buying_signal")  # an ask for pricing, a pilot or a reference shows intent
    return labels


def _items(scored: list[_Scored], category: str) -> list[dict[str, Any]]:
    """Items for one category; adjacent sentences of one turn merge into one item."""
    groups: list[list[_Scored]] = []
    for item in scored:
        if category not in item.labels:
            continue
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and last.sentence.utterance == item.sentence.utterance
            and (last.sentence.end <= item.sentence.start)
            and _adjacent(scored, last, item)
        ):
            groups[-1].append(item)
        else:
            groups.append([item])
    return [
        {
            "summary": _summary(group[0].sentence.text),
            "evidence": tuple(_evidence(s) for s in group),
            "confidence": _confidence(max(s.scores[category] for s in group)),
        }
        for group in groups
    ]


def _adjacent(scored: list[_Scored], first: _Scored, second: _Scored) -> bool:
    return scored.index(second) - scored.index(first) == 1


def _accepted_after(scored: list[_Scored], index: int) -> bool:
    """Whether the next turn by the other side accepts what this sentence proposed."""
    item = scored[index]
    for later in scored[index + 1 : index + 6]:
        if later.role != item.role and later.role != "unknown":
            return bool(_ACCEPT.search(later.sentence.text))
    return False


def _other_party(scored: list[_Scored], index: int) -> str | None:
    me = scored[index]
    for step in (*range(index - 1, -1, -1), *range(index + 1, len(scored))):
        other = scored[step]
        if other.speaker != me.speaker and (other.role != me.role or me.role == "unknown"):
            return str(other.speaker)
    return None


def _category(quote: str, rivals: Sequence[VendorMention]) -> ObjectionCategory:
    if any(re.search(rf"(?<!\w){re.escape(m.name)}(?!\w)", quote, re.I) for m in rivals):
        return "competition"
    for category in _OBJECTION_ORDER:
        if OBJECTION_TOPICS[category].search(quote):
            return category
    return "other"


def _mention(mention: VendorMention, scored: list[_Scored]) -> CompetitorMention:
    said = {"incumbent": "uses", "evaluating": "is evaluating", "past": "used before",
            "mentioned": "mentioned"}[mention.role]  # fmt: skip
    summary = f"{mention.name}: {'kept, works with' if mention.kept else said}"
    return CompetitorMention(
        name=mention.name,
        summary=summary,
        evidence=tuple(_evidence(scored[i]) for i in mention.sentences[:3]),
        confidence=0.8 if mention.role != "mentioned" else 0.6,
        role=mention.role,
        sentiment=mention.sentiment,
    )


def _asks(scored: list[_Scored]) -> tuple[Ask, ...]:
    """The prospect's requests, one per sentence, with the item asked for when named."""
    asks = []
    for item in scored:
        found = find_ask(item.sentence.text) if item.role != "seller" else None
        if found is not None:
            asks.append(
                Ask(
                    kind=found.kind,
                    item=found.item,
                    summary=_summary(item.sentence.text),
                    evidence=(_evidence(item),),
                    confidence=0.75,
                )
            )
    return tuple(asks)


def _utterance_evidence(transcript: Transcript, index: int, text: str) -> Evidence:
    u = transcript.utterances[index]
    return Evidence(quote=text, speaker=u.speaker, timestamp=u.timestamp, utterance=index)


def _evidence(item: _Scored) -> Evidence:
    return Evidence(
        quote=item.sentence.text,
        speaker=item.speaker,
        timestamp=item.timestamp,
        utterance=item.sentence.utterance,
    )


def _summary(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _confidence(score: float) -> float:
    return round(min(0.95, 0.35 + 0.25 * score), 2)


def sentence_labels(insights: TranscriptInsights) -> Iterable[tuple[str, str]]:
    """(category, quote) pairs of an analysis, for evaluation against sentence labels."""
    groups: dict[str, Sequence[Insight]] = {
        "pain": insights.pain_points,
        "objection": insights.objections,
        "buying_signal": insights.buying_signals,
        "next_step": insights.next_steps,
        "authority": insights.authority,
        "competitor": insights.competitors,
    }
    for category, items in groups.items():
        for item in items:
            for evidence in item.evidence:
                yield category, evidence.quote
    for category, single in (("budget", insights.budget), ("timeline", insights.timeline)):
        if single is not None:
            for evidence in single.evidence:
                yield category, evidence.quote
