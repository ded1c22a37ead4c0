"""A sequence compiles to a real LangGraph graph: one node per step, branches as edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from gtmflow import Deps, VirtualClock
from gtmflow import pipes as p
from gtmflow.errors import ConfigError
from gtmflow.graphs.sequences import (
    Sequence,
    branch,
    build_sequence_graph,
    node,
    send,
    wait,
    wait_for,
)
from gtmflow.models import Contact, Event
from gtmflow.runtime.scaffold import SEQUENCES_PY
from gtmflow.tools.delivery.scheduler import Scheduler
from gtmflow.tools.events.event_store import SQLiteEventStore

SNAPSHOTS = Path(__file__).parent / "snapshots"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _scaffolded(name: str) -> Sequence:
    space: dict[str, Any] = {"__file__": "sequences.py"}
    exec(compile(SEQUENCES_PY, "sequences.py", "exec"), space)
    return next(s for s in space["SEQUENCES"] if s.name == name)


def test_nurture_diagram_shows_every_step_and_branch() -> None:
    drawn = build_sequence_graph(_scaffolded("nurture")).get_graph().draw_mermaid()
    assert drawn == (SNAPSHOTS / "sequence_nurture.mmd").read_text(encoding="utf-8")
    for edge in ("if-email_open -. &nbsp;then&nbsp; .-> nurture-2-engaged",
                 "wait-for-demo_requested -. &nbsp;timeout&nbsp; .-> nurture-3",
                 "enter -. &nbsp;resume wait-3d&nbsp; .-> wait-3d"):  # fmt: skip
        assert edge in drawn


def test_webinar_journey_diagram() -> None:
    drawn = build_sequence_graph(_scaffolded("webinar-followup")).get_graph().draw_mermaid()
    assert drawn == (SNAPSHOTS / "sequence_webinar_followup.mmd").read_text(encoding="utf-8")
    assert "webinar-1 -. &nbsp;done&nbsp; .-> wait-3d" in drawn
    assert "webinar-1 -. &nbsp;written&nbsp; .-> webinar-1" in drawn  # checkpointed, then sent
    assert "engaged -. &nbsp;then&nbsp; .-> webinar-2-engaged" in drawn


def test_one_node_per_step() -> None:
    graph = build_sequence_graph(_scaffolded("re-engagement"))
    nodes = [n for n in graph.get_graph().nodes if not n.startswith("__")]
    assert nodes == ["enter", "reengage-1", "wait-for-email_open", "reengage-2", "exit", "complete"]


def test_unknown_placeholders_fail_when_the_step_is_built() -> None:
    with pytest.raises(ConfigError) as caught:
        send("x", subject="About {webinar}", body="Hi {first_name}, you asked about {question}.")
    message = str(caught.value)
    assert "unknown placeholder '{webinar}' in the subject" in message
    assert "'{question}' in the body" in message and "write('x')" in message
    with pytest.raises(ConfigError, match="not a valid template"):
        send("y", subject="ok", body="a { brace")
    assert send("z", subject="{{literal}}", body="Hi {first_name}").subject == "{{literal}}"


def test_wiring_mistakes_are_listed_together() -> None:
    with pytest.raises(ConfigError) as caught:
        Sequence(
            "s",
            steps=[
                send("a", subject="s", body="b"),
                send("a", subject="s", body="b"),
                send("exit", subject="s", body="b"),
                lambda state: {},  # type: ignore[list-item]
            ],
        )
    message = str(caught.value)
    assert "two steps are named 'a'" in message
    assert "'exit' is reserved" in message
    assert "node('name', fn)" in message


def _deps(store: SQLiteEventStore, at: datetime, scheduler: Scheduler | None = None) -> Deps:
    return Deps(events=store, clock=VirtualClock(at), scheduler=scheduler)


def _start(contact: str, at: datetime) -> dict[str, Any]:
    return {"contact_id": contact, "as_of": at.isoformat(), "enrollment": 1, "status": "active",
            "started_at": at.isoformat()}  # fmt: skip


def test_branch_records_the_edge_taken_and_why() -> None:
    store = SQLiteEventStore(":memory:")
    store.write_contacts([Contact(id="c", name="Ann Lee")])
    store.write_events(
        [Event(id="o1", type="email_open", contact_id="c", timestamp=START - timedelta(hours=1))]
    )
    seq = Sequence(
        "s",
        steps=[
            branch(
                p.event("email_open", within="3d"),
                then=[send("engaged", subject="Next", body="Hi {first_name}")],
                otherwise=[send("quiet", subject="Again", body="...")],
            )
        ],
    )
    state = build_sequence_graph(seq).invoke(_start("c", START), context=_deps(store, START))
    assert [a["payload"]["template"] for a in state["actions"]] == ["engaged"]
    assert state["actions"][0]["payload"]["body"] == "Hi Ann"
    (taken,) = [d for d in state["decisions"] if d["rule"] == "s:if-email_open"]
    assert taken["fired"] and taken["evidence"] == ["o1"] and taken["reason"].startswith("then:")
    assert state["status"] == "completed"


def test_a_wait_ends_the_run_and_the_thread_resumes_at_that_step() -> None:
    store = SQLiteEventStore(":memory:")
    scheduler = Scheduler(":memory:")
    seq = Sequence(
        "s",
        steps=[
            send("one", subject="1", body="."),
            wait_for("demo_requested", timeout="7d"),
            send("two", subject="2", body="."),
        ],
    )
    graph = build_sequence_graph(seq, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "sequence:s:c"}}
    first = graph.invoke(_start("c", START), config, context=_deps(store, START, scheduler))
    assert [a["payload"]["template"] for a in first["actions"]] == ["one"]
    assert first["at"] == "wait-for-demo_requested" and first["status"] == "waiting"
    assert [w.reason for w in scheduler.pending()] == ["wait for demo_requested (step 2)"]
    later = START + timedelta(days=1)
    store.write_events([Event(id="d", type="demo_requested", contact_id="c", timestamp=later)])
    again = graph.invoke(
        {"contact_id": "c", "as_of": later.isoformat()}, config, context=_deps(store, later)
    )
    assert [a["payload"]["template"] for a in again["actions"]] == ["two"]  # this run's only
    assert again["status"] == "completed"


def test_your_own_node_or_runnable_is_a_step() -> None:
    store = SQLiteEventStore(":memory:")

    def tag(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        contact = runtime.context.events.contact(state["contact_id"])
        reason = f"tagged {contact.id if contact else state['contact_id']}"
        decision = {"step": 1, "rule": "s:tag", "fired": True, "at": START.isoformat()}
        return {"decisions": [decision | {"evidence": [], "reason": reason}]}

    noted = RunnableLambda(lambda state: {"exit_reason": None})
    seq = Sequence(
        "s", steps=[node("tag", tag), node("note", noted), send("one", subject="1", body=".")]
    )
    graph = build_sequence_graph(seq)
    assert [n for n in graph.get_graph().nodes][2:4] == ["tag", "note"]
    state = graph.invoke(_start("c", START), context=_deps(store, START))
    assert [d["reason"] for d in state["decisions"] if d["rule"] == "s:tag"] == ["tagged c"]
    assert [a["payload"]["template"] for a in state["actions"]] == ["one"]


def test_an_exit_before_a_step_stops_the_whole_run() -> None:
    store = SQLiteEventStore(":memory:")
    store.write_events(
        [Event(id="r", type="email_replied", contact_id="c", timestamp=START + timedelta(hours=1))]
    )
    seq = Sequence(
        "s", steps=[send("one", subject="1", body="."), wait("1d")],
        exit_when=p.event("email_replied"),
    )  # fmt: skip
    at = START + timedelta(hours=2)
    start = _start("c", START) | {"as_of": at.isoformat()}
    state = build_sequence_graph(seq).invoke(start, context=_deps(store, at))
    assert state["actions"] == [] and state["status"] == "exited"
    assert state["decisions"][0]["evidence"] == ["r"]


def test_a_sequence_nests_in_your_own_graph() -> None:
    from langgraph.graph import END as GRAPH_END
    from langgraph.graph import START as GRAPH_START
    from langgraph.graph import StateGraph
    from langgraph.types import Overwrite

    from gtmflow.graphs.sequences import SequenceState
    from gtmflow.state import GtmflowState, add_outputs, reset_outputs

    hints = get_type_hints(SequenceState, include_extras=True)
    assert set(get_type_hints(GtmflowState)) <= set(hints)
    assert hints["actions"].__metadata__ == hints["decisions"].__metadata__ == (add_outputs,)

    def qualify(state: SequenceState) -> dict[str, Any]:
        decision = {"step": 0, "rule": "mine:qualify", "fired": True, "at": START.isoformat(),
                    "evidence": [], "reason": "my own node ran first"}  # fmt: skip
        return reset_outputs() | {"decisions": Overwrite([decision])}  # a run starts afresh

    store = SQLiteEventStore(":memory:")
    seq = Sequence("s", steps=[send("one", subject="1", body="."), wait("1d")])
    builder = StateGraph(SequenceState, context_schema=Deps)
    builder.add_node("qualify", qualify)
    builder.add_node("journey", build_sequence_graph(seq))
    builder.add_edge(GRAPH_START, "qualify")
    builder.add_edge("qualify", "journey")
    builder.add_edge("journey", GRAPH_END)
    mine = builder.compile(checkpointer=InMemorySaver(), name="mine")
    config = {"configurable": {"thread_id": "mine:c"}}
    state = mine.invoke(_start("c", START), config, context=_deps(store, START))
    assert state["decisions"][0]["rule"] == "mine:qualify"  # kept, not overwritten
    assert [a["payload"]["template"] for a in state["actions"]] == ["one"]
    assert state["status"] == "waiting"
    later = START + timedelta(days=1, minutes=1)
    again = mine.invoke(
        {"contact_id": "c", "as_of": later.isoformat()}, config, context=_deps(store, later)
    )
    assert again["actions"] == [] and again["status"] == "completed"
    assert [d["rule"] for d in again["decisions"]] == ["mine:qualify", "s:completed"]
