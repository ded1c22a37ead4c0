"""A first import into an empty SQLite event store builds its indexes once, after the rows.

Row by row, every event goes into the events table's indexes on `(contact_id, ...)` at a
random place. Once those indexes outgrow the page cache, each row costs a page per index, read
and written again at the commit: at ten million events an import ran at 25k events/s, against
55k at one million. Building an index after the rows sorts them once (SQLite's sorter, two
threads): the same ten million load at about 58k events/s, and the two indexes take about 14 s
more (`benchmarks/RESULTS.md`, "Scale, session 6").

So `bulk_load` drops the events table's own indexes (the unique event id stays: it is how
duplicates are found) when the store holds no events yet, and builds them again when the
import ends, however it ends. Readers during the import see the events committed so far
without those indexes. The definitions go to the `meta` table (`owed_indexes`) in the
transaction that drops them, so an importer that dies leaves a note, and the next open builds
them (with a warning) unless the import is still running: the importer holds a `flock` on
`<store>.bulk-load` until it ends, and the OS lets go of it when the process dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gtmflow.errors import GtmflowWarning
from gtmflow.tools._sqlite import immediate

__all__ = ["build_owed_indexes", "bulk_load"]

_OWED = "owed_indexes"
_SORT_CACHE = -8192  # KiB: SQLite's sorter merges faster in small runs (measured 14 s vs 24 s)


@contextmanager
def bulk_load(conn: sqlite3.Connection, lock: threading.Lock, path: str | Path) -> Iterator[bool]:
    """Load with the events table's indexes dropped if the store holds no events; yields whether."""
    release = _take(path)
    if release is None:
        yield False  # another process is importing into this store: load row by row
        return
    try:
        with lock:
            dropped = _drop_if_empty(conn)
        try:
            yield dropped
        finally:
            if dropped:
                with lock:
                    _build(conn)
    finally:
        release()


def build_owed_indexes(conn: sqlite3.Connection, path: str | Path) -> None:
    """On open: build the indexes an import that died never built, unless it is still running."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_OWED,)).fetchone()
    if row is None:
        return
    release = _take(path)
    if release is None:
        return  # the import is still running and builds them when it ends
    try:
        names = ", ".join(name for name, _ in json.loads(row[0]))
        _build(conn)
    finally:
        release()
    warnings.warn(
        GtmflowWarning(
            f"event store '{path}': an import into it stopped before it built the indexes "
            f"{names}; they are built now. The events it committed are kept: ingest the file "
            "again to add the rest (stored events count as duplicates)"
        ),
        stacklevel=3,
    )


def _take(path: str | Path) -> Callable[[], None] | None:
    """Take the import lock on `<store>.bulk-load`: its release, or None if it is held."""
    if str(path) == ":memory:":
        return lambda: None  # no other process can see this store
    handle = Path(f"{path}.bulk-load").open("a", encoding="utf-8")  # noqa: SIM115 (held on)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle.close  # closing the file lets go of the lock


def _drop_if_empty(conn: sqlite3.Connection) -> bool:
    with immediate(conn):
        empty = conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is None
        owed = conn.execute("SELECT 1 FROM meta WHERE key = ?", (_OWED,)).fetchone()
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name"
        ).fetchall()
        if not empty or owed or not indexes:
            return False
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_OWED, json.dumps(indexes)))
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    return True


def _build(conn: sqlite3.Connection) -> None:
    """Build every owed index that is missing and clear the note, in one transaction."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_OWED,)).fetchone()
    if row is None:
        return
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    threads = conn.execute("PRAGMA threads").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = {_SORT_CACHE}")
    conn.execute(f"PRAGMA threads = {min(2, os.cpu_count() or 1)}")
    try:
        with immediate(conn):
            present = {
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
            for name, sql in json.loads(row[0]):
                if name not in present:
                    conn.execute(sql)
            conn.execute("DELETE FROM meta WHERE key = ?", (_OWED,))
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")
        conn.execute(f"PRAGMA threads = {threads}")
