"""Reading exports that name columns or write timestamps their own way.

Real event logs rarely match gtmflow's `id, type, contact_id, timestamp` columns, and many carry
local times with no offset. An `EventMapping` renames columns and parses timestamps before a row
is validated, so such files ingest without being rewritten first.

Example:
    >>> yammer = EventMapping(columns={"action": "type"}, timestamp_format="%d-%m-%Y %H.%M",
    ...                       assume_timezone="UTC")
    >>> yammer.apply({"user_id": "7", "occurred_at": "06-05-2014 9.30", "action": "email_open"})
    {'user_id': '7', 'occurred_at': '2014-05-06T09:30:00+00:00', 'type': 'email_open'}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gtmflow.errors import ConfigError, InputError
from gtmflow.tools.events.segment import segment_event_type

__all__ = ["EVENT_FIELDS", "EventMapping"]

EVENT_FIELDS = ("id", "type", "contact_id", "timestamp", "properties")
"""The gtmflow event fields a source column can be mapped to."""

_TIMESTAMP_COLUMNS = ("timestamp", "occurred_at")


@dataclass(frozen=True)
class EventMapping:
    """How to read an event export whose columns or timestamps differ from gtmflow's.

    Attributes:
        columns: Source column → gtmflow field (`id`, `type`, `contact_id`, `timestamp`,
            `properties`). Unmapped columns keep their names (and become properties).
        timestamp_format: A `strptime` format for the timestamp column, e.g. `"%d-%m-%Y %H.%M"`;
            default: ISO-8601.
        assume_timezone: IANA zone given to timestamps that carry none, e.g. `"UTC"`. Without
            it such rows are rejected, because guessing a timezone shifts every window.
        defaults: Field values for rows that lack them, e.g. `{"type": "email_replied"}`.
        event_names: `"segment"` (default) names event types the way the Segment reader does:
            known display names map to gtmflow types ("Page Viewed" → `page_view`), any other is
            snake_cased ("Trial Started" → `trial_started`). `"keep"` stores them as written.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    timestamp_format: str | None = None
    assume_timezone: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    event_names: Literal["segment", "keep"] = "segment"

    def __post_init__(self) -> None:
        wrong = sorted(t for t in self.columns.values() if t not in EVENT_FIELDS)
        if wrong:
            raise ConfigError(
                f"columns map to {wrong}, which are not event fields; map to one of "
                f"{', '.join(EVENT_FIELDS)} (other columns become properties by themselves)"
            )
        if self.assume_timezone is not None:
            _zone(self.assume_timezone)
        if self.event_names not in ("segment", "keep"):
            raise ConfigError(
                f"event_names={self.event_names!r} is not a choice; use 'segment' (map names "
                "as the Segment reader does) or 'keep' (store them as written)"
            )

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with columns renamed and its timestamp rewritten as ISO-8601 with offset."""
        mapped = {self.columns.get(key, key): value for key, value in row.items()}
        for key, value in self.defaults.items():
            if mapped.get(key) in (None, ""):
                mapped[key] = value
        kind = mapped.get("type")
        if self.event_names == "segment" and isinstance(kind, str) and kind.strip():
            mapped["type"] = segment_event_type(kind)
        for column in _TIMESTAMP_COLUMNS:
            value = mapped.get(column)
            if isinstance(value, str) and value.strip():
                mapped[column] = self._timestamp(value.strip())
        return mapped

    def _timestamp(self, value: str) -> str:
        try:
            if self.timestamp_format:
                when = datetime.strptime(value, self.timestamp_format)
            else:
                when = datetime.fromisoformat(value)
        except ValueError:
            expected = f"format '{self.timestamp_format}'" if self.timestamp_format else "ISO-8601"
            raise InputError(f"timestamp '{value}' does not match {expected}") from None
        if when.tzinfo is None and self.assume_timezone:
            when = when.replace(tzinfo=_zone(self.assume_timezone))
        return when.isoformat()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"assume_timezone '{name}' is not an IANA name; use e.g. 'UTC' or 'Europe/Berlin'"
        ) from None
