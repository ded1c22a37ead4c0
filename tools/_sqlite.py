"""Opening the workspace's SQLite databases the same way everywhere."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

__all__ = ["Database", "connect"]


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a SQLite database tuned for one writer process and many readers.

    WAL lets readers run while a batch is written; `synchronous=NORMAL` is durable across process
    crashes (an OS crash may lose the last transactions, never corrupt). Connections may be used
    from LangGraph's worker threads, so callers guard them with a lock.
    """
    target = str(path)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An immediate (write-locking) transaction on `conn`; rolled back if the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Database:
    """One SQLite connection and the lock that guards it, with transactions that roll back.

    Stores that share the workspace database (outbox, decision log, scheduler) each hold one.
    """

    dialect: Literal["sqlite", "postgresql"] = "sqlite"

    def __init__(self, path: str | Path, schema: str = "") -> None:
        self.conn = connect(path)
        self.lock = threading.Lock()
        if schema:
            self.conn.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction; rolled back if the block raises."""
        with self.lock, immediate(self.conn) as conn:
            yield conn

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """All rows of a read query."""
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.conn.close()
