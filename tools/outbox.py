"""The outbox: an exactly-once ledger of intended side effects.

Nodes never perform effects; they return `Action`s. The runtime writes them here, keyed by the
action's idempotency key under a unique constraint, so a re-run, a resume or a crash-replay that
produces the same action again changes nothing. Delivery claims a row before calling the
transport: a crash mid-delivery leaves it `unknown`, and `unknown` is never sent again
automatically (a person decides), so nothing is ever delivered twice.

Statuses: `pending` (waiting), `sent`, `failed` (the transport said no), `unknown` (outcome not
known), `held` (kept back by policy), `cancelled`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from gtmflow.errors import ConfigError
from gtmflow.models import Action, ActionStatus
from gtmflow.tools._sqlite import connect
from gtmflow.tools.transports import DeliveryFailed, Transport

__all__ = ["DeliveryReport", "Outbox", "OutboxRecord", "PutResult"]

_SCHEMA = """
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
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_contact ON outbox (contact_id, seq);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq);
"""
_STATUSES = ("pending", "sent", "failed", "unknown", "held", "cancelled")


class OutboxRecord(BaseModel):
    """An action as the outbox holds it, with its delivery status."""

    model_config = ConfigDict(frozen=True)

    action: Action
    status: ActionStatus
    attempts: int = 0
    updated_at: datetime
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The machine-readable shape printed by `gtmflow outbox --json`."""
        a = self.action
        return {
            "contact_id": a.contact_id,
            "kind": a.kind,
            "rule": a.source,
            "payload": a.payload,
            "status": self.status,
            "idempotency_key": a.idempotency_key,
            "graph": a.graph,
            "step": a.step,
            "created_at": a.created_at.isoformat(),
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class PutResult:
    """What writing actions did: new rows, rows whose key was already present, the new keys."""

    added: int
    existing: int
    keys: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What a delivery pass did, by outcome."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0


class Outbox:
    """The SQLite outbox of one workspace.

    Example:
        >>> from datetime import UTC, datetime
        >>> box = Outbox(":memory:")
        >>> act = Action(kind="alert_sales", contact_id="c-1", graph="g", source="r",
        ...              created_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> box.put([act]), box.put([act])
        (PutResult(added=1, existing=0), PutResult(added=0, existing=1))
    """

    def __init__(self, path: str | Path) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def put(self, actions: Iterable[Action], *, status: ActionStatus = "pending") -> PutResult:
        """Record actions; an idempotency key already present is left untouched."""
        rows = [_row(a, status) for a in actions]
        added: list[str] = []
        with self._transaction() as conn:
            for row in rows:
                if conn.execute(_INSERT, row).rowcount == 1:
                    added.append(row[0])
        return PutResult(added=len(added), existing=len(rows) - len(added), keys=tuple(added))

    def records(
        self,
        *,
        status: ActionStatus | None = None,
        contact_id: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxRecord]:
        """Records in the order they were written, optionally filtered."""
        if status is not None and status not in _STATUSES:
            raise ConfigError(f"status '{status}' is not one of {', '.join(_STATUSES)}")
        sql, args = _select(status, contact_id, limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [_record(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of records per status."""
        with self._lock:
            rows = self._conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")
            return dict(Counter({status: n for status, n in rows}))

    def deliver(self, transport: Transport, *, limit: int | None = None) -> DeliveryReport:
        """Deliver pending records through `transport`, each at most once.

        A record is claimed (status `unknown`, attempts + 1) before the transport is called;
        success marks it `sent`, a `DeliveryFailed` marks it `failed`. Any other exception leaves
        it `unknown`: the effect may have happened, so it is not retried automatically.
        """
        outcome: Counter[str] = Counter()
        for record in self.records(status="pending", limit=limit):
            key = record.action.idempotency_key
            if not self._claim(key):
                continue
            try:
                transport.send(record)
            except DeliveryFailed as exc:
                self._mark(key, "failed", str(exc))
                outcome["failed"] += 1
            except Exception as exc:
                self._mark(key, "unknown", f"{type(exc).__name__}: {exc}")
                outcome["unknown"] += 1
            else:
                self._mark(key, "sent", None)
                outcome["sent"] += 1
        return DeliveryReport(**outcome)

    def set_status(self, key: str, status: ActionStatus, *, error: str | None = None) -> None:
        """Set a record's status by hand (e.g. after a person checked an `unknown` delivery)."""
        if status not in _STATUSES:
            raise ConfigError(f"status '{status}' is not one of {', '.join(_STATUSES)}")
        if not self._mark(key, status, error):
            raise ConfigError(f"no outbox record has idempotency key '{key}'")

    def redact_contact(self, contact_id: str) -> int:
        """Erase a contact from the outbox, keeping the idempotency keys.

        Payloads are replaced by `{"redacted": true}` and the contact id by a one-way
        pseudonym, so the record of what was intended stays (and a replay still cannot send
        twice) while nothing identifies the person. Returns the number of records redacted.
        """
        pseudonym = "forgotten:" + hashlib.sha256(contact_id.encode()).hexdigest()[:16]
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET contact_id = ?, payload = ?, last_error = NULL, "
                "updated_at = ? WHERE contact_id = ?",
                (pseudonym, json.dumps({"redacted": True}), _now(), contact_id),
            )
            return int(cursor.rowcount)

    def _claim(self, key: str) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET status = 'unknown', attempts = attempts + 1, updated_at = ? "
                "WHERE idempotency_key = ? AND status = 'pending'",
                (_now(), key),
            )
            return bool(cursor.rowcount == 1)

    def _mark(self, key: str, status: str, error: str | None) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET status = ?, last_error = ?, updated_at = ? "
                "WHERE idempotency_key = ?",
                (status, error, _now(), key),
            )
            return bool(cursor.rowcount == 1)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


_INSERT = (
    "INSERT OR IGNORE INTO outbox (idempotency_key, graph, contact_id, kind, source, step, "
    "payload, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = (
    "idempotency_key, graph, contact_id, kind, source, step, payload, status, created_at, "
    "updated_at, attempts, last_error"
)


def _row(action: Action, status: str) -> tuple[Any, ...]:
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
        _now(),
    )


def _select(status: str | None, contact_id: str | None, limit: int | None) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if contact_id is not None:
        where.append("contact_id = ?")
        args.append(contact_id)
    sql = f"SELECT {_COLUMNS} FROM outbox"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


def _record(row: tuple[Any, ...]) -> OutboxRecord:
    key, graph, contact_id, kind, source, step, payload, status, created, updated, n, err = row
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
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
