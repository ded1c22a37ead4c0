"""Run state: where each rules graph stopped reading, and what each contact's rules have done.

The bulk run loop (`gtmflow.runtime.rules_pass`) keeps a contact's rule state here rather than in
a LangGraph checkpoint, so one query reads a batch of contacts and one transaction writes it:

```
rule_cursors   graph PRIMARY KEY, resume_seq, contacts_mark, as_of
               -- events up to resume_seq were scanned; contacts up to contacts_mark were seen
rule_state     (graph, contact_id) PRIMARY KEY, seq_cursor, as_of_cursor, fired (JSON),
               next_sweep_at   -- index (graph, next_sweep_at): the sweep reads only due rows
rule_deferred  (graph, seq) PRIMARY KEY, contact_id, ts
               -- wanted events stored before the cursor but after its as-of: due when as-of
               passes them; index (graph, ts)
```

Times are UTC microseconds. `RunState` is the interface a backend implements (the PostgreSQL
one adds leases: claim a batch of due contacts, heartbeat, release); `SQLiteRunState` is the
default, in the workspace's `gtmflow.db`. Its SQL is portable, so it also runs on the shared
PostgreSQL store (`SQLiteRunState(database)`; the tables come from `gtmflow.tools.migrations`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from gtmflow.pipes import NEVER
from gtmflow.tools._database import StoreTarget, ledger_database
from gtmflow.tools.events.scans import Deferred, micros, moment

__all__ = ["ContactRuleState", "RuleCursor", "RunState", "SQLiteRunState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_cursors (
    graph TEXT PRIMARY KEY,
    resume_seq INTEGER NOT NULL,
    contacts_mark INTEGER NOT NULL,
    as_of INTEGER
);
CREATE TABLE IF NOT EXISTS rule_state (
    graph TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    seq_cursor INTEGER NOT NULL,
    as_of_cursor INTEGER,
    fired TEXT NOT NULL,
    next_sweep_at INTEGER NOT NULL,
    PRIMARY KEY (graph, contact_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rule_state_sweep ON rule_state (graph, next_sweep_at);
CREATE TABLE IF NOT EXISTS rule_deferred (
    graph TEXT NOT NULL,
    seq INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (graph, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rule_deferred_ts ON rule_deferred (graph, ts);
"""
_CHUNK = 500
_NEVER = micros(NEVER)


@dataclass(frozen=True, slots=True)
class RuleCursor:
    """Where a graph's last run stopped: events scanned, contacts seen, and its as-of."""

    resume_seq: int = 0
    contacts_mark: int = 0
    as_of: datetime | None = None


@dataclass(slots=True)
class ContactRuleState:
    """One contact's rule state in one graph (what the router keeps in its graph state).

    Attributes:
        contact_id: Whose state.
        seq_cursor: The store's last sequence number when the contact was last judged (0:
            never judged: every event is new to it).
        as_of_cursor: The latest as-of it was judged at (events up to it were in view).
        fired: Per rule, (times fired, ISO time of the last firing).
        next_sweep_at: When a sweep could next fire a rule if no new event arrives.
    """

    contact_id: str
    seq_cursor: int = 0
    as_of_cursor: datetime | None = None
    fired: dict[str, tuple[int, str]] = field(default_factory=dict)
    next_sweep_at: datetime = NEVER


class RunState(ABC):
    """Cursors and per-contact rule state of the rules graphs of one workspace."""

    @abstractmethod
    def cursor(self, graph: str) -> RuleCursor:
        """Where the graph's last run stopped (a fresh cursor before its first run)."""

    @abstractmethod
    def load(self, graph: str, contact_ids: Sequence[str]) -> dict[str, ContactRuleState]:
        """The stored state of these contacts (contacts never judged are left out)."""

    @abstractmethod
    def save(self, graph: str, states: Iterable[ContactRuleState]) -> None:
        """Write a batch of contact states in one transaction."""

    @abstractmethod
    def sweep_due(self, graph: str, as_of: datetime) -> list[str]:
        """Contacts whose next possible sweep firing is at or before `as_of`."""

    @abstractmethod
    def deferred_due(self, graph: str, as_of: datetime) -> list[str]:
        """Contacts with a deferred event now at or before `as_of`."""

    @abstractmethod
    def finish(self, graph: str, cursor: RuleCursor, deferred: Sequence[Deferred]) -> None:
        """End a run in one transaction: save the cursor, drop deferred events now in view
        (at or before the cursor's as-of), keep the new ones."""

    @abstractmethod
    def forget(self, contact_id: str) -> int:
        """Delete a contact's state in every graph; return how many rows went."""


class SQLiteRunState(RunState):
    """`RunState` in SQLite tables beside the event store (see the module docstring)."""

    def __init__(self, path: StoreTarget) -> None:
        self._db = ledger_database(path, _SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def cursor(self, graph: str) -> RuleCursor:
        rows = self._db.query(
            "SELECT resume_seq, contacts_mark, as_of FROM rule_cursors WHERE graph = ?", (graph,)
        )
        if not rows:
            return RuleCursor()
        resume, mark, as_of = rows[0]
        return RuleCursor(int(resume), int(mark), None if as_of is None else moment(as_of))

    def load(self, graph: str, contact_ids: Sequence[str]) -> dict[str, ContactRuleState]:
        found: dict[str, ContactRuleState] = {}
        iterator = iter(contact_ids)
        while chunk := list(islice(iterator, _CHUNK)):
            rows = self._db.query(
                "SELECT contact_id, seq_cursor, as_of_cursor, fired, next_sweep_at FROM "
                f"rule_state WHERE graph = ? AND contact_id IN ({', '.join('?' * len(chunk))})",
                (graph, *chunk),
            )
            found.update((row[0], _state(row)) for row in rows)
        return found

    def save(self, graph: str, states: Iterable[ContactRuleState]) -> None:
        rows = [
            (
                graph,
                s.contact_id,
                s.seq_cursor,
                None if s.as_of_cursor is None else micros(s.as_of_cursor),
                json.dumps(s.fired, separators=(",", ":")),
                micros(s.next_sweep_at),
            )
            for s in states
        ]
        with self._db.transaction() as conn:
            conn.executemany(_SAVE_STATE, rows)

    def sweep_due(self, graph: str, as_of: datetime) -> list[str]:
        rows = self._db.query(
            "SELECT contact_id FROM rule_state WHERE graph = ? AND next_sweep_at <= ?",
            (graph, micros(as_of)),
        )
        return [row[0] for row in rows]

    def deferred_due(self, graph: str, as_of: datetime) -> list[str]:
        rows = self._db.query(
            "SELECT DISTINCT contact_id FROM rule_deferred WHERE graph = ? AND ts <= ?",
            (graph, micros(as_of)),
        )
        return [row[0] for row in rows]

    def finish(self, graph: str, cursor: RuleCursor, deferred: Sequence[Deferred]) -> None:
        as_of = None if cursor.as_of is None else micros(cursor.as_of)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO rule_cursors VALUES (?, ?, ?, ?) ON CONFLICT (graph) DO UPDATE SET "
                "resume_seq = excluded.resume_seq, contacts_mark = excluded.contacts_mark, "
                "as_of = excluded.as_of",
                (graph, cursor.resume_seq, cursor.contacts_mark, as_of),
            )
            if as_of is not None:
                conn.execute(
                    "DELETE FROM rule_deferred WHERE graph = ? AND ts <= ?", (graph, as_of)
                )
            conn.executemany(
                "INSERT INTO rule_deferred VALUES (?, ?, ?, ?) ON CONFLICT (graph, seq) DO NOTHING",
                ((graph, d.seq, d.contact_id, micros(d.timestamp)) for d in deferred),
            )

    def forget(self, contact_id: str) -> int:
        with self._db.transaction() as conn:
            removed = conn.execute(
                "DELETE FROM rule_state WHERE contact_id = ?", (contact_id,)
            ).rowcount
            conn.execute("DELETE FROM rule_deferred WHERE contact_id = ?", (contact_id,))
        return int(removed)


_SAVE_STATE = (
    "INSERT INTO rule_state VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (graph, contact_id) DO UPDATE "
    "SET seq_cursor = excluded.seq_cursor, as_of_cursor = excluded.as_of_cursor, "
    "fired = excluded.fired, next_sweep_at = excluded.next_sweep_at"
)


def _state(row: tuple[int | str | None, ...]) -> ContactRuleState:
    contact_id, seq, as_of, fired, sweep = row
    fired_map: Mapping[str, list[int | str]] = json.loads(str(fired))
    return ContactRuleState(
        contact_id=str(contact_id),
        seq_cursor=int(seq or 0),
        as_of_cursor=None if as_of is None else moment(int(as_of)),
        fired={name: (int(times), str(at)) for name, (times, at) in fired_map.items()},
        next_sweep_at=NEVER if sweep is None or int(sweep) >= _NEVER else moment(int(sweep)),
    )
