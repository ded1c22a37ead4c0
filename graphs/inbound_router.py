"""The inbound router: evaluate rules for one contact and emit the actions they call for.

```
START → evaluate_rules ─(any rule fired?)─ yes → emit_actions → END
                                         └ no ──────────────→ END
```

One thread per contact (`thread_id = "inbound_router:<contact_id>"`). State is small: a cursor
over the event store, how often each rule fired, and this run's decisions and actions. The
histories themselves are read through the injected `Deps`, never copied into state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from gtmflow.models import Action, Contact, Event, idempotency_key
from gtmflow.pipes import EventFilter, History, Rule
from gtmflow.state import GtmflowState
from gtmflow.tools.deps import Deps
from gtmflow.triggers import Evaluation, FiredState, RuleSet

__all__ = [
    "EmitActions",
    "EvaluateRules",
    "InboundState",
    "build_inbound_router",
    "judge",
    "replay_from",
    "rule_outputs",
    "rulesets_of",
]

GRAPH_NAME = "inbound_router"
_EPSILON = timedelta(microseconds=1)


class InboundState(GtmflowState, total=False):
    """Graph state: JSON-native values only, so checkpoints stay small and portable."""

    seq_cursor: int
    as_of_cursor: str | None
    fired: dict[str, tuple[int, str]]
    next_sweep_at: str
    firings: list[dict[str, Any]]
    evaluated_at: str | None
    """Set by the bulk run loop with the outputs above: the as-of it already judged at."""


class EvaluateRules:
    """Node: evaluate the rule set over the contact's new events, then sweep at as-of."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    @property
    def has_sweep(self) -> bool:
        """Whether a rule needs a sweep (inactivity, scheduled)."""
        return self.rules.has_sweep

    def cares_about(self, item: Event) -> bool:
        """Whether a rule's trigger listens to this event (the runtime's trigger index)."""
        return self.rules.cares_about(item)

    @property
    def trigger_filters(self) -> tuple[EventFilter, ...]:
        """What the rules' triggers listen to, for a scan in the store."""
        return self.rules.trigger_filters

    def __call__(self, state: InboundState, runtime: Runtime[Deps]) -> dict[str, Any]:
        if state.get("evaluated_at") is not None and state.get("evaluated_at") == state.get(
            "as_of"
        ):
            return {"evaluated_at": None}  # the run loop judged this contact in bulk
        deps = runtime.context
        contact_id = state["contact_id"]
        as_of = _as_of(state, deps)
        last_seq = deps.events.last_seq()
        history = deps.events.events(contact_id)
        new = _new_events(state, deps, history, as_of)
        contact = deps.events.contact(contact_id) or Contact(id=contact_id)
        score = deps.score(contact_id) if deps.score and self.rules.uses_score else None
        result, next_sweep = judge(
            self.rules, contact, History(history), new, as_of=as_of, fired=state.get("fired"),
            score=score,
        )  # fmt: skip
        previous = state.get("as_of_cursor")
        return {
            "seq_cursor": last_seq,
            "as_of_cursor": max(previous, as_of.isoformat()) if previous else as_of.isoformat(),
            "next_sweep_at": next_sweep.isoformat(),
            **rule_outputs(result),
        }


class EmitActions:
    """Node: turn this run's firings into `Action`s with stable idempotency keys."""

    def __init__(self, rules: RuleSet, graph: str) -> None:
        self.rules = {rule.name: rule for rule in rules.rules}
        self.graph = graph

    def __call__(self, state: InboundState) -> dict[str, Any]:
        actions = [
            action.model_dump(mode="json")
            for firing in state.get("firings", [])
            for action in self._actions(state["contact_id"], firing)
        ]
        return {"actions": actions}

    def _actions(self, contact_id: str, firing: dict[str, Any]) -> Iterable[Action]:
        rule = self.rules[firing["rule"]]
        for slot, spec in enumerate(rule.actions):
            source = rule.name if slot == 0 else f"{rule.name}#{slot}"
            yield Action(
                kind=spec.kind,
                contact_id=contact_id,
                payload=spec.payload_dict() | {"evidence": firing["evidence"]},
                graph=self.graph,
                source=rule.name,
                step=firing["step"],
                created_at=firing["at"],
                idempotency_key=idempotency_key(
                    self.graph, contact_id, source, firing["step"], spec.kind
                ),
            )


def route_after_evaluate(state: InboundState) -> Literal["emit_actions", "__end__"]:
    """Deterministic edge: emit actions only when a rule fired."""
    return "emit_actions" if state.get("firings") else "__end__"


def build_inbound_router(
    *,
    rules: Sequence[Rule] | RuleSet,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    name: str = GRAPH_NAME,
) -> CompiledStateGraph[InboundState, Deps, InboundState, InboundState]:
    """Build the inbound router graph for a set of rules.

    Args:
        rules: The rules to evaluate; validated now (unique names, real conditions).
        checkpointer: Where threads persist. `Workspace.run` attaches the workspace's SQLite
            checkpointer when this is None.
        name: The graph's name; part of every thread id and idempotency key.

    Returns:
        A compiled LangGraph graph. Invoke it with `{"contact_id": ...}` and
        `context=Deps(...)`, one thread per contact.
    """
    ruleset = rules if isinstance(rules, RuleSet) else RuleSet(rules)
    builder = StateGraph(InboundState, context_schema=Deps)
    builder.add_node("evaluate_rules", EvaluateRules(ruleset))
    builder.add_node("emit_actions", EmitActions(ruleset, name))
    builder.add_edge(START, "evaluate_rules")
    builder.add_conditional_edges("evaluate_rules", route_after_evaluate)
    builder.add_edge("emit_actions", END)
    return builder.compile(checkpointer=checkpointer, name=name)


def rulesets_of(graph: Any) -> list[RuleSet]:
    """The rule sets evaluated by `EvaluateRules` nodes of a compiled graph.

    The runtime uses them as the graph's trigger index: a contact whose new events no rule
    listens to, and that no sweep needs, is not invoked at all.
    """
    builder = getattr(graph, "builder", None)
    specs = getattr(builder, "nodes", {}).values()
    nodes = (getattr(spec.runnable, "func", spec.runnable) for spec in specs)
    return [node.rules for node in nodes if isinstance(node, EvaluateRules)]


def _as_of(state: InboundState, deps: Deps) -> datetime:
    raw = state.get("as_of")
    return datetime.fromisoformat(raw) if raw else deps.clock.now()


def _new_events(
    state: InboundState, deps: Deps, history: list[Event], as_of: datetime
) -> list[Event]:
    """Events to replay: from the earliest unseen one on, so a late event is judged in order.

    Unseen means stored after the cursor, or newly inside the as-of horizon. Replaying events
    already judged is harmless: fired rules stay fired and keys stay the same.
    """
    cursor = state.get("seq_cursor", 0)
    if not cursor:
        return history
    previous = state.get("as_of_cursor")
    horizon = datetime.fromisoformat(previous) if previous else None
    fresh = {e.id for e in deps.events.events(state["contact_id"], after_seq=cursor)}
    unseen = [
        e.timestamp
        for e in history
        if e.id in fresh or (horizon is not None and horizon < e.timestamp <= as_of)
    ]
    return replay_from(history, min(unseen)) if unseen else []


def judge(
    rules: RuleSet,
    contact: Contact,
    history: History,
    new: Sequence[Event],
    *,
    as_of: datetime,
    fired: FiredState | None,
    score: float | None,
) -> tuple[Evaluation, datetime]:
    """Judge one contact: replay `new` events, sweep at `as_of`, and find the next sweep time.

    The router's node and the bulk run loop both judge through this, so a contact gets the
    same verdicts whether its graph judged it or the run loop did.
    """
    result = rules.evaluate(contact, history, new_events=new, as_of=as_of, fired=fired, score=score)
    next_sweep = rules.next_sweep(
        contact, history, as_of=as_of + _EPSILON, fired=result.fired, score=score
    )
    return result, next_sweep


def replay_from(history: Sequence[Event], start: datetime | None) -> list[Event]:
    """The events to replay when the earliest unseen one is at `start` (None: all of them)."""
    if start is None:
        return list(history)
    return [e for e in history if e.timestamp >= start]


def rule_outputs(result: Evaluation) -> dict[str, Any]:
    """An evaluation as graph state: firings, decisions (steps; 0: not fired), fire counts."""
    firings = [
        {
            "rule": f.rule.name,
            "step": f.step,
            "at": f.decision.at.isoformat(),
            "evidence": list(f.decision.evidence),
        }
        for f in result.firings
    ]
    decisions = [{"step": f.step, **f.decision.model_dump(mode="json")} for f in result.firings]
    decisions += [
        {"step": 0, **d.model_dump(mode="json")} for d in result.all_decisions() if not d.fired
    ]
    return {
        "fired": result.fired,
        "firings": firings,
        "decisions": Overwrite(decisions),  # a run starts afresh: see gtmflow.state
        "actions": Overwrite([]),
    }
