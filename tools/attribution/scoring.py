"""Lead scoring as code: fit points from attributes, decaying engagement points from events.

A `LeadScorer` adds up rules in groups. Fit rules (`fit(...)`) award points when a contact
attribute compares so (any `gtmflow.pipes` condition on attributes: `p.attr("title",
contains="VP")`). Engagement rules (`engagement(...)`) award points per matching event, each
decaying by half every `half_life` (an event one half-life old is worth half). Each group's
total is capped (`caps`), so a very busy but unqualified contact cannot outscore a qualified
one, and the score is the sum of the capped groups. Every score comes with its explanation:
which rule gave how many points, on which events.

`Threshold`s turn scores into events pipes can trigger on: `crossings(...)` returns a
`score_threshold_crossed` event (properties `threshold`, `at_least`, `score`, `previous`) at
each instant the score rose to or above a threshold from below. Scores only rise at events
(decay only lowers them between events), so crossings happen at event times and are found
exactly. Event ids derive from (contact, threshold, instant): writing them twice is a no-op.

Example:
    >>> from datetime import UTC, datetime
    >>> from gtmflow import pipes as p
    >>> from gtmflow.models import Contact, Event
    >>> scorer = LeadScorer(rules=(
    ...     fit("exec", p.attr("title", contains="VP"), 20),
    ...     engagement("pricing", "page_view", 10, half_life="7d", path="/pricing"),
    ... ))
    >>> view = Event(id="e1", type="page_view", contact_id="c1", properties={"path": "/pricing"},
    ...              timestamp=datetime(2026, 3, 1, tzinfo=UTC))
    >>> scorer.score(Contact(id="c1", title="VP Sales"), [view],
    ...              as_of=datetime(2026, 3, 8, tzinfo=UTC)).score
    25.0
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gtmflow import pipes as p
from gtmflow.clock import Clock, parse_duration, require_aware
from gtmflow.errors import ConfigError
from gtmflow.models import Contact, Event
from gtmflow.pipes import Condition, EvalContext, History
from gtmflow.tools.events.event_store import EventStore, derived_event_id

__all__ = [
    "CROSSED",
    "EngagementRule",
    "FitRule",
    "LeadScorer",
    "ScoreBreakdown",
    "ScoreLine",
    "Threshold",
    "default_scorer",
    "engagement",
    "fit",
    "load_scorer",
]

CROSSED = "score_threshold_crossed"
"""Type of the events `LeadScorer.crossings` returns."""


@dataclass(frozen=True, slots=True)
class FitRule:
    """Points for a contact attribute (title, company size, stage, ...)."""

    name: str
    when: Condition
    points: float
    group: str = "fit"


@dataclass(frozen=True, slots=True)
class EngagementRule:
    """Points per matching event, halving every `half_life` (None: no decay)."""

    name: str
    type: str
    points: float
    where: tuple[tuple[str, Any], ...] = ()
    prefix: tuple[tuple[str, str], ...] = ()
    half_life: str | None = "30d"
    at_most: int | None = None
    group: str = "engagement"

    def accepts(self, event: Event) -> bool:
        """Whether an event counts for this rule."""
        props = event.properties
        return (
            event.type == self.type
            and all(props.get(k) == v for k, v in self.where)
            and all(str(props.get(k, "")).startswith(v) for k, v in self.prefix)
        )


@dataclass(frozen=True, slots=True)
class Threshold:
    """A score level that, when reached from below, emits a `score_threshold_crossed` event."""

    name: str
    at_least: float


def fit(name: str, when: Condition, points: float, *, group: str = "fit") -> FitRule:
    """A fit rule: `points` when `when` (an attribute condition) holds."""
    return FitRule(name, when, float(points), group)


def engagement(
    name: str,
    type: str,
    points: float,
    *,
    half_life: str | None = "30d",
    at_most: int | None = None,
    prefix: Mapping[str, str] | None = None,
    group: str = "engagement",
    **where: Any,
) -> EngagementRule:
    """An engagement rule: `points` per event of `type` with property values `where`.

    Args:
        name: Rule name, shown in explanations.
        type: Event type, e.g. `"page_view"`.
        points: Points per event when fresh (negative to penalise).
        half_life: The points halve every this long; None keeps them forever.
        at_most: Count only the most recent N matching events.
        prefix: Property prefixes, e.g. `{"path": "/blog/"}`.
        group: Group whose cap applies.
        **where: Property values the event must have, e.g. `path="/pricing"`.
    """
    if half_life is not None and parse_duration(half_life).total_seconds() <= 0:
        raise ConfigError(f"engagement rule '{name}': half_life must be positive")
    if at_most is not None and at_most < 1:
        raise ConfigError(f"engagement rule '{name}': at_most must be at least 1")
    return EngagementRule(
        name,
        type,
        float(points),
        tuple(sorted(where.items())),
        tuple(sorted((prefix or {}).items())),
        half_life,
        at_most,
        group,
    )


class ScoreLine(BaseModel):
    """One rule's contribution to a score."""

    model_config = ConfigDict(frozen=True)

    rule: str
    group: str
    points: float = Field(description="Points after decay, before the group cap (2 decimals).")
    events: int = Field(default=0, description="Matching events counted.")
    evidence: tuple[str, ...] = Field(default=(), description="Ids of the latest events.")


class ScoreBreakdown(BaseModel):
    """A contact's score at an instant, and why."""

    model_config = ConfigDict(frozen=True)

    contact_id: str
    as_of: datetime
    score: float = Field(description="Sum of the capped groups, rounded to 2 decimals.")
    groups: dict[str, float] = Field(description="Points per group after caps.")
    capped: dict[str, float] = Field(default_factory=dict, description="Points cut by caps.")
    lines: tuple[ScoreLine, ...] = ()
    thresholds: tuple[str, ...] = Field(default=(), description="Thresholds reached.")

    def explain(self) -> str:
        """A short human-readable explanation, one line per rule."""
        parts = [f"{self.contact_id}: {self.score:g} points as of {self.as_of.isoformat()}"]
        parts += [
            f"  {line.points:+g} {line.rule} ({line.group}"
            + (f", {line.events} events" if line.events else "")
            + ")"
            for line in self.lines
        ]
        parts += [f"  -{cut:g} over the {group} cap" for group, cut in self.capped.items()]
        return "\n".join(parts)


@dataclass(frozen=True)
class LeadScorer:
    """A points model: rules, caps per group, thresholds.

    Attributes:
        rules: Fit and engagement rules.
        caps: Largest total per group, e.g. `{"fit": 50, "engagement": 50}`; uncapped if absent.
        thresholds: Score levels that emit `score_threshold_crossed` events.
    """

    rules: tuple[FitRule | EngagementRule, ...]
    caps: Mapping[str, float] = field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"lead score rules must have unique names; repeated: {duplicates}")

    def score(
        self, contact: Contact, events: Sequence[Event], *, as_of: datetime
    ) -> ScoreBreakdown:
        """Score one contact at `as_of` from its attributes and events (later ones ignored)."""
        require_aware(as_of, "as_of")
        found = [self._fit_line(rule, contact, as_of) for rule in self._fits]
        found += [self._engagement_line(rule, events, as_of) for rule in self._engagements]
        lines = [line for line in found if line is not None]
        groups, capped = self._capped(lines)
        total = round(sum(groups.values()), 2)
        reached = tuple(t.name for t in self.thresholds if total >= t.at_least)
        return ScoreBreakdown(
            contact_id=contact.id,
            as_of=as_of,
            score=total,
            groups=groups,
            capped=capped,
            lines=tuple(lines),
            thresholds=reached,
        )

    def crossings(
        self,
        contact: Contact,
        events: Sequence[Event],
        *,
        as_of: datetime,
        since: datetime | None = None,
    ) -> list[Event]:
        """`score_threshold_crossed` events in `(since, as_of]`, in time order.

        A contact's score before its first event is taken as 0, so a contact qualified by fit
        alone crosses at its first event.
        """
        history = sorted((e for e in events if e.timestamp <= as_of), key=lambda e: e.timestamp)
        if not history or not self.thresholds:
            return []
        instants = sorted(
            {history[0].timestamp}
            | {e.timestamp for e in history for r in self._engagements if r.accepts(e)}
        )
        before, after = self._curve(contact, history, instants)
        before[0] = 0.0 if instants[0] == history[0].timestamp else before[0]
        found = []
        for i, moment in enumerate(instants):
            if since is not None and moment <= since:
                continue
            for threshold in self.thresholds:
                if before[i] < threshold.at_least <= after[i]:
                    found.append(_crossed(contact.id, moment, threshold, before[i], after[i]))
        return found

    def score_store(
        self, store: EventStore, *, as_of: datetime, contact_ids: Iterable[str] | None = None
    ) -> list[ScoreBreakdown]:
        """Score contacts of an event store (default: all), highest score first."""
        scores = []
        for contact_id in contact_ids if contact_ids is not None else store.contact_ids():
            contact = store.contact(contact_id)
            if contact is None:
                raise ConfigError(f"contact '{contact_id}' is not in the event store")
            scores.append(self.score(contact, store.events(contact_id, until=as_of), as_of=as_of))
        return sorted(scores, key=lambda s: (-s.score, s.contact_id))

    def lookup(
        self, store: EventStore, *, clock: Clock | None = None, as_of: datetime | None = None
    ) -> Callable[[str], float | None]:
        """A `Deps.score` function: a contact's score at `as_of` (or the clock's now)."""
        if clock is None and as_of is None:
            raise ConfigError("lookup() needs clock= or as_of= to know when to score")

        def score(contact_id: str) -> float | None:
            contact = store.contact(contact_id)
            if contact is None:
                return None
            moment = as_of or clock.now()  # type: ignore[union-attr]
            return self.score(contact, store.events(contact_id, until=moment), as_of=moment).score

        return score

    # ------------------------------------------------------------------ internals

    @property
    def _fits(self) -> list[FitRule]:
        return [r for r in self.rules if isinstance(r, FitRule)]

    @property
    def _engagements(self) -> list[EngagementRule]:
        return [r for r in self.rules if isinstance(r, EngagementRule)]

    def _fit_line(self, rule: FitRule, contact: Contact, as_of: datetime) -> ScoreLine | None:
        if not rule.when.evaluate(EvalContext(contact, History(()), as_of)):
            return None
        return ScoreLine(rule=rule.name, group=rule.group, points=rule.points)

    def _engagement_line(
        self, rule: EngagementRule, events: Sequence[Event], as_of: datetime
    ) -> ScoreLine | None:
        hits = sorted(
            (e for e in events if e.timestamp <= as_of and rule.accepts(e)),
            key=lambda e: (e.timestamp, e.id),
        )
        if rule.at_most is not None:
            hits = hits[-rule.at_most :]
        if not hits:
            return None
        ages = np.array([(as_of - e.timestamp).total_seconds() for e in hits])
        points = float((rule.points * _decay(ages, rule.half_life)).sum())
        evidence = tuple(e.id for e in reversed(hits[-5:]))
        return ScoreLine(
            rule=rule.name,
            group=rule.group,
            points=round(points, 2),
            events=len(hits),
            evidence=evidence,
        )

    def _capped(self, lines: list[ScoreLine]) -> tuple[dict[str, float], dict[str, float]]:
        groups: dict[str, float] = {}
        for line in lines:
            groups[line.group] = groups.get(line.group, 0.0) + line.points
        capped = {}
        for group, total in groups.items():
            cap = self.caps.get(group)
            if cap is not None and total > cap:
                capped[group] = round(total - cap, 2)
                groups[group] = float(cap)
        return {g: round(v, 2) for g, v in groups.items()}, capped

    def _curve(
        self, contact: Contact, history: list[Event], instants: list[datetime]
    ) -> tuple[list[float], list[float]]:
        """Scores just before and just after each instant (events at the instant included)."""
        fits = [self._fit_line(r, contact, instants[-1]) for r in self._fits]
        fixed: dict[str, float] = {}
        for line in fits:
            if line is not None:
                fixed[line.group] = fixed.get(line.group, 0.0) + line.points
        at = np.array([t.timestamp() for t in instants])
        curves = []
        sides: tuple[Literal["left", "right"], ...] = ("left", "right")
        for side in sides:
            groups = {g: np.full(len(at), v) for g, v in fixed.items()}
            for rule in self._engagements:
                points = _rule_curve(rule, history, at, side)
                groups[rule.group] = groups.get(rule.group, np.zeros(len(at))) + points
            total = np.zeros(len(at))
            for group, points in groups.items():
                total += np.minimum(points, self.caps[group]) if group in self.caps else points
            curves.append(np.round(total, 6).tolist())
        return curves[0], curves[1]


def default_scorer() -> LeadScorer:
    """A B2B points model for the demo world's contacts and events; copy it to start yours.

    Fit (capped at 40): a senior title, a company of 150+ people, an MQL/SQL/opportunity stage;
    customers lose points (they are not leads). Engagement (capped at 60): demo requests and
    meetings, pricing-page views, downloads, webinars, customer stories, blog reads and email
    clicks, each decaying; unsubscribing costs 30 points for good. Thresholds: `mql` at 40,
    `sql` at 70.
    """
    senior = p.attr("title", contains="VP") | p.attr("title", contains="Chief")
    senior = senior | p.attr("title", contains="Head of") | p.attr("title", contains="Director")
    senior = senior | p.attr("title", contains="Founder")
    rules: tuple[FitRule | EngagementRule, ...] = (
        fit("senior-title", senior, 15),
        fit("company-150-plus", p.attr("number_of_employees", at_least=150), 10),
        fit("qualified-stage", p.attr("lifecycle_stage", in_=("mql", "sql", "opportunity")), 10),
        fit("already-customer", p.attr("lifecycle_stage", equals="customer"), -20),
        engagement("demo-request", "demo_requested", 30, half_life="30d"),
        engagement("meeting-booked", "meeting_booked", 25, half_life="30d"),
        engagement("pricing-view", "page_view", 8, half_life="14d", at_most=5, path="/pricing"),
        engagement("download", "content_download", 10, half_life="30d", at_most=3),
        engagement("webinar", "webinar_attended", 10, half_life="30d", at_most=2),
        engagement(
            "customer-story",
            "page_view",
            4,
            half_life="30d",
            at_most=3,
            prefix={"path": "/customers/"},
        ),
        engagement(
            "blog-read", "page_view", 1, half_life="14d", at_most=10, prefix={"path": "/blog/"}
        ),
        engagement("email-click", "email_click", 3, half_life="14d", at_most=5),
        engagement("unsubscribed", "unsubscribed", -30, half_life=None),
    )
    return LeadScorer(
        rules=rules,
        caps={"fit": 40, "engagement": 60},
        thresholds=(Threshold("mql", 40), Threshold("sql", 70)),
    )


def load_scorer(root: str | Path) -> LeadScorer:
    """The workspace's points model: `SCORER` in `root/scoring.py`, else `default_scorer()`.

    `SCORER` may be a `LeadScorer` or a function returning one.
    """
    path = Path(root) / "scoring.py"
    if not path.exists():
        return default_scorer()
    name = f"gtmflow_workspace_scoring_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load '{path}' as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    value = getattr(module, "SCORER", None)
    value = value() if callable(value) else value
    if not isinstance(value, LeadScorer):
        raise ConfigError(
            f"'{path}' must define SCORER = LeadScorer(...) (or a function returning one); "
            f"got {type(value).__name__}"
        )
    return value


def _rule_curve(
    rule: EngagementRule, history: list[Event], at: np.ndarray, side: Literal["left", "right"]
) -> np.ndarray:
    """A rule's points at each instant; `side="left"` excludes events at the instant."""
    times = np.array([e.timestamp.timestamp() for e in history if rule.accepts(e)])
    if not len(times):
        return np.zeros(len(at))
    counted = np.searchsorted(times, at, side=side)  # events <= (or <) each instant
    index = np.arange(len(times))
    mask = index[None, :] < counted[:, None]
    if rule.at_most is not None:
        mask &= index[None, :] >= (counted - rule.at_most)[:, None]
    ages = np.clip(at[:, None] - times[None, :], 0, None)
    return np.asarray((rule.points * _decay(ages, rule.half_life) * mask).sum(axis=1))


def _decay(ages_seconds: np.ndarray, half_life: str | None) -> np.ndarray:
    if half_life is None:
        return np.ones_like(ages_seconds, dtype=float)
    return np.asarray(np.exp2(-ages_seconds / parse_duration(half_life).total_seconds()))


def _crossed(
    contact_id: str, at: datetime, threshold: Threshold, before: float, after: float
) -> Event:
    key = {"threshold": threshold.name}
    return Event(
        id=derived_event_id(contact_id, CROSSED, at, key),
        type=CROSSED,
        contact_id=contact_id,
        timestamp=at,
        properties={
            "threshold": threshold.name,
            "at_least": threshold.at_least,
            "score": round(after, 2),
            "previous": round(before, 2),
        },
    )
