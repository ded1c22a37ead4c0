"""Graphs are plain LangGraph objects: drawable, invokable, composable."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.graph import END, START, StateGraph

from gtmflow import Deps, VirtualClock
from gtmflow import pipes as p
from gtmflow.errors import ConfigError
from gtmflow.graphs.inbound_router import build_inbound_router, rulesets_of
from gtmflow.models import Event
from gtmflow.routing import Route, RoutedState, add_route
from gtmflow.tools.events.event_store import SQLiteEventStore

from .conftest import at

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _rules() -> list[p.Rule]:
    return [p.Rule("demo", when=p.event("demo_requested"), then=p.alert_sales())]


def test_inbound_router_diagram_matches_snapshot() -> None:
    drawn = build_inbound_router(rules=_rules()).get_graph().draw_mermaid()
    snapshot = SNAPSHOTS / "inbound_router.mmd"
    assert drawn == snapshot.read_text(encoding="utf-8")


def test_router_exposes_its_trigger_index() -> None:
    (rules,) = rulesets_of(build_inbound_router(rules=_rules()))
    assert [r.name for r in rules.rules] == ["demo"]
    assert rulesets_of(object()) == []


def test_invoke_directly_without_a_workspace() -> None:
    store = SQLiteEventStore(":memory:")
    store.write_events([Event(id="e1", type="demo_requested", contact_id="c", timestamp=at(0))])
    graph = build_inbound_router(rules=_rules())
    deps = Deps(events=store, clock=VirtualClock(at(1)))
    state = graph.invoke({"contact_id": "c"}, context=deps)
    assert [a["kind"] for a in state["actions"]] == ["alert_sales"]
    assert state["decisions"][0]["evidence"] == ["e1"]


class _State(RoutedState, total=False):
    visited: Annotated[list[str], operator.add]


def _visit(name: str) -> Any:
    def node(state: _State) -> dict[str, Any]:
        return {"visited": [name]}

    return node


def _triage_graph() -> Any:
    builder = StateGraph(_State, context_schema=Deps)
    builder.add_node("start", _visit("start"))
    builder.add_edge(START, "start")
    route = Route(
        "triage",
        {
            "sales": p.count("page_view", path="/pricing", at_least=2, within="7d"),
            "nurture": p.event("content_download"),
        },
        default="ignore",
    )
    add_route(builder, "start", route)
    for target in route.targets:
        builder.add_node(target, _visit(target))
        builder.add_edge(target, END)
    return builder.compile()


@pytest.mark.parametrize(
    ("events", "target", "evidence"),
    [
        (
            [("v1", "page_view", {"path": "/pricing"}), ("v2", "page_view", {"path": "/pricing"})],
            "sales",
            ["v1", "v2"],
        ),
        ([("d1", "content_download", {})], "nurture", ["d1"]),
        ([("v1", "page_view", {"path": "/"})], "ignore", []),
    ],
)
def test_route_records_decision_and_follows_it(
    events: list[tuple[str, str, dict[str, Any]]], target: str, evidence: list[str]
) -> None:
    store = SQLiteEventStore(":memory:")
    store.write_events(
        [
            Event(id=i, type=t, contact_id="c", timestamp=at(n), properties=props)
            for n, (i, t, props) in enumerate(events)
        ]
    )
    state = _triage_graph().invoke(
        {"contact_id": "c", "as_of": at(5).isoformat()}, context=Deps(events=store)
    )
    assert state["visited"] == ["start", target]
    assert state["route"]["rule"] == f"triage->{target}"
    assert state["route"]["evidence"] == evidence
    assert state["route"]["fired"] is (target != "ignore")


def test_route_wiring_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        Route("r", {"a": "not a condition", "b": p.event("x")}, default="b")  # type: ignore[dict-item]
    assert "branch 'a' is not a condition" in str(info.value)
    assert "default 'b' is also a branch" in str(info.value)


def test_trigger_sources_of_graphs() -> None:
    from gtmflow.triggers import triggers_of

    (source,) = triggers_of(build_inbound_router(rules=_rules()))
    demo = Event(id="d", type="demo_requested", contact_id="c", timestamp=at(0))
    other = Event(id="o", type="page_view", contact_id="c", timestamp=at(0))
    assert source.cares_about(demo) and not source.cares_about(other)
    assert source.has_sweep is False
    assert triggers_of(object()) == []
