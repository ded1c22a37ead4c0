"""Deterministic checks that run after every AI decision, whichever brain made it.

`check_decision` is the agents' half of policy: it runs right after an agent decides and before
any action exists, so a model (or a prompt injection in a transcript) can never pick an action
the graph does not allow, message a contact who may not be messaged, or address anyone but the
contact. The send-time governor (`gtmflow.governor`) still checks consent, caps and quiet hours
when the outbox delivers.

Example:
    >>> from gtmflow.models import Contact
    >>> ann = Contact(id="c-1", email="ann@acme.com", subscription="unsubscribed")
    >>> allowed = {"send_followup", "no_action"}
    >>> verdict = check_decision("send_followup", contact=ann, allowed=allowed)
    >>> verdict.outcome, verdict.action, verdict.reasons[0]
    ('block', 'no_action', "contact 'c-1' is unsubscribed; never email them")
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gtmflow.models import Contact

__all__ = ["ADDRESS_FIELDS", "EMAIL_ACTIONS", "PolicyVerdict", "check_decision"]

EMAIL_ACTIONS = frozenset({"send_followup", "send_email"})
"""Action kinds that message the contact directly."""
ADDRESS_FIELDS = ("to", "cc", "bcc", "recipient", "recipients", "reply_to", "email")
"""Payload fields that name where a message goes; only the contact's own address may appear."""


@dataclass(frozen=True)
class PolicyVerdict:
    """What the policy check made of a decision.

    Attributes:
        outcome: "allow" (go ahead), "review" (a person must look first) or "block".
        action: The action to take after the check: the decided one, or the safe substitute
            (`no_action`, or `create_task` for a review when the graph allows it).
        reasons: Why, one line per rule that applied; empty when allowed outright.
    """

    outcome: Literal["allow", "review", "block"]
    action: str
    reasons: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"outcome": self.outcome, "action": self.action, "reasons": list(self.reasons)}


def check_decision(
    action: str,
    *,
    contact: Contact,
    allowed: Collection[str],
    payload: Mapping[str, Any] | None = None,
    suspicious: bool = False,
) -> PolicyVerdict:
    """Check one decided action against the rules no brain may break.

    Rules, in order: the action must be one the graph allows (else `no_action`); an email needs
    a contact who is not unsubscribed or bounced and has an address; every address in the payload
    must be the contact's own; when the source text tried to instruct the system
    (`suspicious=True`), an email goes to a person for review instead.

    Args:
        action: The decided action id, e.g. "send_followup" or "enroll:nurture".
        contact: The contact the decision is about.
        allowed: The action ids the graph allows.
        payload: The action's payload, if one exists yet (e.g. a draft with a "to" field).
        suspicious: The analysed text contained instructions aimed at an AI.
    """
    kind = action.partition(":")[0]
    if action not in allowed:
        return PolicyVerdict(
            "block",
            _fallback(allowed),
            (f"action '{action}' is not allowed here; allowed: {', '.join(sorted(allowed))}",),
        )
    reasons = [*_recipient_problems(contact, payload or {})]
    if kind in EMAIL_ACTIONS:
        reasons = [*_consent_problems(contact), *reasons]
    if reasons:
        return PolicyVerdict("block", _fallback(allowed), tuple(reasons))
    if suspicious and kind in EMAIL_ACTIONS:
        return PolicyVerdict(
            "review",
            "create_task" if "create_task" in allowed else _fallback(allowed),
            ("the source text contains instructions aimed at an AI; a person reviews first",),
        )
    return PolicyVerdict("allow", action)


def _consent_problems(contact: Contact) -> list[str]:
    if contact.subscription in ("unsubscribed", "bounced"):
        return [f"contact '{contact.id}' is {contact.subscription}; never email them"]
    if not contact.email:
        return [f"contact '{contact.id}' has no email address"]
    return []


def _recipient_problems(contact: Contact, payload: Mapping[str, Any]) -> list[str]:
    problems = []
    for name in ADDRESS_FIELDS:
        for address in _addresses(payload.get(name)):
            if address.lower() != (contact.email or "").lower():
                problems.append(
                    f"payload '{name}' names '{address}', not the contact's own address"
                )
    return problems


def _addresses(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, list | tuple | set):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def _fallback(allowed: Collection[str]) -> str:
    """The safe substitute: `no_action` is always permitted, allowed list or not."""
    return "no_action"
