"""The bulk run loop: the same outbox and decisions as per-contact runs, for less work."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow import Workspace
from gtmflow import pipes as p
from gtmflow.examples.sample_world import SampleWorld, generate_sample_world
from gtmflow.models import Event
from gtmflow.runtime.scaffold import RULES_PY, scaffold
from gtmflow.tools.events.event_store import EventStore, SQLiteEventStore

from .conftest import at, ev, write_events

# The classic rules plus rules that reach every condition kind, cooldowns and succession.
EXTRA_RULES = """
RULES += [
    p.Rule("webinar-then-pricing",
           when=p.followed_by("webinar_attended", p.event("page_view", path="/pricing"),
                              within="5d"),
           then=p.alert_sales("Webinar, then pricing")),
    p.Rule("demo-unanswered",
           when=p.not_followed_by("demo_requested", "meeting_booked", within="3d"),
           then=p.action("create_task", owner="sdr")),
    p.Rule("busy-week", when=p.count("page_view", at_least=8, within="2d"),
           then=p.action("tag", tag="busy"), cooldown="10d"),
    p.Rule("vp-clicked", when=p.attr("title", contains="VP") & p.event("email_click"),
           then=p.alert_sales()),
    p.Rule("quiet-reader",
           when=p.event("content_download") & p.inactive("page_view", for_="14d"),
           then=p.enroll("re-engagement"), cooldown="20d"),
]
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SampleWorld:
    return generate_sample_world(tmp_path_factory.mktemp("world"), contacts=140, days=60, seed=3)


def _workspace(folder: Path, world: SampleWorld) -> Workspace:
    scaffold(folder)
    (folder / "rules.py").write_text(RULES_PY + EXTRA_RULES)
    ws = Workspace.open(folder)
    ws.ingest(world.contacts_csv, kind="contacts", progress=False)
    ws.ingest(world.events_jsonl, progress=False)
    return ws


def _appended(world: SampleWorld, seed: int, as_of: datetime) -> list[dict[str, Any]]:
    """Events spread over contacts: on time, late (before the last run) and after as-of."""
    rng = random.Random(seed)
    kinds = [
        ("page_view", {"path": "/pricing"}),
        ("page_view", {"path": "/blog"}),
        ("email_open", {}),
        ("email_click", {}),
        ("content_download", {"asset_type": "ebook"}),
        ("webinar_attended", {}),
        ("demo_requested", {}),
        ("meeting_booked", {}),
    ]
    rows = []
    for n in range(120):
        kind, props = rng.choice(kinds)
        when = as_of - timedelta(days=rng.uniform(-3, 12))
        contact = f"c-{rng.randrange(1, world.contacts + 1):04d}"
        rows.append(ev(f"x{seed}-{n}", kind, contact, when, **props))
    return rows


def _outcome(ws: Workspace) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    actions = [
        {k: v for k, v in r.to_json().items() if k not in ("status", "attempts")}
        for r in ws.outbox.records()
    ]
    with sqlite3.connect(ws.state_dir / "gtmflow.db") as db:
        decisions = db.execute("SELECT * FROM decisions ORDER BY 1, 2, 3, 4").fetchall()
    return sorted(actions, key=lambda a: a["idempotency_key"]), decisions


def test_bulk_runs_agree_with_per_contact_runs(world: SampleWorld, tmp_path: Path) -> None:
    """Runs through a world (deferred, late and spread events) end in the same ledgers."""
    bulk, each = _workspace(tmp_path / "bulk", world), _workspace(tmp_path / "each", world)
    with bulk, each:
        moments = [world.start + timedelta(days=d) for d in (20, 35, 36, 50)] + [world.end]
        for round_, as_of in enumerate(moments):
            if round_ >= 2:
                rows = _appended(world, round_, as_of)
                for ws in (bulk, each):
                    ws.ingest(write_events(ws.root / f"x{round_}.jsonl", rows), progress=False)
            a = bulk.run(as_of=as_of, progress=False)
            b = each.run(as_of=as_of, progress=False, mode="per_contact")
            assert (a.actions, a.by_rule) == (b.actions, b.by_rule), as_of
            assert a.invoked < b.invoked or b.invoked == 0
            assert _outcome(bulk) == _outcome(each), as_of
        fired = {r.action.source for r in bulk.outbox.records()}
    assert {"pricing-hot", "re-engage", "ebook-nurture", "demo-unanswered"} <= fired


def test_graphs_are_invoked_only_where_a_rule_fired(workspace: Workspace, tmp_path: Path) -> None:
    rows = [
        ev("p1", "page_view", "hot", at(0), path="/pricing"),
        ev("p2", "page_view", "hot", at(1), path="/pricing"),
        ev("p3", "page_view", "hot", at(2), path="/pricing"),
        ev("v1", "page_view", "calm", at(2), path="/pricing"),
        ev("o1", "email_open", "calm", at(3)),
    ]
    workspace.ingest(write_events(tmp_path / "e.jsonl", rows), progress=False)
    report = workspace.run(as_of=at(5), progress=False)
    assert (report.contacts, report.invoked, report.by_rule) == (2, 1, {"pricing-hot": 1})
    threads = workspace.stores.threads_of("hot") + workspace.stores.threads_of("calm")
    assert threads == ["inbound_router:hot"]
    calm = {r["rule"]: r for r in workspace.explain("calm")["rules"]}
    assert calm["pricing-hot"]["fired"] is False  # verdicts are logged without a graph run
    assert "1 page_view" in calm["pricing-hot"]["reason"]


def test_a_graph_around_the_rules_node_runs_through_the_thread_runner(tmp_path: Path) -> None:
    """A user's graph with an extra node still gets bulk verdicts, and its own node runs."""
    from langgraph.graph import END, START, StateGraph

    from gtmflow.graphs.inbound_router import EmitActions, EvaluateRules, InboundState
    from gtmflow.triggers import RuleSet

    rules = RuleSet([p.Rule("demo", when=p.event("demo_requested"), then=p.alert_sales())])
    seen: list[str] = []

    def note(state: InboundState) -> dict[str, Any]:
        seen.append(state["contact_id"])
        return {}

    builder = StateGraph(InboundState)
    builder.add_node("evaluate_rules", EvaluateRules(rules))
    builder.add_node("note", note)
    builder.add_node("emit_actions", EmitActions(rules, "noted"))
    builder.add_edge(START, "evaluate_rules")
    builder.add_edge("evaluate_rules", "note")
    builder.add_edge("note", "emit_actions")
    builder.add_edge("emit_actions", END)
    graph = builder.compile(name="noted")
    with Workspace.open(tmp_path) as ws:
        rows = [ev("d1", "demo_requested", "a", at(1)), ev("d2", "page_view", "b", at(1))]
        ws.ingest(write_events(tmp_path / "e.jsonl", rows), progress=False)
        report = ws.run(graph, as_of=at(2), progress=False)
        again = ws.run(graph, as_of=at(3), progress=False)
    assert (report.contacts, report.invoked, report.by_rule) == (1, 1, {"demo": 1})
    assert seen == ["a"] and again.contacts == 0


# --------------------------------------------------------------------------- store scans

KINDS = [
    ("page_view", {"path": "/pricing"}),
    ("page_view", {"path": "/blog", "n": 1}),
    ("page_view", {"path": "/pricing", "n": True}),
    ("email_open", {}),
    ("content_download", {"asset_type": "ebook", "tags": ["a"]}),
    ("demo_requested", {"source": None}),
]
FILTERS = [
    p.EventFilter("page_view", (("path", "/pricing"),)),
    p.EventFilter("page_view", (("n", 1),)),
    p.EventFilter("content_download", (("tags", ("a",)),)),  # a tuple never equals a list
    p.EventFilter("content_download", (("tags", ["a"]),)),  # decided in Python
    p.EventFilter("demo_requested", (("source", None),)),
    p.EventFilter("email_open"),
]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SQLiteEventStore, list[Event]]]:
    rng = random.Random(11)
    events = []
    for n in range(400):
        kind, props = rng.choice(KINDS)
        when = at(rng.uniform(-30, 30))
        events.append(Event(id=f"e{n}", type=kind, contact_id=f"c{n % 23}", timestamp=when,
                            properties=props))  # fmt: skip
    store = SQLiteEventStore(tmp_path / "s.db")
    store.write_events(events[:300])
    store.write_events(events[300:])
    yield store, events
    store.close()


def test_sql_scans_agree_with_the_portable_reads(
    stores: tuple[SQLiteEventStore, list[Event]],
) -> None:
    store, _ = stores
    for filters in ([f] for f in FILTERS):
        for after, upto in ((0, 400), (250, 330)):
            fast = store.scan_new(filters, after_seq=after, upto_seq=upto, as_of=at(10))
            slow = EventStore.scan_new(store, filters, after_seq=after, upto_seq=upto, as_of=at(10))
            assert fast.due == slow.due and fast.deferred == slow.deferred
    cursors = {f"c{i}": (i * 17, None if i % 3 else at(i - 10)) for i in range(23)}
    assert store.unseen_starts(cursors, as_of=at(5)) == EventStore.unseen_starts(
        store, cursors, as_of=at(5)
    )
    conditions = [
        p.count("page_view", path="/pricing", at_least=2, within="3d") & p.inactive(
            "email_open", for_="4d"),
        p.event("content_download", tags=["a"]) | p.event("demo_requested", source=None),
    ]  # fmt: skip
    starts = {f"c{i}": None if i % 4 == 0 else at(i - 12) for i in range(23)}
    for condition in conditions:
        needs = condition.history_needs()
        fast_h = store.read_histories(starts, needs)
        slow_h = EventStore.read_histories(store, starts, needs)
        assert fast_h == slow_h and any(fast_h.values())
    assert store.read_histories(starts, None) == EventStore.read_histories(store, starts, None)


def test_a_run_with_nothing_new_does_the_same_work_at_any_size(tmp_path: Path) -> None:
    """Nothing new: the SQLite virtual-machine steps of a run do not grow with the world."""
    steps = []
    for size in (20, 200):
        folder = tmp_path / str(size)
        scaffold(folder)
        rows = [
            ev(f"e{c}-{i}", "page_view", f"c{c}", at(i), path="/pricing" if i % 5 else "/")
            for c in range(size)
            for i in range(10)
        ] + [ev(f"o{c}", "email_open", f"c{c}", at(1)) for c in range(size)]
        with Workspace.open(folder) as ws:
            ws.ingest(write_events(folder / "e.jsonl", rows), progress=False)
            ws.run(as_of=at(12), progress=False)
            counter = _VmSteps(ws)
            assert ws.run(as_of=at(12, hours=1), progress=False).contacts == 0
            steps.append(counter.stop())
    assert steps[1] <= steps[0] * 1.1 + 200, steps


class _VmSteps:
    """Counts SQLite VM steps on every connection of a workspace's database."""

    def __init__(self, ws: Workspace) -> None:
        self.count = 0
        self.conns = [
            ws.events._conn, ws.run_state._db.conn, ws.scheduler._db.conn,
            ws.outbox._db.conn, ws.decisions._db.conn,
        ]  # fmt: skip
        for conn in self.conns:
            conn.set_progress_handler(self._tick, 1)

    def _tick(self) -> int:
        self.count += 1
        return 0

    def stop(self) -> int:
        for conn in self.conns:
            conn.set_progress_handler(None, 1)
        return self.count


def test_json_filters_match_python_equality(tmp_path: Path) -> None:
    """Property filters in SQL decide like Python's ==: '1' is not 1, True is 1, None is null."""
    store = SQLiteEventStore(tmp_path / "j.db")
    values: list[Any] = ["1", 1, 1.0, True, None, "x", 2]
    store.write_events(
        Event(id=f"v{i}", type="t", contact_id=f"c{i}", timestamp=at(0), properties={"k": v})
        for i, v in enumerate(values)
    )
    store.write_events([Event(id="missing", type="t", contact_id="cm", timestamp=at(0))])
    rows = [(e.contact_id, e.properties) for _, e in store.changes()]
    for wanted in values:
        scan = store.scan_new(
            [p.EventFilter("t", (("k", wanted),))], after_seq=0, upto_seq=99, as_of=at(1)
        )
        expected = {c for c, props in rows if props.get("k") == wanted}
        assert scan.due == expected, (wanted, json.dumps(sorted(scan.due)))
    store.close()


def test_decoded_rows_are_the_events_that_were_written(tmp_path: Path) -> None:
    written = Event(id="e1", type="page_view", contact_id="c", timestamp=at(1, hours=3),
                    properties={"path": "/pricing", "n": [1, {"x": None}]})  # fmt: skip
    with SQLiteEventStore(tmp_path / "d.db") as store:
        store.write_events([written])
        (read,) = store.events("c")
        (_, changed), *_ = store.changes()
        needed = store.read_histories({"c": None}, None)["c"][0]
    for item in (read, changed, needed):
        assert item == written and item.model_dump() == written.model_dump()
        assert item.model_fields_set == written.model_fields_set
        assert item.model_copy(update={"type": "x"}).type == "x" and item.type == "page_view"
        assert hash(item.timestamp) == hash(written.timestamp)


def test_runs_load_the_rules_again_only_when_their_file_changed(tmp_path: Path) -> None:
    """One workspace, many runs: rules.py is imported once, and again as soon as it is edited."""
    scaffold(tmp_path)
    rows = [ev(f"v{i}", "page_view", "c1", at(i / 10), path="/pricing") for i in range(3)]
    with Workspace.open(tmp_path) as ws:
        ws.ingest(write_events(tmp_path / "e.jsonl", rows), progress=False)
        first = ws.run(as_of=at(1), progress=False)
        loads = ws.code.loads
        for hour in range(1, 4):
            ws.run(as_of=at(1, hours=hour), progress=False)
        assert ws.code.loads == loads  # nothing changed: nothing imported or compiled again
        assert first.by_rule == {"pricing-hot": 1}
        # Same size, new bytes: the fingerprint is the content, not the mtime.
        text = (tmp_path / "rules.py").read_text()
        (tmp_path / "rules.py").write_text(text.replace('"pricing-hot"', '"pricing-hit"'))
        rows = [ev(f"w{i}", "page_view", "c2", at(2, hours=i), path="/pricing") for i in range(3)]
        ws.ingest(write_events(tmp_path / "f.jsonl", rows), progress=False)
        assert ws.run(as_of=at(3), progress=False).by_rule == {"pricing-hit": 1}
        assert [r.name for r in ws.rules()][1] == "pricing-hit"


def test_a_need_without_a_window_reads_its_type_not_the_whole_history(tmp_path: Path) -> None:
    """`event("webinar_attended")` over a long history: VM steps follow its rows, not history."""
    steps: list[int] = []
    for size in (200, 4000):
        steps.append(0)
        store = SQLiteEventStore(tmp_path / f"{size}.db")
        rows = [ev(f"v{i}", "page_view", "c", at(-i / 100), path="/") for i in range(size)]
        rows.append(ev("w", "webinar_attended", "c", at(-3), webinar="w1"))
        store.write_events([Event(**row) for row in rows])
        needs = p.event("webinar_attended").history_needs()
        store._conn.set_progress_handler(lambda: steps.__setitem__(-1, steps[-1] + 1), 1)
        found = store.read_histories({"c": at(0), "d": None}, needs)
        store._conn.set_progress_handler(None, 1)
        assert [e.id for e in found["c"]] == ["w"] and found["d"] == []
        store.close()
    small, big = steps
    assert big <= small * 1.2 + 50, (small, big)


def test_reading_a_need_costs_the_same_however_many_other_contacts_have_its_type(
    tmp_path: Path,
) -> None:
    """No transient index over the whole events table per read (SQLite's automatic index).

    SQLite built an automatic partial index on every row of the need's type for each batch's
    read, instead of seeking `(contact_id, type, ts)`: a first run cost batches x events, 95
    contacts/s at 100k contacts against 427 at 10k.
    """
    steps: list[int] = []
    for others in (50, 20000):
        steps.append(0)
        store = SQLiteEventStore(tmp_path / f"{others}.db")
        rows = [
            ev(f"o{i}", "webinar_attended", f"o{i}", at(-1), webinar="w1") for i in range(others)
        ]
        rows.append(ev("w", "webinar_attended", "c", at(-3), webinar="w1"))
        store.write_events([Event(**row) for row in rows])
        needs = p.event("webinar_attended").history_needs()
        store._conn.set_progress_handler(lambda: steps.__setitem__(-1, steps[-1] + 1), 1)
        batch = {"c": at(0), **{f"new{i}": None for i in range(499)}}  # a run's batch
        found = store.read_histories(batch, needs)
        store._conn.set_progress_handler(None, 1)
        assert [e.id for e in found["c"]] == ["w"] and not any(found[f"new{i}"] for i in range(9))
        store.close()
    small, big = steps
    assert big <= small * 1.2 + 50, (small, big)


def test_a_store_of_schema_1_gains_the_type_index_on_open(tmp_path: Path) -> None:
    """Version 1 stores (one `(contact_id, ts, type)` index) are migrated, keeping their rows."""
    path = tmp_path / "old.db"
    store = SQLiteEventStore(path)
    store.write_events([Event(**ev("a", "page_view", "c", at(0)))])
    store._conn.executescript(
        "DROP INDEX events_contact_type_ts; UPDATE meta SET value = '1' "
        "WHERE key = 'schema_version';"
    )
    store.close()
    with SQLiteEventStore(path) as reopened:
        names = {r[0] for r in reopened._conn.execute("SELECT name FROM sqlite_master")}
        assert "events_contact_type_ts" in names and [e.id for e in reopened.events("c")] == ["a"]
