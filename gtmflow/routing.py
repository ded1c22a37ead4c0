"""Routing helpers: pipes conditions as LangGraph conditional edges that explain themselves.

A `Route` is a decision node plus the edge that follows it. The node evaluates its branches in
order for the state's contact; the first whose condition holds wins (else the default). It writes
the decision (branch, evidence, reason) into graph state under `route`, and the edge reads it, so
every path a contact took is recorded in its checkpoints.

Example:
    >>> from langgraph.graph import StateGraph
    >>> from gtmflow import pipes as p
    >>> route = Route("triage", {"sales": p.event("demo_requested")}, default="nurture")
    >>> route.targets
    ('sales', 'nurture')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, Required, TypedDict

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from gtmflow.errors import ConfigError
from gtmflow.models import Contact, RouteDecision
from gtmflow.pipes import Condition, EvalContext, History, Match
from gtmflow.tools.deps import Deps

__all__ = ["Route", "RoutedState", "add_route"]


class RoutedState(TypedDict, total=False):
    """The state keys a `Route` reads (`contact_id`, `as_of`) and writes (`route`)."""

    contact_id: Required[str]
    as_of: NotRequired[str | None]
    route: dict[str, Any]


class Route:
    """A decision node: the first branch whose condition holds; records why.

    Args:
        name: Node name; also the prefix of each recorded decision (`"triage->sales"`).
        branches: Target node name → condition, tried in order.
        default: Target when no condition holds.
    """

    def __init__(self, name: str, branches: Mapping[str, Condition], *, default: str) -> None:
        problems = [
            f"branch '{t}' is not a condition"
            for t, c in branches.items()
            if not isinstance(c, Condition)
        ]
        if not branches:
            problems.append("no branches; give at least one {target: condition}")
        if default in branches:
            problems.append(f"default '{default}' is also a branch")
        if problems:
            raise ConfigError(f"route '{name}': " + "; ".join(problems))
        self.name = name
        self.branches = dict(branches)
        self.default = default

    @property
    def targets(self) -> tuple[str, ...]:
        """Every node this route can lead to."""
        return (*self.branches, self.default)

    def __call__(self, state: RoutedState, runtime: Runtime[Deps]) -> dict[str, Any]:
        deps = runtime.context
        contact_id = state["contact_id"]
        raw = state.get("as_of")
        now = datetime.fromisoformat(raw) if raw else deps.clock.now()
        ctx = EvalContext(
            deps.events.contact(contact_id) or Contact(id=contact_id),
            History(deps.events.events(contact_id, until=now)),
            now,
            deps.score(contact_id) if deps.score else None,
        )
        target, decision = self.decide(ctx)
        return {"route": {"target": target, **decision.model_dump(mode="json")}}

    def decide(self, ctx: EvalContext) -> tuple[str, RouteDecision]:
        """The winning target and the decision that records it."""
        misses: list[str] = []
        for target, condition in self.branches.items():
            match = condition.evaluate(ctx)
            if match:
                return target, self._decision(target, ctx.now, match, fired=True)
            misses.append(f"{target}: {match.reason}")
        default = Match(False, reason="; ".join(misses))
        return self.default, self._decision(self.default, ctx.now, default, fired=False)

    def choose(self, state: RoutedState) -> str:
        """The conditional edge: go where the decision node decided."""
        return str(state["route"]["target"])

    def _decision(self, target: str, now: datetime, match: Match, *, fired: bool) -> RouteDecision:
        return RouteDecision(
            rule=f"{self.name}->{target}",
            fired=fired,
            at=now,
            evidence=match.evidence,
            reason=match.reason,
        )


def add_route(builder: StateGraph[Any, Any, Any, Any], source: str, route: Route) -> None:
    """Add `route` after node `source`: `source → route → one of route.targets`."""
    builder.add_node(route.name, route)
    builder.add_edge(source, route.name)
    builder.add_conditional_edges(route.name, route.choose, {t: t for t in route.targets})
