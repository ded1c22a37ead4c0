"""Durable timers: waits are rows, not sleeping processes.

A wait says "resume thread T of graph G for contact C at time D, because R". `gtmflow tick` (or a
long-running loop) asks for the waits that are due and resumes those threads. Thousands of
contacts waiting for months cost nothing but rows. Each thread has at most one pending wait;
scheduling again replaces it, so a replayed step cannot leave two timers behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from gtmflow.clock import require_aware
from gtmflow.tools._database import StoreTarget, ledger_database

__all__ = ["Scheduler", "Wait", "WaitStatus"]

WaitStatus = Literal["pending", "done", "cancelled"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS waits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    graph TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
    note TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS waits_one_pending ON waits (thread_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS waits_due ON waits (status, due_at);
CREATE INDEX IF NOT EXISTS waits_contact ON waits (contact_id, status);
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = "id, graph, contact_id, thread_id, due_at, reason, payload, status, note"


@dataclass(frozen=True, slots=True)
class Wait:
    """A durable timer on one graph thread."""

    id: int
    graph: str
    contact_id: str
    thread_id: str
    due_at: datetime
    reason: str
    payload: dict[str, Any] = field(default_factory=dict)
    status: WaitStatus = "pending"
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "graph": self.graph,
            "contact_id": self.contact_id,
            "thread_id": self.thread_id,
            "due_at": self.due_at.isoformat(),
            "reason": self.reason,
            "payload": self.payload,
            "status": self.status,
            "note": self.note,
        }


class Scheduler:
    """The table of waits of one workspace (a SQLite file or the shared PostgreSQL store).

    Example:
        >>> from datetime import timedelta
        >>> s = Scheduler(":memory:")
        >>> at = datetime(2026, 1, 1, tzinfo=UTC)
        >>> s.schedule(graph="seq", contact_id="c", thread_id="seq:c", due_at=at, reason="wait 2d")
        1
        >>> [w.reason for w in s.due(at + timedelta(seconds=1))]
        ['wait 2d']
    """

    def __init__(self, path: StoreTarget) -> None:
        self._db = ledger_database(path, _SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def schedule(
        self,
        *,
        graph: str,
        contact_id: str,
        thread_id: str,
        due_at: datetime,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> int:
        """Set the thread's pending wait (replacing any earlier one); return its id."""
        micros = _micros(require_aware(due_at, "due_at"))
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE waits SET status = 'cancelled', note = 'replaced' "
                "WHERE thread_id = ? AND status = 'pending'",
                (thread_id,),
            )
            cursor = conn.execute(
                "INSERT INTO waits (graph, contact_id, thread_id, due_at, reason, payload, status)"
                " VALUES (?, ?, ?, ?, ?, ?, 'pending') RETURNING id",
                (graph, contact_id, thread_id, micros, reason, json.dumps(payload or {})),
            )
            return int(cursor.fetchone()[0])

    def due(
        self, now: datetime, *, graph: str | None = None, limit: int | None = None
    ) -> list[Wait]:
        """Pending waits with `due_at <= now`, earliest first.

        Args:
            now: The moment to compare with.
            graph: Only waits of graphs with this name, or of names starting with it when it
                ends with ":" (`"sequence:"` is every sequence).
            limit: At most this many.
        """
        where, args = _graph_filter(graph)
        sql = f"SELECT {_COLUMNS} FROM waits WHERE status = 'pending' AND due_at <= ?{where} "
        sql += "ORDER BY due_at, id" + (" LIMIT ?" if limit is not None else "")
        args = (_micros(require_aware(now, "now")), *args)
        return self._select(sql, args + ((limit,) if limit is not None else ()))

    def pending(self, *, contact_id: str | None = None) -> list[Wait]:
        """Pending waits, optionally of one contact."""
        if contact_id is None:
            return self._select(
                f"SELECT {_COLUMNS} FROM waits WHERE status = 'pending' ORDER BY due_at, id", ()
            )
        return self._select(
            f"SELECT {_COLUMNS} FROM waits WHERE status = 'pending' AND contact_id = ? "
            "ORDER BY due_at, id",
            (contact_id,),
        )

    def next_due(self, *, graph: str | None = None) -> datetime | None:
        """When the earliest pending wait (of `graph`, as in `due`) falls due; None: none."""
        where, args = _graph_filter(graph)
        ((first,),) = self._db.query(
            f"SELECT MIN(due_at) FROM waits WHERE status = 'pending'{where}", args
        )
        return None if first is None else _time(first)

    def complete(self, wait_id: int) -> bool:
        """Mark a wait done (its thread was resumed); False if it was no longer pending."""
        return self._set(wait_id, "done", None)

    def cancel(self, *, thread_id: str, note: str) -> int:
        """Cancel the pending wait of a thread (exit, reply, unsubscribe); return how many."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE waits SET status = 'cancelled', note = ? "
                "WHERE thread_id = ? AND status = 'pending'",
                (note, thread_id),
            )
            return int(cursor.rowcount)

    def forget(self, contact_id: str) -> int:
        """Delete every wait of a contact; return how many."""
        with self._db.transaction() as conn:
            return int(
                conn.execute("DELETE FROM waits WHERE contact_id = ?", (contact_id,)).rowcount
            )

    def _set(self, wait_id: int, status: WaitStatus, note: str | None) -> bool:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE waits SET status = ?, note = ? WHERE id = ? AND status = 'pending'",
                (status, note, wait_id),
            )
            return bool(cursor.rowcount == 1)

    def _select(self, sql: str, args: tuple[Any, ...]) -> list[Wait]:
        return [_wait(row) for row in self._db.query(sql, args)]


def _wait(row: tuple[Any, ...]) -> Wait:
    wait_id, graph, contact_id, thread_id, due_at, reason, payload, status, note = row
    return Wait(
        id=wait_id,
        graph=graph,
        contact_id=contact_id,
        thread_id=thread_id,
        due_at=_time(due_at),
        reason=reason,
        payload=json.loads(payload),
        status=status,
        note=note,
    )


def _graph_filter(graph: str | None) -> tuple[str, tuple[Any, ...]]:
    """SQL (and arguments) selecting one graph's waits, or a family's ("sequence:")."""
    if graph is None:
        return "", ()
    if graph.endswith(":"):
        return " AND substr(graph, 1, ?) = ?", (len(graph), graph)
    return " AND graph = ?", (graph,)


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
