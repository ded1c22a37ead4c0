"""The state contract every gtmflow graph speaks: one typed home, with reducers.

A gtmflow graph runs one LangGraph thread per contact. The workspace reads two keys from the
state a run ends with and commits them: `actions` (to the outbox, exactly once by idempotency
key) and `decisions` (to the decision log, for `explain`). Both are lists with a reducer that
appends, so any number of nodes can each add theirs: a user's node returns
`{"actions": [action.model_dump(mode="json")]}` and never overwrites another node's work.

Each run starts afresh: the first node of a run returns `reset_outputs()` (gtmflow's own entry
nodes do), so a thread's checkpoint holds one run's outputs, not its whole history. Extend
`GtmflowState` for your own keys:

    class MyState(GtmflowState, total=False):
        intent: str

The graph's name (part of every thread id and idempotency key) is given once, to
`builder.compile(name=...)` (or a factory's `name=`); a node reads it with `graph_name(config)`.
`run_config(graph, contact_id)` is the config a contact's run gets, for invoking a graph yourself.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, Required, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.types import Overwrite

__all__ = ["GtmflowState", "add_outputs", "graph_name", "reset_outputs", "run_config"]

GRAPH_KEY = "gtmflow_graph"
"""Where `ThreadRunner` puts the graph's name in the run's `configurable`."""


def add_outputs(
    left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """The reducer of `actions` and `decisions`: this update's items after the earlier ones."""
    return [*(left or ()), *(right or ())]


class GtmflowState(TypedDict, total=False):
    """The keys the workspace writes (`contact_id`, `as_of`) and reads (`actions`, `decisions`)."""

    contact_id: Required[str]
    as_of: NotRequired[str | None]
    actions: Annotated[list[dict[str, Any]], add_outputs]
    decisions: Annotated[list[dict[str, Any]], add_outputs]


def reset_outputs() -> dict[str, Any]:
    """The update that starts a run with no actions and decisions (bypasses the reducer)."""
    return {"actions": Overwrite([]), "decisions": Overwrite([])}


def graph_name(config: RunnableConfig) -> str:
    """The running graph's name, as the workspace invoked it (a node's `config` argument)."""
    name = config.get("configurable", {}).get(GRAPH_KEY)
    if not name:
        raise KeyError(
            "no graph name in config: invoke through Workspace.run, or outside it pass "
            "config=run_config(graph.name, contact_id)"
        )
    return str(name)


def run_config(graph: str, contact_id: str) -> RunnableConfig:
    """The config `Workspace.run` invokes a contact's thread with (thread id and graph name).

    Use it to invoke or `stream` a graph yourself, e.g. on a scratch checkpointer:

        graph.stream(payload, run_config("trials", "c-03"), context=ws.deps)
    """
    return {"configurable": {"thread_id": f"{graph}:{contact_id}", GRAPH_KEY: graph}}
