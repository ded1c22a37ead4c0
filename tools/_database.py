"""The one database interface under every ledger: SQLite (embedded) or PostgreSQL (shared).

The outbox, scheduler, approvals, decision log and run cursors each take a `target`: a SQLite
file path (the embedded default: the ledger opens the file and creates its tables) or an open
`SQLDatabase` (`PostgresDatabase`, shared by every ledger of a workspace, its schema owned by
`gtmflow.tools.migrations`). Ledgers write one portable SQL: `?` placeholders, `ON CONFLICT`,
`RETURNING`; the PostgreSQL backend translates the placeholders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from gtmflow.tools._sqlite import Database

__all__ = ["SQLConnection", "SQLCursor", "SQLDatabase", "StoreTarget", "ledger_database"]


class SQLCursor(Protocol):
    """What a ledger reads back from a statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SQLConnection(Protocol):
    """The connection a ledger's transaction hands it."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


@runtime_checkable
class SQLDatabase(Protocol):
    """A database ledgers share: transactions that roll back on error, reads, close."""

    dialect: Literal["sqlite", "postgresql"]

    def transaction(self) -> AbstractContextManager[Any]: ...

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...

    def close(self) -> None: ...


StoreTarget = str | Path | SQLDatabase
"""A SQLite file path (or ':memory:'), or an open shared database."""


def ledger_database(target: StoreTarget, schema: str) -> SQLDatabase:
    """The database a ledger uses: its own SQLite connection with `schema`, or the shared one.

    A shared database (PostgreSQL) already holds every ledger's tables, created by
    `gtmflow migrate`; `schema` (SQLite DDL) applies to SQLite files only.
    """
    if isinstance(target, str | Path):
        return Database(target, schema)
    return target
