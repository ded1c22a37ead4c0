"""The contact-pressure governor: one choke point every outbound action passes at send time.

The outbox asks the governor about each pending record just before delivery (it is the outbox's
*gate*). In order, it checks:

1. approval policy by action kind (`auto | approve | forbid`): `forbid` cancels; `approve`
   holds until the record carries an approval bound to the digest of its exact payload;
2. consent and suppression, for messages: an unsubscribed or bounced contact, or one with a
   suppressing event (`gtmflow.models.SUPPRESSION_TYPES`: `unsubscribed`, `bounced`,
   `spam_complaint` and the aliases exports use), is never messaged (cancelled). An event
   counts from the moment it is stored, whatever its timestamp: a sender's clock ahead of
   ours must not delay an opt-out;
3. the per-contact frequency cap across every source (sequences, rules, AI follow-ups);
4. quiet hours in the **recipient's** timezone: held, and released when the window opens (a
   stored zone that is not known reads as UTC, with a warning);
5. per-sender daily caps and hourly pacing: held until there is room.

Every hold and cancel is recorded on the outbox record (status, reason, until) and in its
history, so `gtmflow explain` shows it. A check that cannot run (the contact's stored history
cannot be read) holds the record for an hour: never sent unchecked, never stopping the pass.
Deterministic A/B assignment lives here too (`variant`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from gtmflow.clock import format_duration, parse_duration
from gtmflow.errors import ConfigError, InputWarning
from gtmflow.models import SUPPRESSING_EVENTS, SUPPRESSION_TYPES, Contact
from gtmflow.tools.delivery.outbox import Outbox, OutboxRecord, Verdict
from gtmflow.tools.events.event_store import EventStore
from gtmflow.tools.events.timezones import iana_zone

__all__ = [
    "SUPPRESSING_EVENTS",
    "ApprovalMode",
    "Governor",
    "GovernorPolicy",
    "QuietHours",
    "payload_digest",
    "variant",
]

ApprovalMode = Literal["auto", "approve", "forbid"]
_TICK = timedelta(microseconds=1)  # windows are (now - window, now]: the oldest falls out on time
_RECHECK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No messages between `start` and `end` local time (a window that may cross midnight)."""

    start: time = time(20, 0)
    end: time = time(8, 0)
    weekends: bool = True
    """Also quiet all Saturday and Sunday."""

    def opens_at(self, local: datetime) -> datetime | None:
        """When sending may resume if `local` is inside quiet hours; None if it is not.

        Example:
            >>> from zoneinfo import ZoneInfo
            >>> friday_night = datetime(2026, 3, 6, 22, 0, tzinfo=ZoneInfo("Europe/Paris"))
            >>> QuietHours().opens_at(friday_night).isoformat()
            '2026-03-09T08:00:00+01:00'
        """
        moment = local
        for _ in range(10):  # a night plus a weekend is three steps
            if self.weekends and moment.weekday() >= 5:
                moment = _next_day_at(moment, self.end)
                continue
            reopen = self._quiet_until(moment)
            if reopen is None:
                return None if moment == local else moment
            moment = reopen
        raise AssertionError("quiet hours never open")  # pragma: no cover

    def _quiet_until(self, local: datetime) -> datetime | None:
        now = local.time()
        today_end = datetime.combine(local.date(), self.end, tzinfo=local.tzinfo)
        if self.start <= self.end:
            return today_end if self.start <= now < self.end else None
        if now >= self.start:
            return _next_day_at(local, self.end)
        return today_end if now < self.end else None


@dataclass(frozen=True)
class GovernorPolicy:
    """The limits the governor enforces; every field has a sensible default.

    Attributes:
        message_kinds: Action kinds that reach the contact (they get consent, caps, hours).
        frequency_cap: At most this many messages per contact per window, e.g. (3, "7d").
        quiet_hours: Recipient-local quiet window; None to send at any hour.
        sender_daily_cap: At most this many messages per sender per UTC day.
        hourly_pacing: At most this many messages per hour overall.
        require_consent: Treat contacts whose subscription is "unknown" as not consenting.
        approvals: Approval mode by action kind; `"<kind>:ai"` applies to AI-written payloads
            (payload `author == "ai"`). Unlisted kinds are `auto`.
    """

    message_kinds: frozenset[str] = frozenset({"send_email"})
    frequency_cap: tuple[int, str | timedelta] | None = (3, "7d")
    quiet_hours: QuietHours | None = field(default_factory=QuietHours)
    sender_daily_cap: int | None = None
    hourly_pacing: int | None = None
    require_consent: bool = False
    approvals: Mapping[str, ApprovalMode] = field(
        default_factory=lambda: {"send_email:ai": "approve"}
    )

    def __post_init__(self) -> None:
        wrong = {k: v for k, v in self.approvals.items() if v not in ("auto", "approve", "forbid")}
        if wrong:
            raise ConfigError(f"approvals {wrong} must each be 'auto', 'approve' or 'forbid'")
        if self.frequency_cap is not None and self.frequency_cap[0] < 1:
            raise ConfigError("frequency_cap needs at least 1 message, e.g. (3, '7d')")

    def approval_for(self, kind: str, payload: Mapping[str, Any]) -> ApprovalMode:
        """The approval mode of an action."""
        if payload.get("author") == "ai" and f"{kind}:ai" in self.approvals:
            return self.approvals[f"{kind}:ai"]
        return self.approvals.get(kind, "auto")


class Governor:
    """The outbox gate that enforces a `GovernorPolicy`.

    Args:
        policy: The limits.
        events: Where contacts and their suppression events live.
        outbox: The ledger of what was delivered when (for caps and pacing).
    """

    def __init__(self, policy: GovernorPolicy, *, events: EventStore, outbox: Outbox) -> None:
        self.policy = policy
        self._events = events
        self._outbox = outbox
        cap = policy.frequency_cap
        self._cap = None if cap is None else (cap[0], parse_duration(cap[1]))
        self._checks: tuple[Callable[[OutboxRecord, Contact, datetime], Verdict | None], ...] = (
            self._approval, self._consent, self._frequency, self._quiet, self._sender, self._pace
        )  # fmt: skip

    def __call__(self, record: OutboxRecord, now: datetime) -> Verdict:
        try:
            contact = self._events.contact(record.action.contact_id)
            contact = contact or Contact(id=record.action.contact_id)
            for check in self._checks:
                verdict = check(record, contact, now)
                if verdict is not None:
                    return verdict
        except Exception as exc:  # a check that cannot run never sends, nor stops the pass
            return Verdict.hold(
                f"the governor could not check this record ({type(exc).__name__}: {exc}); "
                "retried hourly",
                now + _RECHECK,
            )
        return Verdict.allow()

    def _approval(self, record: OutboxRecord, contact: Contact, now: datetime) -> Verdict | None:
        payload = record.action.payload
        mode = self.policy.approval_for(record.action.kind, payload)
        if mode == "forbid":
            return Verdict.cancel(f"policy forbids '{record.action.kind}' actions")
        if mode == "approve" and not _approved(payload):
            return Verdict.hold("awaiting approval of this exact payload")
        return None

    def _consent(self, record: OutboxRecord, contact: Contact, now: datetime) -> Verdict | None:
        if record.action.kind not in self.policy.message_kinds:
            return None
        if contact.subscription in ("unsubscribed", "bounced"):
            return Verdict.cancel(f"contact is {contact.subscription}")
        if self.policy.require_consent and contact.subscription == "unknown":
            return Verdict.cancel("no recorded consent (require_consent is on)")
        # Whatever its timestamp: an opt-out stamped by a clock ahead of ours counts once stored.
        stops = self._events.events(contact.id, types=SUPPRESSION_TYPES)
        if stops:
            return Verdict.cancel(f"suppressed: {stops[0].type} at {stops[0].timestamp:%Y-%m-%d}")
        return None

    def _frequency(self, record: OutboxRecord, contact: Contact, now: datetime) -> Verdict | None:
        if self._cap is None or record.action.kind not in self.policy.message_kinds:
            return None
        limit, window = self._cap
        sent = self._outbox.delivered_since(
            now - window + _TICK, contact_id=contact.id, kinds=self.policy.message_kinds
        )
        if len(sent) < limit:
            return None
        oldest = sent[-limit].delivered_at
        assert oldest is not None
        per = format_duration(window)
        return Verdict.hold(f"frequency cap: {limit} messages per {per}", oldest + window)

    def _quiet(self, record: OutboxRecord, contact: Contact, now: datetime) -> Verdict | None:
        hours = self.policy.quiet_hours
        if hours is None or record.action.kind not in self.policy.message_kinds:
            return None
        zone, name = _zone(contact)
        opens = hours.opens_at(now.astimezone(zone))
        if opens is None:
            return None
        return Verdict.hold(f"quiet hours in {name}", opens)

    def _sender(self, record: OutboxRecord, contact: Contact, now: datetime) -> Verdict | None:
        cap = self.policy.sender_daily_cap
        if cap is None or record.action.kind not in self.policy.message_kinds:
            return None
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        sender = record.action.payload.get("from", "default")
        sent = self._outbox.delivered_since(day, kinds=self.policy.message_kinds)
        if sum(1 for r in sent if r.action.payload.get("from", "default") == sender) < cap:
            return None
        return Verdict.hold(f"sender '{sender}' reached {cap} messages today", day + timedelta(1))

    def _pace(self, record: OutboxRecord, contact: Contact, now: datetime) -> Verdict | None:
        cap = self.policy.hourly_pacing
        if cap is None or record.action.kind not in self.policy.message_kinds:
            return None
        sent = self._outbox.delivered_since(
            now - timedelta(hours=1) + _TICK, kinds=self.policy.message_kinds
        )
        if len(sent) < cap:
            return None
        oldest = sent[-cap].delivered_at
        assert oldest is not None
        return Verdict.hold(f"pacing: {cap} messages per hour", oldest + timedelta(hours=1))


def payload_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a payload's canonical JSON, ignoring its `approval` stamp."""
    body = {k: v for k, v in payload.items() if k != "approval"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def variant(contact_id: str, experiment: str, arms: Sequence[str]) -> str:
    """Deterministic A/B arm for a contact: same contact and experiment, same arm, forever.

    Example:
        >>> variant("c-1", "subject-test", ["a", "b"]) == variant("c-1", "subject-test", ["a", "b"])
        True
    """
    if not arms:
        raise ConfigError(f"experiment '{experiment}' needs at least one arm")
    digest = hashlib.sha256(f"{experiment}\x00{contact_id}".encode()).digest()
    return arms[int.from_bytes(digest[:8], "big") % len(arms)]


def _approved(payload: Mapping[str, Any]) -> bool:
    stamp = payload.get("approval")
    return isinstance(stamp, dict) and stamp.get("digest") == payload_digest(payload)


def _zone(contact: Contact) -> tuple[ZoneInfo, str]:
    """The contact's zone and its name; a stored zone that is not known reads as UTC."""
    name = iana_zone(contact.timezone) if contact.timezone else None
    if name is None:
        warnings.warn(
            InputWarning(
                f"contact '{contact.id}' has time zone '{contact.timezone}', which is not known; "
                "quiet hours were judged in UTC: re-import the contact with an IANA zone"
            ),
            stacklevel=3,
        )
        return ZoneInfo("UTC"), f"UTC ('{contact.timezone}' is not a known zone)"
    return ZoneInfo(name), name


def _next_day_at(local: datetime, at: time) -> datetime:
    return datetime.combine(local.date() + timedelta(days=1), at, tzinfo=local.tzinfo)
