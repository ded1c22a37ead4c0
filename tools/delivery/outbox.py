"""The outbox: an exactly-once ledger of intended side effects.

Nodes never perform effects; they return `Action`s. The runtime writes them here, keyed by the
action's idempotency key under a unique constraint, so a re-run, a resume or a crash-replay that
produces the same action again changes nothing. Delivery claims a row before calling the
transport: a crash mid-delivery leaves it `unknown`, and `unknown` is never sent again
automatically (a person decides), so nothing is ever delivered twice.

Statuses: `pending` (waiting), `sent`, `failed` (the transport said no), `unknown` (outcome not
known), `held` (kept back by policy until `hold_until`, or until approved), `cancelled`.

A *gate* (the governor, `gtmflow.governor`) may look at each pending record just before it is
sent and answer allow, hold until a time, or cancel; every hold and cancel keeps its reason.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gtmflow.clock import Clock, SystemClock
from gtmflow.errors import ConfigError
from gtmflow.models import Action, ActionStatus
from gtmflow.tools._sqlite import Database
from gtmflow.tools.delivery.transports import DeliveryFailed, Transport

__all__ = ["DeliveryReport", "Gate", "Outbox", "OutboxRecord", "PutResult", "Verdict"]

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
    last_error TEXT,
    hold_until TEXT,
    delivered_at TEXT,
    note TEXT
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
_STATUSES = ("pending", "sent", "failed", "unknown", "held", "cancelled")
_COLUMNS = (
    "idempotency_key, graph, contact_id, kind, source, step, payload, status, created_at, "
    "updated_at, attempts, last_error, hold_until, delivered_at, note"
)


class OutboxRecord(BaseModel):
    """An action as the outbox holds it, with its delivery status."""

    model_config = ConfigDict(frozen=True)

    action: Action
    status: ActionStatus
    attempts: int = 0
    updated_at: datetime
    last_error: str | None = None
    hold_until: datetime | None = None
    delivered_at: datetime | None = None
    note: str | None = None

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
            "hold_until": _iso(self.hold_until),
            "delivered_at": _iso(self.delivered_at),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """A gate's answer for one record: send it now, hold it, or cancel it (with why)."""

    decision: Literal["allow", "hold", "cancel"]
    reason: str = ""
    until: datetime | None = None

    @classmethod
    def allow(cls) -> Verdict:
        """Send now."""
        return cls("allow")

    @classmethod
    def hold(cls, reason: str, until: datetime | None = None) -> Verdict:
        """Keep back until `until` (None: until a person releases it)."""
        return cls("hold", reason, until)

    @classmethod
    def cancel(cls, reason: str) -> Verdict:
        """Never send."""
        return cls("cancel", reason)


Gate = Callable[[OutboxRecord, datetime], Verdict]
"""Checks a record just before delivery at an instant; the governor is one."""


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
    held: int = 0
    cancelled: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """Held and cancelled records by `"<status>: <reason>"`, e.g. `"held: quiet hours"`."""


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

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self._db = Database(path, _SCHEMA)
        self.clock: Clock = clock or SystemClock()

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def put(self, actions: Iterable[Action], *, status: ActionStatus = "pending") -> PutResult:
        """Record actions; an idempotency key already present is left untouched."""
        now = _utc(self.clock.now())
        rows = [_row(a, status, now) for a in actions]
        added: list[str] = []
        with self._db.transaction() as conn:
            for row in rows:
                if conn.execute(_INSERT, row).rowcount == 1:
                    added.append(row[0])
                    _log(conn, row[0], status, "written", now)
        return PutResult(added=len(added), existing=len(rows) - len(added), keys=tuple(added))

    def records(
        self,
        *,
        status: ActionStatus | None = None,
        contact_id: str | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[OutboxRecord]:
        """Records in the order they were written, optionally filtered."""
        if status is not None and status not in _STATUSES:
            raise ConfigError(f"status '{status}' is not one of {', '.join(_STATUSES)}")
        sql, args = _select(status, contact_id, kinds, limit)
        return [_record(row) for row in self._db.query(sql, args)]

    def record(self, key: str) -> OutboxRecord | None:
        """One record by idempotency key."""
        rows = self._db.query(f"SELECT {_COLUMNS} FROM outbox WHERE idempotency_key = ?", (key,))
        return _record(rows[0]) if rows else None

    def history(self, key: str) -> list[dict[str, Any]]:
        """Every status change of a record: written, held, released, delivering, sent, …"""
        rows = self._db.query(
            "SELECT at, status, note FROM outbox_history WHERE idempotency_key = ? ORDER BY rowid",
            (key,),
        )
        return [{"at": at, "status": status, "note": note} for at, status, note in rows]

    def counts(self) -> dict[str, int]:
        """Number of records per status."""
        rows = self._db.query("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return dict(Counter({status: n for status, n in rows}))

    def delivered_since(
        self, since: datetime, *, contact_id: str | None = None, kinds: Collection[str] = ()
    ) -> list[OutboxRecord]:
        """Records delivered (`sent` or `unknown`) at or after `since`, oldest first."""
        sql = f"SELECT {_COLUMNS} FROM outbox WHERE delivered_at >= ? "
        args: list[Any] = [_utc(since)]
        if contact_id is not None:
            sql += "AND contact_id = ? "
            args.append(contact_id)
        if kinds:
            sql += f"AND kind IN ({', '.join('?' for _ in kinds)}) "
            args.extend(kinds)
        return [_record(row) for row in self._db.query(sql + "ORDER BY delivered_at", args)]

    def deliver(
        self,
        transport: Transport | Callable[[OutboxRecord], Transport],
        *,
        gate: Gate | None = None,
        limit: int | None = None,
        now: datetime | None = None,
    ) -> DeliveryReport:
        """Deliver pending records (and held ones whose time has come), each at most once.

        `transport` is one transport, or a function choosing one per record. A record is
        claimed (status `unknown`, attempts + 1) before the transport is called; success marks
        it `sent`, a `DeliveryFailed` marks it `failed`. Any other exception leaves it `unknown`:
        the effect may have happened, so it is not retried automatically. `now` (default: the
        outbox clock) is the instant the gate judges at and the recorded delivery time.
        """
        now = now or self.clock.now()
        self.release_due(now)
        outcome: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for record in self.records(status="pending", limit=limit):
            verdict = gate(record, now) if gate else Verdict.allow()
            if verdict.decision != "allow":
                self._stop(record.action.idempotency_key, verdict, now)
                status = "held" if verdict.decision == "hold" else "cancelled"
                outcome[status] += 1
                reasons[f"{status}: {verdict.reason or 'no reason given'}"] += 1
                continue
            chosen = transport if isinstance(transport, Transport) else transport(record)
            outcome[self._send(record, chosen, now)] += 1
        return DeliveryReport(**outcome, reasons=dict(reasons))

    def release_due(self, now: datetime) -> int:
        """Held records whose `hold_until` has passed go back to pending; return how many."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_history SELECT idempotency_key, ?, 'pending', "
                "'released: ' || COALESCE(note, 'hold ended') FROM outbox WHERE status = 'held' "
                "AND hold_until IS NOT NULL AND hold_until <= ?",
                (_utc(now), _utc(now)),
            )
            cursor = conn.execute(
                "UPDATE outbox SET status = 'pending', updated_at = ? WHERE status = 'held' "
                "AND hold_until IS NOT NULL AND hold_until <= ?",
                (_utc(now), _utc(now)),
            )
            return int(cursor.rowcount)

    def next_release(self) -> datetime | None:
        """When the earliest timed hold ends (None: no timed holds)."""
        ((first,),) = self._db.query(
            "SELECT MIN(hold_until) FROM outbox WHERE status = 'held' AND hold_until IS NOT NULL"
        )
        return None if first is None else datetime.fromisoformat(first)

    def cancel_pending(self, contact_id: str, *, kinds: Collection[str], note: str) -> int:
        """Cancel pending and held records of a contact (e.g. follow-ups after a reply)."""
        marks = ", ".join("?" for _ in kinds)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_history SELECT idempotency_key, ?, 'cancelled', ? FROM outbox "
                f"WHERE contact_id = ? AND status IN ('pending', 'held') AND kind IN ({marks})",
                (_utc(self.clock.now()), note, contact_id, *kinds),
            )
            cursor = conn.execute(
                "UPDATE outbox SET status = 'cancelled', note = ?, updated_at = ? "
                f"WHERE contact_id = ? AND status IN ('pending', 'held') AND kind IN ({marks})",
                (note, self.clock.now().isoformat(), contact_id, *kinds),
            )
            return int(cursor.rowcount)

    def set_status(self, key: str, status: ActionStatus, *, error: str | None = None) -> None:
        """Set a record's status by hand (e.g. after a person checked an `unknown` delivery)."""
        if status not in _STATUSES:
            raise ConfigError(f"status '{status}' is not one of {', '.join(_STATUSES)}")
        if not self._update(key, status=status, last_error=error, hold_until=None):
            raise ConfigError(f"no outbox record has idempotency key '{key}'")

    def redact_contact(self, contact_id: str) -> int:
        """Erase a contact from the outbox, keeping the idempotency keys.

        Payloads are replaced by `{"redacted": true}` and the contact id by a one-way
        pseudonym, so the record of what was intended stays (and a replay still cannot send
        twice) while nothing identifies the person. Returns the number of records redacted.
        """
        pseudonym = "forgotten:" + hashlib.sha256(contact_id.encode()).hexdigest()[:16]
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET contact_id = ?, payload = ?, last_error = NULL, note = NULL, "
                "updated_at = ? WHERE contact_id = ?",
                (
                    pseudonym,
                    json.dumps({"redacted": True}),
                    self.clock.now().isoformat(),
                    contact_id,
                ),
            )
            return int(cursor.rowcount)

    def _send(self, record: OutboxRecord, transport: Transport, now: datetime) -> str:
        key = record.action.idempotency_key
        if not self._claim(key, now):
            return "skipped"
        try:
            transport.send(record)
        except DeliveryFailed as exc:
            self._update(key, status="failed", last_error=str(exc))
            return "failed"
        except Exception as exc:
            self._update(key, status="unknown", last_error=f"{type(exc).__name__}: {exc}")
            return "unknown"
        self._update(key, status="sent", last_error=None)
        return "sent"

    def _claim(self, key: str, now: datetime) -> bool:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET status = 'unknown', attempts = attempts + 1, updated_at = ?, "
                "delivered_at = ? WHERE idempotency_key = ? AND status = 'pending'",
                (_utc(now), _utc(now), key),
            )
            if cursor.rowcount != 1:
                return False
            _log(conn, key, "unknown", "delivering", _utc(now))
            return True

    def _stop(self, key: str, verdict: Verdict, now: datetime) -> None:
        status = "held" if verdict.decision == "hold" else "cancelled"
        self._update(key, status=status, note=verdict.reason, hold_until=verdict.until)

    def _update(self, key: str, **values: Any) -> bool:
        values = {k: _utc(v) if isinstance(v, datetime) else v for k, v in values.items()}
        values["updated_at"] = _utc(self.clock.now())
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self._db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE outbox SET {assignments} WHERE idempotency_key = ?",
                (*values.values(), key),
            )
            changed = cursor.rowcount == 1
            if changed and "status" in values:
                note = values.get("note") or values.get("last_error")
                _log(conn, key, values["status"], note, values["updated_at"])
            return changed


_INSERT = (
    "INSERT OR IGNORE INTO outbox (idempotency_key, graph, contact_id, kind, source, step, "
    "payload, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _log(conn: Any, key: str, status: str, note: str | None, at: str) -> None:
    conn.execute("INSERT INTO outbox_history VALUES (?, ?, ?, ?)", (key, at, status, note))


def _row(action: Action, status: str, now: str) -> tuple[Any, ...]:
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


def _select(
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
    sql = f"SELECT {_COLUMNS} FROM outbox"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


def _record(row: tuple[Any, ...]) -> OutboxRecord:
    (key, graph, contact_id, kind, source, step, payload, status, created, updated, n, err,
     hold_until, delivered_at, note) = row  # fmt: skip
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
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _utc(value: datetime) -> str:
    """Stored instants are UTC ISO strings, so they compare correctly as text."""
    return value.astimezone(UTC).isoformat()
