"""Many contacts' events as flat numpy columns, read from the store in a few SQL passes.

`EventStore.event_columns(types=..., until=...)` returns an `EventColumns`: every selected event
of every contact, ordered as `EventStore.events` orders one contact's (timestamp, then id), by
contact id first. Strings are coded: `contact[i]` indexes `contacts` (sorted), `type[i]` indexes
`types`, `prop[i]` indexes `properties` (each distinct property object decoded once), and the
ids sit in one UTF-8 buffer (`TextColumn`), so bulk readers (attribution, scoring) work on arrays
instead of one `Event` per row.

The SQLite reader asks for a range of sequence numbers at a time and lets SQLite join each
column of the range into one string (`group_concat`), which numpy and `str.split` take apart in
C: a Python object per event, the cost of reading rows one by one, is never made. Ranges are
read on one extra read-only connection per core (SQLite works without Python's lock), in a file
store. A range whose text holds the separator character (a control character that JSON text
escapes) is read row by row instead.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from gtmflow.models import Event

__all__ = ["EventColumns", "TextColumn", "columns_from_events", "read_sqlite_columns"]

IntArray = npt.NDArray[np.int64]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_SEP = "\x1f"  # unit separator: escaped inside JSON text, absent from ordinary ids
_RANGE = 250_000  # sequence numbers per SQL pass: bounds the size of the joined strings


@dataclass(frozen=True, eq=False)
class TextColumn:
    """Many short strings in one UTF-8 buffer; `column[i]` decodes string `i` when asked."""

    data: bytes
    starts: IntArray
    ends: IntArray

    @classmethod
    def of(cls, values: Sequence[str]) -> TextColumn:
        """A column holding `values`."""
        encoded = [v.encode() for v in values]
        ends = np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)))
        return cls(b"".join(encoded), ends - np.fromiter(map(len, encoded), np.int64), ends)

    @classmethod
    def concat(cls, parts: Sequence[TextColumn]) -> TextColumn:
        """The strings of every part, in order."""
        shifts = np.cumsum([0, *(len(p.data) for p in parts)])[:-1].tolist()
        pairs = list(zip(parts, shifts, strict=True))
        return cls(
            b"".join(p.data for p in parts),
            np.concatenate([np.zeros(0, np.int64), *(p.starts + s for p, s in pairs)]),
            np.concatenate([np.zeros(0, np.int64), *(p.ends + s for p, s in pairs)]),
        )

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> str:
        return self.data[self.starts[i] : self.ends[i]].decode()

    def __iter__(self) -> Iterator[str]:
        data = self.data
        for a, b in zip(self.starts.tolist(), self.ends.tolist(), strict=True):
            yield data[a:b].decode()

    def take(self, rows: IntArray) -> TextColumn:
        """The strings at `rows`, sharing this column's buffer."""
        return TextColumn(self.data, self.starts[rows], self.ends[rows])


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
    ids: TextColumn

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
    type_code = {t: i for i, t in enumerate(types)}
    for event in rows:
        type_code.setdefault(event.type, len(type_code))
    chunk = _Chunk(
        contacts=[e.contact_id for e in rows],
        ts=np.fromiter(((e.timestamp - _EPOCH) // _MICRO for e in rows), np.int64, len(rows)),
        type=np.fromiter((type_code[e.type] for e in rows), np.int64, len(rows)),
        props=[e.properties for e in rows],
        ids=TextColumn.of([e.id for e in rows]),
    )
    return _merge(tuple(type_code), [chunk], decode=dict)


def read_sqlite_columns(
    conn: sqlite3.Connection,
    *,
    types: Collection[str],
    until: int | None = None,
    reconnect: Callable[[], sqlite3.Connection] | None = None,
) -> EventColumns:
    """Read the selected events of every contact from a gtmflow SQLite event store.

    Args:
        conn: A connection to the store (the caller holds its lock).
        types: Event types to read.
        until: Only events at or before this many UTC microseconds.
        reconnect: Opens another read connection to the same database, for reading ranges in
            parallel (None: read every range on `conn`).
    """
    wanted = tuple(sorted(types))
    if not wanted:
        return _merge(wanted, [])
    last = int(conn.execute("SELECT MAX(seq) FROM events").fetchone()[0] or 0)
    ranges = [(lo, min(lo + _RANGE, last)) for lo in range(0, last, _RANGE)]
    workers = min(_cores(), len(ranges)) if reconnect is not None else 1
    if workers <= 1:
        reader = _RangeReader(wanted, until)
        chunks = [reader.read(conn, lo, hi) for lo, hi in ranges]
    else:
        assert reconnect is not None
        chunks = _parallel(ranges, _RangeReader(wanted, until), reconnect, workers)
    return _merge(wanted, [c for c in chunks if len(c.ts)])


# ---------------------------------------------------------------------- internals


@dataclass
class _Chunk:
    """Columns of one range before merging: contacts and properties still as strings."""

    contacts: list[str]
    ts: IntArray
    type: IntArray
    props: Sequence[Any]
    ids: TextColumn


class _RangeReader:
    """One SQL pass per range of sequence numbers, each column joined into one string."""

    def __init__(self, types: tuple[str, ...], until: int | None):
        self.types = types
        where = f"seq > ? AND seq <= ? AND type IN ({', '.join('?' * len(types))})"
        self.params: tuple[Any, ...] = types
        if until is not None:
            where += " AND ts <= ?"
            self.params += (until,)
        case = " ".join(f"WHEN ? THEN {i}" for i in range(len(types)))
        columns = (
            "count(*), group_concat(ts), "
            f"group_concat(CASE type {case} END), group_concat(contact_id, char(31)), "
            "group_concat(properties, char(31)), group_concat(id, char(31))"
        )
        self.joined = f"SELECT {columns} FROM events WHERE {where}"
        self.rows = f"SELECT ts, type, contact_id, properties, id FROM events WHERE {where}"

    def read(self, conn: sqlite3.Connection, lo: int, hi: int) -> _Chunk:
        params = (*self.types, lo, hi, *self.params)
        count, *joined = conn.execute(self.joined, params).fetchone()
        if not count:
            return _Chunk([], _ints(()), _ints(()), [], TextColumn.of([]))
        chunk = _split(count, *joined)
        return chunk if chunk is not None else self.read_rows(conn, lo, hi)

    def read_rows(self, conn: sqlite3.Connection, lo: int, hi: int) -> _Chunk:
        """The slow, always-right reading of one range: a tuple per row."""
        rows = conn.execute(self.rows, (lo, hi, *self.params)).fetchall()
        code = {t: i for i, t in enumerate(self.types)}
        return _Chunk(
            contacts=[r[2] for r in rows],
            ts=_ints(r[0] for r in rows),
            type=_ints(code[r[1]] for r in rows),
            props=[r[3] for r in rows],
            ids=TextColumn.of([r[4] for r in rows]),
        )


def _split(count: int, ts: str, type_: str, contacts: str, props: str, ids: str) -> _Chunk | None:
    """Take the joined strings apart; None when a text column held the separator."""
    numbers = [np.fromstring(text, dtype=np.int64, sep=",") for text in (ts, type_)]
    texts = [contacts.split(_SEP), props.split(_SEP)]
    data = ids.encode()
    cuts = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord(_SEP))
    lengths = [len(numbers[0]), len(numbers[1]), len(texts[0]), len(texts[1]), len(cuts) + 1]
    if any(n != count for n in lengths):
        return None
    column = TextColumn(data, np.concatenate(([0], cuts + 1)), np.append(cuts, len(data)))
    return _Chunk(texts[0], numbers[0], numbers[1], texts[1], column)


def _parallel(
    ranges: list[tuple[int, int]],
    reader: _RangeReader,
    reconnect: Callable[[], sqlite3.Connection],
    workers: int,
) -> list[_Chunk]:
    """Ranges read on `workers` extra connections (SQLite runs outside Python's lock)."""
    local = threading.local()
    opened: list[sqlite3.Connection] = []

    def read(bounds: tuple[int, int]) -> _Chunk:
        if not hasattr(local, "conn"):
            local.conn = reconnect()
            opened.append(local.conn)
        return reader.read(local.conn, *bounds)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(read, ranges))
    finally:
        for conn in opened:
            conn.close()


def _merge(
    types: tuple[str, ...],
    chunks: list[_Chunk],
    decode: Callable[[Any], dict[str, Any]] = json.loads,
) -> EventColumns:
    """Code contacts and properties over all chunks, then sort the rows."""
    contact_names = [c for chunk in chunks for c in chunk.contacts]
    distinct, contact = _factorise(contact_names, ordered=True)
    props = [p for chunk in chunks for p in chunk.props]
    if decode is dict:  # property objects: not hashable, one entry per event
        properties, prop = tuple(dict(p) for p in props), np.arange(len(props), dtype=np.int64)
    else:  # JSON texts: each distinct text decoded once
        texts, prop = _factorise(props, ordered=False)
        properties = tuple(decode(text) for text in texts)
    ts = np.concatenate([_ints(()), *(c.ts for c in chunks)])
    type_ = np.concatenate([_ints(()), *(c.type for c in chunks)])
    ids = TextColumn.concat([c.ids for c in chunks])
    order = _break_ties(np.lexsort((ts, contact)), contact, ts, ids)
    return EventColumns(
        contacts=tuple(distinct),
        contact=contact[order],
        ts=ts[order],
        types=types,
        type=type_[order],
        properties=properties,
        prop=prop[order],
        ids=ids.take(order),
    )


def _factorise(values: list[Any], *, ordered: bool) -> tuple[list[Any], IntArray]:
    """Distinct values (sorted, or in order of appearance) and each value's code."""
    distinct = list(dict.fromkeys(values))  # the dict work runs in C, not per row in Python
    if ordered:
        distinct.sort()
    index = {v: i for i, v in enumerate(distinct)}
    return distinct, np.fromiter(map(index.__getitem__, values), np.int64, len(values))


def _break_ties(order: IntArray, contact: IntArray, ts: IntArray, ids: TextColumn) -> IntArray:
    """Rows of one contact at one instant, put in id order (as `EventStore.events` does)."""
    c, t = contact[order], ts[order]
    same = np.concatenate(([0], ((c[1:] == c[:-1]) & (t[1:] == t[:-1])).astype(np.int8), [0]))
    edges = np.diff(same)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) + 1
    if not len(starts):
        return order
    order = order.copy()
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        order[a:b] = sorted(order[a:b].tolist(), key=ids.__getitem__)
    return order


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _ints(values: Iterable[int]) -> IntArray:
    return np.fromiter(values, dtype=np.int64)
