"""The outbox's rows: its SQLite schema, and records to and from rows.

Kept apart from `gtmflow.tools.delivery.outbox` (the ledger's operations and its delivery loop)
so each stays readable; PostgreSQL stores get the same table through `gtmflow.tools.migrations`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from gtmflow.models import Action
from gtmflow.tools._database import SQLDatabase
from gtmflow.tools.delivery.ledger import OutboxRecord

__all__ = [
    "COLUMNS",
    "INSERT",
    "SCHEMA",
    "STATUSES",
    "add_new_columns",
    "log_change",
    "select",
    "span",
    "to_record",
    "to_row",
    "utc",
    "wall",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    graph TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    step INTEGER NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'sent', 'failed', 'unknown', 'held', 'cancelled')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    hold_until TEXT,
    delivered_at TEXT,
    note TEXT,
    next_attempt_at TEXT,
    first_attempt_at TEXT,
    lease_until TEXT,
    lease_holder TEXT
);
CREATE INDEX IF NOT EXISTS outbox_contact ON outbox (contact_id, seq);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq);
CREATE INDEX IF NOT EXISTS outbox_delivered ON outbox (contact_id, delivered_at);
CREATE TABLE IF NOT EXISTS outbox_history (
    idempotency_key TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS outbox_history_key ON outbox_history (idempotency_key, at);
"""
_ADDED_COLUMNS = ("next_attempt_at", "first_attempt_at", "lease_until", "lease_holder")
"""Columns newer than the first schema; an older database gains them when opened."""
STATUSES = ("pending", "sent", "failed", "unknown", "held", "cancelled")
COLUMNS = (
    "idempotency_key, graph, contact_id, kind, source, step, payload, status, created_at, "
    "updated_at, attempts, last_error, hold_until, delivered_at, note, next_attempt_at"
)


def add_new_columns(db: SQLDatabase) -> None:
    """Bring a SQLite outbox written by an older gtmflow up to the current schema.

    PostgreSQL stores gain columns through `gtmflow.tools.migrations` instead.
    """
    if db.dialect != "sqlite":
        return
    present = {row[1] for row in db.query("PRAGMA table_info(outbox)")}
    with db.transaction() as conn:
        for column in _ADDED_COLUMNS:
            if column not in present:
                conn.execute(f"ALTER TABLE outbox ADD COLUMN {column} TEXT")


def wall() -> datetime:
    """Real time, for leases between processes (the outbox clock may be virtual)."""
    return datetime.now(UTC)


def span(age: timedelta) -> str:
    hours, rest = divmod(int(age.total_seconds()), 3600)
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m {rest % 60}s"


INSERT = (
    "INSERT INTO outbox (idempotency_key, graph, contact_id, kind, source, step, "
    "payload, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)


def log_change(conn: Any, key: str, status: str, note: str | None, at: str) -> None:
    conn.execute("INSERT INTO outbox_history VALUES (?, ?, ?, ?)", (key, at, status, note))


def to_row(action: Action, status: str, now: str) -> tuple[Any, ...]:
    return (
        action.idempotency_key,
        action.graph,
        action.contact_id,
        action.kind,
        action.source,
        action.step,
        json.dumps(action.payload, sort_keys=True, default=str),
        status,
        action.created_at.isoformat(),
        now,
    )


def select(
    status: str | None, contact_id: str | None, kinds: Collection[str] | None, limit: int | None
) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if contact_id is not None:
        where.append("contact_id = ?")
        args.append(contact_id)
    if kinds:
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        args.extend(kinds)
    sql = f"SELECT {COLUMNS} FROM outbox"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


def to_record(row: tuple[Any, ...]) -> OutboxRecord:
    (key, graph, contact_id, kind, source, step, payload, status, created, updated, n, err,
     hold_until, delivered_at, note, next_attempt_at) = row  # fmt: skip
    action = Action(
        kind=kind,
        contact_id=contact_id,
        payload=json.loads(payload),
        graph=graph,
        source=source,
        step=step,
        created_at=datetime.fromisoformat(created),
        idempotency_key=key,
    )
    return OutboxRecord(
        action=action,
        status=status,
        attempts=n,
        updated_at=datetime.fromisoformat(updated),
        last_error=err,
        hold_until=_time(hold_until),
        delivered_at=_time(delivered_at),
        note=note,
        next_attempt_at=_time(next_attempt_at),
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def utc(value: datetime) -> str:
    """Stored instants are UTC ISO strings, so they compare correctly as text."""
    return value.astimezone(UTC).isoformat()
