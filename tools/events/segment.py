"""Segment-spec payloads turned into gtmflow events and contacts.

Segment (and RudderStack, Jitsu, June, which copy its spec) send `track`, `page` and `identify`
calls. `from_segment` maps one payload:

- `track`: `messageId` → `id`, `userId` (else `anonymousId`) → `contact_id`, `event` → `type`
  through `SEGMENT_EVENT_NAMES` (any other name is snake_cased: "Trial Started" →
  `trial_started`), `timestamp` (else `originalTimestamp`, `receivedAt`, `sentAt`) →
  `timestamp`, `properties` → `properties`.
- `page`: an event of type `page_view` whose properties carry the page `name`, `category` and
  `path`/`url`/`title`/`referrer` (from `properties`, else `context.page`).
- `identify`: a `Contact` built from `traits` (email, name, firstName/lastName, company, title,
  timezone, and suppression flags such as `unsubscribed`, `bounced` or `emailOptOut`); every
  other trait lands in `attributes` under a snake_case key. A time zone is read by
  `gtmflow.tools.events.timezones.iana_zone`; one that is not known is dropped with a warning.

UTM parameters in `context.campaign` are copied into event properties as `utm_source`,
`utm_medium`, `utm_campaign` (from `name`), ... unless the properties already carry them.
A payload without `messageId` gets the deterministic id of `derived_event_id`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

from gtmflow.errors import InputError, InputWarning
from gtmflow.models import (
    SUPPRESSING_EVENTS,
    SUPPRESSION_ALIASES,
    SUPPRESSION_STATUS,
    Contact,
    Event,
)
from gtmflow.tools.events.event_store import derived_event_id
from gtmflow.tools.events.timezones import iana_zone

__all__ = [
    "SEGMENT_CALLS",
    "SEGMENT_EVENT_NAMES",
    "SEGMENT_IMPLIED_PROPERTIES",
    "Warn",
    "from_segment",
    "is_segment_payload",
    "read_timezone",
    "segment_event_type",
    "snake_case",
    "warn_input",
]

Warn = Callable[[str], None]
"""Told about something a row lost but was kept without (the ingest report collects these)."""


def warn_input(message: str) -> None:
    """The default `Warn`: an `InputWarning` (the command line prints it)."""
    warnings.warn(InputWarning(message), stacklevel=3)


SEGMENT_EVENT_NAMES: Final[Mapping[str, str]] = {
    # Segment spec names (and common variants) → gtmflow event types. Lookup ignores case.
    "Page Viewed": "page_view",
    "Email Delivered": "email_delivered",
    "Email Opened": "email_open",
    "Email Link Clicked": "email_click",
    "Email Clicked": "email_click",
    "Email Bounced": "bounced",
    "Email Hard Bounced": "bounced",
    "Email Marked as Spam": "spam_complaint",
    "Spam Reported": "spam_complaint",
    "Email Complained": "spam_complaint",
    "Unsubscribed": "unsubscribed",
    "Email Unsubscribed": "unsubscribed",
    "Opted Out": "unsubscribed",
    "Form Submitted": "form_submit",
    "Content Downloaded": "content_download",
    "Ebook Downloaded": "content_download",
    "Whitepaper Downloaded": "content_download",
    "Webinar Registered": "webinar_registered",
    "Webinar Attended": "webinar_attended",
    "Demo Requested": "demo_requested",
    "Meeting Booked": "meeting_booked",
    "Meeting Scheduled": "meeting_booked",
}
"""Segment event names and the gtmflow event type each becomes.

Opt-outs, bounces and spam complaints become the canonical suppressing types
(`gtmflow.models.SUPPRESSING_EVENTS`) the governor enforces; a name not listed that snake_cases
to one of their aliases (`SUPPRESSION_ALIASES`, e.g. "Marked As Spam") is mapped there too."""

SEGMENT_IMPLIED_PROPERTIES: Final[Mapping[str, Mapping[str, str]]] = {
    "Ebook Downloaded": {"asset_type": "ebook"},
    "Whitepaper Downloaded": {"asset_type": "whitepaper"},
}
"""Properties a name implies once mapped (explicit properties win), e.g. `asset_type`."""

SEGMENT_CALLS: Final = frozenset({"track", "page", "identify", "screen", "group", "alias"})
"""Values of a Segment payload's `type`; `from_segment` handles track, page and identify."""

_NAMES_BY_LOWER: Final = {name.lower(): kind for name, kind in SEGMENT_EVENT_NAMES.items()}
_IMPLIED_BY_LOWER: Final = {k.lower(): v for k, v in SEGMENT_IMPLIED_PROPERTIES.items()}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\W_]+")
_TIMESTAMP_KEYS = ("timestamp", "originalTimestamp", "receivedAt", "sentAt")
_PAGE_KEYS = ("path", "url", "title", "referrer")
_TRAIT_FIELDS: Final = {"email": "email", "name": "name", "title": "title", "timezone": "timezone"}
_TRUE = frozenset({"true", "1", "yes", "y", "t"})


def snake_case(text: str) -> str:
    """Turn a display name or camelCase key into snake_case: "Trial Started" → "trial_started".

    Example:
        >>> snake_case("HasOptedOutOfEmail"), snake_case("Record ID")
        ('has_opted_out_of_email', 'record_id')
    """
    return _SEPARATORS.sub("_", _CAMEL.sub("_", text.strip())).strip("_").lower()


def segment_event_type(name: str) -> str:
    """The gtmflow event type for a Segment `track` event name (see `SEGMENT_EVENT_NAMES`)."""
    known = _NAMES_BY_LOWER.get(name.strip().lower())
    if known:
        return known
    kind = snake_case(name)
    return SUPPRESSION_ALIASES.get(kind, kind)


def is_segment_payload(row: Mapping[str, Any]) -> bool:
    """Whether a decoded JSON row is a Segment call rather than a gtmflow event row."""
    return "contact_id" not in row and row.get("type") in SEGMENT_CALLS


def from_segment(payload: Mapping[str, Any], *, warn: Warn = warn_input) -> Event | Contact:
    """Map one Segment `track`, `page` or `identify` payload to an `Event` or a `Contact`.

    `warn` is told when an identify's time zone is not known (the contact is kept without it).

    Raises:
        InputError: The call type is unsupported or a required field is missing.
        pydantic.ValidationError: A mapped field is invalid (e.g. a naive timestamp).
    """
    call = payload.get("type")
    if call == "track":
        return _track(payload)
    if call == "page":
        return _page(payload)
    if call == "identify":
        return _identify(payload, warn)
    raise InputError(
        f"Segment '{call}' calls are not supported; send 'track', 'page' or 'identify' payloads"
    )


def _track(payload: Mapping[str, Any]) -> Event:
    name = payload.get("event")
    if not isinstance(name, str) or not name.strip():
        raise InputError("Segment 'track' payload has no 'event' name; add e.g. 'Demo Requested'")
    kind = segment_event_type(name)
    if not kind:
        raise InputError(f"Segment event name '{name}' has no letters or digits; rename it")
    properties = _properties(payload)
    for key, value in _IMPLIED_BY_LOWER.get(name.strip().lower(), {}).items():
        properties.setdefault(key, value)
    return _event(payload, kind, properties)


def _page(payload: Mapping[str, Any]) -> Event:
    properties = _properties(payload)
    for key in ("name", "category"):
        if payload.get(key):
            properties.setdefault(key, payload[key])
    page = _mapping(_mapping(payload.get("context")).get("page"))
    for key in _PAGE_KEYS:
        if page.get(key):
            properties.setdefault(key, page[key])
    return _event(payload, "page_view", properties)


def _identify(payload: Mapping[str, Any], warn: Warn) -> Contact:
    context = _mapping(payload.get("context"))
    traits = _mapping(payload.get("traits")) or _mapping(context.get("traits"))
    fields: dict[str, Any] = {"id": _contact_id(payload)}
    attributes: dict[str, Any] = {}
    for key, value in traits.items():
        _add_trait(fields, attributes, key, value)
    if "name" not in fields and (attributes.get("first_name") or attributes.get("last_name")):
        full = f"{attributes.get('first_name', '')} {attributes.get('last_name', '')}"
        fields["name"] = full.strip()
    if "timezone" not in fields and context.get("timezone"):
        fields["timezone"] = context["timezone"]
    if "timezone" in fields:
        read_timezone(fields, attributes, warn)
    return Contact.model_validate({**fields, "attributes": attributes})


def read_timezone(fields: dict[str, Any], attributes: dict[str, Any], warn: Warn) -> None:
    """Rewrite `fields["timezone"]` as an IANA name, or drop it (kept as `timezone_raw`)."""
    raw = fields.pop("timezone")
    zone = iana_zone(str(raw))
    if zone is not None:
        fields["timezone"] = zone
        return
    attributes["timezone_raw"] = raw
    warn(
        f"time zone '{str(raw)[:60]}' is not known, so the contact was stored without one "
        "(quiet hours use UTC); use an IANA name such as 'America/New_York'"
    )


def _add_trait(fields: dict[str, Any], attributes: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == "":
        return
    if key in _TRAIT_FIELDS:
        fields[_TRAIT_FIELDS[key]] = value
    elif key == "company" and isinstance(value, Mapping):
        fields["company"] = value.get("name")
        attributes.update({f"company_{snake_case(k)}": v for k, v in value.items() if k != "name"})
    elif key == "company":
        fields["company"] = value
    elif _suppression(key) is not None:
        if value is True or str(value).strip().lower() in _TRUE:
            status = SUPPRESSION_STATUS[_suppression(key) or ""]
            if fields.get("subscription") != "unsubscribed":  # an opt-out outranks a bounce
                fields["subscription"] = status
    else:
        attributes[snake_case(key) or key] = value


def _suppression(trait: str) -> str | None:
    """The suppressing event a trait such as `unsubscribed` or `emailOptOut` stands for."""
    kind = snake_case(trait)
    return kind if kind in SUPPRESSING_EVENTS else SUPPRESSION_ALIASES.get(kind)


def _event(payload: Mapping[str, Any], kind: str, properties: dict[str, Any]) -> Event:
    message_id = payload.get("messageId")
    timestamp = next((payload[k] for k in _TIMESTAMP_KEYS if payload.get(k)), None)
    fields = {"type": kind, "contact_id": _contact_id(payload), "properties": properties}
    if timestamp is not None:
        fields["timestamp"] = timestamp
    if message_id:
        return Event.model_validate({**fields, "id": str(message_id)})
    event = Event.model_validate({**fields, "id": "pending"})
    event_id = derived_event_id(event.contact_id, event.type, event.timestamp, event.properties)
    return event.model_copy(update={"id": event_id})


def _contact_id(payload: Mapping[str, Any]) -> str:
    for key in ("userId", "anonymousId"):
        value = payload.get(key)
        if value is not None and str(value).strip():
            return str(value)
    raise InputError(
        f"Segment '{payload.get('type')}' payload has neither 'userId' nor 'anonymousId'; "
        "gtmflow needs one to know whose it is"
    )


def _properties(payload: Mapping[str, Any]) -> dict[str, Any]:
    properties = payload.get("properties")
    if properties is not None and not isinstance(properties, Mapping):
        raise InputError(
            f"Segment 'properties' must be a JSON object, got {type(properties).__name__}"
        )
    result = dict(properties or {})
    campaign = _mapping(_mapping(payload.get("context")).get("campaign"))
    for key, value in campaign.items():
        utm = "campaign" if key == "name" else snake_case(key)
        result.setdefault(f"utm_{utm}", value)
    return result


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
