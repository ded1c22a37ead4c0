"""Conditions on what follows an event: "A, then B within D" and "A, then no B within D".

"Trial started and no login in the 5 days after it" looks forward from each trial start, which
`inactive` (looking back from now) cannot say:

    >>> from gtmflow import pipes as p
    >>> stalled = p.not_followed_by("trial_started", "login", within="5d")
    >>> stalled
    not_followed_by('trial_started', 'login', within='5d')
    >>> p.followed_by(p.event("demo_requested", source="ads"), "meeting_booked", within="14d")
    followed_by(event('demo_requested', source='ads'), 'meeting_booked', within='14d')

A B counts as following an A when `A <= B <= A + within` (inclusive, like `count`'s window).
`not_followed_by` holds from `A + within` on when no B came in that window; time alone makes it
true, so rules using it are swept, and each arriving A or B re-evaluates the contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gtmflow.errors import ConfigError
from gtmflow.models import Event
from gtmflow.pipes.conditions import (
    NEVER,
    Condition,
    EventCondition,
    _describe,
    _fmt,
    _iso,
    _matching,
    _positive,
    _type,
)
from gtmflow.pipes.history import EvalContext, EventFilter, HistoryNeed, Match

__all__ = ["FollowedBy", "followed_by", "not_followed_by"]


@dataclass(frozen=True, slots=True, repr=False)
class FollowedBy(Condition):
    """An event `first`, then (`negate=False`) a `then` event within `within`, or no such event."""

    first: EventCondition
    then: EventCondition
    within: timedelta
    negate: bool = False

    def evaluate(self, ctx: EvalContext) -> Match:
        starts = _matching(ctx, self.first.type, self.first.properties, None)
        pairs = [(a, self._followers(ctx, a)) for a in starts]
        if self.negate:
            return self._unanswered(ctx, pairs)
        answered = [(a, hits[0]) for a, hits in pairs if hits]
        if not answered:
            return Match(False, reason=f"no {self._what()}")
        a, b = answered[-1]
        reason = f"{a.type} at {_iso(a.timestamp)}, then {b.type} at {_iso(b.timestamp)}"
        return Match(True, (a.id, b.id), reason, b.timestamp)

    def filters(self) -> tuple[EventFilter, ...]:
        # A new `first` starts a window and a new `then` may close one: both re-evaluate.
        return (*self.first.filters(), *self.then.filters())

    def uses_inactivity(self) -> bool:
        return self.negate

    def history_needs(self) -> tuple[HistoryNeed, ...]:
        # every `first` ever may open a window, and its followers may be any age too
        return (*self.first.history_needs(), HistoryNeed(self.then.type, self.then.properties))

    def earliest(self, ctx: EvalContext) -> datetime:
        if not self.negate:
            return ctx.now if self.evaluate(ctx) else NEVER
        starts = _matching(ctx, self.first.type, self.first.properties, None)
        open_windows = [a for a in starts if not self._followers(ctx, a)]
        if not open_windows:
            return NEVER
        return max(ctx.now, min(a.timestamp + self.within for a in open_windows))

    def __repr__(self) -> str:
        name = "not_followed_by" if self.negate else "followed_by"
        return f"{name}({_shown(self.first)}, {_shown(self.then)}, within={_fmt(self.within)!r})"

    def _followers(self, ctx: EvalContext, start: Event) -> list[Event]:
        """`then` events in `[start, start + within]` (up to now), the start itself excluded."""
        end = min(start.timestamp + self.within, ctx.now)
        hits = _matching(ctx, self.then.type, self.then.properties, start.timestamp)
        return [e for e in hits if e.timestamp <= end and e.id != start.id]

    def _unanswered(self, ctx: EvalContext, pairs: list[tuple[Event, list[Event]]]) -> Match:
        closed = [a for a, hits in pairs if not hits and a.timestamp + self.within <= ctx.now]
        if not closed:
            waiting = [a for a, hits in pairs if not hits]
            if not waiting:
                return Match(False, reason=f"no {self.first.type} left unanswered")
            last = waiting[-1]
            return Match(False, reason=f"window after {last.type} at {_iso(last.timestamp)} open")
        a = closed[-1]
        reason = f"{a.type} at {_iso(a.timestamp)}, no {self.then.type} within {_fmt(self.within)}"
        return Match(True, (a.id,), reason, a.timestamp)

    def _what(self) -> str:
        first = _describe(self.first.type, self.first.properties)
        then = _describe(self.then.type, self.then.properties)
        return f"{first} followed by {then} within {_fmt(self.within)}"


def followed_by(
    first: str | Condition, then: str | Condition, /, *, within: str | timedelta
) -> Condition:
    """A `first` event, then a `then` event at most `within` after it.

    Each of `first` and `then` is an event type or an `event(type, **properties)` condition
    (without its own `within`).
    """
    return FollowedBy(_step(first, "first"), _step(then, "then"), _positive(within, "within"))


def not_followed_by(
    first: str | Condition, then: str | Condition, /, *, within: str | timedelta
) -> Condition:
    """A `first` event with no `then` event in the `within` after it (holds once that passed)."""
    window = _positive(within, "within")
    return FollowedBy(_step(first, "first"), _step(then, "then"), window, negate=True)


def _step(value: str | Condition, role: str) -> EventCondition:
    if isinstance(value, str):
        return EventCondition(_type(value))
    if isinstance(value, EventCondition) and value.within is None:
        return value
    raise ConfigError(
        f"followed_by/not_followed_by: {role} must be an event type such as 'login' or "
        f"event('login', source='app') without within=, got {value!r}"
    )


def _shown(step: EventCondition) -> str:
    return repr(step) if step.properties else repr(step.type)
