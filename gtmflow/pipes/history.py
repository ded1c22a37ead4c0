"""What conditions are judged on: a contact's indexed history, the evaluation context, verdicts.

`History` indexes a contact's events by type and time for window queries; `EvalContext` is what a
condition sees; `Match` is its verdict with evidence; `EventFilter` is an event type plus property
equalities, the unit of the trigger index; `HistoryNeed` says which part of a history a condition
reads, so a run loop can load only that part.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gtmflow.models import Contact, Event

__all__ = [
    "FIRST_EVENT",
    "EvalContext",
    "EventFilter",
    "History",
    "HistoryNeed",
    "Match",
    "needed_events",
    "props_match",
]


class History:
    """A contact's events indexed by type and time, for fast window queries.

    Built once per contact; a condition evaluated at many "now"s slices it with binary search.
    """

    def __init__(self, events: Sequence[Event]) -> None:
        ordered = sorted(events, key=lambda e: (e.timestamp, e.id))
        self.events: tuple[Event, ...] = tuple(ordered)
        self._by_type: dict[str, list[Event]] = {}
        for item in ordered:
            self._by_type.setdefault(item.type, []).append(item)
        self._times = {t: [e.timestamp for e in evs] for t, evs in self._by_type.items()}

    @property
    def first_at(self) -> datetime | None:
        """Timestamp of the contact's first known event."""
        return self.events[0].timestamp if self.events else None

    def of_type(self, type_: str, *, since: datetime | None, until: datetime) -> list[Event]:
        """Events of one type with `since <= timestamp <= until` (`since=None`: no lower bound)."""
        times = self._times.get(type_)
        if not times:
            return []
        lo = 0 if since is None else bisect_left(times, since)
        return self._by_type[type_][lo : bisect_right(times, until)]

    def last_of_type(self, type_: str, *, before: datetime) -> Event | None:
        """The latest event of a type strictly before `before`."""
        times = self._times.get(type_)
        if not times:
            return None
        index = bisect_left(times, before)
        return self._by_type[type_][index - 1] if index else None


@dataclass(frozen=True, slots=True)
class EvalContext:
    """What a condition sees: the contact, their history, the instant to judge at, a score."""

    contact: Contact
    history: History
    now: datetime
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A condition's verdict with its evidence (event ids) and a human-readable reason."""

    matched: bool
    evidence: tuple[str, ...] = ()
    reason: str = ""
    latest_at: datetime | None = None

    def __bool__(self) -> bool:
        return self.matched


@dataclass(frozen=True, slots=True)
class EventFilter:
    """An event type plus property equalities; used to index triggers."""

    type: str
    properties: tuple[tuple[str, Any], ...] = ()

    def accepts(self, item: Event) -> bool:
        """Whether an event has this type and every listed property value."""
        return item.type == self.type and props_match(item, self.properties)


def props_match(item: Event, properties: tuple[tuple[str, Any], ...]) -> bool:
    """Whether an event has every listed property value."""
    props = item.properties
    return all(props.get(key) == value for key, value in properties)


@dataclass(frozen=True, slots=True)
class HistoryNeed:
    """A part of a contact's history a condition reads when judged at some instant `now`.

    Events of `type` with these property values, from `now - lookback` on (`lookback=None`: all
    of them, however old); with `latest`, also the latest such event before `now - lookback`
    (what `inactive` reads: "last seen", whatever its age, without the whole history).
    `type=None` is the contact's first event of any type (what `History.first_at` and
    `inactive` read). A history holding every event some need covers, for every instant
    judged, gives a condition the same verdict as the whole history.
    """

    type: str | None
    properties: tuple[tuple[str, Any], ...] = ()
    lookback: timedelta | None = None
    latest: bool = False

    def covers(self, item: Event) -> bool:
        """Whether an event is of this need's type and property values (time aside)."""
        return self.type == item.type and props_match(item, self.properties)


FIRST_EVENT = HistoryNeed(None)
"""The need for a contact's first event (of any type)."""


def needed_events(
    events: Sequence[Event], needs: Iterable[HistoryNeed], *, start: datetime | None
) -> list[Event]:
    """The events of a history that `needs` cover when judging at `start` or later.

    `start=None` judges from the beginning of time (every covered event, whatever the
    lookback). This is the reference the run loop's store queries follow.
    """
    needs = tuple(needs)
    ordered = sorted(events, key=lambda e: (e.timestamp, e.id))
    kept = [e for e in ordered if any(_wanted(need, e, start) for need in needs)]
    for need in needs:
        if need.latest and need.lookback is not None and start is not None:
            bound = start - need.lookback
            before = [e for e in ordered if need.covers(e) and e.timestamp < bound]
            if before and before[-1] not in kept:
                kept = sorted([*kept, before[-1]], key=lambda e: (e.timestamp, e.id))
    if ordered and FIRST_EVENT in needs and (not kept or kept[0] is not ordered[0]):
        kept.insert(0, ordered[0])
    return kept


def _wanted(need: HistoryNeed, item: Event, start: datetime | None) -> bool:
    if not need.covers(item):
        return False
    return need.lookback is None or start is None or item.timestamp >= start - need.lookback
