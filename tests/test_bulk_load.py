"""An import into an empty SQLite store builds its indexes after the rows, and never loses them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow.errors import GtmflowWarning
from gtmflow.tools.events import SQLiteEventStore, ingest_events
from gtmflow.tools.events.event_store import SCHEMA_VERSION

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _events_file(path: Path, count: int, *, prefix: str = "e") -> Path:
    """`count` events over 50 contacts in arrival order, about 150 bytes a line."""
    with path.open("w") as out:
        for n in range(count):
            at = (T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            row = {"id": f"{prefix}{n}", "type": ("page_view", "email_open")[n % 2],
                   "contact_id": f"c{n % 50}", "timestamp": at,
                   "properties": {"path": "/pricing", "pad": "x" * 40}}  # fmt: skip
            out.write(json.dumps(row) + "\n")
    return path


def _indexes(db: Path) -> dict[str, str]:
    """The events table's own indexes (name: SQL), read through a connection of its own."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
        ).fetchall()
    return dict(rows)


def _fresh_indexes(tmp_path: Path) -> dict[str, str]:
    SQLiteEventStore(tmp_path / "reference.db").close()
    return _indexes(tmp_path / "reference.db")


def _seen_during(store: SQLiteEventStore, source: Path, db: Path) -> list[dict[str, str]]:
    """Ingest `source` in small batches; the indexes another reader saw as it went."""
    seen: list[dict[str, str]] = []
    ingest_events(store, source, batch_size=500, progress=lambda _: seen.append(_indexes(db)))
    return seen


def test_an_import_into_an_empty_store_builds_the_indexes_after_the_rows(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = SQLiteEventStore(db)
    seen = _seen_during(store, _events_file(tmp_path / "a.jsonl", 20_000), db)
    assert len(seen) > 2 and seen[0] == {}  # mid-import, the table had no index of its own
    assert _indexes(db) == _fresh_indexes(tmp_path)
    plan = store._conn.execute(
        "EXPLAIN QUERY PLAN SELECT ts FROM events WHERE contact_id = 'c3' AND type = 'email_open'"
    ).fetchall()
    assert "events_contact_type_ts" in str(plan)
    assert (
        store._conn.execute("SELECT value FROM meta WHERE key = 'owed_indexes'").fetchone() is None
    )
    # The store reads as one loaded row by row: a contact's events, in order, de-duplicated.
    assert [e.id for e in store.events("c3")][:3] == ["e3", "e53", "e103"]
    assert len(list(store.events("c3"))) == 400
    assert ingest_events(store, tmp_path / "a.jsonl").duplicates == 20_000


def test_an_import_into_a_store_with_events_keeps_its_indexes(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = SQLiteEventStore(db)
    ingest_events(store, _events_file(tmp_path / "first.jsonl", 10))
    seen = _seen_during(store, _events_file(tmp_path / "b.jsonl", 20_000, prefix="b"), db)
    assert seen and all(s == _fresh_indexes(tmp_path) for s in seen)
    assert store.stats().events == 20_010


def test_an_import_that_fails_still_builds_the_indexes(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = SQLiteEventStore(db)

    def stop(read: int) -> None:
        if read > 1_000_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_events(
            store, _events_file(tmp_path / "a.jsonl", 20_000), batch_size=500, progress=stop
        )
    assert _indexes(db) == _fresh_indexes(tmp_path)
    assert 0 < store.stats().events < 20_000  # the batches committed before it are kept


_KILLED_MID_IMPORT = textwrap.dedent(
    """
    import os, signal, sys
    from gtmflow.tools.events import SQLiteEventStore, ingest_events

    def die(read):
        if read > 1_000_000:
            os.kill(os.getpid(), signal.SIGKILL)

    ingest_events(SQLiteEventStore(sys.argv[1]), sys.argv[2], batch_size=500, progress=die)
    """
)


def test_an_importer_that_dies_leaves_the_indexes_to_the_next_open(tmp_path: Path) -> None:
    db, source = tmp_path / "events.db", _events_file(tmp_path / "a.jsonl", 20_000)
    died = subprocess.run([sys.executable, "-c", _KILLED_MID_IMPORT, str(db), str(source)])
    assert died.returncode == -9
    assert _indexes(db) == {}  # the importer died between its drop and its build
    with pytest.warns(GtmflowWarning, match="stopped before it built the indexes"):
        store = SQLiteEventStore(db)
    assert _indexes(db) == _fresh_indexes(tmp_path)
    kept = store.stats().events
    assert 0 < kept < 20_000
    report = ingest_events(store, source)
    assert (report.accepted, report.duplicates) == (20_000 - kept, kept)
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )


def test_opening_a_store_while_it_loads_leaves_the_build_to_the_importer(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = SQLiteEventStore(db)
    with store.bulk_load() as bulk:
        assert bulk
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning about owed indexes would fail here
            other = SQLiteEventStore(db)  # a reader (another process) opens the store meanwhile
        assert _indexes(db) == {}
        with other.bulk_load() as second:  # a second importer loads row by row
            assert not second
        other.close()
    assert _indexes(db) == _fresh_indexes(tmp_path)
