"""The event store: contacts and their event histories, SQLite by default.

`EventStore` is the interface every backend implements; `SQLiteEventStore` is the default,
a single file (or `":memory:"`) that one process can share between threads.

Its schema, migrations and connection settings are in `sqlite_schema`.
"""

from __future__ import annotations

import sqlite3
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Self

from gtmflow.clock import require_aware
from gtmflow.errors import ConfigError, InputWarning
from gtmflow.models import Contact, Event
from gtmflow.tools._sqlite import immediate
from gtmflow.tools.events import scans
from gtmflow.tools.events.bulk_load import build_owed_indexes, bulk_load
from gtmflow.tools.events.event_columns import (
    EventColumns,
    columns_from_events,
    read_sqlite_columns,
)
from gtmflow.tools.events.portable_scans import PortableScans
from gtmflow.tools.events.sqlite_rows import (
    CONTACT_COLUMNS,
    ROW_FAILURES,
    Reject,
    StorableContacts,
    Unreadable,
    UnreadableRow,
    conflict,
    contact_params,
    contact_record,
    derived_event_id,
    event_params,
    merge_contact,
    micros,
    refuse,
    stored_contact,
    stored_event,
    unstorable,
)
from gtmflow.tools.events.sqlite_schema import (
    SCHEMA_VERSION,
    connect_store,
    migrate,
    open_read_only,
    store_errors,
)

__all__ = [
    "SCHEMA_VERSION",
    "EventStore",
    "Reject",
    "SQLiteEventStore",
    "StoreStats",
    "UnreadableRow",
    "WriteResult",
    "derived_event_id",
]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a batch write did: rows newly stored, rows already present (same id), rows refused."""

    accepted: int
    duplicates: int
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class StoreStats:
    """How much a store holds: known contacts and stored events."""

    contacts: int
    events: int


class EventStore(PortableScans, ABC):
    """Where contacts and their events live. Subclass to back gtmflow with another database.

    Implementations must make `write_events` idempotent by event id, create a bare `Contact`
    the first time an unknown `contact_id` is seen, and assign every stored event a
    monotonically increasing sequence number (`seq`) in arrival order.
    """

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def write_events(
        self, events: Iterable[Event], *, reject: Reject[Event] | None = None
    ) -> WriteResult:
        """Store events in one transaction; ids already stored are counted as duplicates.

        A row the store will not hold is skipped and passed to `reject` with the reason: an
        id already stored with other content (a conflict: the stored event stays), or a value
        the database cannot take (text that is not valid Unicode). Without `reject` each such
        row is reported as an `InputWarning`.
        """

    @abstractmethod
    def write_contacts(
        self, contacts: Iterable[Contact], *, reject: Reject[Contact] | None = None
    ) -> WriteResult:
        """Insert or merge contacts (later non-empty fields win; attributes merge).

        Contacts the database cannot hold go to `reject` as in `write_events`.
        """

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        """Around many `write_events` calls of one import: yields whether it loads in bulk.

        A store may defer work to the end of the import here; this one does nothing.
        """
        yield False

    @abstractmethod
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

    @abstractmethod
    def contact(self, contact_id: str) -> Contact | None:
        """One contact, or None when unknown."""

    @abstractmethod
    def changes(self, *, after_seq: int = 0) -> Iterator[tuple[int, Event]]:
        """Stream `(seq, event)` for events stored after `after_seq`, in seq order."""

    @abstractmethod
    def last_seq(self) -> int:
        """The highest sequence number assigned so far (0 when empty)."""

    @abstractmethod
    def contact_ids(self) -> Iterator[str]:
        """Every known contact id, sorted."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def delete_contact(self, contact_id: str) -> int:
        """Erase a contact and all their events; return how many events were removed."""

    def stats(self) -> StoreStats:
        """Count contacts and events; backends should override this with a cheap query."""
        contacts = sum(1 for _ in self.contact_ids())
        events = sum(1 for _ in self.changes())
        return StoreStats(contacts=contacts, events=events)

    # The run loop's bulk reads (`scan_new`, ...) come from `PortableScans`; backends override.

    def contacts(self, contact_ids: Iterable[str]) -> dict[str, Contact]:
        """Known contacts among `contact_ids`, by id."""
        found = {c: self.contact(c) for c in contact_ids}
        return {c: contact for c, contact in found.items() if contact is not None}

    def new_contacts(self, *, after: int) -> tuple[list[str], int]:
        """Contacts added since a mark this method returned (0: all), and the new mark.

        This portable version returns every contact and mark 0 each time (correct, not fast).
        """
        return list(self.contact_ids()), 0

    def event_columns(
        self, *, types: Collection[str], until: datetime | None = None
    ) -> EventColumns:
        """Every contact's events of these types as columns, for bulk readers (attribution).

        Ordered by contact id, then as `events` orders them. This default reads contact by
        contact; backends override it with a bulk read.
        """
        _check_types(types)
        rows = (e for c in self.contact_ids() for e in self.events(c, types=types, until=until))
        return columns_from_events(rows, sorted(types))


_PAGE = 1000
_IN_CHUNK = 500  # stays under SQLite's bound-parameter limit

_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (id, contact_id, type, ts, properties) VALUES (?, ?, ?, ?, ?)"
)
_UPSERT_CONTACT = (
    f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}, attributes) "
    f"VALUES ({', '.join('?' * (len(CONTACT_COLUMNS) + 1))}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*CONTACT_COLUMNS[1:], "attributes"))
)


class SQLiteEventStore(scans.SQLiteScans, EventStore):
    """The default event store: one SQLite file in WAL mode, safe to share between threads.

    Every call holds one lock, so LangGraph worker threads can share an instance. Timestamps
    are stored in UTC and returned as aware UTC datetimes.

    Example:
        >>> store = SQLiteEventStore(":memory:")
        >>> store.stats()
        StoreStats(contacts=0, events=0)
        >>> store.close()

    Args:
        path: Database file (created with its folder if missing) or `":memory:"`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path if path == ":memory:" else Path(path).expanduser()
        self._lock = threading.Lock()
        self._conn = connect_store(self.path)
        try:
            migrate(self._conn, self.path)
            with store_errors("build the indexes an import left unbuilt", self.path):
                build_owed_indexes(self._conn, self.path)
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteEventStore({str(self.path)!r})"

    def write_events(
        self, events: Iterable[Event], *, reject: Reject[Event] | None = None
    ) -> WriteResult:
        """Store events in one transaction; ids already stored (or repeated) are duplicates.

        A bare contact row (id only) is created for every contact id not seen before. The
        iterable is consumed inside the transaction, so a generator keeps memory flat however
        many events it yields; it must not call this store (the lock is held meanwhile).
        Each row is written on its own, so one that fails (a conflict, text that is not valid
        Unicode) goes to `reject` while the others are stored; `reject` is called before the
        next row is pulled from `events`.
        """
        on_reject: Reject[Event] = reject or refuse
        counts = [0, 0, 0]  # accepted, duplicates, rejected
        contact_ids: set[str] = set()
        with self._transaction("write events"):
            cursor = self._conn.cursor()
            for event in events:
                outcome = self._write_event(cursor, event)
                if outcome is None:
                    counts[0] += 1
                    contact_ids.add(event.contact_id)
                elif outcome == "":
                    counts[1] += 1
                else:
                    counts[2] += 1
                    on_reject(event, outcome)
            cursor.executemany(
                "INSERT OR IGNORE INTO contacts (id) VALUES (?)", ((c,) for c in contact_ids)
            )
        return WriteResult(*counts)

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        """Into a store with no events, build the events table's indexes after the import.

        See `gtmflow.tools.events.bulk_load`: about twice as fast at ten million events.
        """
        with (
            store_errors("prepare a bulk load", self.path),
            bulk_load(self._conn, self._lock, self.path) as bulk,
        ):
            yield bulk

    def write_contacts(
        self, contacts: Iterable[Contact], *, reject: Reject[Contact] | None = None
    ) -> WriteResult:
        """Insert or merge contacts in one transaction.

        Only fields the contact sets explicitly and to a non-empty value overwrite stored
        ones, so `Contact(id="c1", email=...)` never resets a stored timezone to the default;
        attributes merge key by key, later values winning. `accepted` counts contacts that
        changed the store (new or updated), `duplicates` those that changed nothing, and
        `rejected` those the database cannot hold (passed to `reject` as they are pulled).
        """
        storable = StorableContacts(contacts, reject or refuse)
        accepted = duplicates = 0
        with self._transaction("write contacts"):
            while chunk := list(islice(storable, _IN_CHUNK)):
                changed, unchanged = self._merge_contacts(chunk)
                accepted += changed
                duplicates += unchanged
        return WriteResult(accepted, duplicates, storable.rejected)

    def events(
        self,
        contact_id: str,
        *,
        types: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int | None = None,
    ) -> list[Event]:
        """A contact's events ordered by (timestamp, id).

        Args:
            contact_id: Whose events.
            types: Only these event types (an empty collection matches nothing).
            since: Only events at or after this aware datetime (inclusive).
            until: Only events at or before this aware datetime (inclusive).
            after_seq: Only events stored after this sequence number.
        """
        if types is not None and not types:
            return []
        sql, params = _events_query(contact_id, types, since, until, after_seq)
        with self._reading("read events"):
            rows = self._conn.execute(sql, params).fetchall()
        try:
            return [
                stored_event(event_id, type_, contact_id, ts, props)
                for event_id, type_, ts, props in rows
            ]
        except Unreadable as exc:
            raise exc.for_reader() from None

    def contact(self, contact_id: str) -> Contact | None:
        """One contact, or None when unknown."""
        with self._reading("read a contact"):
            row = self._conn.execute(
                f"SELECT {', '.join(CONTACT_COLUMNS)}, attributes FROM contacts WHERE id = ?",
                (contact_id,),
            ).fetchone()
        return None if row is None else stored_contact(row)

    def changes(self, *, after_seq: int = 0) -> Iterator[tuple[int, Event]]:
        """Stream `(seq, event)` stored after `after_seq`, in seq order, a page at a time."""
        sql = (
            "SELECT seq, id, contact_id, type, ts, properties FROM events "
            f"WHERE seq > ? ORDER BY seq LIMIT {_PAGE}"
        )
        while True:
            with self._reading("read changes"):
                page = self._conn.execute(sql, (after_seq,)).fetchall()
            for seq, event_id, contact_id, type_, ts, props in page:
                try:
                    yield seq, stored_event(event_id, type_, contact_id, ts, props)
                except Unreadable as exc:
                    warnings.warn(InputWarning(f"skipped {exc}"), stacklevel=2)
            if len(page) < _PAGE:
                return
            after_seq = page[-1][0]

    def last_seq(self) -> int:
        """The highest sequence number assigned so far (0 when empty)."""
        with self._reading("read the last sequence number"):
            row = self._conn.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def contact_ids(self) -> Iterator[str]:
        """Every known contact id, sorted, read a page at a time."""
        sql = f"SELECT id FROM contacts WHERE id > ? ORDER BY id LIMIT {_PAGE}"
        last = ""
        while True:
            with self._reading("list contacts"):
                page = [row[0] for row in self._conn.execute(sql, (last,))]
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1]

    def stats(self) -> StoreStats:
        """Count contacts and events."""
        with self._reading("count rows"):
            contacts = self._conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
            events = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return StoreStats(contacts=int(contacts), events=int(events))

    def contacts(self, contact_ids: Iterable[str]) -> dict[str, Contact]:
        """Known contacts among `contact_ids`, by id (one query per 500)."""
        found: dict[str, Contact] = {}
        iterator = iter(contact_ids)
        with self._reading("read contacts"):
            while chunk := list(islice(iterator, _IN_CHUNK)):
                sql = (
                    f"SELECT {', '.join(CONTACT_COLUMNS)}, attributes FROM contacts "
                    f"WHERE id IN ({', '.join('?' * len(chunk))})"
                )
                found.update(
                    (row[0], stored_contact(row)) for row in self._conn.execute(sql, chunk)
                )
        return found

    def event_columns(
        self, *, types: Collection[str], until: datetime | None = None
    ) -> EventColumns:
        """Every contact's events of these types as columns, read in a few table scans."""
        _check_types(types)
        bound = None if until is None else micros(require_aware(until, "until"))
        reconnect = None if self.path == ":memory:" else partial(open_read_only, Path(self.path))
        with self._reading("read event columns"):
            return read_sqlite_columns(self._conn, types=types, until=bound, reconnect=reconnect)

    def delete_contact(self, contact_id: str) -> int:
        with self._transaction("delete a contact"):
            removed = self._conn.execute(
                "DELETE FROM events WHERE contact_id = ?", (contact_id,)
            ).rowcount
            self._conn.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
        return int(removed)

    def close(self) -> None:
        """Close the connection; later calls raise `StoreError`. Closing twice is harmless."""
        with self._lock:
            self._conn.close()

    def _write_event(self, cursor: sqlite3.Cursor, event: Event) -> str | None:
        """Insert one event: None when stored, "" for a duplicate, else why it is refused."""
        try:
            params = event_params(event)
            cursor.execute(_INSERT_EVENT, params)
        except ROW_FAILURES as exc:
            return unstorable(event.id, exc)
        if cursor.rowcount == 1:
            return None
        stored = cursor.execute(
            "SELECT contact_id, type, ts, properties FROM events WHERE id = ?", (event.id,)
        ).fetchone()
        return conflict(event, params, stored)

    def _merge_contacts(self, chunk: list[Contact]) -> tuple[int, int]:
        stored = self._stored_contacts({c.id for c in chunk})
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
        self._conn.executemany(_UPSERT_CONTACT, (contact_params(r) for r in merged.values()))
        return changed, unchanged

    def _stored_contacts(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        sql = (
            f"SELECT {', '.join(CONTACT_COLUMNS)}, attributes FROM contacts "
            f"WHERE id IN ({', '.join('?' * len(ids))})"
        )
        rows = self._conn.execute(sql, tuple(ids)).fetchall()
        return {row[0]: contact_record(row) for row in rows}

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        with self._lock, store_errors(what, self.path):
            yield

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        with self._lock, store_errors(what, self.path), immediate(self._conn):
            yield


def _events_query(
    contact_id: str,
    types: Collection[str] | None,
    since: datetime | None,
    until: datetime | None,
    after_seq: int | None,
) -> tuple[str, list[Any]]:
    sql = ["SELECT id, type, ts, properties FROM events WHERE contact_id = ?"]
    params: list[Any] = [contact_id]
    if types is not None:
        _check_types(types)
        sql.append(f"AND type IN ({', '.join('?' * len(types))})")
        params.extend(types)
    for name, clause, bound in (("since", "ts >= ?", since), ("until", "ts <= ?", until)):
        if bound is not None:
            sql.append(f"AND {clause}")
            params.append(micros(require_aware(bound, name)))
    if after_seq is not None:
        sql.append("AND seq > ?")
        params.append(after_seq)
    sql.append("ORDER BY ts, id")
    return " ".join(sql), params


def _check_types(types: Collection[str]) -> None:
    if isinstance(types, str):
        raise ConfigError(
            f"'types' must be a collection of event types such as ['{types}'], "
            f"not the string '{types}'"
        )
