"""`Workspace.explain`: a contact's rule verdicts with their evidence, and its actions."""

from __future__ import annotations

from typing import Any

from gtmflow.tools.decisions import LoggedDecision
from gtmflow.tools.delivery.outbox import OutboxRecord

__all__ = ["explanation"]


def explanation(
    contact_id: str, decisions: list[LoggedDecision], records: list[OutboxRecord]
) -> dict[str, Any]:
    """What `explain` returns: every firing, the latest verdict of other rules, the actions."""
    return {
        "contact_id": contact_id,
        "rules": [_explained(d) for d in _latest_verdicts(decisions)],
        "actions": [r.to_json() for r in records],
    }


def _latest_verdicts(decisions: list[LoggedDecision]) -> list[LoggedDecision]:
    """Every firing, plus the latest verdict of rules that never fired."""
    fired = {(d.graph, d.rule) for d in decisions if d.fired}
    return [d for d in decisions if d.fired or (d.graph, d.rule) not in fired]


def _explained(decision: LoggedDecision) -> dict[str, Any]:
    return {
        "rule": decision.rule,
        "fired": decision.fired,
        "at": decision.at.isoformat(),
        "evidence": list(decision.evidence),
        "reason": decision.reason,
        "graph": decision.graph,
        "step": decision.step,
    }
