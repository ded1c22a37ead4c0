"""The event store on PostgreSQL: the same `EventStore`, shared by any number of workers.

Tables (`contacts`, `events`) are the SQLite ones in PostgreSQL types, created by
`gtmflow.tools.migrations`. A batch of events is copied into a temporary table and inserted
from there (`COPY` is several times faster than row inserts), duplicates skipped by the unique
id. Writers of events and contacts take one advisory lock for the length of their transaction:
sequence numbers (of events, and of contacts as they arrive) are then committed in the order they
were assigned, so a reader that has seen `seq = n` can never later find a row with a smaller
number (the run cursors and `new_contacts` rely on that).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, Self

from gtmflow.models import Contact, Event
from gtmflow.tools._postgres import PostgresDatabase
from gtmflow.tools.events.event_store import (
    _CONTACT_COLUMNS,
    _IN_CHUNK,
    _PAGE,
    _UPSERT_CONTACT,
    EventStore,
    StoreStats,
    WriteResult,
    _contact,
    _contact_params,
    _contact_record,
    _dump,
    _event,
    _events_query,
    _merge,
    _micros,
)

__all__ = ["PostgresEventStore"]

_WRITE_LOCK = 0x67746D65  # "gtme": held by every event writer until it commits


class PostgresEventStore(EventStore):
    """Contacts and their events in a PostgreSQL database (see `gtmflow.tools.migrations`).

    Args:
        db: The workspace's shared `PostgresDatabase`; closing the store closes it.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"PostgresEventStore({self.db.label!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write_events(self, events: Iterable[Event]) -> WriteResult:
        """Store events in one transaction; ids already stored (or repeated) are duplicates."""
        offered = 0
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            conn.execute(
                "CREATE TEMP TABLE incoming (n BIGINT, id TEXT, contact_id TEXT, type TEXT, "
                "ts BIGINT, properties TEXT) ON COMMIT DROP"
            )
            with conn.cursor().copy("COPY incoming FROM STDIN") as copy:
                for event in events:
                    offered += 1
                    copy.write_row(
                        (offered, event.id, event.contact_id, event.type,
                         _micros(event.timestamp), _dump(event.properties))
                    )  # fmt: skip
            accepted = conn.execute(
                "INSERT INTO events (id, contact_id, type, ts, properties) SELECT id, "
                "contact_id, type, ts, properties FROM incoming ORDER BY n "
                "ON CONFLICT (id) DO NOTHING"
            ).rowcount
            conn.execute(
                "INSERT INTO contacts (id) SELECT DISTINCT contact_id FROM incoming "
                "ON CONFLICT (id) DO NOTHING"
            )
        return WriteResult(accepted=accepted, duplicates=offered - accepted)

    def write_contacts(self, contacts: Iterable[Contact]) -> WriteResult:
        """Insert or merge contacts in one transaction (later non-empty fields win)."""
        accepted = duplicates = 0
        iterator = iter(contacts)
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))  # seq order
            while chunk := list(islice(iterator, _IN_CHUNK)):
                changed, unchanged = _merge_chunk(conn, chunk)
                accepted += changed
                duplicates += unchanged
        return WriteResult(accepted=accepted, duplicates=duplicates)

    def events(
        self,
        contact_id: str,
        *,
        types: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int | None = None,
    ) -> list[Event]:
        """A contact's events ordered by (timestamp, id); bounds are inclusive."""
        if types is not None and not types:
            return []
        sql, params = _events_query(contact_id, types, since, until, after_seq)
        rows = self.db.query(sql, params)
        return [
            _event(event_id, type_, contact_id, ts, props) for event_id, type_, ts, props in rows
        ]

    def contact(self, contact_id: str) -> Contact | None:
        """One contact, or None when unknown."""
        rows = self.db.query(
            f"SELECT {', '.join(_CONTACT_COLUMNS)}, attributes FROM contacts WHERE id = ?",
            (contact_id,),
        )
        return _contact(rows[0]) if rows else None

    def changes(self, *, after_seq: int = 0) -> Iterator[tuple[int, Event]]:
        """Stream `(seq, event)` stored after `after_seq`, in seq order, a page at a time."""
        sql = (
            "SELECT seq, id, contact_id, type, ts, properties FROM events "
            f"WHERE seq > ? ORDER BY seq LIMIT {_PAGE}"
        )
        while True:
            page = self.db.query(sql, (after_seq,))
            for seq, event_id, contact_id, type_, ts, props in page:
                yield seq, _event(event_id, type_, contact_id, ts, props)
            if len(page) < _PAGE:
                return
            after_seq = page[-1][0]

    def last_seq(self) -> int:
        """The highest sequence number committed so far (0 when empty)."""
        return int(self.db.query("SELECT MAX(seq) FROM events")[0][0] or 0)

    def contact_ids(self) -> Iterator[str]:
        """Every known contact id, sorted, read a page at a time."""
        sql = f"SELECT id FROM contacts WHERE id > ? ORDER BY id LIMIT {_PAGE}"
        last = ""
        while True:
            page = [row[0] for row in self.db.query(sql, (last,))]
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1]

    def new_contacts(self, *, after: int) -> tuple[list[str], int]:
        """Contacts whose row was added after the mark (their `seq`), and the new mark."""
        rows = self.db.query("SELECT seq, id FROM contacts WHERE seq > ? ORDER BY seq", (after,))
        return [row[1] for row in rows], (int(rows[-1][0]) if rows else after)

    def stats(self) -> StoreStats:
        """Count contacts and events."""
        ((contacts, events),) = self.db.query(
            "SELECT (SELECT COUNT(*) FROM contacts), (SELECT COUNT(*) FROM events)"
        )
        return StoreStats(contacts=int(contacts), events=int(events))

    def delete_contact(self, contact_id: str) -> int:
        with self.db.transaction() as conn:
            removed = conn.execute("DELETE FROM events WHERE contact_id = ?", (contact_id,))
            conn.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
            return int(removed.rowcount)

    def close(self) -> None:
        """Close the shared database (idempotent)."""
        self.db.close()


def _merge_chunk(conn: Any, chunk: list[Contact]) -> tuple[int, int]:
    ids = sorted({c.id for c in chunk})
    rows = conn.execute(
        f"SELECT {', '.join(_CONTACT_COLUMNS)}, attributes FROM contacts "
        f"WHERE id IN ({', '.join('?' * len(ids))}) FOR UPDATE",
        ids,
    ).fetchall()
    stored = {row[0]: _contact_record(row) for row in rows}
    merged: dict[str, dict[str, Any]] = {}
    changed = unchanged = 0
    for contact in chunk:
        before = merged.get(contact.id) or stored.get(contact.id)
        after = _merge(before, contact)
        if after == before:
            unchanged += 1
        else:
            changed += 1
            merged[contact.id] = after
    if merged:
        conn.executemany(_UPSERT_CONTACT, [_contact_params(r) for r in merged.values()])
    return changed, unchanged
