"""The SQLite event store's schema, its migrations, and how its connection is opened.

Schema of `SQLiteEventStore` (version 2, recorded in `meta.schema_version`):

```
meta      key TEXT PRIMARY KEY, value TEXT            -- schema_version, ...
contacts  id TEXT PRIMARY KEY, email, name, company, title, timezone, lifecycle_stage,
          subscription  (NULL = never set; the Contact default applies on read),
          attributes TEXT  (JSON object)
events    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, contact_id, type,
          ts INTEGER  (UTC microseconds since 1970-01-01; in SQL:
                       `strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1e6, 'unixepoch')`),
          properties TEXT  (JSON object)
index     events(contact_id, ts, type)   -- a contact's events in a time range (version 1)
index     events(contact_id, type, ts)   -- a contact's events of one type (version 2)
```

The second index lets a rule's need seek to its type's rows: a need without a window
(`event("webinar_attended")`) would otherwise walk the whole history on every re-judgment.
Each index costs ingest time (`benchmarks/RESULTS.md`, "Scale, session 4"), so an import into
an empty store builds them after its rows (`bulk_load`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gtmflow.errors import StoreError
from gtmflow.tools._sqlite import connect

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect_store",
    "migrate",
    "open_read_only",
    "store_errors",
]

SCHEMA_VERSION = 2
"""Version of the SQLite schema this gtmflow writes; older files are migrated on open."""

# MIGRATIONS[n] upgrades a store from version n to n + 1; append, never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS contacts (
        id TEXT PRIMARY KEY,
        email TEXT, name TEXT, company TEXT, title TEXT, timezone TEXT,
        lifecycle_stage TEXT, subscription TEXT,
        attributes TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        contact_id TEXT NOT NULL,
        type TEXT NOT NULL,
        ts INTEGER NOT NULL,
        properties TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX IF NOT EXISTS events_contact_ts ON events (contact_id, ts, type);
    """,
    """
    CREATE INDEX IF NOT EXISTS events_contact_type_ts ON events (contact_id, type, ts);
    """,
)


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the store file (for a reader that reconnects)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def connect_store(path: str | Path) -> sqlite3.Connection:
    """The store's connection: WAL, a 64 MiB page cache, no automatic indexes."""
    if isinstance(path, Path) and path.is_dir():
        raise StoreError(
            f"event store path '{path}' is a folder; pass a file path such as "
            f"'{path / 'events.db'}'"
        )
    try:
        conn = connect(path)  # WAL, synchronous=NORMAL, busy timeout, cross-thread use
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB keeps the id index hot on ingest
        # Every read has an index of its own; SQLite would rather build a transient one over
        # all the events of a type for each batch's read (batches x events over a run).
        conn.execute("PRAGMA automatic_index = OFF")
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(
            f"cannot open the event store '{path}': {exc}; check that its folder is writable "
            "and that the file is a SQLite database"
        ) from exc
    return conn


def migrate(conn: sqlite3.Connection, path: str | Path) -> None:
    """Bring the store to `SCHEMA_VERSION`, one migration per transaction."""
    with store_errors("prepare the schema", path):
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"event store '{path}' has schema version {version}, newer than this gtmflow "
                f"understands ({SCHEMA_VERSION}); upgrade gtmflow to open it"
            )
        for number in range(version, SCHEMA_VERSION):
            conn.executescript(
                f"BEGIN IMMEDIATE; {MIGRATIONS[number]}; INSERT OR REPLACE INTO meta "
                f"(key, value) VALUES ('schema_version', '{number + 1}'); COMMIT;"
            )


@contextmanager
def store_errors(what: str, path: str | Path) -> Iterator[None]:
    """SQLite errors as `StoreError`s that say what failed and what to do."""
    try:
        yield
    except sqlite3.ProgrammingError as exc:
        raise StoreError(
            f"cannot {what} in event store '{path}': {exc}; the store was probably closed, "
            "open a new SQLiteEventStore"
        ) from exc
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot {what} in event store '{path}': {exc}; if the database is locked, another "
            "process is writing to it: retry, or give each process its own store"
        ) from exc
