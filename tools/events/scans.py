"""Bulk reads for the run loop: what is new, what each contact has not seen, what rules read.

The run loop asks three questions of the event store, for many contacts at once, and each is
answered by one SQL query per batch, so a run's cost follows what is new, not history:

- `scan_new`: which contacts have events stored in a sequence range that a trigger filter
  accepts (type and property equalities pushed into SQL: rows nobody listens to are never
  decoded), and which of those events lie after the as-of time (deferred to a later run);
- `unseen_starts`: for each contact, the earliest event it has not been judged on (stored after
  its own cursor, or newly inside its as-of horizon), read from the `(contact_id, ts)` index;
- `read_histories`: the parts of each contact's history its rules read (`HistoryNeed`s), each
  from its lookback before the contact's replay start, plus the first event when asked.

The functions take a `sqlite3.Connection` holding the event store's schema; the store calls them
under its lock. Other backends answer the same questions through `portable_scans`.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from gtmflow.models import EVENT_TIME_RANGE, Event
from gtmflow.pipes import EventFilter, HistoryNeed
from gtmflow.pipes.history import FIRST_EVENT
from gtmflow.tools.events.sqlite_rows import Unreadable, stored_event

__all__ = [
    "Deferred",
    "NewEvents",
    "SQLiteScans",
    "read_histories",
    "scan_new",
    "unseen_starts",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INT64 = 2**63
_TS_END = (EVENT_TIME_RANGE[1] - _EPOCH) // _MICROSECOND
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Deferred:
    """An event a trigger wants that lies after the as-of time: due when as-of passes it."""

    seq: int
    contact_id: str
    timestamp: datetime


@dataclass(slots=True)
class NewEvents:
    """What `scan_new` found: contacts due now, and wanted events deferred to a later run."""

    due: set[str] = field(default_factory=set)
    deferred: list[Deferred] = field(default_factory=list)


def scan_new(
    conn: sqlite3.Connection,
    filters: Sequence[EventFilter] | None,
    *,
    after_seq: int,
    upto_seq: int,
    as_of: datetime,
) -> NewEvents:
    """Contacts with events in `(after_seq, upto_seq]` that a filter accepts (None: any event).

    A row with a time no event can have (outside 1970-2200) makes its contact due, not
    deferred: judging it reads the row and records why that contact cannot run.
    """
    return _fresh_if_malformed(
        lambda guard: _scan_new(conn, filters, after_seq, upto_seq, as_of, guard=guard)
    )


def _scan_new(
    conn: sqlite3.Connection,
    filters: Sequence[EventFilter] | None,
    after_seq: int,
    upto_seq: int,
    as_of: datetime,
    *,
    guard: bool,
) -> NewEvents:
    where, params, exact = _filters_sql(filters, guard)
    columns = "seq, contact_id, ts" + ("" if exact else ", type, properties")
    sql = f"SELECT {columns} FROM events WHERE seq > ? AND seq <= ? AND ({where})"
    found = NewEvents()
    horizon = micros(as_of)
    for row in conn.execute(sql, (after_seq, upto_seq, *params)):
        seq, contact_id, ts = row[:3]
        if not exact and not _accepted(filters or (), contact_id, row[3], row[4]):
            continue
        if horizon < ts < _TS_END:
            found.deferred.append(Deferred(seq, contact_id, moment(ts)))
        else:
            found.due.add(contact_id)
    return found


def unseen_starts(
    conn: sqlite3.Connection,
    cursors: Mapping[str, tuple[int, datetime | None]],
    *,
    as_of: datetime,
) -> dict[str, datetime]:
    """Per contact, the earliest event stored after its cursor or newly inside its horizon.

    `cursors` maps a contact to `(seq, horizon)`: the last sequence number and as-of it was
    judged at (None: never). Contacts with nothing unseen are left out.
    """
    if not cursors:
        return {}
    values = ", ".join("(?, ?, ?)" for _ in cursors)
    params: list[Any] = []
    for contact_id, (seq, horizon) in cursors.items():
        params += [contact_id, seq, None if horizon is None else micros(horizon)]
    sql = (
        f"WITH c(id, cur, hz) AS (VALUES {values}) "
        "SELECT c.id, MIN(e.ts) FROM c JOIN events e ON e.contact_id = c.id "
        "WHERE e.seq > c.cur OR (c.hz IS NOT NULL AND e.ts > c.hz AND e.ts <= ?) GROUP BY c.id"
    )
    rows = conn.execute(sql, (*params, micros(as_of))).fetchall()
    return {contact_id: moment(_in_range(ts)) for contact_id, ts in rows if ts is not None}


def read_histories(
    conn: sqlite3.Connection,
    starts: Mapping[str, datetime | None],
    needs: Sequence[HistoryNeed] | None,
) -> dict[str, list[Event]]:
    """The events each contact's rules read, ordered by (timestamp, id).

    `starts` maps a contact to the first instant it will be judged at (None: from the
    beginning); a need with a lookback reads from that much before it. `needs=None` reads
    whole histories. Every contact asked for is in the result (an empty list: no events).
    """
    return _fresh_if_malformed(lambda guard: _read_histories(conn, starts, needs, guard=guard))


def _read_histories(
    conn: sqlite3.Connection,
    starts: Mapping[str, datetime | None],
    needs: Sequence[HistoryNeed] | None,
    *,
    guard: bool,
) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = {contact_id: [] for contact_id in starts}
    if not starts:
        return found
    values = ", ".join("(?, ?)" for _ in starts)
    params: list[Any] = []
    for contact_id, start in starts.items():
        params += [contact_id, None if start is None else micros(start)]
    cte = f"WITH c(id, start) AS (VALUES {values}) "
    if needs is None:
        sql = cte + f"SELECT {_ROW} FROM c JOIN events e ON e.contact_id = c.id"
        for contact_id, event_id, type_, ts, props in conn.execute(sql, params):
            found[contact_id].append(decode(event_id, type_, contact_id, ts, props))
    for type_, of_type in _by_type(needs or ()).items():
        _add_needed(conn, cte, params, type_, of_type, starts, found, guard=guard)
    for need in needs or ():
        if need.latest and need.lookback is not None:
            _add_latest_before(conn, cte, params, need, found, guard=guard)
    if needs is not None and FIRST_EVENT in needs:
        _add_first_events(conn, cte, params, found)
    for events in found.values():
        events.sort(key=lambda e: (e.timestamp, e.id))
    return found


_ROW = "e.contact_id, e.id, e.type, e.ts, e.properties"


def _by_type(needs: Iterable[HistoryNeed]) -> dict[str, list[HistoryNeed]]:
    grouped: dict[str, list[HistoryNeed]] = {}
    for need in needs:
        if need.type is not None:
            grouped.setdefault(need.type, []).append(need)
    return grouped


def _add_needed(
    conn: sqlite3.Connection,
    cte: str,
    params: list[Any],
    type_: str,
    needs: list[HistoryNeed],
    starts: Mapping[str, datetime | None],
    found: dict[str, list[Event]],
    *,
    guard: bool,
) -> None:
    """Add what `needs` (all of `type_`) cover: one seek per contact in `(contact_id, type, ts)`.

    The type is an equality of the join, so the rows read are the contact's rows of that type
    (from the widest lookback on, when every need has one), not its whole history.
    """
    where, extra, exact = _needs_sql(needs, guard)
    join = "e.contact_id = c.id AND e.type = ?"
    bound: list[Any] = [type_]
    lookbacks = [n.lookback for n in needs]
    if all(lookback is not None for lookback in lookbacks):
        widest = max(lb for lb in lookbacks if lb is not None)
        join += " AND e.ts >= COALESCE(c.start - ?, ?)"
        bound += [widest // _MICROSECOND, -_INT64]
    sql = f"{cte}SELECT {_ROW} FROM c JOIN events e ON {join} WHERE {where}"
    for contact_id, event_id, row_type, ts, props in conn.execute(sql, (*params, *bound, *extra)):
        item = decode(event_id, row_type, contact_id, ts, props)
        if exact or any(_wanted(n, item, starts[contact_id]) for n in needs):
            found[contact_id].append(item)


def _add_latest_before(
    conn: sqlite3.Connection,
    cte: str,
    params: list[Any],
    need: HistoryNeed,
    found: dict[str, list[Event]],
    *,
    guard: bool,
) -> None:
    """Add each contact's latest event `need` covers before its start minus the lookback.

    One index seek per contact when SQL decides the need's properties exactly; otherwise the
    older candidates of its type are read and the last one Python accepts is kept.
    """
    assert need.type is not None and need.lookback is not None
    where, extra, exact = _or_of([(need.type, need.properties)], guard)
    older = "f.contact_id = c.id AND f.ts < c.start - ?"
    rows = "SELECT f.contact_id, f.id, f.type, f.ts, f.properties FROM c JOIN events f "
    if exact:
        sql = (
            f"{cte}{rows}ON f.seq = (SELECT g.seq FROM events g WHERE "
            f"{older.replace('f.', 'g.')} AND ({where}) ORDER BY g.ts DESC, g.id DESC LIMIT 1) "
            "WHERE c.start IS NOT NULL"
        )
    else:
        sql = f"{cte}{rows}ON {older} WHERE c.start IS NOT NULL AND ({where})"
    latest: dict[str, Event] = {}
    for contact_id, event_id, type_, ts, props in conn.execute(
        sql, (*params, need.lookback // _MICROSECOND, *extra)
    ):
        item = decode(event_id, type_, contact_id, ts, props)
        held = latest.get(contact_id)
        if need.covers(item) and (held is None or _key(held) < _key(item)):
            latest[contact_id] = item
    for contact_id, item in latest.items():
        events = found[contact_id]
        if not any(e.id == item.id for e in events):
            events.append(item)


def _key(item: Event) -> tuple[datetime, str]:
    return item.timestamp, item.id


def _add_first_events(
    conn: sqlite3.Connection, cte: str, params: list[Any], found: dict[str, list[Event]]
) -> None:
    sql = (
        cte + "SELECT e.contact_id, e.id, e.type, e.ts, e.properties FROM c JOIN events e "
        "ON e.seq = (SELECT f.seq FROM events f WHERE f.contact_id = c.id "
        "ORDER BY f.ts, f.id LIMIT 1)"
    )
    for contact_id, event_id, type_, ts, props in conn.execute(sql, params):
        events = found[contact_id]
        if not any(e.id == event_id for e in events):
            events.append(decode(event_id, type_, contact_id, ts, props))


# --------------------------------------------------------------------------- SQL from filters


def _fresh_if_malformed(query: Callable[[bool], _T]) -> _T:
    """`query(False)`, or `query(True)` when a stored row's properties are not valid JSON.

    With `True` the SQL checks `json_valid` before each `json_extract` (a second parse of every
    row, so only when needed) and keeps such rows, so decoding them names the row and contact.
    """
    try:
        return query(False)
    except sqlite3.OperationalError as exc:
        if "malformed JSON" not in str(exc):
            raise
        return query(True)


def _in_range(ts: int) -> int:
    """`ts` moved inside the times an event can have (where a replay of a bad row starts)."""
    return min(max(ts, 0), _TS_END - 1)


def _filters_sql(filters: Sequence[EventFilter] | None, guard: bool) -> tuple[str, list[Any], bool]:
    """A WHERE clause accepting what `filters` accept; `exact=False`: re-check in Python."""
    if filters is None:
        return "1", [], True
    if not filters:
        return "0", [], True
    return _or_of(((f.type, f.properties) for f in filters), guard)


def _needs_sql(needs: Sequence[HistoryNeed] | None, guard: bool) -> tuple[str, list[Any], bool]:
    """A WHERE clause (over `c.start`) covering what the needs cover from their lookbacks."""
    if needs is None:
        return "1", [], True
    clauses: list[str] = []
    params: list[Any] = []
    exact = True
    for need in needs:
        assert need.type is not None
        where, extra, fits = _or_of([(need.type, need.properties)], guard)
        exact &= fits
        if need.lookback is not None:
            where = f"({where} AND (c.start IS NULL OR e.ts >= c.start - ?))"
            extra = [*extra, need.lookback // _MICROSECOND]
        clauses.append(where)
        params += extra
    return " OR ".join(clauses) or "0", params, exact


def _or_of(
    items: Iterable[tuple[str, tuple[tuple[str, Any], ...]]], guard: bool
) -> tuple[str, list[Any], bool]:
    """`(type = ? AND json_extract(...) IS ? ...) OR ...`; types wanted whole absorb the rest."""
    by_type: dict[str, list[tuple[tuple[str, Any], ...]]] = {}
    for type_, properties in items:
        by_type.setdefault(type_, []).append(properties)
    clauses: list[str] = []
    params: list[Any] = []
    exact = True
    for type_, variants in by_type.items():
        if any(not props for props in variants):
            clauses.append("type = ?")
            params.append(type_)
            continue
        for props in variants:
            parts, extra, fits = _props_sql(props, guard)
            exact &= fits
            clauses.append(f"(type = ?{parts})")
            params += [type_, *extra]
    return " OR ".join(clauses), params, exact


def _props_sql(properties: tuple[tuple[str, Any], ...], guard: bool) -> tuple[str, list[Any], bool]:
    """`AND json_extract(properties, '$."k"') IS ?` for each equality SQL decides like Python.

    With `guard`, a row whose properties are not valid JSON passes (see `_fresh_if_malformed`).
    """
    sql = ""
    params: list[Any] = []
    exact = True
    for key, value in properties:
        if not _sql_comparable(key, value):
            exact = False  # checked in Python on the decoded row instead
            continue
        test = "json_extract(properties, ?) IS ?"
        sql += (
            f" AND CASE WHEN json_valid(properties) THEN {test} ELSE 1 END"
            if guard
            else f" AND {test}"
        )
        params += [f'$."{key}"', value]
    return sql, params, exact


def _sql_comparable(key: str, value: Any) -> bool:
    """Whether SQLite's `json_extract(...) IS ?` agrees with Python's `==` for this pair."""
    if '"' in key or "\\" in key:
        return False
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, float) and math.isfinite(value)


def _accepted(filters: Sequence[EventFilter], contact_id: str, type_: str, props: str) -> bool:
    try:
        properties = json.loads(props)
    except (TypeError, ValueError, RecursionError):
        return True  # unreadable: the contact is judged, and its history read says why
    item = Event.model_construct(
        id="", type=type_, contact_id=contact_id, timestamp=_EPOCH, properties=properties
    )
    return any(f.accepts(item) for f in filters)


def _wanted(need: HistoryNeed, item: Event, start: datetime | None) -> bool:
    if not need.covers(item):
        return False
    return need.lookback is None or start is None or item.timestamp >= start - need.lookback


# --------------------------------------------------------------------------- rows


_EVENT_FIELDS = frozenset(Event.model_fields)
_new_object = object.__new__
_set = object.__setattr__


def decode(event_id: str, type_: str, contact_id: str, ts: int, props: str) -> Event:
    """An `Event` from a stored row (validated on write, so not validated again).

    What `Event.model_construct` builds, without its per-call bookkeeping (a third of the
    cost of reading a history): the same `__dict__`, fields set, no extras or private values.
    A row no valid event could have left (written by an older gtmflow or another tool: a time
    outside 1970-2200, properties that are not a JSON object) raises `Unreadable` naming it.
    """
    try:
        if not 0 <= ts < _TS_END:
            raise ValueError(ts)
        properties = json.loads(props)
        if type(properties) is not dict:
            raise ValueError(props)
    except (TypeError, ValueError, RecursionError):
        return stored_event(event_id, type_, contact_id, ts, props)  # raises, saying why
    item = _new_object(Event)
    _set(item, "__dict__", {
        "id": event_id, "type": type_, "contact_id": contact_id,
        "timestamp": _EPOCH + timedelta(microseconds=ts), "properties": properties,
    })  # fmt: skip
    _set(item, "__pydantic_fields_set__", set(_EVENT_FIELDS))
    _set(item, "__pydantic_extra__", None)
    _set(item, "__pydantic_private__", None)
    return item


def micros(at: datetime) -> int:
    """UTC microseconds since 1970, as stored in `events.ts`."""
    return (at - _EPOCH) // _MICROSECOND


def moment(ts: int) -> datetime:
    """The aware UTC datetime of a stored `ts`."""
    return _EPOCH + timedelta(microseconds=ts)


# --------------------------------------------------------------------------- SQLite store methods


class SQLiteScans:
    """The bulk reads of `SQLiteEventStore`, each one query per batch under the store's lock."""

    _conn: sqlite3.Connection

    def _reading(self, what: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def scan_new(
        self,
        filters: Sequence[EventFilter] | None,
        *,
        after_seq: int,
        upto_seq: int,
        as_of: datetime,
    ) -> NewEvents:
        """Contacts with events in `(after_seq, upto_seq]` a filter accepts (filters in SQL)."""
        with self._reading("scan new events"):
            return scan_new(
                self._conn, filters, after_seq=after_seq, upto_seq=upto_seq, as_of=as_of
            )

    def unseen_starts(
        self, cursors: Mapping[str, tuple[int, datetime | None]], *, as_of: datetime
    ) -> dict[str, datetime]:
        """Per contact `(seq, horizon)`, the earliest event it has not been judged on."""
        with self._reading("find unseen events"):
            return unseen_starts(self._conn, cursors, as_of=as_of)

    def read_histories(
        self, starts: Mapping[str, datetime | None], needs: Sequence[HistoryNeed] | None
    ) -> dict[str, list[Event]]:
        """The events each contact's rules read, one query per batch of contacts."""
        with self._reading("read histories"):
            try:
                return read_histories(self._conn, starts, needs)
            except Unreadable as exc:
                raise exc.for_reader() from None

    def events_by_time(
        self, *, after: tuple[datetime, str] | None, before: datetime, limit: int
    ) -> list[Event]:
        """Every contact's events after `(timestamp, id)` and before `before`, in that order.

        For a reader that replays the store in time order page by page (the simulator): the
        first call adds an index on `(ts, id)` (the store's own indexes lead with the contact).
        """
        mark = (-1, "") if after is None else (micros(after[0]), after[1])
        with self._reading("read events by time"):
            self._conn.execute("CREATE INDEX IF NOT EXISTS events_ts_id ON events (ts, id)")
            rows = self._conn.execute(
                "SELECT id, type, contact_id, ts, properties FROM events "
                "WHERE (ts, id) > (?, ?) AND ts < ? ORDER BY ts, id LIMIT ?",
                (*mark, micros(before), limit),
            ).fetchall()
        return [decode(*row) for row in rows]

    def new_contacts(self, *, after: int) -> tuple[list[str], int]:
        """Contacts whose row was added after the mark (a rowid), and the new mark."""
        with self._reading("list new contacts"):
            rows = self._conn.execute(
                "SELECT rowid, id FROM contacts WHERE rowid > ? ORDER BY rowid", (after,)
            ).fetchall()
        return [row[1] for row in rows], (rows[-1][0] if rows else after)
