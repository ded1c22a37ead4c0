"""Trigger owners: a webinar or a call starts one follow-up journey per contact.

A trigger is what a person did that deserves a follow-up: attending a webinar, finishing a call.
Whoever follows one up first claims it (the follow-up graph, or a sequence's enrollment); every
later claim on the same trigger by anyone else is refused with the owner's name, so the
follow-up graph and a webinar sequence never both email the same attendee, and two attendance
events for the same webinar (a re-sent webhook, two exports) never start two journeys.

Two events are the same trigger when they are the same webinar (`webinar_id`, else its title
under `webinar` or `title`) or the same call (`transcript_id`) for the same contact.

Example:
    >>> from datetime import UTC, datetime
    >>> from gtmflow.models import Event
    >>> at = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
    >>> owners = TriggerOwners(":memory:")
    >>> first = Event(id="w1", type="webinar_attended", contact_id="c", timestamp=at,
    ...               properties={"webinar": "Routing without the maze"})
    >>> again = first.model_copy(update={"id": "w1-resent"})
    >>> owners.claim(first, "sequence:webinar-followup#1", at=at).owner
    'sequence:webinar-followup#1'
    >>> owners.claim(again, "followup", at=at).owner  # the same webinar: already owned
    'sequence:webinar-followup#1'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gtmflow.models import Event
from gtmflow.tools._database import StoreTarget, ledger_database

__all__ = ["TRIGGER_EVENTS", "Claim", "TriggerOwners", "trigger_key"]

TRIGGER_EVENTS = frozenset({"webinar_attended", "call_completed"})
"""Event types that are triggers: each starts at most one follow-up journey per contact."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trigger_owners (
    contact_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    owner TEXT NOT NULL,
    event_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (contact_id, trigger)
);
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """Who follows up one trigger of one contact, since when, from which event."""

    contact_id: str
    trigger: str
    owner: str
    event_id: str
    claimed_at: datetime


def trigger_key(event: Event) -> str | None:
    """What makes two events the same trigger (None: the event is not a trigger).

    Example:
        >>> from datetime import UTC, datetime
        >>> e = Event(id="e", type="webinar_attended", contact_id="c",
        ...           timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        ...           properties={"title": "  Routing  Without the Maze "})
        >>> trigger_key(e)
        'webinar:routing without the maze'
    """
    props = event.properties
    if event.type == "webinar_attended":
        ident = props.get("webinar_id") or props.get("webinar") or props.get("title")
        return f"webinar:{_norm(ident)}" if _norm(ident) else f"webinar-event:{event.id}"
    if event.type == "call_completed":
        ident = props.get("transcript_id") or props.get("call_id")
        return f"call:{_norm(ident)}" if _norm(ident) else f"call-event:{event.id}"
    return None


def _norm(value: object) -> str:
    return " ".join(str(value).split()).lower() if isinstance(value, str | int) else ""


class TriggerOwners:
    """The workspace's ledger of trigger owners (a table in `gtmflow.db`, or the shared store)."""

    def __init__(self, path: StoreTarget) -> None:
        self._db = ledger_database(path, _SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def claim(self, event: Event, owner: str, *, at: datetime) -> Claim | None:
        """Claim the event's trigger for `owner`; returns the winning claim (maybe another's).

        None when the event is not a trigger (nothing to own).
        """
        key = trigger_key(event)
        if key is None:
            return None
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO trigger_owners VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (contact_id, trigger) DO NOTHING",
                (event.contact_id, key, owner, event.id, at.isoformat()),
            )
        return self.owner_of(event)

    def owner_of(self, event: Event) -> Claim | None:
        """The claim on the event's trigger, if anyone has made one."""
        key = trigger_key(event)
        rows = self._db.query(
            "SELECT contact_id, trigger, owner, event_id, claimed_at FROM trigger_owners "
            "WHERE contact_id = ? AND trigger = ?",
            (event.contact_id, key),
        )
        if key is None or not rows:
            return None
        contact_id, trigger, owner, event_id, claimed_at = rows[0]
        return Claim(contact_id, trigger, owner, event_id, datetime.fromisoformat(claimed_at))

    def forget(self, contact_id: str) -> int:
        """Erase a contact's claims; returns how many were removed."""
        with self._db.transaction() as conn:
            return int(
                conn.execute(
                    "DELETE FROM trigger_owners WHERE contact_id = ?", (contact_id,)
                ).rowcount
            )
