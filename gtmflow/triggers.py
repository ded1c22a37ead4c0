"""Triggers: when rules are evaluated, and what they decide.

A `RuleSet` indexes its rules by the event filters that can fire them, so an event no rule cares
about costs one dictionary lookup. `RuleSet.evaluate` replays a contact's new events in time order
(realtime triggers), then sweeps every rule at an as-of time (which is what fires inactivity and
scheduled rules, and gives every rule a current verdict), honouring fire-once and cooldowns, and
returns the firings and a decision for each rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gtmflow.errors import ConfigError
from gtmflow.models import Contact, Event, RouteDecision
from gtmflow.pipes import (
    NEVER,
    AllOf,
    AnyOf,
    Condition,
    EvalContext,
    EventFilter,
    History,
    HistoryNeed,
    Match,
    Not,
    Rule,
    ScoreCondition,
)
from gtmflow.pipes.conditions import CountCondition, EventCondition

__all__ = ["Evaluation", "FiredState", "Firing", "RuleSet", "scan_filters", "triggers_of"]

FiredState = Mapping[str, tuple[int, str]]
"""Per rule name: (times fired, ISO time of the last firing). Small, so it lives in graph state."""


@dataclass(frozen=True, slots=True)
class Firing:
    """One firing of a rule: its ordinal for this contact (`step`) and the decision behind it."""

    rule: Rule
    step: int
    decision: RouteDecision


@dataclass(slots=True)
class Evaluation:
    """The result of evaluating a rule set for one contact."""

    firings: list[Firing] = field(default_factory=list)
    decisions: dict[str, RouteDecision] = field(default_factory=dict)
    fired: dict[str, tuple[int, str]] = field(default_factory=dict)

    def all_decisions(self) -> list[RouteDecision]:
        """Every firing, then the latest verdict of each rule that did not fire."""
        fired = {f.rule.name for f in self.firings}
        rest = [d for name, d in self.decisions.items() if name not in fired]
        return [f.decision for f in self.firings] + rest


@runtime_checkable
class TriggerSource(Protocol):
    """A graph node that says which events concern it, so the runtime can skip the rest.

    `Workspace.run` invokes a contact only when one of its new events is one a trigger source
    of the graph cares about, or when a source needs a sweep. A graph without trigger sources
    is invoked for every contact with new events.
    """

    @property
    def has_sweep(self) -> bool:
        """Whether time alone (with no new event) can make the node act."""
        ...

    def cares_about(self, item: Event) -> bool:
        """Whether this event may make the node act."""
        ...


def scan_filters(sources: Sequence[TriggerSource]) -> tuple[EventFilter, ...] | None:
    """The event filters of every source, for a scan in the store; None: ask `cares_about`.

    A source may list its filters as a `trigger_filters` attribute (`RuleSet` and the
    follow-up graph's trigger do); one that does not is asked about each decoded event.
    """
    found: list[EventFilter] = []
    for source in sources:
        filters = getattr(source, "trigger_filters", None)
        if filters is None:
            return None
        found += filters
    return tuple(found)


def triggers_of(graph: Any) -> list[TriggerSource]:
    """The trigger sources among a compiled graph's nodes, nested gtmflow graphs included.

    Raises:
        ConfigError: A nested graph has trigger sources but the outer graph's state lacks keys
            the nested one keeps between runs (its cursors, fire counts, next sweep), so its
            rules would forget what fired and when to sweep.
    """
    builder = getattr(graph, "builder", None)
    specs = getattr(builder, "nodes", {}).values()
    nodes = [getattr(spec.runnable, "func", spec.runnable) for spec in specs]
    found = [node for node in nodes if isinstance(node, TriggerSource)]
    for inner in (n for n in nodes if getattr(n, "builder", None) is not None):
        nested = triggers_of(inner)
        missing = sorted(_state_keys(inner) - _state_keys(graph))
        if nested and missing:
            raise ConfigError(
                f"graph '{getattr(graph, 'name', '?')}' nests gtmflow graph "
                f"'{getattr(inner, 'name', '?')}' but its state lacks {missing}: the nested "
                "graph's triggers and sweeps would forget what fired; make the outer state "
                "extend the nested one's (e.g. class MyState(InboundState, total=False))"
            )
        found += nested
    return found


def _state_keys(graph: Any) -> set[str]:
    """The keys a graph's own state schema declares (not those its subgraphs bring along)."""
    schema = getattr(getattr(graph, "builder", None), "state_schema", None)
    keys = getattr(schema, "__required_keys__", set()) | getattr(schema, "__optional_keys__", set())
    return {k for k in keys if not k.startswith("__")}


class RuleSet:
    """A validated, trigger-indexed collection of rules.

    Example:
        >>> from gtmflow import pipes as p
        >>> rules = RuleSet([p.Rule("demo", when=p.event("demo_requested"), then=p.alert_sales())])
        >>> [r.name for r in rules.triggered_by("demo_requested")]
        ['demo']
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        _validate(self.rules)
        self._index: dict[str, list[tuple[Rule, EventFilter]]] = {}
        for rule in self.rules:
            for item in rule.when.filters():
                self._index.setdefault(item.type, []).append((rule, item))
        self._event_driven = {r.name for r in self.rules if _event_driven(r.when)}

    def __repr__(self) -> str:
        return f"RuleSet({[r.name for r in self.rules]!r})"

    def triggered_by(self, event_type: str) -> list[Rule]:
        """Rules with a realtime trigger on this event type."""
        return _unique(rule for rule, _ in self._index.get(event_type, ()))

    def cares_about(self, item: Event) -> bool:
        """Whether any rule's trigger filter accepts this event."""
        return any(f.accepts(item) for _, f in self._index.get(item.type, ()))

    @property
    def trigger_filters(self) -> tuple[EventFilter, ...]:
        """Every event filter a realtime trigger listens to (what the run loop scans for)."""
        return tuple(f for entries in self._index.values() for _, f in entries)

    def live(self, fired: FiredState | None) -> tuple[Rule, ...]:
        """Rules that may still fire: all but those that fired and have no cooldown."""
        done = {name for name, (times, _) in (fired or {}).items() if times}
        return tuple(r for r in self.rules if r.name not in done or r.cooldown_delta is not None)

    def history_needs(self, rules: Iterable[Rule] | None = None) -> tuple[HistoryNeed, ...] | None:
        """What `rules` (default: all) read of a contact's history; None: whole histories."""
        found: list[HistoryNeed] = []  # a list: property values need not be hashable
        for rule in self.rules if rules is None else rules:
            needs = rule.when.history_needs()
            if needs is None:
                return None
            found += [n for n in needs if n not in found]
        return tuple(found)

    @property
    def uses_score(self) -> bool:
        """Whether any rule compares the lead score (so runs need to compute it)."""
        return any(isinstance(c, ScoreCondition) for r in self.rules for c in _walk(r.when))

    @property
    def has_sweep(self) -> bool:
        """Whether any rule needs a sweep: time alone can make it fire (inactivity, scheduled,
        or a realtime rule with an inactivity part such as `not_followed_by`)."""
        return any(rule.trigger != "realtime" or rule.when.uses_inactivity() for rule in self.rules)

    def evaluate(
        self,
        contact: Contact,
        history: History,
        *,
        new_events: Sequence[Event] = (),
        as_of: datetime | None = None,
        fired: FiredState | None = None,
        score: float | None = None,
    ) -> Evaluation:
        """Replay `new_events` in time order, then sweep every rule at `as_of` (if given).

        Events after `as_of` are not replayed: they belong to a later run.
        """
        result = Evaluation(fired=dict(fired or {}))
        for item in sorted(new_events, key=lambda e: (e.timestamp, e.id)):
            if as_of is not None and item.timestamp > as_of:
                continue
            for rule in self._rules_for(item):
                self._try(rule, EvalContext(contact, history, item.timestamp, score), result)
        if as_of is not None:
            ctx = EvalContext(contact, history, as_of, score)
            for rule in self.rules:
                self._try(rule, ctx, result)
        return result

    def next_sweep(
        self,
        contact: Contact,
        history: History,
        *,
        as_of: datetime,
        fired: FiredState | None = None,
        score: float | None = None,
    ) -> datetime:
        """When a sweep could next fire a rule for this contact, if no new event arrives.

        Rules that fired and have no cooldown are done; a cooldown delays the next chance.
        Returns `NEVER` when only a new event can make any rule fire.
        """
        ctx = EvalContext(contact, history, as_of, score)
        chances = [NEVER]
        for rule in self.rules:
            times, last_at = (fired or {}).get(rule.name, (0, ""))
            if times and rule.cooldown_delta is None:
                continue
            if times and rule.name in self._event_driven and not _fresh(rule, ctx, last_at):
                continue  # it holds on evidence already acted on: only a new event can refire it
            soonest = rule.when.earliest(ctx)
            if times and rule.cooldown_delta is not None:
                soonest = max(soonest, datetime.fromisoformat(last_at) + rule.cooldown_delta)
            chances.append(soonest)
        return min(chances)

    def _rules_for(self, item: Event) -> list[Rule]:
        entries = self._index.get(item.type, ())
        return _unique(rule for rule, f in entries if f.accepts(item))

    def _try(self, rule: Rule, ctx: EvalContext, result: Evaluation) -> None:
        times, last_at = result.fired.get(rule.name, (0, ""))
        if times and not _cooled_down(rule, ctx.now, last_at):
            return
        match = rule.evaluate(ctx)
        fresh = not times or _newer(match.latest_at, last_at)
        decision = _decision(rule, ctx.now, match, fired=match.matched and fresh)
        if not decision.fired:
            result.decisions[rule.name] = decision
            return
        result.fired[rule.name] = (times + 1, ctx.now.isoformat())
        result.firings.append(Firing(rule, times + 1, decision))
        result.decisions[rule.name] = decision


def _walk(condition: Condition) -> Iterator[Condition]:
    """A condition and every condition inside it."""
    yield condition
    if isinstance(condition, AllOf | AnyOf):
        for part in condition.parts:
            yield from _walk(part)
    elif isinstance(condition, Not):
        yield from _walk(condition.inner)


def _unique(rules: Iterable[Rule]) -> list[Rule]:
    """Rules in first-seen order without repeats (by name: rules need not be hashable)."""
    return list({rule.name: rule for rule in rules}.values())


def _event_driven(condition: Condition) -> bool:
    """Whether only a new event can give it a newer match: event and count parts, and/or'ed.

    Time passing only slides their windows past events; fields, scores, inactivity and negation
    can change without an event, so conditions with them are swept as before.
    """
    if isinstance(condition, AllOf | AnyOf):
        return all(_event_driven(part) for part in condition.parts)
    return isinstance(condition, EventCondition | CountCondition)


def _fresh(rule: Rule, ctx: EvalContext, last_at: str) -> bool:
    """Whether the rule holds now on evidence newer than its last firing."""
    match = rule.evaluate(ctx)
    return match.matched and _newer(match.latest_at, last_at)


def _cooled_down(rule: Rule, now: datetime, last_at: str) -> bool:
    cooldown = rule.cooldown_delta
    return cooldown is not None and now - datetime.fromisoformat(last_at) >= cooldown


def _newer(latest_at: datetime | None, last_at: str) -> bool:
    return latest_at is None or latest_at > datetime.fromisoformat(last_at)


def _decision(rule: Rule, now: datetime, match: Match, *, fired: bool) -> RouteDecision:
    reason = match.reason if fired or not match.matched else f"{match.reason} (already acted on)"
    return RouteDecision(
        rule=rule.name,
        fired=fired,
        at=now,
        evidence=match.evidence if fired else (),
        reason=reason,
    )


def _validate(rules: Sequence[Rule]) -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if not isinstance(rule, Rule):
            problems.append(f"item {index} is a {type(rule).__name__}, not a Rule")
        elif rule.name in seen:
            problems.append(f"rule name '{rule.name}' is used more than once (item {index})")
        else:
            seen.add(rule.name)
    if problems:
        raise ConfigError("invalid rules:\n- " + "\n- ".join(problems))
