"""The contract between a user's graphs and the workspace: names, times, composition."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from gtmflow import Deps, Workspace
from gtmflow import pipes as p
from gtmflow.errors import ConfigError
from gtmflow.graphs.inbound_router import InboundState, build_inbound_router
from gtmflow.models import Action, idempotency_key
from gtmflow.state import graph_name

from .conftest import at, ev, write_events


class _State(TypedDict, total=False):
    contact_id: str
    as_of: str


def _noop(state: _State) -> dict[str, Any]:
    return {}


def _graph(*nodes: str, name: str | None = None) -> Any:
    builder = StateGraph(_State, context_schema=Deps)
    for node in nodes:
        builder.add_node(node, _noop)
    builder.add_edge(START, nodes[0])
    for a, b in itertools.pairwise(nodes):
        builder.add_edge(a, b)
    builder.add_edge(nodes[-1], END)
    return builder.compile(name=name) if name else builder.compile()


def test_an_unnamed_graph_is_refused_with_how_to_name_it(tmp_path: Path) -> None:
    with Workspace.open(tmp_path) as ws, pytest.raises(ConfigError) as raised:
        ws.run(_graph("a"), as_of=at(1), progress=False)
    assert "builder.compile(name=" in str(raised.value)
    assert "'LangGraph'" in str(raised.value)


def test_two_different_graphs_under_one_name_are_refused(tmp_path: Path) -> None:
    with Workspace.open(tmp_path) as ws:
        ws.ingest(write_events(tmp_path / "e.jsonl", [ev("v", "page_view", "c", at(0))]))
        assert ws.run(_graph("a", name="nudges"), as_of=at(1), progress=False).contacts == 1
        ws.run(_graph("a", name="nudges"), as_of=at(1), progress=False)  # the same graph again
        with pytest.raises(ConfigError, match="already names another graph"):
            ws.run(_graph("a", "b", name="nudges"), as_of=at(1), progress=False)


def test_configured_graphs_must_not_share_a_name(tmp_path: Path) -> None:
    (tmp_path / "graphs.py").write_text(
        "from langgraph.graph import StateGraph, START, END\n"
        "from typing import TypedDict\n"
        "class S(TypedDict, total=False):\n    contact_id: str\n"
        "def build(name):\n"
        "    b = StateGraph(S)\n    b.add_node('n', lambda s: {})\n"
        "    b.add_edge(START, 'n')\n    b.add_edge('n', END)\n"
        "    return b.compile(name=name)\n"
        "GRAPHS = [build('x'), build('x')]\n"
    )
    (tmp_path / "gtmflow.toml").write_text('[gtmflow]\ngraphs = "graphs:GRAPHS"\n')
    (tmp_path / "rules.py").write_text("RULES = []\n")
    with Workspace.open(tmp_path) as ws, pytest.raises(ConfigError, match=r"\['x'\] are used"):
        ws.run_all(as_of=at(1), progress=False)


def test_a_naive_as_of_says_it_needs_a_time_zone(tmp_path: Path) -> None:
    rules = [p.Rule("v", when=p.event("page_view"), then=p.alert_sales())]
    with Workspace.open(tmp_path) as ws:
        with pytest.raises(ConfigError, match="'as_of' 2026-03-01T00:00:00 has no timezone"):
            ws.run(build_inbound_router(rules=rules), as_of=datetime(2026, 3, 1), progress=False)
        with pytest.raises(ConfigError, match=r"'until' .* has no timezone"):
            ws.tick(datetime(2026, 3, 1), progress=False)


# ---------------------------------------------------------------------------- composition


class _Outer(InboundState, total=False):
    intent: str


def _tag_intent(state: _Outer, config: RunnableConfig) -> dict[str, Any]:
    """A user's node: appends its own action next to the router's, named by the running graph."""
    graph = graph_name(config)
    action = Action(
        kind="create_task",
        contact_id=state["contact_id"],
        graph=graph,
        source="tag-intent",
        created_at=at(0),
        idempotency_key=idempotency_key(graph, state["contact_id"], "tag-intent", 0, "task"),
    )
    return {"intent": "curious", "actions": [action.model_dump(mode="json")]}


def _outer(router: Any, state: type = _Outer) -> Any:
    builder = StateGraph(state, context_schema=Deps)
    builder.add_node("router", router)
    builder.add_node("tag_intent", _tag_intent)
    builder.add_edge(START, "router")
    builder.add_edge("router", "tag_intent")
    builder.add_edge("tag_intent", END)
    return builder.compile(name="composed")


RULES = [
    p.Rule("went-quiet", when=p.event("signup") & p.inactive("login", for_="5d"),
           then=p.alert_sales("quiet"))
]  # fmt: skip


def test_a_nested_router_keeps_its_sweep_and_user_nodes_append_actions(tmp_path: Path) -> None:
    composed = _outer(build_inbound_router(rules=RULES, name="composed"))
    with Workspace.open(tmp_path) as ws:
        ws.ingest(write_events(tmp_path / "e.jsonl", [ev("s", "signup", "c-1", at(0))]))
        first = ws.run(composed, as_of=at(1), progress=False)
        assert first.by_rule == {"tag-intent": 1}  # quiet for 1 day only: no alert yet
        later = ws.run(composed, as_of=at(7), progress=False)  # no new event: the sweep fires
        assert later.by_rule == {"went-quiet": 1}
        kinds = sorted(r.action.kind for r in ws.outbox.records())
    assert kinds == ["alert_sales", "create_task"]  # both nodes' actions, each exactly once


def test_nesting_a_router_in_a_state_that_forgets_its_cursors_is_refused(tmp_path: Path) -> None:
    composed = _outer(build_inbound_router(rules=RULES, name="composed"), state=_State)
    with Workspace.open(tmp_path) as ws:
        ws.ingest(write_events(tmp_path / "e.jsonl", [ev("s", "signup", "c-1", at(0))]))
        with pytest.raises(ConfigError) as raised:
            ws.run(composed, as_of=at(1), progress=False)
    assert "extend the nested one's" in str(raised.value) and "seq_cursor" in str(raised.value)
