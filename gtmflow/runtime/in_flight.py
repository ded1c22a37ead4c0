"""Runs in flight: a row per thread run that has started and not yet been committed.

A thread run writes its checkpoints as it goes, but its actions reach the outbox only when the
run returns, and a node may act on a ledger before its step's checkpoint (ending an enrollment
cancels its waits). A process killed in between leaves a thread part way through that nothing
would wake again: its wait is gone, its event already read. So `ThreadRunner` writes a row here
before it invokes a thread and deletes it after the run's actions and decisions are committed;
`Workspace.run` and `Workspace.tick` first finish every run a row names
(`ThreadRunner.recover_in_flight`), committing what the thread holds. A run that raised keeps
its row too, so it is tried again, and reported, on every pass until it succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gtmflow.tools._database import StoreTarget, ledger_database

__all__ = ["InFlight", "RunsInFlight"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs_in_flight (
    thread_id TEXT PRIMARY KEY,
    graph TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    since TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class InFlight:
    """One run that started and was not committed: whose thread, of which graph."""

    thread_id: str
    graph: str
    contact_id: str


class RunsInFlight:
    """The table of started, uncommitted thread runs (SQLite file or the shared store)."""

    def __init__(self, path: StoreTarget) -> None:
        self._db = ledger_database(path, _SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def start(self, run: InFlight) -> None:
        """Record that `run` is about to invoke its thread."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO runs_in_flight (thread_id, graph, contact_id, since) VALUES "
                "(?, ?, ?, ?) ON CONFLICT (thread_id) DO NOTHING",
                (run.thread_id, run.graph, run.contact_id, datetime.now(UTC).isoformat()),
            )

    def finish(self, thread_id: str) -> None:
        """The run's results are committed: forget it."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM runs_in_flight WHERE thread_id = ?", (thread_id,))

    def pending(self) -> list[InFlight]:
        """Every run that started and was not committed, oldest first."""
        rows = self._db.query(
            "SELECT thread_id, graph, contact_id FROM runs_in_flight ORDER BY since, thread_id"
        )
        return [InFlight(str(t), str(g), str(c)) for t, g, c in rows]

    def forget(self, contact_id: str) -> int:
        """Drop a contact's rows (erasure); return how many."""
        with self._db.transaction() as conn:
            cursor = conn.execute("DELETE FROM runs_in_flight WHERE contact_id = ?", (contact_id,))
            return int(cursor.rowcount)
