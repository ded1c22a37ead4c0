"""The decision log: which rules fired for a contact, when, and on what evidence.

Every firing is kept (one row per rule and step). For rules that did not fire, only the latest
verdict is kept, so `explain` can say why a rule has not fired yet without the log growing with
every evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from gtmflow.models import RouteDecision
from gtmflow.tools._database import StoreTarget, ledger_database

__all__ = ["DecisionLog", "LoggedDecision"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    graph TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    step INTEGER NOT NULL,
    fired INTEGER NOT NULL,
    at TEXT NOT NULL,
    evidence TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (graph, contact_id, rule, step)
);
"""


class LoggedDecision(RouteDecision):
    """A decision as logged: which graph made it, and the firing ordinal (0: did not fire)."""

    graph: str
    step: int


class DecisionLog:
    """The log of route decisions, by contact (a SQLite file or the shared PostgreSQL store)."""

    def __init__(self, path: StoreTarget) -> None:
        self._db = ledger_database(path, _SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def record(
        self, graph: str, contact_id: str, decisions: Iterable[tuple[int, RouteDecision]]
    ) -> None:
        """Log `(step, decision)` pairs; step 0 marks a verdict that did not fire."""
        self.record_many(graph, ((contact_id, step, d) for step, d in decisions))

    def record_many(self, graph: str, decisions: Iterable[tuple[str, int, RouteDecision]]) -> None:
        """Log `(contact_id, step, decision)` triples of many contacts in one transaction."""
        rows = [
            (
                graph,
                contact_id,
                d.rule,
                step,
                int(d.fired),
                d.at.isoformat(),
                json.dumps(list(d.evidence)),
                d.reason,
            )
            for contact_id, step, d in decisions
        ]
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (graph, contact_id, rule, step) DO UPDATE SET "
                "fired = excluded.fired, at = excluded.at, evidence = excluded.evidence, "
                "reason = excluded.reason WHERE decisions.step = 0",
                rows,
            )

    def forget(self, contact_id: str) -> int:
        """Delete every decision about a contact; return how many were deleted."""
        with self._db.transaction() as conn:
            cursor = conn.execute("DELETE FROM decisions WHERE contact_id = ?", (contact_id,))
            return int(cursor.rowcount)

    def for_contact(self, contact_id: str) -> list[LoggedDecision]:
        """Every logged decision of a contact, in time order."""
        rows = self._db.query(
            "SELECT graph, rule, step, fired, at, evidence, reason FROM decisions "
            "WHERE contact_id = ? ORDER BY at, rule, step",
            (contact_id,),
        )
        return [
            LoggedDecision(
                graph=graph,
                rule=rule,
                step=step,
                fired=bool(fired),
                at=datetime.fromisoformat(at),
                evidence=tuple(json.loads(evidence)),
                reason=reason,
            )
            for graph, rule, step, fired, at, evidence, reason in rows
        ]
