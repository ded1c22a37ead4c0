"""The PostgreSQL event store answers the run loop's bulk reads in one query per batch.

The same answers as the portable per-contact reads (`portable_scans.PortableScans`, the
reference), but a batch of contacts costs one round trip per question however many contacts
it holds, so a worker's cost follows its batch, not the number of contacts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from gtmflow import pipes as p
from gtmflow.models import Contact, Event
from gtmflow.tools.events.event_store import EventStore

from .conftest import at
from .test_run_loop import FILTERS, KINDS


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Any]:
    from gtmflow.tools._postgres import PostgresDatabase
    from gtmflow.tools.events.postgres_store import PostgresEventStore
    from gtmflow.tools.migrations import migrate

    db = PostgresDatabase(pg_url)
    migrate(db)
    store = PostgresEventStore(db)
    rng = random.Random(11)
    events = []
    for n in range(400):
        kind, props = rng.choice(KINDS)
        when = at(rng.uniform(-30, 30))
        events.append(Event(id=f"e{n}", type=kind, contact_id=f"c{n % 23}", timestamp=when,
                            properties=props))  # fmt: skip
    store.write_events(events[:300])
    store.write_events(events[300:])
    store.write_contacts([Contact(id=f"c{i}", email=f"c{i}@x.test") for i in range(0, 23, 2)])
    yield store
    store.close()


def test_postgres_bulk_reads_agree_with_the_portable_reads(pg_store: Any) -> None:
    store = pg_store
    for filters in [[f] for f in FILTERS] + [None, []]:
        for after, upto in ((0, 400), (250, 330)):
            fast = store.scan_new(filters, after_seq=after, upto_seq=upto, as_of=at(10))
            slow = EventStore.scan_new(store, filters, after_seq=after, upto_seq=upto, as_of=at(10))
            assert fast.due == slow.due and sorted(fast.deferred, key=str) == sorted(
                slow.deferred, key=str
            )
    cursors = {f"c{i}": (i * 17, None if i % 3 else at(i - 10)) for i in range(23)}
    assert store.unseen_starts(cursors, as_of=at(5)) == EventStore.unseen_starts(
        store, cursors, as_of=at(5)
    )
    conditions = [
        p.count("page_view", path="/pricing", at_least=2, within="3d") & p.inactive(
            "email_open", for_="4d"),
        p.event("content_download", tags=["a"]) | p.event("demo_requested", source=None),
        p.inactive("email_open", for_="4d") | p.event("page_view", n=1),
    ]  # fmt: skip
    starts = {f"c{i}": None if i % 4 == 0 else at(i - 12) for i in range(23)}
    for condition in conditions:
        needs = condition.history_needs()
        fast_h = store.read_histories(starts, needs)
        slow_h = EventStore.read_histories(store, starts, needs)
        assert fast_h == slow_h and any(fast_h.values())
    assert store.read_histories(starts, None) == EventStore.read_histories(store, starts, None)
    ids = [f"c{i}" for i in range(30)]
    assert store.contacts(ids) == EventStore.contacts(store, ids)


def test_postgres_bulk_reads_take_one_query_per_batch(
    pg_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not one query per contact: 23 contacts cost what 2 cost."""
    queries: list[str] = []
    real_query, real_tx = pg_store.db.query, pg_store.db.connection

    def query(sql: str, args: Any = ()) -> list[Any]:
        queries.append(sql)
        return real_query(sql, args)

    monkeypatch.setattr(pg_store.db, "query", query)
    monkeypatch.setattr(pg_store.db, "connection", lambda: pytest.fail("no raw connection"))
    assert real_tx is not None
    need = (p.count("page_view", path="/pricing", at_least=2, within="3d")).history_needs()
    counts = []
    for size in (2, 23):
        ids = [f"c{i}" for i in range(size)]
        queries.clear()
        pg_store.scan_new([FILTERS[0]], after_seq=0, upto_seq=400, as_of=at(10))
        pg_store.unseen_starts({c: (5, at(-20)) for c in ids}, as_of=at(5))
        pg_store.read_histories(dict.fromkeys(ids), need)
        pg_store.read_histories(dict.fromkeys(ids), [*need, p.FIRST_EVENT])
        pg_store.contacts(ids)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 6, counts
