"""Many contacts' events as flat numpy columns, read from the store in a few SQL passes.

`EventStore.event_columns(types=..., until=...)` returns an `EventColumns`: every selected event
of every contact, ordered as `EventStore.events` orders one contact's (timestamp, then id), by
contact id first. Strings are coded: `contact[i]` indexes `contacts` (sorted), `type[i]` indexes
`types`, `prop[i]` indexes `properties` (each distinct property object decoded once), so bulk
readers (attribution, scoring) work on arrays instead of one `Event` per row.

The SQLite reader asks for a range of sequence numbers at a time and lets SQLite join each
column of the range into one string (`group_concat`), which numpy and `str.split` take apart in
C: a Python object per event, the cost of reading rows one by one, is never made. A range whose
text holds the separator character (a control character no JSON text carries) is read row by
row instead.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from gtmflow.models import Event

__all__ = ["EventColumns", "columns_from_events", "read_sqlite_columns"]

IntArray = npt.NDArray[np.int64]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEP = "\x1f"  # unit separator: escaped inside JSON text, absent from ordinary ids
_RANGE = 500_000  # sequence numbers per SQL pass: bounds the size of the joined strings


@dataclass(frozen=True, eq=False)
class EventColumns:
    """Events as columns, ordered by (contact id, timestamp, event id).

    Attributes:
        contacts: Contact ids, sorted; `contact` codes index it.
        contact: Per event, its contact's code.
        ts: Per event, UTC microseconds since 1970-01-01.
        types: Event types; `type` codes index it.
        type: Per event, its type's code.
        properties: Distinct property objects; `prop` codes index it. Shared: do not mutate.
        prop: Per event, its properties' code.
        ids: Per event, its id.
    """

    contacts: tuple[str, ...]
    contact: IntArray
    ts: IntArray
    types: tuple[str, ...]
    type: IntArray
    properties: tuple[dict[str, Any], ...]
    prop: IntArray
    ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ts)

    def __repr__(self) -> str:
        return (
            f"EventColumns({len(self)} events, {len(self.contacts)} contacts, "
            f"{len(self.properties)} distinct property objects)"
        )

    def timestamp(self, i: int) -> datetime:
        """Event `i`'s timestamp as an aware UTC datetime."""
        return _EPOCH + timedelta(microseconds=int(self.ts[i]))


def columns_from_events(events: Iterable[Event], types: Sequence[str] = ()) -> EventColumns:
    """Columns from `Event` objects (any order; sorted here).

    Args:
        events: The events.
        types: Type vocabulary to start from (others are appended as they appear).
    """
    rows = list(events)
    contacts = sorted({e.contact_id for e in rows})
    contact_code = {c: i for i, c in enumerate(contacts)}
    type_code = {t: i for i, t in enumerate(types)}
    for event in rows:
        type_code.setdefault(event.type, len(type_code))
    columns = _Chunk(
        contact=np.fromiter((contact_code[e.contact_id] for e in rows), np.int64, len(rows)),
        ts=np.fromiter(((e.timestamp - _EPOCH) // _MICRO for e in rows), np.int64, len(rows)),
        type=np.fromiter((type_code[e.type] for e in rows), np.int64, len(rows)),
        prop=np.arange(len(rows), dtype=np.int64),
        ids=[e.id for e in rows],
    )
    properties = tuple(dict(e.properties) for e in rows)
    return _sorted(tuple(contacts), tuple(type_code), properties, columns)


def read_sqlite_columns(
    conn: sqlite3.Connection, *, types: Collection[str], until: int | None = None
) -> EventColumns:
    """Read the selected events of every contact from a gtmflow SQLite event store.

    Args:
        conn: A connection to the store (the caller holds its lock).
        types: Event types to read.
        until: Only events at or before this many UTC microseconds.
    """
    wanted = tuple(sorted(types))
    if not wanted:
        return _merge(wanted, [])
    last = int(conn.execute("SELECT MAX(seq) FROM events").fetchone()[0] or 0)
    reader = _RangeReader(conn, wanted, until)
    chunks = [reader.read(lo, lo + _RANGE) for lo in range(0, last, _RANGE)]
    return _merge(wanted, [c for c in chunks if len(c.ts)])


# ---------------------------------------------------------------------- internals

_MICRO = timedelta(microseconds=1)


@dataclass
class _Chunk:
    """Columns of one range before merging; contact and prop code a chunk-local vocabulary."""

    contact: IntArray
    ts: IntArray
    type: IntArray
    prop: IntArray
    ids: list[str]
    contacts: list[str] | None = None
    props: list[str] | None = None


class _RangeReader:
    """One SQL pass per range of sequence numbers, each column joined into one string."""

    def __init__(self, conn: sqlite3.Connection, types: tuple[str, ...], until: int | None):
        self.conn, self.types = conn, types
        where = f"seq > ? AND seq <= ? AND type IN ({', '.join('?' * len(types))})"
        self.params: tuple[Any, ...] = types
        if until is not None:
            where += " AND ts <= ?"
            self.params += (until,)
        case = " ".join(f"WHEN ? THEN {i}" for i in range(len(types)))
        self.case_params = types
        columns = (
            "count(*), group_concat(ts), "
            f"group_concat(CASE type {case} END), group_concat(contact_id, char(31)), "
            "group_concat(properties, char(31)), group_concat(id, char(31))"
        )
        self.joined = f"SELECT {columns} FROM events WHERE {where}"
        self.rows = f"SELECT ts, type, contact_id, properties, id FROM events WHERE {where}"

    def read(self, lo: int, hi: int) -> _Chunk:
        params = (*self.case_params, lo, hi, *self.params)
        count, *joined = self.conn.execute(self.joined, params).fetchone()
        if not count:
            return _empty_chunk()
        chunk = _split(count, *joined)
        return chunk if chunk is not None else self.read_rows(lo, hi)

    def read_rows(self, lo: int, hi: int) -> _Chunk:
        """The slow, always-right reading of one range: a tuple per row."""
        rows = self.conn.execute(self.rows, (lo, hi, *self.params)).fetchall()
        code = {t: i for i, t in enumerate(self.types)}
        return _coded(
            ts=[r[0] for r in rows],
            type=[code[r[1]] for r in rows],
            contacts=[r[2] for r in rows],
            props=[r[3] for r in rows],
            ids=[r[4] for r in rows],
        )


def _split(count: int, ts: str, type_: str, contacts: str, props: str, ids: str) -> _Chunk | None:
    """Take the joined strings apart; None when a text column held the separator."""
    parts = [contacts.split(_SEP), props.split(_SEP), ids.split(_SEP)]
    if any(len(p) != count for p in parts):
        return None
    numbers = [np.fromstring(text, dtype=np.int64, sep=",") for text in (ts, type_)]
    if any(len(n) != count for n in numbers):
        return None
    return _coded(ts=numbers[0], type=numbers[1], contacts=parts[0], props=parts[1], ids=parts[2])


def _coded(
    *,
    ts: Any,
    type: Any,
    contacts: list[str],
    props: list[str],
    ids: list[str],
) -> _Chunk:
    contact_vocabulary, contact = _factorise(contacts)
    prop_vocabulary, prop = _factorise(props)
    return _Chunk(
        contact=contact,
        ts=np.asarray(ts, dtype=np.int64),
        type=np.asarray(type, dtype=np.int64),
        prop=prop,
        ids=ids,
        contacts=contact_vocabulary,
        props=prop_vocabulary,
    )


def _factorise(values: list[str]) -> tuple[list[str], IntArray]:
    """Distinct values in order of appearance, and each value's code (dict work in C)."""
    distinct = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(distinct)}
    return distinct, np.fromiter(map(index.__getitem__, values), np.int64, len(values))


def _empty_chunk() -> _Chunk:
    empty = np.zeros(0, dtype=np.int64)
    return _Chunk(empty, empty, empty, empty, [], [], [])


def _merge(types: tuple[str, ...], chunks: list[_Chunk]) -> EventColumns:
    """One vocabulary for contacts and properties over all chunks, then sorted columns."""
    contacts = sorted({c for chunk in chunks for c in chunk.contacts or ()})
    contact_code = {c: i for i, c in enumerate(contacts)}
    prop_code: dict[str, int] = {}
    for chunk in chunks:
        for text in chunk.props or ():
            prop_code.setdefault(text, len(prop_code))
    decoded = tuple(json.loads(text) for text in prop_code)
    merged = _Chunk(
        contact=_recode(chunks, "contact", "contacts", contact_code),
        ts=_concat(chunks, "ts"),
        type=_concat(chunks, "type"),
        prop=_recode(chunks, "prop", "props", prop_code),
        ids=[i for chunk in chunks for i in chunk.ids],
    )
    return _sorted(tuple(contacts), types, decoded, merged)


def _recode(chunks: list[_Chunk], codes: str, vocabulary: str, code: dict[str, int]) -> IntArray:
    parts = []
    for chunk in chunks:
        table = np.fromiter(
            (code[v] for v in getattr(chunk, vocabulary)), np.int64, len(getattr(chunk, vocabulary))
        )
        parts.append(table[getattr(chunk, codes)])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _concat(chunks: list[_Chunk], name: str) -> IntArray:
    parts = [getattr(chunk, name) for chunk in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _sorted(
    contacts: tuple[str, ...],
    types: tuple[str, ...],
    properties: tuple[dict[str, Any], ...],
    c: _Chunk,
) -> EventColumns:
    """Order by (contact, ts, id): numpy sorts by (contact, ts); ids break the few ties."""
    order = np.lexsort((c.ts, c.contact))
    order = _break_ties(order, c.contact[order], c.ts[order], c.ids)
    ids = c.ids
    return EventColumns(
        contacts=contacts,
        contact=c.contact[order],
        ts=c.ts[order],
        types=types,
        type=c.type[order],
        properties=properties,
        prop=c.prop[order],
        ids=tuple(map(ids.__getitem__, order.tolist())),
    )


def _break_ties(order: IntArray, contact: IntArray, ts: IntArray, ids: list[str]) -> IntArray:
    """Rows of one contact at one instant, put in id order (as `EventStore.events` does)."""
    same = (contact[1:] == contact[:-1]) & (ts[1:] == ts[:-1])
    if not same.any():
        return order
    order = order.copy()
    starts = np.flatnonzero(np.diff(np.concatenate(([0], same.astype(np.int8), [0]))) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate(([0], same.astype(np.int8), [0]))) == -1) + 1
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        run = order[a:b].tolist()
        order[a:b] = sorted(run, key=ids.__getitem__)
    return order
