"""Pipes: deterministic rules over a contact's event history.

`conditions` (what can hold), `succession` (what follows an event), `rules` (rules and their
actions) and `history` (what conditions are judged on) make up the vocabulary; import it all
from here: `from gtmflow import pipes as p`.

Conditions are values: they print as the code that builds them, compare equal when they mean the
same thing, and combine with `&`, `|` and `~`. A `Rule` joins a condition to the actions it
triggers. Evaluation always returns a `Match` that says whether the condition held and which
events are the evidence, so every routing decision can be explained.

Example:
    >>> from gtmflow import pipes as p
    >>> hot = p.count("page_view", path="/pricing", at_least=3, within="7d")
    >>> hot
    count('page_view', at_least=3, within='7d', path='/pricing')
    >>> rule = p.Rule("pricing-hot", when=hot, then=p.alert_sales())
    >>> rule.trigger
    'realtime'
"""

from __future__ import annotations

from gtmflow.pipes.conditions import (
    NEVER,
    AllOf,
    AnyOf,
    AttributeCondition,
    Condition,
    CountCondition,
    EventCondition,
    InactiveCondition,
    Not,
    ScoreCondition,
    attr,
    count,
    event,
    inactive,
    score,
)
from gtmflow.pipes.history import FIRST_EVENT, EvalContext, EventFilter, History, HistoryNeed, Match
from gtmflow.pipes.rules import ActionSpec, Rule, TriggerKind, action, alert_sales, enroll
from gtmflow.pipes.succession import FollowedBy, followed_by, not_followed_by

__all__ = [
    # conditions
    "Condition",
    "event",
    "count",
    "inactive",
    "attr",
    "score",
    "followed_by",
    "not_followed_by",
    "AllOf",
    "AnyOf",
    "Not",
    "EventCondition",
    "CountCondition",
    "InactiveCondition",
    "AttributeCondition",
    "ScoreCondition",
    "FollowedBy",
    "NEVER",
    # rules and actions
    "Rule",
    "TriggerKind",
    "ActionSpec",
    "enroll",
    "alert_sales",
    "action",
    # evaluation
    "EvalContext",
    "EventFilter",
    "History",
    "HistoryNeed",
    "FIRST_EVENT",
    "Match",
]
