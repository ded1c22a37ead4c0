"""Conditions: yes/no questions about a contact at an instant, and the builders that make them.

Conditions are values: they print as the code that builds them, compare equal when they mean the
same thing, and combine with `&`, `|` and `~`. Evaluation always returns a `Match` that says
whether the condition held and which events are the evidence.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from gtmflow.clock import format_duration, parse_duration
from gtmflow.errors import ConfigError
from gtmflow.models import Contact, Event
from gtmflow.pipes.history import (
    FIRST_EVENT,
    EvalContext,
    EventFilter,
    HistoryNeed,
    Match,
    props_match,
)

__all__ = [
    "NEVER",
    "AllOf",
    "AnyOf",
    "AttributeCondition",
    "Comparison",
    "Condition",
    "CountCondition",
    "EventCondition",
    "InactiveCondition",
    "Not",
    "ScoreCondition",
    "attr",
    "count",
    "event",
    "inactive",
    "score",
]

NEVER = datetime.max.replace(tzinfo=UTC)
"""`Condition.earliest` for "cannot become true unless new events arrive"."""

_EPSILON = timedelta(microseconds=1)


# --------------------------------------------------------------------------- conditions


class Condition(ABC):
    """A yes/no question about a contact at an instant. Combine with `&`, `|`, `~`."""

    @abstractmethod
    def evaluate(self, ctx: EvalContext) -> Match:
        """Judge the condition at `ctx.now`."""

    @abstractmethod
    def filters(self) -> tuple[EventFilter, ...]:
        """Events whose arrival can make this condition become true (empty: only time can)."""

    def uses_inactivity(self) -> bool:
        """Whether the condition contains an `inactive(...)` part."""
        return False

    def earliest(self, ctx: EvalContext) -> datetime:
        """The earliest instant (>= now) it could hold if no new event arrives.

        `ctx.now` means "it may hold now, or it cannot be told: ask again at every sweep";
        `NEVER` means only a new event can make it hold. The runtime uses this to skip
        contacts in a sweep until something can change for them.
        """
        return ctx.now

    def history_needs(self) -> tuple[HistoryNeed, ...] | None:
        """The parts of a contact's history this condition reads (None: all of it).

        The run loop loads only these parts of a history when every rule names its needs; a
        condition defined outside gtmflow keeps this default and is given whole histories.
        """
        return None

    def __and__(self, other: Condition) -> Condition:
        return AllOf((*_parts(self, AllOf), *_parts(_check(other), AllOf)))

    def __or__(self, other: Condition) -> Condition:
        return AnyOf((*_parts(self, AnyOf), *_parts(_check(other), AnyOf)))

    def __invert__(self) -> Condition:
        return self.inner if isinstance(self, Not) else Not(self)


@dataclass(frozen=True, slots=True, repr=False)
class EventCondition(Condition):
    """Any event of a type (with property values) at or before now, optionally recent."""

    type: str
    properties: tuple[tuple[str, Any], ...] = ()
    within: timedelta | None = None

    def evaluate(self, ctx: EvalContext) -> Match:
        since = None if self.within is None else ctx.now - self.within
        hits = _matching(ctx, self.type, self.properties, since)
        if not hits:
            return Match(False, reason=f"no {_describe(self.type, self.properties)}")
        last = hits[-1]
        return Match(True, (last.id,), f"{self.type} at {_iso(last.timestamp)}", last.timestamp)

    def filters(self) -> tuple[EventFilter, ...]:
        return (EventFilter(self.type, self.properties),)

    def earliest(self, ctx: EvalContext) -> datetime:
        return ctx.now if self.evaluate(ctx) else NEVER

    def history_needs(self) -> tuple[HistoryNeed, ...]:
        return (HistoryNeed(self.type, self.properties, self.within),)

    def __repr__(self) -> str:
        extra = {"within": self.within} if self.within else {}
        return _call("event", (self.type,), extra, self.properties)


@dataclass(frozen=True, slots=True, repr=False)
class CountCondition(Condition):
    """At least N matching events in the sliding window `[now - within, now]` (inclusive)."""

    type: str
    at_least: int
    within: timedelta
    properties: tuple[tuple[str, Any], ...] = ()

    def evaluate(self, ctx: EvalContext) -> Match:
        hits = _matching(ctx, self.type, self.properties, ctx.now - self.within)
        what = f"{len(hits)} {_describe(self.type, self.properties)} within {_fmt(self.within)}"
        if len(hits) < self.at_least:
            return Match(False, reason=f"{what}, needs {self.at_least}")
        ids = tuple(e.id for e in hits)
        return Match(True, ids, what, hits[-1].timestamp)

    def filters(self) -> tuple[EventFilter, ...]:
        return (EventFilter(self.type, self.properties),)

    def earliest(self, ctx: EvalContext) -> datetime:
        return ctx.now if self.evaluate(ctx) else NEVER

    def history_needs(self) -> tuple[HistoryNeed, ...]:
        return (HistoryNeed(self.type, self.properties, self.within),)

    def __repr__(self) -> str:
        extra = {"at_least": self.at_least, "within": self.within}
        return _call("count", (self.type,), extra, self.properties)


@dataclass(frozen=True, slots=True, repr=False)
class InactiveCondition(Condition):
    """No event of a type in `[now - for_, now]`, for a contact known since the window start."""

    type: str
    for_: timedelta

    def evaluate(self, ctx: EvalContext) -> Match:
        start = ctx.now - self.for_
        first = ctx.history.first_at
        if first is None or first > start:
            since = "no history" if first is None else f"history starts {_iso(first)}"
            return Match(False, reason=f"too new to be inactive for {_fmt(self.for_)} ({since})")
        recent = ctx.history.of_type(self.type, since=start, until=ctx.now)
        if recent:
            return Match(False, reason=f"{self.type} at {_iso(recent[-1].timestamp)}")
        last = ctx.history.last_of_type(self.type, before=start)
        anchor = last or ctx.history.events[0]
        seen = f"last {self.type} {_iso(last.timestamp)}" if last else f"never a {self.type}"
        return Match(True, (anchor.id,), f"no {self.type} for {_fmt(self.for_)} ({seen})")

    def filters(self) -> tuple[EventFilter, ...]:
        return ()

    def uses_inactivity(self) -> bool:
        return True

    def earliest(self, ctx: EvalContext) -> datetime:
        first = ctx.history.first_at
        if first is None:
            return NEVER
        last = ctx.history.last_of_type(self.type, before=ctx.now + _EPSILON)
        quiet_from = last.timestamp + self.for_ + _EPSILON if last else ctx.now
        return max(ctx.now, first + self.for_, quiet_from)

    def history_needs(self) -> tuple[HistoryNeed, ...]:
        # the window, and the latest event before it (any age: "last seen"); the first event
        # anchors "known since"
        return (HistoryNeed(self.type, lookback=self.for_, latest=True), FIRST_EVENT)

    def __repr__(self) -> str:
        return _call("inactive", (self.type,), {"for_": self.for_}, ())


Comparison = Literal["equals", "not_equals", "at_least", "at_most", "contains", "in_", "exists"]
_COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)


@dataclass(frozen=True, slots=True, repr=False)
class AttributeCondition(Condition):
    """A comparison on a contact field (`title`, `lifecycle_stage`, …) or attribute."""

    name: str
    op: Comparison
    value: Any

    def evaluate(self, ctx: EvalContext) -> Match:
        actual = _field(ctx.contact, self.name)
        ok = _compare(actual, self.op, self.value)
        return Match(ok, reason=f"{self.name}={actual!r}")

    def filters(self) -> tuple[EventFilter, ...]:
        return ()

    def history_needs(self) -> tuple[HistoryNeed, ...]:
        return ()

    def __repr__(self) -> str:
        return _call("attr", (self.name,), {self.op: self.value}, ())


@dataclass(frozen=True, slots=True, repr=False)
class ScoreCondition(Condition):
    """A lead score comparison; the score comes from the evaluation context."""

    op: Literal["at_least", "at_most"]
    value: float

    def evaluate(self, ctx: EvalContext) -> Match:
        if ctx.score is None:
            return Match(False, reason="no score")
        return Match(_compare(ctx.score, self.op, self.value), reason=f"score={ctx.score:g}")

    def filters(self) -> tuple[EventFilter, ...]:
        return ()

    def history_needs(self) -> tuple[HistoryNeed, ...]:
        return ()

    def __repr__(self) -> str:
        return _call("score", (), {self.op: self.value}, ())


@dataclass(frozen=True, slots=True, repr=False)
class AllOf(Condition):
    """Every part holds (`a & b`); the evidence is the union of theirs."""

    parts: tuple[Condition, ...]

    def evaluate(self, ctx: EvalContext) -> Match:
        matches = []
        for part in self.parts:
            result = part.evaluate(ctx)
            if not result:
                return Match(False, reason=f"not {part!r}: {result.reason}")
            matches.append(result)
        return _combine(matches, " and ")

    def filters(self) -> tuple[EventFilter, ...]:
        return tuple(f for part in self.parts for f in part.filters())

    def uses_inactivity(self) -> bool:
        return any(part.uses_inactivity() for part in self.parts)

    def earliest(self, ctx: EvalContext) -> datetime:
        return max(part.earliest(ctx) for part in self.parts)

    def history_needs(self) -> tuple[HistoryNeed, ...] | None:
        return _union_needs(self.parts)

    def __repr__(self) -> str:
        return " & ".join(_wrap(part, AnyOf) for part in self.parts)


@dataclass(frozen=True, slots=True, repr=False)
class AnyOf(Condition):
    """At least one part holds (`a | b`); the evidence is that of the parts that held."""

    parts: tuple[Condition, ...]

    def evaluate(self, ctx: EvalContext) -> Match:
        results = [part.evaluate(ctx) for part in self.parts]
        held = [r for r in results if r]
        if held:
            return _combine(held, " or ")
        return Match(False, reason="; ".join(r.reason for r in results))

    def filters(self) -> tuple[EventFilter, ...]:
        return tuple(f for part in self.parts for f in part.filters())

    def uses_inactivity(self) -> bool:
        return any(part.uses_inactivity() for part in self.parts)

    def earliest(self, ctx: EvalContext) -> datetime:
        return min(part.earliest(ctx) for part in self.parts)

    def history_needs(self) -> tuple[HistoryNeed, ...] | None:
        return _union_needs(self.parts)

    def __repr__(self) -> str:
        return " | ".join(_wrap(part, AllOf) for part in self.parts)


@dataclass(frozen=True, slots=True, repr=False)
class Not(Condition):
    """The inner condition does not hold (`~a`). Only time or a sweep can make it true."""

    inner: Condition

    def evaluate(self, ctx: EvalContext) -> Match:
        result = self.inner.evaluate(ctx)
        return Match(not result.matched, reason=f"not ({result.reason})")

    def filters(self) -> tuple[EventFilter, ...]:
        return ()

    def uses_inactivity(self) -> bool:
        return self.inner.uses_inactivity()

    def history_needs(self) -> tuple[HistoryNeed, ...] | None:
        return self.inner.history_needs()

    def __repr__(self) -> str:
        return f"~{_wrap(self.inner, AllOf, AnyOf)}"


# --------------------------------------------------------------------------- condition builders


def event(
    type: str,
    /,
    *,
    within: str | timedelta | None = None,
    props: Mapping[str, Any] | None = None,
    **properties: Any,
) -> Condition:
    """An event of `type` with these property values has happened (within a window, if given).

    Keyword arguments other than `within` are property filters; one that looks like a misspelled
    option (`wihtin=`) is refused. Pass a property whose name really is close to an option as
    `props={"name": value}`.

    Example:
        >>> event("content_download", asset_type="ebook")
        event('content_download', asset_type='ebook')
    """
    filters = _filters("event", type, properties, props)
    window = None if within is None else _positive(within, "within")
    return EventCondition(_type(type), filters, window)


def count(
    type: str,
    /,
    *,
    at_least: int,
    within: str | timedelta,
    props: Mapping[str, Any] | None = None,
    **properties: Any,
) -> Condition:
    """At least `at_least` events of `type` within the sliding window ending now (inclusive).

    Property filters work as in `event`.
    """
    filters = _filters("count", type, properties, props)
    if at_least < 1:
        raise ConfigError(f"count('{type}', at_least={at_least}) needs at_least >= 1")
    return CountCondition(_type(type), at_least, _positive(within, "within"), filters)


def inactive(type: str, /, *, for_: str | timedelta) -> Condition:
    """No `type` event for `for_`, and the contact has been known at least that long.

    The window is inclusive: an event exactly `for_` ago still counts as activity.
    """
    return InactiveCondition(_type(type), _positive(for_, "for_"))


def attr(
    name: str,
    /,
    *,
    equals: Any = None,
    not_equals: Any = None,
    at_least: float | None = None,
    at_most: float | None = None,
    contains: str | None = None,
    in_: Sequence[Any] | None = None,
    exists: bool | None = None,
) -> Condition:
    """Compare a contact field or attribute; give exactly one comparison.

    Example:
        >>> attr("lifecycle_stage", in_=["mql", "sql"])
        attr('lifecycle_stage', in_=('mql', 'sql'))
    """
    given: dict[Comparison, Any] = {
        key: value
        for key, value in zip(
            _COMPARISONS,
            (equals, not_equals, at_least, at_most, contains, in_, exists),
            strict=True,
        )
        if value is not None
    }
    if len(given) != 1:
        raise ConfigError(
            f"attr('{name}') needs exactly one comparison, got {sorted(given) or 'none'}; "
            "e.g. attr('title', contains='VP') or attr('employees', at_least=50)"
        )
    ((op, value),) = given.items()
    if op == "in_":
        value = tuple(value)
    return AttributeCondition(name, op, value)


def score(*, at_least: float | None = None, at_most: float | None = None) -> Condition:
    """Compare the contact's lead score; give `at_least` or `at_most`."""
    if (at_least is None) == (at_most is None):
        raise ConfigError("score() needs exactly one of at_least= or at_most=")
    if at_least is not None:
        return ScoreCondition("at_least", at_least)
    assert at_most is not None
    return ScoreCondition("at_most", at_most)


# --------------------------------------------------------------------------- private helpers


def _union_needs(parts: Sequence[Condition]) -> tuple[HistoryNeed, ...] | None:
    """Every part's needs (None when a part needs the whole history), without repeats."""
    found: list[HistoryNeed] = []  # a list: property values need not be hashable
    for part in parts:
        needs = part.history_needs()
        if needs is None:
            return None
        found += [n for n in needs if n not in found]
    return tuple(found)


def _check(other: object) -> Condition:
    if not isinstance(other, Condition):
        raise ConfigError(_not_condition("?", other))
    return other


def _not_condition(rule: str, value: object) -> str:
    hint = " (did you pass a function without calling it?)" if callable(value) else ""
    return (
        f"rule '{rule}': when= must be a condition such as event('page_view') or "
        f"count('page_view', at_least=3, within='7d'), got {type(value).__name__}{hint}"
    )


def _parts(cond: Condition, kind: type[AllOf] | type[AnyOf]) -> tuple[Condition, ...]:
    return cond.parts if isinstance(cond, kind) else (cond,)


def _type(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"event type must be a non-empty string, got {name!r}")
    return name.strip()


def _props(properties: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(properties.items()))


_OPTIONS = {"within": "", "at_least": "count()", "for_": "inactive()", "cooldown": "Rule()",
            "props": ""}  # fmt: skip
"""Keyword options of the builders, and where each belongs when it is not the builder's own."""


def _filters(
    builder: str, type_: str, properties: Mapping[str, Any], explicit: Mapping[str, Any] | None
) -> tuple[tuple[str, Any], ...]:
    """Property filters; a keyword that looks like a misspelled option is refused, not a filter."""
    own = {"event": ("within", "props"), "count": ("at_least", "within", "props")}[builder]
    for key in properties:
        if not _like_option(key):
            continue
        option = difflib.get_close_matches(key, _OPTIONS, n=1, cutoff=0.8)[0]
        home = "" if option in own else f" (an option of {_OPTIONS[option]}, not {builder}())"
        raise ConfigError(
            f"{builder}('{type_}', {key}=...): '{key}' would filter on an event property named "
            f"'{key}'; did you mean `{option}=`{home}? If '{key}' really is a property, pass "
            f"props={{'{key}': ...}}"
        )
    return _props({**properties, **(explicit or {})})


def _positive(value: str | timedelta, name: str) -> timedelta:
    delta = parse_duration(value)
    if delta < timedelta(seconds=1) or delta.microseconds:
        raise ConfigError(
            f"{name}={value!r} must be a whole number of seconds, at least 1s, e.g. {name}='7d'"
        )
    return delta


def _matching(
    ctx: EvalContext, type_: str, properties: tuple[tuple[str, Any], ...], since: datetime | None
) -> list[Event]:
    hits = ctx.history.of_type(type_, since=since, until=ctx.now)
    return [e for e in hits if props_match(e, properties)] if properties else hits


def _field(contact: Contact, name: str) -> Any:
    if name in Contact.model_fields and name != "attributes":
        return getattr(contact, name)
    return contact.attributes.get(name)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return bool((actual is not None) == expected)
    if actual is None:
        return op == "not_equals"
    try:
        return bool(_COMPARE[op](actual, expected))
    except (TypeError, ValueError):
        return False


_COMPARE: Mapping[str, Any] = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "at_least": lambda a, b: float(a) >= b,
    "at_most": lambda a, b: float(a) <= b,
    "contains": lambda a, b: str(b).lower() in str(a).lower(),
    "in_": lambda a, b: a in b,
}


def _combine(matches: Sequence[Match], joiner: str) -> Match:
    evidence = tuple(dict.fromkeys(i for m in matches for i in m.evidence))
    times = [m.latest_at for m in matches if m.latest_at is not None]
    reason = joiner.join(m.reason for m in matches)
    return Match(True, evidence, reason, max(times) if times else None)


def _describe(type_: str, properties: tuple[tuple[str, Any], ...]) -> str:
    if not properties:
        return type_
    return f"{type_}({', '.join(f'{k}={v!r}' for k, v in properties)})"


def _call(
    name: str,
    args: tuple[Any, ...],
    options: Mapping[str, Any],
    properties: tuple[tuple[str, Any], ...],
) -> str:
    shown = [repr(a) for a in args]
    shown += [
        f"{k}={_fmt(v)!r}" if isinstance(v, timedelta) else f"{k}={v!r}" for k, v in options.items()
    ]
    plain = [(k, v) for k, v in properties if k.isidentifier() and not _like_option(k)]
    shown += [f"{k}={v!r}" for k, v in plain]
    if len(plain) < len(properties):  # names a keyword cannot carry: shown as props=
        shown.append(f"props={ {k: v for k, v in properties if (k, v) not in plain}!r}")
    return f"{name}({', '.join(shown)})"


def _like_option(key: str) -> bool:
    return bool(difflib.get_close_matches(key, _OPTIONS, n=1, cutoff=0.8))


def _wrap(cond: Condition, *kinds: type[Condition]) -> str:
    text = repr(cond)
    return f"({text})" if isinstance(cond, kinds) else text


def _fmt(delta: timedelta) -> str:
    return format_duration(delta)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
