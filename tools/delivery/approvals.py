"""Approval requests: drafts a graph paused on, waiting for a person.

A request is bound to the digest of the exact payload the graph asked about. Approving with an
edit approves the edited payload (its own digest); a new reply from the contact supersedes every
pending request of that contact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from gtmflow.tools._database import StoreTarget, ledger_database

__all__ = ["Approval", "ApprovalBook", "ApprovalStatus"]

ApprovalStatus = Literal["pending", "approved", "rejected", "superseded"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    graph TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    digest TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT
);
CREATE INDEX IF NOT EXISTS approvals_contact ON approvals (contact_id, status);
"""
_COLUMNS = "id, thread_id, graph, contact_id, step, digest, payload, status, created_at, decided_by"


@dataclass(frozen=True, slots=True)
class Approval:
    """One request for approval of an exact payload."""

    id: str
    thread_id: str
    graph: str
    contact_id: str
    step: int
    digest: str
    payload: dict[str, Any]
    status: ApprovalStatus
    created_at: datetime
    decided_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape printed by `gtmflow approvals --json`."""
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "graph": self.graph,
            "step": self.step,
            "digest": self.digest,
            "payload": self.payload,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "decided_by": self.decided_by,
        }


class ApprovalBook:
    """The table of approval requests of one workspace (SQLite file or shared PostgreSQL)."""

    def __init__(self, path: StoreTarget) -> None:
        self._db = ledger_database(path, _SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def request(
        self, *, thread_id: str, graph: str, contact_id: str, step: int, digest: str,
        payload: dict[str, Any], now: datetime,
    ) -> str:  # fmt: skip
        """Record a pending request (idempotent per thread, step and digest); return its id."""
        request_id = hashlib.sha256(f"{thread_id}|{step}|{digest}".encode()).hexdigest()[:12]
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO approvals VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, NULL, NULL) "
                "ON CONFLICT (id) DO NOTHING",
                (request_id, thread_id, graph, contact_id, step, digest, json.dumps(payload),
                 now.isoformat()),
            )  # fmt: skip
        return request_id

    def get(self, request_id: str) -> Approval | None:
        """One request by id."""
        rows = self._db.query(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (request_id,))
        return _approval(rows[0]) if rows else None

    def list(
        self, *, status: ApprovalStatus | None = "pending", contact_id: str | None = None
    ) -> list[Approval]:
        """Requests, oldest first, filtered by status and contact."""
        sql = f"SELECT {_COLUMNS} FROM approvals WHERE 1 = 1"
        args: list[Any] = []
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        if contact_id is not None:
            sql, args = sql + " AND contact_id = ?", [*args, contact_id]
        return [_approval(row) for row in self._db.query(sql + " ORDER BY created_at, id", args)]

    def decide(self, request_id: str, status: ApprovalStatus, *, by: str, now: datetime) -> bool:
        """Move a pending request to a final status; False if it was not pending."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ? "
                "WHERE id = ? AND status = 'pending'",
                (status, now.isoformat(), by, request_id),
            )
            return bool(cursor.rowcount == 1)

    def forget(self, contact_id: str) -> int:
        """Delete every request of a contact."""
        with self._db.transaction() as conn:
            cursor = conn.execute("DELETE FROM approvals WHERE contact_id = ?", (contact_id,))
            return int(cursor.rowcount)


def _approval(row: tuple[Any, ...]) -> Approval:
    request_id, thread_id, graph, contact_id, step, digest, payload, status, created, by = row
    return Approval(
        id=request_id, thread_id=thread_id, graph=graph, contact_id=contact_id, step=step,
        digest=digest, payload=json.loads(payload), status=status,
        created_at=datetime.fromisoformat(created), decided_by=by,
    )  # fmt: skip
