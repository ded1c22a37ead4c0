"""CRM contact exports: HubSpot and Salesforce headers and values mapped onto `Contact`.

`contact_from_row` turns one row of a contact export (CSV cells or a JSON object) into a
`Contact`: known headers fill fields, every other column becomes a snake_case attribute,
lifecycle stages and time zones are translated (a zone not known is dropped with a warning, never
the row), and an opt-out flag always wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from gtmflow.errors import InputError
from gtmflow.models import SUPPRESSING_EVENTS, SUPPRESSION_ALIASES, SUPPRESSION_STATUS, Contact
from gtmflow.tools.events.segment import (
    Warn,
    from_segment,
    is_segment_payload,
    read_timezone,
    snake_case,
    warn_input,
)

__all__ = ["CONTACT_HEADERS", "LIFECYCLE_STAGES", "contact_from_row", "json_object"]

_Row = dict[str, Any]

CONTACT_HEADERS: Final[Mapping[str, str]] = {
    # gtmflow's own names
    "id": "id", "email": "email", "name": "name", "first_name": "first_name",
    "last_name": "last_name", "company": "company", "title": "title", "timezone": "timezone",
    "lifecycle_stage": "lifecycle_stage", "subscription": "subscription",
    # HubSpot contact exports
    "Record ID": "id", "Contact ID": "id", "Email Address": "email",
    "First Name": "first_name", "Last Name": "last_name", "Company Name": "company",
    "Job Title": "title", "Lifecycle Stage": "lifecycle_stage", "Time Zone": "timezone",
    "Unsubscribed from all email": "unsubscribed", "hs_email_optout": "unsubscribed",
    "Email hard bounce reason": "bounced", "hs_email_hard_bounce_reason_enum": "bounced",
    "Email address quarantined": "bounced", "hs_email_quarantined": "bounced",
    "Marked as spam": "spam_complaint",
    # Salesforce contact and lead exports (report labels and API names)
    "Contact Id": "id", "Lead ID": "id", "Account Name": "company",
    "FirstName": "first_name", "LastName": "last_name",
    "Email Opt Out": "unsubscribed", "HasOptedOutOfEmail": "unsubscribed",
    "Email Bounced Reason": "bounced", "EmailBouncedReason": "bounced",
    "Email Bounced Date": "bounced", "EmailBouncedDate": "bounced",
}  # fmt: skip
"""Contact column headers and the field each fills; matching ignores case, spaces and `_`.

`first_name`/`last_name` make up `name` (when there is no name column) and are kept as
attributes. A suppression column (its target one of `gtmflow.models.SUPPRESSING_EVENTS`, or a
header that is itself a suppressing type or alias, such as `email_opt_out`) sets
`subscription` (`SUPPRESSION_STATUS`) unless its value is blank or says false: a flag, a bounce
reason or a bounce date all count. Any other header (e.g. HubSpot's `Marketing contact
status`) becomes a snake_case attribute.
"""

LIFECYCLE_STAGES: Final[Mapping[str, str]] = {
    "subscriber": "subscriber", "lead": "lead", "opportunity": "opportunity",
    "customer": "customer", "evangelist": "evangelist", "other": "other",
    "marketingqualifiedlead": "mql", "mql": "mql", "salesqualifiedlead": "sql", "sql": "sql",
}  # fmt: skip
"""CRM lifecycle values (lowercased, letters only) → gtmflow stages; others become "other"
and keep their original value in the `lifecycle_stage_raw` attribute."""

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_HEADER_LOOKUP: Final = {_NOT_ALNUM.sub("", k.lower()): v for k, v in CONTACT_HEADERS.items()}
_FALSE: Final = frozenset({"false", "0", "no", "n", "f", "none", "null", "n/a", "-"})


def contact_from_row(row: _Row, raw_size: int = 0, warn: Warn = warn_input) -> Contact:
    """One contact export row (or a Segment `identify` payload) as a `Contact`.

    Args:
        row: Column name → value; blank values are skipped.
        raw_size: Length of the row's raw text (unused; keeps the ingest converter signature).
        warn: Told about what the row lost but was kept without (a time zone not known).

    Raises:
        InputError: The row has no id, or an attributes cell that is not a JSON object.
        pydantic.ValidationError: A field does not validate (e.g. a malformed email).
    """
    if row.get("type") == "identify" and is_segment_payload(row):
        contact = from_segment(row, warn=warn)
        if isinstance(contact, Contact):
            return contact
    fields: _Row = {}
    attributes: _Row = {}
    for key, value in row.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key == "attributes":
            attributes.update(json_object(value, "attributes"))
            continue
        target = _target(key)
        if target in SUPPRESSING_EVENTS:
            _suppress(fields, target, value)
        elif target is None or target in fields:
            attributes[snake_case(key) or key] = value
        else:
            fields[target] = value
    return _contact(fields, attributes, warn)


def _target(header: str) -> str | None:
    found = _HEADER_LOOKUP.get(_NOT_ALNUM.sub("", header.lower()))
    if found is not None:
        return found
    kind = snake_case(header)
    return kind if kind in SUPPRESSING_EVENTS else SUPPRESSION_ALIASES.get(kind)


def _suppress(fields: _Row, event: str, value: Any) -> None:
    """A suppression column holding anything but false: the strongest status wins."""
    if value is False or str(value).strip().lower() in _FALSE:
        return
    status = SUPPRESSION_STATUS[event]
    if fields.get("subscription") != "unsubscribed":  # an opt-out outranks a bounce
        fields["subscription"] = status


def _contact(fields: _Row, attributes: _Row, warn: Warn) -> Contact:
    if "id" not in fields:
        raise InputError(
            "missing contact 'id'; add an 'id' column (HubSpot 'Record ID' and Salesforce "
            "'Id' or 'Contact ID' columns also work)"
        )
    fields["id"] = str(fields["id"])
    _split_name(fields, attributes)
    if "lifecycle_stage" in fields:
        fields["lifecycle_stage"] = _lifecycle_stage(fields["lifecycle_stage"], attributes)
    if "timezone" in fields:
        read_timezone(fields, attributes, warn)
    return Contact.model_validate({**fields, "attributes": attributes})


def _split_name(fields: _Row, attributes: _Row) -> None:
    parts = [fields.pop(key, None) for key in ("first_name", "last_name")]
    for key, part in zip(("first_name", "last_name"), parts, strict=True):
        if part is not None:
            attributes[key] = part
    if "name" not in fields and any(parts):
        fields["name"] = " ".join(str(part).strip() for part in parts if part)


def _lifecycle_stage(value: Any, attributes: _Row) -> str:
    stage = LIFECYCLE_STAGES.get(_NOT_ALNUM.sub("", str(value).lower()))
    if stage is None:
        attributes["lifecycle_stage_raw"] = value
        return "other"
    return stage


def json_object(value: Any, name: str) -> _Row:
    """A cell that must hold a JSON object (or already is a dict), parsed."""
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise InputError(f"'{name}' is not a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise InputError(f"'{name}' must be a JSON object, got {str(parsed)[:60]}")
    return parsed
