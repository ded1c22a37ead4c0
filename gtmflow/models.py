"""The shared vocabulary: contacts, events, content, transcripts, deals, actions, decisions.

Every model is a pydantic v2 model that validates on construction and explains what is wrong.
`json_schemas()` exports the JSON schema of each for users who produce data in other languages.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

__all__ = [
    "EVENT_TIME_RANGE",
    "MAX_PROPERTIES_BYTES",
    "MEETING_EVENTS",
    "REPLY_EVENTS",
    "SUPPRESSING_EVENTS",
    "SUPPRESSION_ALIASES",
    "SUPPRESSION_STATUS",
    "SUPPRESSION_TYPES",
    "Action",
    "ActionStatus",
    "Contact",
    "ContentItem",
    "Deal",
    "Event",
    "LifecycleStage",
    "RouteDecision",
    "SubscriptionStatus",
    "Touchpoint",
    "Transcript",
    "Utterance",
    "idempotency_key",
    "json_schemas",
]

MAX_PROPERTIES_BYTES = 64 * 1024
"""Largest JSON-encoded `Event.properties` accepted; keep big payloads (transcripts) in stores."""
REPLY_EVENTS = frozenset({"email_replied"})
"""Event types that mean the contact answered us (drafts are superseded, agents defer)."""
MEETING_EVENTS = frozenset({"meeting_booked"})
"""Event types that mean a meeting with the contact is booked."""
EVENT_TIME_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2201, 1, 1, tzinfo=UTC))
"""Event timestamps accepted: from 1970-01-01 (UTC) up to, not including, 2201-01-01.

Anything outside is a typo or a sentinel (`9999-12-31`, year 1, a negative epoch); storing it
would overflow date arithmetic in every window and wait that reads it."""
_NEGATIVE_NUMBER = re.compile(r"\s*-\d")

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
LifecycleStage = Literal[
    "subscriber", "lead", "mql", "sql", "opportunity", "customer", "evangelist", "other"
]
SubscriptionStatus = Literal["subscribed", "unsubscribed", "bounced", "unknown"]
ActionStatus = Literal["pending", "sent", "failed", "unknown", "held", "cancelled"]

SUPPRESSING_EVENTS = frozenset({"unsubscribed", "bounced", "spam_complaint"})
"""The canonical event types after which a contact is never messaged: an opt-out, a bounce, a
spam complaint. Segment and CRM mappings produce these names; the governor enforces them."""
SUPPRESSION_ALIASES: Mapping[str, str] = MappingProxyType({
    "unsubscribe": "unsubscribed", "email_unsubscribed": "unsubscribed",
    "unsubscribed_from_all_email": "unsubscribed", "opted_out": "unsubscribed",
    "opt_out": "unsubscribed", "email_opt_out": "unsubscribed", "email_opted_out": "unsubscribed",
    "bounce": "bounced", "email_bounced": "bounced", "hard_bounce": "bounced",
    "hard_bounced": "bounced", "email_hard_bounced": "bounced", "hard_bounce_reason": "bounced",
    "spam_report": "spam_complaint", "spam_reported": "spam_complaint", "spam": "spam_complaint",
    "marked_as_spam": "spam_complaint", "email_marked_as_spam": "spam_complaint",
    "complaint": "spam_complaint", "complained": "spam_complaint",
    "email_complained": "spam_complaint", "email_spam_complaint": "spam_complaint",
})  # fmt: skip
"""Other names exports give the suppressing events, and the canonical type each means."""
SUPPRESSION_TYPES = SUPPRESSING_EVENTS | frozenset(SUPPRESSION_ALIASES)
"""Every event type that suppresses messages: the canonical names and their aliases."""
SUPPRESSION_STATUS: Mapping[str, SubscriptionStatus] = MappingProxyType(
    {"unsubscribed": "unsubscribed", "bounced": "bounced", "spam_complaint": "unsubscribed"}
)
"""The `Contact.subscription` a CRM flag for each suppressing event sets."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Contact(_Model):
    """A person gtmflow may act for or on: a lead, a prospect, a customer."""

    id: Id = Field(description="Stable contact id, e.g. the CRM record id.")
    email: str | None = Field(default=None, description="Primary email address.")
    name: str | None = Field(default=None, description="Full name.")
    company: str | None = None
    title: str | None = Field(default=None, description="Job title.")
    timezone: str = Field(default="UTC", description="IANA timezone, e.g. 'Europe/Paris'.")
    lifecycle_stage: LifecycleStage = "lead"
    subscription: SubscriptionStatus = Field(
        default="unknown", description="Email consent: subscribed, unsubscribed, bounced, unknown."
    )
    attributes: dict[str, Any] = Field(default_factory=dict, description="Any other fields.")

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        local, at, domain = value.partition("@")
        if not at or not local or "." not in domain or " " in value:
            raise ValueError(f"email '{value}' is not an address like 'name@example.com'")
        return value.lower()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone '{value}' is not an IANA name; use e.g. 'UTC' or 'America/New_York'"
            ) from None
        return value


class Event(_Model):
    """Something a contact did or that happened to them, at a known instant."""

    id: Id = Field(description="Unique event id; re-ingesting the same id is a no-op.")
    type: Id = Field(description="Event type in snake_case, e.g. 'page_view'.")
    contact_id: Id
    timestamp: AwareDatetime = Field(
        description="When it happened, between 1970 and 2200; must carry a timezone."
    )
    properties: dict[str, Any] = Field(default_factory=dict, description="At most 64 KB as JSON.")

    @field_validator("timestamp", mode="before")
    @classmethod
    def _check_epoch(cls, value: Any) -> Any:
        negative = (
            isinstance(value, int | float) and not isinstance(value, bool) and value < 0
        ) or (isinstance(value, str) and _NEGATIVE_NUMBER.match(value) is not None)
        if negative:
            raise ValueError(
                f"timestamp {value} is a negative epoch, a time before 1970; event times must "
                "fall between 1970 and 2200 (UTC)"
            )
        return value

    @field_validator("timestamp")
    @classmethod
    def _check_range(cls, value: datetime) -> datetime:
        earliest, end = EVENT_TIME_RANGE
        if earliest <= value < end:
            return value
        side = "before 1970" if value < earliest else "after 2200"
        raise ValueError(
            f"timestamp '{value.isoformat()}' is {side}; event times must fall between "
            "1970-01-01 and 2200-12-31 (UTC): check the year"
        )

    @field_validator("properties")
    @classmethod
    def _check_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, default=str, separators=(",", ":")).encode())
        if size > MAX_PROPERTIES_BYTES:
            raise ValueError(
                f"properties are {size:,} bytes as JSON, over the {MAX_PROPERTIES_BYTES:,}-byte "
                "limit; store large text (transcripts, bodies) elsewhere and keep an id here"
            )
        return value


class ContentItem(_Model):
    """A piece of marketing content: blog post, case study, doc page, ebook, webinar."""

    id: Id
    title: str
    url: str | None = None
    type: str = Field(default="blog_post", description="blog_post, case_study, ebook, doc, ...")
    topics: tuple[str, ...] = ()
    published_at: AwareDatetime | None = None
    body: str = ""


class Utterance(_Model):
    """One turn of a conversation."""

    speaker: str
    text: str
    timestamp: float | None = Field(default=None, ge=0, description="Seconds from call start.")
    role: Literal["prospect", "seller", "unknown"] = "unknown"


class Transcript(_Model):
    """A call, meeting or webinar transcript tied to a contact."""

    id: Id
    contact_id: Id | None = None
    occurred_at: AwareDatetime | None = None
    title: str | None = None
    utterances: tuple[Utterance, ...] = Field(min_length=1)


class Deal(_Model):
    """An opportunity in the pipeline; won deals carry revenue."""

    id: Id
    amount: float = Field(ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    stage: str = Field(description="Pipeline stage, e.g. 'open', 'won', 'lost'.")
    created_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    contact_ids: tuple[str, ...] = ()
    account_id: str | None = None


class Touchpoint(_Model):
    """A marketing touch on a contact's journey, the unit of attribution."""

    contact_id: Id
    timestamp: AwareDatetime
    channel: str
    content_id: str | None = None
    event_id: str | None = None


class Action(_Model):
    """An intended side effect. Nodes return actions; only the runtime delivers them.

    `idempotency_key` is derived from (graph, contact, source, step) so the same intent always
    gets the same key and a second write to the outbox is a no-op.
    """

    kind: Id = Field(description="What to do, e.g. 'enroll', 'alert_sales'.")
    contact_id: Id
    payload: dict[str, Any] = Field(default_factory=dict)
    graph: str = Field(description="Graph that produced the action.")
    source: str = Field(description="Rule or node that produced the action.")
    step: int = Field(default=1, ge=1, description="Ordinal of this firing of the source.")
    created_at: AwareDatetime
    idempotency_key: str = ""

    def model_post_init(self, context: Any, /) -> None:
        if not self.idempotency_key:
            key = idempotency_key(self.graph, self.contact_id, self.source, self.step, self.kind)
            object.__setattr__(self, "idempotency_key", key)


class RouteDecision(_Model):
    """A pipe's verdict for one contact: which rule was evaluated, whether it fired, and why."""

    rule: str
    fired: bool
    at: AwareDatetime = Field(description="The 'now' the rule was evaluated at.")
    evidence: tuple[str, ...] = Field(default=(), description="Ids of the events behind it.")
    reason: str = Field(default="", description="Human-readable explanation.")


def idempotency_key(graph: str, contact_id: str, source: str, step: int, kind: str) -> str:
    """Derive the stable idempotency key of an action from what makes it unique."""
    raw = json.dumps([graph, contact_id, source, step, kind], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON schema of every public model, keyed by model name."""
    models: list[type[BaseModel]] = [
        Contact,
        Event,
        ContentItem,
        Utterance,
        Transcript,
        Deal,
        Touchpoint,
        Action,
        RouteDecision,
    ]
    return {model.__name__: model.model_json_schema() for model in models}
