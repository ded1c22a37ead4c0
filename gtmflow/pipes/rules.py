"""Rules and actions: `when` a condition holds for a contact, `then` emit these actions.

Actions are values too (`enroll("nurture")`, `alert_sales()`, `action(kind, **payload)`): a rule
can be printed, compared and tested without running anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from gtmflow.errors import ConfigError
from gtmflow.pipes.conditions import Condition, _call, _not_condition, _positive, _props, _type
from gtmflow.pipes.history import EvalContext, EventFilter, Match

__all__ = ["ActionSpec", "Rule", "TriggerKind", "action", "alert_sales", "enroll", "iter_filters"]

TriggerKind = Literal["realtime", "inactivity", "scheduled"]
"""How a rule gets evaluated: on matching events, by the inactivity sweep, or by any sweep."""

_RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]*$")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What a rule asks for: an action kind and its payload (a value, not a callback)."""

    kind: str
    payload: tuple[tuple[str, Any], ...] = ()

    def payload_dict(self) -> dict[str, Any]:
        """The payload as a plain dict."""
        return dict(self.payload)

    def __repr__(self) -> str:
        if self.kind == "enroll":
            return f"enroll({self.payload_dict()['sequence']!r})"
        return _call("action", (self.kind,), {}, self.payload)


def enroll(sequence: str, /) -> ActionSpec:
    """Enroll the contact in a named sequence (e.g. `"nurture"`)."""
    if not sequence:
        raise ConfigError("enroll() needs a sequence name, e.g. enroll('nurture')")
    return ActionSpec("enroll", (("sequence", sequence),))


def alert_sales(message: str | None = None, /, *, channel: str = "sales") -> ActionSpec:
    """Alert the sales team about the contact (delivered through the outbox)."""
    payload = {"channel": channel} | ({"message": message} if message else {})
    return ActionSpec("alert_sales", _props(payload))


def action(kind: str, /, **payload: Any) -> ActionSpec:
    """Any other action kind with a JSON-serialisable payload."""
    return ActionSpec(_type(kind), _props(payload))


@dataclass(frozen=True)
class Rule:
    """`when` this condition holds for a contact, `then` emit these actions.

    A rule fires at most once per contact unless it has a `cooldown`; then it may fire again once
    the cooldown has passed since its last firing, on evidence newer than that firing (rules
    with no evidence, such as pure inactivity, re-fire when the cooldown has passed).
    """

    name: str
    when: Condition
    then: ActionSpec | Sequence[ActionSpec]
    cooldown: str | timedelta | None = None
    actions: tuple[ActionSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _RULE_NAME.fullmatch(self.name):
            raise ConfigError(
                f"rule name '{self.name}' must be lower-case letters, digits, '-', '_', '.' "
                "or ':', e.g. 'pricing-hot'"
            )
        if not isinstance(self.when, Condition):
            raise ConfigError(_not_condition(self.name, self.when))
        if isinstance(self.then, ActionSpec):
            actions: tuple[ActionSpec, ...] = (self.then,)
        else:  # a function is not iterable: report it below instead of a bare TypeError
            actions = tuple(self.then) if isinstance(self.then, Iterable) else ()
        if not actions or not all(isinstance(a, ActionSpec) for a in actions):
            hint = " (did you pass a function without calling it?)" if callable(self.then) else ""
            raise ConfigError(
                f"rule '{self.name}': then= must be an action or a list of actions{hint}, "
                "e.g. then=enroll('nurture') or then=[alert_sales(), action('create_task')]"
            )
        object.__setattr__(self, "actions", actions)
        if not isinstance(self.then, ActionSpec):
            # A list would make the rule unhashable, and RuleSet de-duplicates rules in a dict.
            object.__setattr__(self, "then", actions)
        if self.cooldown is not None:
            object.__setattr__(self, "cooldown", _positive(self.cooldown, "cooldown"))

    @cached_property
    def trigger(self) -> TriggerKind:
        """`realtime` if events can fire it, else `inactivity` or `scheduled` (sweep only)."""
        if self.when.filters():
            return "realtime"
        return "inactivity" if self.when.uses_inactivity() else "scheduled"

    @property
    def cooldown_delta(self) -> timedelta | None:
        """The cooldown as a `timedelta` (None: fire once per contact)."""
        return self.cooldown if isinstance(self.cooldown, timedelta) else None

    def evaluate(self, ctx: EvalContext) -> Match:
        """Evaluate the rule's condition."""
        return self.when.evaluate(ctx)


def iter_filters(rules: Sequence[Rule]) -> Iterator[tuple[Rule, EventFilter]]:
    """Every (rule, event filter) pair, for building a trigger index."""
    for rule in rules:
        for item in rule.when.filters():
            yield rule, item
