"""The event store on PostgreSQL: the same `EventStore`, shared by any number of workers.

Tables (`contacts`, `events`) are the SQLite ones in PostgreSQL types, created by
`gtmflow.tools.migrations`. A batch of events is copied into a temporary table and inserted
from there (`COPY` is several times faster than row inserts), duplicates skipped by the unique
id; ids that were already stored are then compared with what is stored, and one stored with
other content is a conflict (the stored event stays; the row goes to `reject`, with the reason
the SQLite store gives). Writers of events and contacts take one advisory lock for the length
of their transaction: sequence numbers (of events, and of contacts as they arrive) are then
committed in the order they were assigned, so a reader that has seen `seq = n` can never later
find a row with a smaller number (the run cursors and `new_contacts` rely on that).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from gtmflow.errors import InputWarning
from gtmflow.models import Contact, Event
from gtmflow.tools._postgres import PostgresDatabase
from gtmflow.tools.events.event_store import (
    _IN_CHUNK,
    _PAGE,
    _UPSERT_CONTACT,
    EventStore,
    StoreStats,
    WriteResult,
    _events_query,
)
from gtmflow.tools.events.postgres_scans import PostgresScans
from gtmflow.tools.events.sqlite_rows import (
    CONTACT_COLUMNS,
    ROW_FAILURES,
    Reject,
    StorableContacts,
    Unreadable,
    conflict,
    contact_params,
    contact_record,
    event_params,
    merge_contact,
    refuse,
    stored_contact,
    stored_event,
    unstorable,
)

__all__ = ["PostgresEventStore"]

_WRITE_LOCK = 0x67746D65  # "gtme": held by every event writer until it commits
_COPY_CHUNK = 10_000  # events copied, inserted and checked for conflicts at a time
_EventParams = tuple[str, str, str, int, str]


class PostgresEventStore(PostgresScans, EventStore):
    """Contacts and their events in a PostgreSQL database (see `gtmflow.tools.migrations`).

    The run loop's bulk reads come from `PostgresScans` (one query per batch).

    Args:
        db: The workspace's shared `PostgresDatabase`; closing the store closes it.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"PostgresEventStore({self.db.label!r})"

    def write_events(
        self, events: Iterable[Event], *, reject: Reject[Event] | None = None
    ) -> WriteResult:
        """Store events in one transaction; ids already stored (or repeated) are duplicates.

        Events are copied in chunks of 10,000, so memory stays bounded however many a
        generator yields. A row PostgreSQL cannot hold (text that is not valid Unicode, a NUL
        character) goes to `reject` as soon as it is pulled; an id already stored with other
        content (a conflict) goes to `reject` once its chunk is inserted. Without `reject`
        each such row is reported as an `InputWarning`.
        """
        on_reject: Reject[Event] = reject or refuse
        counts = [0, 0, 0]  # accepted, duplicates, rejected
        iterator = iter(events)
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            conn.execute(
                "CREATE TEMP TABLE incoming (n BIGINT, id TEXT, contact_id TEXT, type TEXT, "
                "ts BIGINT, properties TEXT) ON COMMIT DROP"
            )
            while True:
                chunk: list[tuple[Event, _EventParams]] = []
                for event in iterator:
                    params, reason = _storable(event)
                    if params is None:
                        counts[2] += 1
                        on_reject(event, reason)
                        continue
                    chunk.append((event, params))
                    if len(chunk) >= _COPY_CHUNK:
                        break
                if not chunk:
                    break
                accepted, refused = _insert_chunk(conn, chunk)
                counts[0] += accepted
                for event, reason in refused:
                    counts[2] += 1
                    on_reject(event, reason)
                counts[1] += len(chunk) - accepted - len(refused)
                if len(chunk) < _COPY_CHUNK:
                    break
        return WriteResult(*counts)

    def write_contacts(
        self, contacts: Iterable[Contact], *, reject: Reject[Contact] | None = None
    ) -> WriteResult:
        """Insert or merge contacts in one transaction (later non-empty fields win).

        Contacts the database cannot hold go to `reject` as they are pulled (an
        `InputWarning` without it).
        """
        storable = StorableContacts(contacts, reject or refuse)
        accepted = duplicates = 0
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))  # seq order
            while chunk := list(islice(storable, _IN_CHUNK)):
                changed, unchanged = _merge_chunk(conn, chunk)
                accepted += changed
                duplicates += unchanged
        return WriteResult(accepted=accepted, duplicates=duplicates, rejected=storable.rejected)

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
        try:
            return [
                stored_event(event_id, type_, contact_id, ts, props)
                for event_id, type_, ts, props in rows
            ]
        except Unreadable as exc:
            raise exc.for_reader() from None

    def contact(self, contact_id: str) -> Contact | None:
        """One contact, or None when unknown."""
        rows = self.db.query(
            f"SELECT {', '.join(CONTACT_COLUMNS)}, attributes FROM contacts WHERE id = ?",
            (contact_id,),
        )
        return stored_contact(rows[0]) if rows else None

    def changes(self, *, after_seq: int = 0) -> Iterator[tuple[int, Event]]:
        """Stream `(seq, event)` stored after `after_seq`, in seq order, a page at a time."""
        sql = (
            "SELECT seq, id, contact_id, type, ts, properties FROM events "
            f"WHERE seq > ? ORDER BY seq LIMIT {_PAGE}"
        )
        while True:
            page = self.db.query(sql, (after_seq,))
            for seq, event_id, contact_id, type_, ts, props in page:
                try:
                    yield seq, stored_event(event_id, type_, contact_id, ts, props)
                except Unreadable as exc:
                    warnings.warn(InputWarning(f"skipped {exc}"), stacklevel=2)
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


def _storable(event: Event) -> tuple[_EventParams | None, str]:
    """The insert parameters of an event, or None and why PostgreSQL cannot hold it."""
    try:
        params = event_params(event)
        for text in (params[0], params[1], params[2], params[4]):
            text.encode("utf-8")
    except ROW_FAILURES as exc:
        return None, unstorable(event.id, exc)
    return params, ""


def _insert_chunk(
    conn: Any, chunk: list[tuple[Event, _EventParams]]
) -> tuple[int, list[tuple[Event, str]]]:
    """Insert a chunk (set-based): how many were stored, and the conflicting rows with why.

    Every incoming row whose stored namesake differs in content is a conflict candidate (a row
    just inserted matches itself); properties that differ only in key order or spacing are
    the same event, counted as a duplicate.
    """
    conn.execute("TRUNCATE incoming")
    with conn.cursor().copy("COPY incoming FROM STDIN") as copy:
        for n, (_, params) in enumerate(chunk):
            copy.write_row((n, *params))
    (accepted,) = conn.execute(
        "WITH added AS (INSERT INTO events (id, contact_id, type, ts, properties) "
        "SELECT id, contact_id, type, ts, properties FROM incoming ORDER BY n "
        "ON CONFLICT (id) DO NOTHING RETURNING contact_id), "
        "bare AS (INSERT INTO contacts (id) SELECT DISTINCT contact_id FROM added "
        "ON CONFLICT (id) DO NOTHING) SELECT COUNT(*) FROM added"
    ).fetchone()
    differing = conn.execute(
        "SELECT i.n, e.contact_id, e.type, e.ts, e.properties FROM incoming i "
        "JOIN events e ON e.id = i.id "
        "WHERE (e.contact_id, e.type, e.ts, e.properties) "
        "IS DISTINCT FROM (i.contact_id, i.type, i.ts, i.properties) ORDER BY i.n"
    ).fetchall()
    refused: list[tuple[Event, str]] = []
    for n, *stored in differing:
        event, params = chunk[n]
        reason = conflict(event, params, tuple(stored))
        if reason:
            refused.append((event, reason))
    return int(accepted), refused


def _merge_chunk(conn: Any, chunk: list[Contact]) -> tuple[int, int]:
    ids = sorted({c.id for c in chunk})
    rows = conn.execute(
        f"SELECT {', '.join(CONTACT_COLUMNS)}, attributes FROM contacts "
        f"WHERE id IN ({', '.join('?' * len(ids))}) FOR UPDATE",
        ids,
    ).fetchall()
    stored = {row[0]: contact_record(row) for row in rows}
    merged: dict[str, dict[str, Any]] = {}
    changed = unchanged = 0
    for contact in chunk:
        before = merged.get(contact.id) or stored.get(contact.id)
        after = merge_contact(before, contact)
        if after == before:
            unchanged += 1
        else:
            changed += 1
            merged[contact.id] = after
    if merged:
        conn.executemany(_UPSERT_CONTACT, [contact_params(r) for r in merged.values()])
    return changed, unchanged
