"""The context store as a LangGraph `BaseStore`: `runtime.store` in a node, Chroma underneath."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import MatchCondition

from gtmflow import Deps, Workspace
from gtmflow.errors import ConfigError
from gtmflow.examples.sample_content import sample_content_items
from gtmflow.tools.context import ContextGraphStore, ContextStore

from .conftest import at, ev, write_events


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContextGraphStore]:
    with ContextStore.open(tmp_path) as context:
        yield ContextGraphStore(lambda: context)


def test_notes_put_get_search_and_delete(store: ContextGraphStore) -> None:
    ns = ("contacts", "c-42")
    store.put(ns, "renewal", {"text": "Their renewal with the current vendor is in June."})
    store.put(ns, "team", {"text": "Six reps work the inbound queue.", "source": "summary"})
    item = store.get(ns, "renewal")
    assert item is not None and item.value["text"].startswith("Their renewal")
    assert item.value["source"] == "note" and item.namespace == ns
    (hit,) = store.search(ns, query="when could they switch vendors?", limit=1)
    assert hit.key == "renewal" and hit.score is not None and hit.score > 0.3
    assert {i.key for i in store.search(ns)} == {"renewal", "team"}
    assert store.search(ns, filter={"source": "summary"})[0].key == "team"
    store.delete(ns, "renewal")
    assert store.get(ns, "renewal") is None
    assert store.context.notes("c-42")[0].source_id == "c-42/team"


def test_content_is_searched_semantically_one_result_per_piece(store: ContextGraphStore) -> None:
    store.context.upsert_content(sample_content_items())
    hits = store.search(("content",), query="our reps do not trust how leads are assigned", limit=3)
    assert hits[0].key == "blog-sales-adoption"
    assert len({h.key for h in hits}) == 3 and hits[0].value["title"]
    store.put(("content",), "faq-sso", {"title": "SSO", "body": "We support SAML single sign-on."})
    (faq,) = store.search(("content",), query="do you support SAML?", limit=1)
    assert faq.key == "faq-sso" and "SAML" in faq.value["text"]


def test_namespaces_are_listed_and_matched(store: ContextGraphStore) -> None:
    store.put(("contacts", "a"), "n", {"text": "one"})
    store.put(("contacts", "b"), "n", {"text": "two"})
    assert store.list_namespaces() == [("content",), ("contacts", "a"), ("contacts", "b")]
    assert store.list_namespaces(prefix=("contacts",)) == [("contacts", "a"), ("contacts", "b")]
    assert store.list_namespaces(max_depth=1) == [("content",), ("contacts",)]
    condition = MatchCondition(match_type="suffix", path=("b",))
    assert store.batch([_list(condition)]) == [[("contacts", "b")]]


def test_mistakes_are_config_errors_that_say_the_namespaces(store: ContextGraphStore) -> None:
    with pytest.raises(ConfigError, match=r"\('contacts', <contact_id>\)"):
        store.put(("notes", "c"), "k", {"text": "x"})
    with pytest.raises(ConfigError, match="needs a non-empty 'text'"):
        store.put(("contacts", "c"), "k", {"body": "x"})
    with pytest.raises(ConfigError, match="unknown fields"):
        store.put(("content",), "k", {"title": "t", "colour": "red"})


class _State(TypedDict, total=False):
    contact_id: str
    as_of: str
    answer: str


def _node(state: _State, runtime: Runtime[Deps]) -> dict[str, Any]:
    """A user's node: reads the library and writes a note, the standard LangGraph way."""
    assert runtime.store is not None
    (hit,) = runtime.store.search(("content",), query="leads assigned fairly", limit=1)
    runtime.store.put(("contacts", state["contact_id"]), "seen", {"text": f"Read {hit.key}."})
    return {"answer": hit.key}


def test_workspace_graphs_get_the_store_as_runtime_store(tmp_path: Path) -> None:
    builder = StateGraph(_State, context_schema=Deps)
    builder.add_node("read_and_note", _node)
    builder.add_edge(START, "read_and_note")
    builder.add_edge("read_and_note", END)
    graph = builder.compile(name="librarian")
    with Workspace.open(tmp_path) as ws:
        ws.context.upsert_content(sample_content_items())
        ws.ingest(write_events(tmp_path / "e.jsonl", [ev("v", "page_view", "c-1", at(0))]))
        assert ws.run(graph, as_of=at(1), progress=False).contacts == 1
        (note,) = ws.context.notes("c-1")
        assert note.text == "Read blog-sales-adoption."


def test_a_graph_that_never_uses_the_store_never_opens_chroma(tmp_path: Path) -> None:
    from gtmflow import pipes as p
    from gtmflow.graphs.inbound_router import build_inbound_router

    rules = [p.Rule("v", when=p.event("page_view"), then=p.alert_sales())]
    with Workspace.open(tmp_path) as ws:
        ws.ingest(write_events(tmp_path / "e.jsonl", [ev("v", "page_view", "c-1", at(0))]))
        ws.run(build_inbound_router(rules=rules), as_of=at(1), progress=False)
        assert "context" not in ws.__dict__
        assert not (tmp_path / ".gtmflow" / "chroma").exists()


def _list(condition: MatchCondition) -> Any:
    from langgraph.store.base import ListNamespacesOp

    return ListNamespacesOp(match_conditions=(condition,))
