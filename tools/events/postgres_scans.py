"""The run loop's bulk reads on PostgreSQL: one query per batch of contacts, arrays as input.

`PostgresScans` gives `PostgresEventStore` what `scans.SQLiteScans` gives the SQLite store: the
questions `scans` describes (`scan_new`, `unseen_starts`, `read_histories`) and `contacts`,
each answered by one query for a whole batch, contacts passed as arrays (`unnest(?::text[])`,
`= ANY(?)`), so a worker's cost follows its batch and not the number of contacts. Types are
filtered on the server (a need's rows are read through the `(contact_id, type, ts)` index,
migration 7); property equalities are checked in Python on the rows of the wanted types only,
so a row of a type no rule reads is never decoded: a broken one costs a contact nothing, as on
SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from gtmflow.models import Contact, Event
from gtmflow.pipes import EventFilter, HistoryNeed
from gtmflow.pipes.history import FIRST_EVENT
from gtmflow.tools.events.scans import (
    _MICROSECOND,
    _TS_END,
    Deferred,
    NewEvents,
    _in_range,
    _wanted,
    decode,
    micros,
    moment,
)
from gtmflow.tools.events.sqlite_rows import CONTACT_COLUMNS, Unreadable, stored_contact

__all__ = ["PostgresScans"]

_SCAN_COLUMNS = "SELECT seq, contact_id, ts, type, properties"
_EVENT = "e.contact_id, e.id, e.type, e.ts, e.properties"


class PostgresScans:
    """The bulk reads of `PostgresEventStore` (its `db` is a `PostgresDatabase`)."""

    db: Any

    def scan_new(
        self,
        filters: Sequence[EventFilter] | None,
        *,
        after_seq: int,
        upto_seq: int,
        as_of: datetime,
    ) -> NewEvents:
        """Contacts with events in `(after_seq, upto_seq]` a filter accepts (types in SQL)."""
        found = NewEvents()
        if filters is not None and not filters:
            return found
        sql = f"{_SCAN_COLUMNS} FROM events WHERE seq > ? AND seq <= ?"
        params: list[Any] = [after_seq, upto_seq]
        if filters is not None:
            sql += " AND type = ANY(?::text[])"
            params.append(sorted({f.type for f in filters}))
        horizon = micros(as_of)
        if filters is None or all(not f.properties for f in filters):
            return self._scan_by_type(sql, params, horizon)
        for seq, contact_id, ts, type_, props in self.db.query(sql, params):
            if not _any_accepts(filters, type_, props):
                continue
            if horizon < ts < _TS_END:
                found.deferred.append(Deferred(seq, contact_id, moment(ts)))
            else:
                found.due.add(contact_id)
        return found

    def unseen_starts(
        self, cursors: Mapping[str, tuple[int, datetime | None]], *, as_of: datetime
    ) -> dict[str, datetime]:
        """Per contact `(seq, horizon)`, the earliest event it has not been judged on."""
        if not cursors:
            return {}
        ids = list(cursors)
        seqs = [cursors[c][0] for c in ids]
        horizons = [_micros_or_none(cursors[c][1]) for c in ids]
        rows = self.db.query(
            "SELECT c.id, MIN(e.ts) FROM unnest(?::text[], ?::bigint[], ?::bigint[]) "
            "AS c(id, cur, hz) JOIN events e ON e.contact_id = c.id "
            "WHERE e.seq > c.cur OR (c.hz IS NOT NULL AND e.ts > c.hz AND e.ts <= ?) "
            "GROUP BY c.id",
            (ids, seqs, horizons, micros(as_of)),
        )
        return {contact_id: moment(_in_range(ts)) for contact_id, ts in rows if ts is not None}

    def read_histories(
        self, starts: Mapping[str, datetime | None], needs: Sequence[HistoryNeed] | None
    ) -> dict[str, list[Event]]:
        """The events each contact's rules read, one query per batch of contacts."""
        found: dict[str, list[Event]] = {contact_id: [] for contact_id in starts}
        if not starts:
            return found
        ids = list(starts)
        begins = [_micros_or_none(starts[c]) for c in ids]
        cte = (
            "FROM unnest(?::text[], ?::bigint[]) AS c(id, start) "
            "JOIN events e ON e.contact_id = c.id"
        )

        event_needs = [n for n in needs or () if n.type is not None]
        try:
            if needs is None or event_needs:
                where, extra = _needs_sql(event_needs if needs is not None else None)
                exact = needs is None or all(not n.properties for n in event_needs)
                if needs is not None:  # the types as one array: seeks in (contact_id, type, ts)
                    where = f"e.type = ANY(?::text[]) AND ({where})"
                    extra = [sorted({str(n.type) for n in event_needs}), *extra]
                rows = self.db.query(f"SELECT {_EVENT} {cte} WHERE {where}", [ids, begins, *extra])
                for contact_id, event_id, type_, ts, props in rows:
                    if not exact and not _any_accepts(event_needs, type_, props):
                        continue  # not read: a broken row of no rule's values costs nothing
                    item = decode(event_id, type_, contact_id, ts, props)
                    if exact or any(_wanted(n, item, starts[contact_id]) for n in event_needs):
                        found[contact_id].append(item)
            for need in event_needs:
                if need.latest and need.lookback is not None:
                    self._add_latest_before(ids, begins, need, found)
            if needs is not None and FIRST_EVENT in needs:
                self._add_first_events(ids, found)
        except Unreadable as exc:
            raise exc.for_reader() from None
        for events in found.values():
            events.sort(key=lambda e: (e.timestamp, e.id))
        return found

    def contacts(self, contact_ids: Iterable[str]) -> dict[str, Contact]:
        """Known contacts among `contact_ids`, by id (one query)."""
        ids = sorted(set(contact_ids))
        if not ids:
            return {}
        rows = self.db.query(
            f"SELECT {', '.join(CONTACT_COLUMNS)}, attributes FROM contacts "
            "WHERE id = ANY(?::text[])",
            (ids,),
        )
        return {row[0]: stored_contact(row) for row in rows}

    def _scan_by_type(self, sql: str, params: list[Any], horizon: int) -> NewEvents:
        """`scan_new` when types decide alone: due contacts once each, deferred rows by seq."""
        later = "ts > ? AND ts < ?"
        head = sql.replace(
            "SELECT seq, contact_id, ts, type, properties", "SELECT DISTINCT contact_id"
        )
        due = self.db.query(f"{head} AND NOT ({later})", [*params, horizon, _TS_END])
        deferred = self.db.query(f"{sql} AND {later}", [*params, horizon, _TS_END])
        return NewEvents(
            due={row[0] for row in due},
            deferred=[Deferred(seq, c, moment(ts)) for seq, c, ts, *_ in deferred],
        )

    def _add_latest_before(
        self, ids: list[str], begins: list[int | None], need: HistoryNeed,
        found: dict[str, list[Event]],
    ) -> None:  # fmt: skip
        """Each contact's latest event `need` covers before its start minus the lookback (one
        query: DISTINCT ON when the type decides; else older candidates, the last one kept)."""
        assert need.lookback is not None
        head = "SELECT DISTINCT ON (e.contact_id) " if not need.properties else "SELECT "
        rows = self.db.query(
            f"{head}{_EVENT} FROM unnest(?::text[], ?::bigint[]) AS c(id, start) "
            "JOIN events e ON e.contact_id = c.id WHERE c.start IS NOT NULL AND e.type = ? "
            "AND e.ts < c.start - ? ORDER BY e.contact_id, e.ts DESC, e.id DESC",
            [ids, begins, need.type, need.lookback // _MICROSECOND],
        )
        latest: dict[str, Event] = {}
        for contact_id, event_id, type_, ts, props in rows:
            if contact_id in latest or not _any_accepts([need], type_, props):
                continue  # rows come newest first: the first one accepted is the latest
            item = decode(event_id, type_, contact_id, ts, props)
            if need.covers(item):
                latest[contact_id] = item
        for contact_id, item in latest.items():
            if not any(e.id == item.id for e in found[contact_id]):
                found[contact_id].append(item)

    def _add_first_events(self, ids: Collection[str], found: dict[str, list[Event]]) -> None:
        rows = self.db.query(
            f"SELECT DISTINCT ON (e.contact_id) {_EVENT} FROM events e "
            "WHERE e.contact_id = ANY(?::text[]) ORDER BY e.contact_id, e.ts, e.id",
            (list(ids),),
        )
        for contact_id, event_id, type_, ts, props in rows:
            events = found[contact_id]
            if not any(e.id == event_id for e in events):
                events.append(decode(event_id, type_, contact_id, ts, props))


def _any_accepts(
    wanted: Sequence[EventFilter] | Sequence[HistoryNeed], type_: str, raw: str
) -> bool:
    """Whether a row's type and raw properties pass one filter or need (before decoding it).

    Properties that are not JSON pass (decoding the row then says why it cannot be read);
    JSON that is not an object has no keys, as SQLite's `json_extract` sees it.
    """
    try:
        value = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return True
    props = value if type(value) is dict else {}
    return any(w.type == type_ and all(props.get(k) == v for k, v in w.properties) for w in wanted)


def _micros_or_none(at: datetime | None) -> int | None:
    return None if at is None else micros(at)


def _needs_sql(needs: Sequence[HistoryNeed] | None) -> tuple[str, list[Any]]:
    """A WHERE clause (over `c.start`) on types and lookbacks; properties are checked in Python."""
    if needs is None:
        return "TRUE", []
    clauses: list[str] = []
    params: list[Any] = []
    for need in needs:
        if need.lookback is None:
            clauses.append("e.type = ?")
            params.append(need.type)
        else:
            clauses.append("(e.type = ? AND (c.start IS NULL OR e.ts >= c.start - ?))")
            params += [need.type, need.lookback // _MICROSECOND]
    return " OR ".join(clauses) or "FALSE", params
