"""Run cursors: where each graph's last run stopped reading the event store, and sweeps.

A run of graph G reads the events stored since G's cursor (`runs.resume_seq`) and moves it on
when it is done. Rules that fire without new events (inactivity, schedules) are swept: after a
contact's run the graph says when its next firing could come (`sweeps.next_at`), and runs
skip the contact until then.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gtmflow.tools._database import StoreTarget, ledger_database

__all__ = ["RunCursors"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (graph TEXT PRIMARY KEY, resume_seq INTEGER NOT NULL, as_of TEXT);
CREATE TABLE IF NOT EXISTS sweeps (graph TEXT NOT NULL, contact_id TEXT NOT NULL,
    next_at TEXT NOT NULL, PRIMARY KEY (graph, contact_id));
"""


class RunCursors:
    """The `runs` and `sweeps` tables of a workspace (a SQLite file or the shared store)."""

    def __init__(self, path: StoreTarget) -> None:
        self._db = ledger_database(path, _SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def position(self, graph: str) -> int:
        """Where the last run of `graph` stopped reading the event store (0: never ran)."""
        rows = self._db.query("SELECT resume_seq FROM runs WHERE graph = ?", (graph,))
        return int(rows[0][0]) if rows else 0

    def save(self, graph: str, resume_seq: int, as_of: datetime) -> None:
        """Record where the run of `graph` at `as_of` stopped."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?) ON CONFLICT (graph) DO UPDATE SET "
                "resume_seq = excluded.resume_seq, as_of = excluded.as_of",
                (graph, resume_seq, as_of.isoformat()),
            )

    def reset(self) -> None:
        """Forget every cursor: the next runs read the event store from the start."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM runs")

    def swept_later(self, graph: str, as_of: datetime) -> set[str]:
        """Contacts whose next possible sweep firing is after `as_of` (no need to run them)."""
        rows = self._db.query(
            "SELECT contact_id FROM sweeps WHERE graph = ? AND next_at > ?", (graph, _utc(as_of))
        )
        return {row[0] for row in rows}

    def save_sweep(self, graph: str, contact_id: str, next_at: datetime) -> None:
        """Record when a contact's next sweep firing could come."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO sweeps VALUES (?, ?, ?) ON CONFLICT (graph, contact_id) DO UPDATE "
                "SET next_at = excluded.next_at",
                (graph, contact_id, _utc(next_at)),
            )

    def forget(self, contact_id: str) -> int:
        """Delete a contact's sweep times; return how many."""
        with self._db.transaction() as conn:
            cursor = conn.execute("DELETE FROM sweeps WHERE contact_id = ?", (contact_id,))
            return int(cursor.rowcount)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
