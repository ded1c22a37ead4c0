"""The shapes the outbox speaks: a record and its status, a gate's verdict, what a pass did.

Kept apart from `gtmflow.tools.delivery.outbox` (the SQLite ledger and its delivery loop) so
transports, the governor and the runtime can name them without the ledger's plumbing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gtmflow.models import Action, ActionStatus

__all__ = ["DeliveryReport", "Gate", "OutboxRecord", "PutResult", "Verdict"]


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
    next_attempt_at: datetime | None = None
    """When a pending record that failed transiently is tried again (None: at once)."""

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
            "next_attempt_at": _iso(self.next_attempt_at),
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
    """What a delivery pass did, by outcome.

    `deferred`: transient failures back to pending for a later attempt; `skipped`: records
    another pass (another process) took first.
    """

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    held: int = 0
    cancelled: int = 0
    deferred: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """Held and cancelled records by `"<status>: <reason>"`, e.g. `"held: quiet hours"`."""

    def counts(self) -> dict[str, int]:
        """The report's counts by outcome, every outcome included (`reasons` left out)."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "unknown": self.unknown,
            "held": self.held,
            "cancelled": self.cancelled,
            "deferred": self.deferred,
            "skipped": self.skipped,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
