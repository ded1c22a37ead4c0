"""Tests for the event store on both backends: idempotent writes, contact merging, queries, schema.

Tests taking `store` or `history` run on SQLite and on PostgreSQL; the ones about the SQLite
file itself (WAL, its schema version, paths) open a SQLiteEventStore directly.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow.errors import ConfigError, InputWarning, StoreError
from gtmflow.models import Contact, Event
from gtmflow.tools._database import StoreTarget
from gtmflow.tools._postgres import PostgresDatabase
from gtmflow.tools.events.event_store import (
    SCHEMA_VERSION,
    EventStore,
    SQLiteEventStore,
    StoreStats,
    WriteResult,
    derived_event_id,
)
from gtmflow.tools.events.postgres_store import PostgresEventStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def event(
    id: str, type: str = "page_view", contact: str = "c1", minutes: float = 0, **props: Any
) -> Event:
    return Event(
        id=id,
        type=type,
        contact_id=contact,
        timestamp=T0 + timedelta(minutes=minutes),
        properties=props,
    )


@pytest.fixture
def store(ledger_target: StoreTarget) -> Iterator[EventStore]:
    """The event store on each backend (the PostgreSQL one on a fresh, migrated database)."""
    if isinstance(ledger_target, PostgresDatabase):
        yield PostgresEventStore(ledger_target)
        return
    with SQLiteEventStore(ledger_target) as opened:
        yield opened


# Writing events ---------------------------------------------------------------------------------


def test_write_events_counts_new_and_duplicate_ids(store: EventStore) -> None:
    first = store.write_events([event("e1"), event("e2"), event("e1")])
    second = store.write_events([event("e2"), event("e3")])

    assert first == WriteResult(accepted=2, duplicates=1)
    assert second == WriteResult(accepted=1, duplicates=1)
    assert [e.id for e in store.events("c1")] == ["e1", "e2", "e3"]


def test_duplicate_id_keeps_the_first_version_and_reports_the_conflict(store: EventStore) -> None:
    store.write_events([event("e1", path="/first")])
    with pytest.warns(InputWarning, match="'e1' is already stored with a different properties"):
        result = store.write_events([event("e1", path="/second")])

    assert store.events("c1")[0].properties == {"path": "/first"}
    assert result == WriteResult(accepted=0, duplicates=0, rejected=1)


def test_conflicts_are_dead_lettered_with_their_own_line_on_each_backend(
    store: EventStore, tmp_path: Path
) -> None:
    import json

    from gtmflow.tools.events.ingest import ingest_events

    stamp = "2026-03-02T09:00:00+00:00"
    rows = [
        {"id": "e1", "type": "page_view", "contact_id": "c1", "timestamp": stamp},
        {"timestamp": stamp, "contact_id": "c1", "id": "e1", "type": "page_view"},  # same
        {"id": "e1", "type": "unsubscribed", "contact_id": "c1", "timestamp": stamp},
        {"id": "e2", "type": "page_view", "contact_id": "c2", "timestamp": stamp},
        {"id": "e2", "type": "page_view", "contact_id": "c9", "timestamp": stamp},
        {"id": "e3", "type": "page_view", "contact_id": "c1", "timestamp": stamp},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    report = ingest_events(store, path)

    assert (report.accepted, report.duplicates, report.rejected) == (3, 1, 2)
    assert report.dead_letter is not None
    letters = [json.loads(line) for line in report.dead_letter.read_text("utf-8").splitlines()]
    assert [(d["line"], d["reason"].split(";")[0]) for d in letters] == [
        (3, "conflict: event id 'e1' is already stored with a different type"),
        (5, "conflict: event id 'e2' is already stored with a different contact_id"),
    ]
    assert store.contact("c9") is None  # a conflicting row creates no contact


def test_write_events_accepts_a_generator(store: EventStore) -> None:
    result = store.write_events(event(f"e{i}", minutes=i) for i in range(3))

    assert result == WriteResult(accepted=3, duplicates=0)


def test_unknown_contact_gets_a_bare_row(store: EventStore) -> None:
    assert store.contact("c9") is None

    store.write_events([event("e1", contact="c9")])

    assert store.contact("c9") == Contact(id="c9")


def test_events_keep_their_instant_and_come_back_in_utc(store: EventStore) -> None:
    paris = timezone(timedelta(hours=2))
    store.write_events(
        [
            Event(
                id="e1", type="t", contact_id="c1", timestamp=datetime(2026, 3, 1, 12, tzinfo=paris)
            )
        ]
    )

    (stored,) = store.events("c1")

    assert stored.timestamp == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert stored.timestamp.utcoffset() == timedelta(0)


def test_events_are_ordered_by_timestamp_then_id(store: EventStore) -> None:
    store.write_events([event("b", minutes=5), event("z", minutes=1), event("a", minutes=5)])

    assert [e.id for e in store.events("c1")] == ["z", "a", "b"]


def test_microseconds_survive_the_round_trip(store: EventStore) -> None:
    when = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    store.write_events([Event(id="e", type="t", contact_id="c", timestamp=when)])

    assert store.events("c")[0].timestamp == when


def test_properties_round_trip_as_json(store: EventStore) -> None:
    props: dict[str, Any] = {"path": "/pricing", "n": 3, "nested": {"ok": True}, "tags": ["a", "é"]}
    store.write_events([event("e1", **props)])

    assert store.events("c1")[0].properties == props


# Querying ---------------------------------------------------------------------------------------


@pytest.fixture
def history(store: EventStore) -> EventStore:
    store.write_events(
        [
            event("v1", "page_view", minutes=0),
            event("o1", "email_open", minutes=10),
            event("v2", "page_view", minutes=20),
            event("d1", "content_download", minutes=30),
            event("x1", "page_view", contact="other", minutes=15),
        ]
    )
    return store


def test_events_filter_by_contact_and_types(history: EventStore) -> None:
    assert [e.id for e in history.events("c1", types=["page_view"])] == ["v1", "v2"]
    assert [e.id for e in history.events("c1", types={"email_open", "content_download"})] == [
        "o1",
        "d1",
    ]
    assert history.events("c1", types=[]) == []


def test_time_bounds_are_inclusive(history: EventStore) -> None:
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)

    assert [e.id for e in history.events("c1", since=since, until=until)] == ["o1", "v2"]
    assert [e.id for e in history.events("c1", since=until)] == ["v2", "d1"]
    assert [e.id for e in history.events("c1", until=since)] == ["v1", "o1"]


def test_bounds_in_other_timezones_compare_by_instant(history: EventStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    since = (T0 + timedelta(minutes=20)).astimezone(tokyo)

    assert [e.id for e in history.events("c1", since=since)] == ["v2", "d1"]


def test_types_and_time_range_combine(history: EventStore) -> None:
    found = history.events("c1", types=["page_view"], since=T0 + timedelta(minutes=1))

    assert [e.id for e in found] == ["v2"]


def test_naive_bound_is_a_config_error(history: EventStore) -> None:
    with pytest.raises(ConfigError, match=r"'since' .* has no timezone"):
        history.events("c1", since=datetime(2026, 3, 1))


def test_after_seq_returns_only_later_arrivals(store: EventStore) -> None:
    store.write_events([event("late", minutes=50), event("early", minutes=0)])
    mark = store.last_seq()
    store.write_events([event("newer-but-older", minutes=-10), event("late", minutes=50)])

    assert [e.id for e in store.events("c1", after_seq=mark)] == ["newer-but-older"]
    assert [e.id for e in store.events("c1", after_seq=0)] == ["newer-but-older", "early", "late"]


def test_changes_stream_in_seq_order_across_pages(store: EventStore) -> None:
    store.write_events(event(f"e{i:04d}", contact=f"c{i % 7}", minutes=-i) for i in range(2500))

    changes = list(store.changes())
    seqs = [seq for seq, _ in changes]

    assert len(changes) == 2500
    assert seqs == sorted(seqs) and len(set(seqs)) == 2500
    assert [e.id for _, e in changes[:2]] == ["e0000", "e0001"]
    assert [e.id for _, e in store.changes(after_seq=seqs[-2])] == ["e2499"]
    assert store.last_seq() == seqs[-1]


def test_last_seq_is_zero_when_empty(store: EventStore) -> None:
    assert store.last_seq() == 0
    assert list(store.changes()) == []


def test_contact_ids_are_sorted_across_pages(store: EventStore) -> None:
    ids = [f"c{i:05d}" for i in range(2100)]
    store.write_contacts(Contact(id=i) for i in reversed(ids))

    assert list(store.contact_ids()) == ids


def test_stats_count_contacts_and_events(history: EventStore) -> None:
    assert history.stats() == StoreStats(contacts=2, events=5)
    assert EventStore.stats(history) == StoreStats(contacts=2, events=5)  # the generic fallback


# Contacts ---------------------------------------------------------------------------------------


def test_contacts_merge_later_non_empty_fields_win(store: EventStore) -> None:
    store.write_contacts(
        [Contact(id="c1", email="Ann@Acme.com", timezone="Europe/Paris", attributes={"a": 1})]
    )
    store.write_contacts([Contact(id="c1", name="Ann", email=None, attributes={"b": 2, "a": 3})])

    assert store.contact("c1") == Contact(
        id="c1",
        email="ann@acme.com",
        name="Ann",
        timezone="Europe/Paris",
        attributes={"a": 3, "b": 2},
    )


def test_default_field_values_never_overwrite_stored_ones(store: EventStore) -> None:
    store.write_contacts([Contact(id="c1", lifecycle_stage="customer", timezone="Asia/Tokyo")])
    store.write_contacts([Contact(id="c1", title="CTO")])  # lifecycle/timezone left at defaults

    stored = store.contact("c1")
    assert stored is not None
    assert (stored.lifecycle_stage, stored.timezone, stored.title) == (
        "customer",
        "Asia/Tokyo",
        "CTO",
    )


def test_explicit_field_values_do_overwrite(store: EventStore) -> None:
    store.write_contacts([Contact(id="c1", lifecycle_stage="customer")])
    store.write_contacts([Contact(id="c1", lifecycle_stage="lead", subscription="unsubscribed")])

    stored = store.contact("c1")
    assert stored is not None
    assert (stored.lifecycle_stage, stored.subscription) == ("lead", "unsubscribed")


def test_write_contacts_counts_changes_and_no_ops(store: EventStore) -> None:
    store.write_events([event("e1", contact="c1")])  # creates a bare c1

    first = store.write_contacts(
        [Contact(id="c1", email="a@x.io"), Contact(id="c2"), Contact(id="c2", name="B")]
    )
    again = store.write_contacts([Contact(id="c1", email="a@x.io"), Contact(id="c2", name="B")])

    assert first == WriteResult(accepted=3, duplicates=0)
    assert again == WriteResult(accepted=0, duplicates=2)


def test_bare_contact_from_events_does_not_blank_a_known_one(store: EventStore) -> None:
    store.write_contacts([Contact(id="c1", email="a@x.io")])
    store.write_events([event("e1", contact="c1")])

    stored = store.contact("c1")
    assert stored is not None and stored.email == "a@x.io"


# The database -----------------------------------------------------------------------------------


def test_file_store_uses_wal_and_records_its_schema_version(tmp_path: Path) -> None:
    with SQLiteEventStore(tmp_path / "sub" / "events.db") as store:
        store.write_events([event("e1")])

    conn = sqlite3.connect(tmp_path / "sub" / "events.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION
    conn.close()


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    with SQLiteEventStore(tmp_path / "events.db") as store:
        store.write_events([event("e1")])
    with SQLiteEventStore(tmp_path / "events.db") as store:
        assert [e.id for e in store.events("c1")] == ["e1"]
        assert store.write_events([event("e1")]) == WriteResult(accepted=0, duplicates=1)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SQLiteEventStore(tmp_path / "events.db").close()
    conn = sqlite3.connect(tmp_path / "events.db")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()

    with pytest.raises(StoreError, match=r"schema version 99.*upgrade gtmflow"):
        SQLiteEventStore(tmp_path / "events.db")


def test_memory_store_works() -> None:
    with SQLiteEventStore(":memory:") as store:
        store.write_events([event("e1")])
        assert store.stats() == StoreStats(contacts=1, events=1)


def test_folder_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder; pass a file path"):
        SQLiteEventStore(tmp_path)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(StoreError, match=r"junk\.db"):
        SQLiteEventStore(junk)


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    store.close()
    store.close()  # harmless

    with pytest.raises(StoreError, match="closed"):
        store.events("c1")


def test_failed_batch_rolls_back_entirely(store: EventStore) -> None:
    def events() -> Iterator[Event]:
        yield event("e1")
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError):
        store.write_events(events())

    assert store.stats() == StoreStats(contacts=0, events=0)
    assert store.write_events([event("e2")]) == WriteResult(accepted=1, duplicates=0)


def test_threads_can_share_a_store(store: EventStore) -> None:
    def writer(n: int) -> None:
        for i in range(20):
            store.write_events([event(f"t{n}-{i}", contact=f"c{n}")])
            store.events(f"c{n}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert store.stats() == StoreStats(contacts=4, events=80)


# Derived ids ------------------------------------------------------------------------------------


def test_derived_id_is_stable_and_ignores_key_order_and_offset() -> None:
    paris = timezone(timedelta(hours=1))
    one = derived_event_id("c1", "page_view", T0, {"a": 1, "b": 2})
    two = derived_event_id("c1", "page_view", T0.astimezone(paris), {"b": 2, "a": 1})

    assert one == two
    assert len(one) == 22
    assert derived_event_id("c1", "page_view", T0, {"a": 2, "b": 2}) != one
    assert derived_event_id("c2", "page_view", T0, {"a": 1, "b": 2}) != one


# Properties -------------------------------------------------------------------------------------

_unique_events = st.lists(
    st.builds(
        event,
        id=st.sampled_from([f"e{i}" for i in range(40)]),
        type=st.sampled_from(["page_view", "email_open"]),
        contact=st.sampled_from(["c1", "c2", "c3"]),
        minutes=st.integers(min_value=0, max_value=5),
    ),
    max_size=25,
    unique_by=lambda e: e.id,
)


def _histories(*batches: list[Event]) -> dict[str, list[Event]]:
    with SQLiteEventStore(":memory:") as store:
        for batch in batches:
            store.write_events(batch)
        return {contact: store.events(contact) for contact in store.contact_ids()}


@settings(max_examples=40, deadline=None)
@given(batch=_unique_events, data=st.data())
def test_any_order_chunking_or_replay_gives_the_same_histories(
    batch: list[Event], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(batch))
    cut = data.draw(st.integers(min_value=0, max_value=len(batch)))

    assert _histories(shuffled[:cut], shuffled[cut:], batch) == _histories(batch)


def test_types_given_as_one_string_is_a_config_error(history: EventStore) -> None:
    with pytest.raises(ConfigError, match=r"such as \['page_view'\]"):
        history.events("c1", types="page_view")


# Text a database cannot hold ----------------------------------------------------------------------


def test_a_nul_character_rejects_only_its_own_row_on_each_backend(store: EventStore) -> None:
    """PostgreSQL text cannot hold U+0000; the row holding one is refused, the batch is kept."""
    contacts_refused: list[tuple[str, str]] = []
    events_refused: list[tuple[str, str]] = []
    contacts = [
        Contact(id="c1", email="ana@x.io", name="Ana"),
        Contact(id="c2", name="Bo\x00b"),
        Contact(id="c3", company="Lark"),
        Contact(id="c4\x00", email="d@x.io"),
    ]
    events = [
        event("e1", contact="c1"),
        event("e2", type="page\x00view", contact="c1"),
        event("e3", contact="c3", note="a\x00b"),  # inside properties: stored as JSON text
    ]

    wrote = store.write_contacts(contacts, reject=lambda c, w: contacts_refused.append((c.id, w)))
    stored = store.write_events(events, reject=lambda e, w: events_refused.append((e.id, w)))

    assert (wrote.accepted, wrote.rejected) == (2, 2)
    assert [cid for cid, _ in contacts_refused] == ["c2", "c4\x00"]
    assert all("NUL character" in why for _, why in contacts_refused + events_refused)
    assert (stored.accepted, stored.rejected) == (2, 1)
    assert [eid for eid, _ in events_refused] == ["e2"]
    assert store.contact("c1") is not None and store.contact("c3") is not None
    assert store.contact("c2") is None
    assert [e.properties for e in store.events("c3")] == [{"note": "a\x00b"}]
