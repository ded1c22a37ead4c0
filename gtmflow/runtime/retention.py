"""Checkpoint retention: keep each thread's latest checkpoint, drop the ones it superseded.

LangGraph's SQLite checkpointer keeps every checkpoint a thread ever wrote (one per superstep), so
`checkpoints.db` grew by ~10 KB per contact per run. gtmflow only ever resumes a thread from its
latest checkpoint: a run starts from it, an approval resumes the interrupt stored in its pending
writes. So the workspace keeps, per thread and namespace, the latest checkpoint and the writes
recorded against it (an interrupt, a resume value, a pending task), and deletes the rest:

- automatically (`[checkpoints] keep = "latest"`, the default) for the threads each `run`,
  `tick`, `approve` or `reject` invoked, right after it, so freed pages are reused and the file
  stays the same size as runs repeat;
- for every thread, then `VACUUM` to give the space back to the disk, with `gtmflow compact`.

`keep = "all"` keeps LangGraph's full history (time travel with `get_state_history`). Threads of a
graph with `DeltaChannel` state are never pruned: its latest checkpoint needs its ancestors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

try:  # langgraph >= 1.1
    from langgraph.channels.delta import DeltaChannel
except ImportError:  # pragma: no cover - older langgraph has no delta channels
    DeltaChannel = ()  # type: ignore[assignment,misc]

__all__ = ["CheckpointRetention", "CompactReport", "uses_delta_channels"]

_CHUNK = 500

_SUPERSEDED = """
DELETE FROM checkpoints WHERE thread_id IN ({threads}) AND checkpoint_id < (
    SELECT MAX(c.checkpoint_id) FROM checkpoints c
    WHERE c.thread_id = checkpoints.thread_id AND c.checkpoint_ns = checkpoints.checkpoint_ns)
"""
_ORPHAN_WRITES = """
DELETE FROM writes WHERE thread_id IN ({threads}) AND NOT EXISTS (
    SELECT 1 FROM checkpoints c WHERE c.thread_id = writes.thread_id
    AND c.checkpoint_ns = writes.checkpoint_ns AND c.checkpoint_id = writes.checkpoint_id)
"""


@dataclass(frozen=True, slots=True)
class CompactReport:
    """What a compaction removed, and the database size before and after (bytes)."""

    threads: int
    checkpoints_removed: int
    writes_removed: int
    bytes_before: int
    bytes_after: int
    skipped_graphs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The shape printed by `gtmflow compact --json`."""
        return {
            "threads": self.threads,
            "checkpoints_removed": self.checkpoints_removed,
            "writes_removed": self.writes_removed,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "skipped_graphs": list(self.skipped_graphs),
        }


def uses_delta_channels(graph: Any) -> bool:
    """Whether a compiled graph keeps state in `DeltaChannel`s (its checkpoints chain)."""
    channels = getattr(graph, "channels", {}) or {}
    return any(isinstance(channel, DeltaChannel) for channel in channels.values())


class CheckpointRetention:
    """Prunes a SQLite checkpointer's tables (`checkpoints`, `writes`) on one connection."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, *, lock: AbstractContextManager[Any]
    ) -> None:
        self._conn = conn
        self._path = path
        self._lock = lock  # the checkpointer's own: never prune under a write in flight

    def prune(self, thread_ids: Iterable[str]) -> tuple[int, int]:
        """Keep only the latest checkpoint (and its writes) of each thread; return counts."""
        if not self._has_tables():
            return 0, 0
        checkpoints = writes = 0
        iterator = iter(sorted(set(thread_ids)))
        while chunk := list(islice(iterator, _CHUNK)):
            marks = ", ".join("?" * len(chunk))
            with self._lock, self._conn:  # one transaction per chunk
                checkpoints += self._conn.execute(_SUPERSEDED.format(threads=marks), chunk).rowcount
                writes += self._conn.execute(_ORPHAN_WRITES.format(threads=marks), chunk).rowcount
        return checkpoints, writes

    def compact(self, *, skip_prefixes: Collection[str] = (), vacuum: bool = True) -> CompactReport:
        """Prune every thread (but those of graphs named in `skip_prefixes`), then `VACUUM`."""
        before = self.size()
        threads = [t for t in self.threads() if not _skipped(t, skip_prefixes)]
        removed, writes = self.prune(threads)
        if vacuum:
            with self._lock:
                self._conn.execute("VACUUM")
        self.settle()
        skipped = tuple(sorted(skip_prefixes))
        return CompactReport(len(threads), removed, writes, before, self.size(), skipped)

    def threads(self) -> list[str]:
        """Every thread id with a checkpoint."""
        if not self._has_tables():
            return []
        rows = self._conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
        return [row[0] for row in rows]

    def settle(self) -> None:
        """Copy the write-ahead log into the database file and truncate it."""
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size(self) -> int:
        """Bytes on disk: the database file and its write-ahead log."""
        wal = self._path.with_name(self._path.name + "-wal")
        return sum(p.stat().st_size for p in (self._path, wal) if p.exists())

    def _has_tables(self) -> bool:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
            "('checkpoints', 'writes')"
        ).fetchone()
        return bool(row[0] == 2)


def _skipped(thread_id: str, prefixes: Collection[str]) -> bool:
    return any(thread_id.startswith(f"{prefix}:") for prefix in prefixes)
