"""Opening the workspace's SQLite databases the same way everywhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["connect"]


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
