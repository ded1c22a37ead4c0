"""Explicit time: clocks and durations.

Everything that depends on "now" (rule windows, waits, quiet hours, decay) reads a `Clock`
instead of calling `datetime.now()`, so a `VirtualClock` can replay months of journeys in seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from gtmflow.errors import ConfigError

__all__ = [
    "Clock",
    "SystemClock",
    "VirtualClock",
    "format_duration",
    "parse_duration",
    "require_aware",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current, timezone-aware time."""

    def now(self) -> datetime:
        """Return the current time as an aware datetime."""
        ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock that only moves when told to; the simulator and tests drive it.

    Example:
        >>> clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
        >>> clock.advance("1d").isoformat()
        '2026-01-02T00:00:00+00:00'
    """

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start")

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to `when`; time never runs backwards."""
        when = require_aware(when, "when")
        if when < self._now:
            raise ConfigError(
                f"VirtualClock cannot go back from {self._now.isoformat()} to {when.isoformat()}; "
                "create a new clock to replay from an earlier time"
            )
        self._now = when
        return when

    def advance(self, by: str | timedelta) -> datetime:
        """Move forward by a duration such as `"7d"` or a `timedelta`."""
        return self.set(self._now + parse_duration(by))

    def __repr__(self) -> str:
        return f"VirtualClock({self._now.isoformat()!r})"


def parse_duration(value: str | timedelta) -> timedelta:
    """Parse a duration such as `"7d"`, `"12h"`, `"1w 2d"` or `"90s"` into a `timedelta`.

    Units: `s` seconds, `m` minutes, `h` hours, `d` days, `w` weeks.

    Example:
        >>> parse_duration("1w 2d")
        datetime.timedelta(days=9)
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ConfigError(f"duration {value} is negative; use a positive duration")
        return value
    text = str(value).strip().lower()
    parts = _DURATION.findall(text)
    if not text or _DURATION.sub("", text).strip():
        raise ConfigError(
            f"duration '{value}' is not understood; write a number and a unit "
            "(s, m, h, d, w), e.g. '7d', '12h' or '1w 2d'"
        )
    try:
        return timedelta(seconds=sum(int(n) * _UNITS[unit] for n, unit in parts))
    except (OverflowError, ValueError):
        raise ConfigError(
            f"duration '{value}' is too long; the largest is {timedelta.max.days} days"
        ) from None


def format_duration(delta: timedelta) -> str:
    """Render a `timedelta` in the largest whole unit up to days (`"7d"`, not `"1w"`).

    `parse_duration` reads the result back; windows print the way rules are written
    (`within="7d"`, `for_="30d"`).
    """
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: seconds always divide by 1")


def require_aware(value: datetime, name: str) -> datetime:
    """Return `value` if it carries a timezone; else raise a `ConfigError` naming `name`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(
            f"'{name}' {value.isoformat()} has no timezone; pass an aware datetime, "
            "e.g. datetime(2026, 1, 1, tzinfo=UTC)"
        )
    return value
