"""Checkpoint retention: keep each thread's latest checkpoint, drop the ones it superseded.

LangGraph's SQLite checkpointer keeps every checkpoint a thread ever wrote (one per superstep), so
`checkpoints.db` grew by ~10 KB per contact per run. gtmflow only ever resumes a thread from its
latest checkpoint: a run starts from it, an approval resumes the interrupt stored in its pending
writes. So, with `[checkpoints] keep = "latest"` (the default), the workspace's checkpointer is a
`LatestCheckpointSaver`: writing a thread's checkpoint deletes, in the same transaction, the ones
it supersedes and their writes (for a top-level checkpoint, also the finished subgraph
checkpoints of earlier steps), and writes the new checkpoint over the previous one's table row,
so the file does not grow as runs repeat (a deleted row and a new one appended elsewhere would
need room for both while a run rewrites many threads).

`gtmflow compact` prunes databases written before (or with `keep = "all"`) the same way and then
`VACUUM`s. `keep = "all"` keeps LangGraph's full history (time travel with
`get_state_history`). A checkpoint whose metadata counts `DeltaChannel` updates since the last
snapshot needs its ancestors, so neither the saver nor `compact` removes those.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.sqlite import SqliteSaver

__all__ = ["CheckpointRetention", "CompactReport", "LatestCheckpointSaver", "connect_checkpoints"]

_CHUNK = 500
_DELTA = "counters_since_delta_snapshot"
"""Metadata key LangGraph sets while a `DeltaChannel` still needs earlier checkpoints."""

_INSERT = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
    "parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class LatestCheckpointSaver(SqliteSaver):
    """A `SqliteSaver` that keeps only each thread's latest checkpoint (per namespace).

    Writing a checkpoint deletes the older ones of its thread and namespace and their writes, in
    the same transaction (a top-level checkpoint also deletes older subgraph checkpoints: their
    task finished), and overwrites the latest one's row in place. Writes recorded against the
    new checkpoint (an interrupt) are kept.
    """

    def get_next_version(self, current: Any, channel: None) -> Any:
        """Integer channel versions (LangGraph's default): half the size of a checkpoint.

        `SqliteSaver` writes 50-character strings (a padded counter and a random suffix) for
        each channel and node: most of a small graph's checkpoint. A thread whose checkpoint
        already has such strings keeps them (versions are compared within a thread).
        """
        if current is None or isinstance(current, int):
            return (current or 0) + 1
        return super().get_next_version(current, channel)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint and delete the ones of its thread it supersedes."""
        merged = get_checkpoint_metadata(config, metadata)
        if _DELTA in merged:  # a DeltaChannel rebuilds from ancestors: keep them
            return super().put(config, checkpoint, metadata, new_versions)
        thread_id = str(config["configurable"]["thread_id"])
        namespace = config["configurable"]["checkpoint_ns"]
        type_, blob = self.serde.dumps_typed(checkpoint)
        meta = json.dumps(merged, ensure_ascii=False).encode("utf-8", "ignore")
        row = (namespace, checkpoint["id"], config["configurable"].get("checkpoint_id"), type_,
               blob, meta)  # fmt: skip
        with self.cursor() as cur:
            _replace(cur, thread_id, row)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": namespace,
                "checkpoint_id": checkpoint["id"],
            }
        }


def _replace(cur: sqlite3.Cursor, thread_id: str, row: tuple[Any, ...]) -> None:
    """Write a checkpoint over the one it supersedes (same table row: the file does not grow).

    The older checkpoints of its scope go first (a top-level checkpoint's scope is the whole
    thread: subgraph checkpoints of finished tasks go too), with their writes.
    """
    namespace, checkpoint_id = row[0], row[1]
    scope, args = ("", (thread_id,)) if namespace == "" else (" AND checkpoint_ns = ?", (
        thread_id, namespace))  # fmt: skip
    latest = cur.execute(
        "SELECT rowid, checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
        "ORDER BY checkpoint_id DESC LIMIT 1",
        (thread_id, namespace),
    ).fetchone()
    reuse = latest is not None and latest[1] <= checkpoint_id
    keep = latest[0] if reuse else -1
    cur.execute(f"DELETE FROM writes WHERE thread_id = ? AND checkpoint_id < ?{scope}",
                (args[0], checkpoint_id, *args[1:]))  # fmt: skip
    cur.execute(
        f"DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id < ? AND rowid != ?{scope}",
        (args[0], checkpoint_id, keep, *args[1:]),
    )
    if reuse:
        cur.execute(
            "UPDATE checkpoints SET checkpoint_id = ?, parent_checkpoint_id = ?, type = ?, "
            "checkpoint = ?, metadata = ? WHERE rowid = ?",
            (*row[1:], keep),
        )
    else:
        cur.execute(_INSERT, (thread_id, *row))


@dataclass(frozen=True, slots=True)
class CompactReport:
    """What a compaction removed, and the database size before and after (bytes)."""

    threads: int
    checkpoints_removed: int
    writes_removed: int
    bytes_before: int
    bytes_after: int

    def to_json(self) -> dict[str, Any]:
        """The shape printed by `gtmflow compact --json`."""
        return {
            "threads": self.threads,
            "checkpoints_removed": self.checkpoints_removed,
            "writes_removed": self.writes_removed,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }


# Per thread: the latest top-level checkpoint R stays; older top-level ones go, and so do subgraph
# checkpoints older than R (their task finished) or than their namespace's latest. A thread with
# a DeltaChannel checkpoint still counting updates since its snapshot is left whole.
_SUPERSEDED = f"""
DELETE FROM checkpoints WHERE thread_id IN ({{threads}}) AND (
    checkpoint_id < (SELECT MAX(c.checkpoint_id) FROM checkpoints c
                     WHERE c.thread_id = checkpoints.thread_id AND c.checkpoint_ns = '')
    OR (checkpoint_ns != '' AND checkpoint_id < (
        SELECT MAX(c.checkpoint_id) FROM checkpoints c
        WHERE c.thread_id = checkpoints.thread_id AND c.checkpoint_ns = checkpoints.checkpoint_ns))
) AND NOT EXISTS (
    SELECT 1 FROM checkpoints d WHERE d.thread_id = checkpoints.thread_id
    AND json_extract(CAST(d.metadata AS TEXT), '$.{_DELTA}') IS NOT NULL)
"""
_ORPHAN_WRITES = """
DELETE FROM writes WHERE thread_id IN ({threads}) AND NOT EXISTS (
    SELECT 1 FROM checkpoints c WHERE c.thread_id = writes.thread_id
    AND c.checkpoint_ns = writes.checkpoint_ns AND c.checkpoint_id = writes.checkpoint_id)
"""


class CheckpointRetention:
    """Prunes a SQLite checkpointer's tables (`checkpoints`, `writes`), and reports their size."""

    def __init__(self, saver: SqliteSaver, path: Path) -> None:
        self._saver = saver
        self._path = path

    def prune(self, thread_ids: list[str]) -> tuple[int, int]:
        """Keep only the latest checkpoints (and their writes) of these threads; return counts."""
        checkpoints = writes = 0
        iterator = iter(sorted(set(thread_ids)))
        while chunk := list(islice(iterator, _CHUNK)):
            marks = ", ".join("?" * len(chunk))
            with self._saver.cursor() as cur:  # the saver's lock; one transaction per chunk
                checkpoints += cur.execute(_SUPERSEDED.format(threads=marks), chunk).rowcount
                writes += cur.execute(_ORPHAN_WRITES.format(threads=marks), chunk).rowcount
        return checkpoints, writes

    def compact(self, *, vacuum: bool = True) -> CompactReport:
        """Prune every thread, then `VACUUM` to give the freed pages back to the disk."""
        before = self.size()
        threads = self.threads()
        removed, writes = self.prune(threads)
        if vacuum:
            with self._saver.lock:
                self._saver.conn.execute("VACUUM")
        self.settle()
        return CompactReport(len(threads), removed, writes, before, self.size())

    def threads(self) -> list[str]:
        """Every thread id with a checkpoint."""
        with self._saver.cursor(transaction=False) as cur:
            return [row[0] for row in cur.execute("SELECT DISTINCT thread_id FROM checkpoints")]

    def count(self) -> int:
        """How many checkpoints are stored."""
        with self._saver.cursor(transaction=False) as cur:
            return int(cur.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])

    def settle(self) -> None:
        """Copy the write-ahead log into the database file and truncate it."""
        with self._saver.lock:
            self._saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size(self) -> int:
        """Bytes on disk: the database file and its write-ahead log."""
        wal = self._path.with_name(self._path.name + "-wal")
        return sum(p.stat().st_size for p in (self._path, wal) if p.exists())


def connect_checkpoints(path: Path, *, keep: str) -> tuple[sqlite3.Connection, SqliteSaver]:
    """The workspace's checkpoint database and saver (`keep`: "latest" or "all")."""
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = LatestCheckpointSaver(conn) if keep == "latest" else SqliteSaver(conn)
    return conn, saver
