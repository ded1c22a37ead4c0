"""Time expressions in sales talk, resolved against the call date into a day bound.

Our own rules handle what people say about buying timelines and what `dateparser` does not know
(measured: it returns nothing for "end of Q3", "next quarter", "within 60 days", "end of the
month", "end of the year", and reads a bare "June" as June 2nd): fiscal quarters (with a
configurable fiscal-year start), relative quarters/months/years, "within N days/weeks/months",
weekdays and month names. `dateparser` (English only, loaded on first use) reads numeric calendar
dates such as "15/03/2026" and "the 15th of April", which it does well.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

__all__ = ["TimeBound", "find_time_bounds", "quarter_end"]

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS |= {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "eighteen": 18,
    "twenty": 20, "thirty": 30, "forty-five": 45, "forty five": 45, "sixty": 60, "ninety": 90,
    "a couple of": 2, "a couple": 2, "a few": 3, "couple of": 2, "few": 3,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_NAMES = "|".join(_DAYS)
_COUNT = r"\d{1,3}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))

_QUARTER = re.compile(
    r"\b(?:(?P<edge>end|start|beginning|middle|mid)[- ]of\s+(?:the\s+)?)?(?:(?:fiscal|fy)\s*)?"
    r"(?:q(?P<q>[1-4])|(?P<ord>first|second|third|fourth|last) quarter)"
    r"(?:\s*(?:of\s*)?(?:fy\s*)?'?(?P<year>\d{4}|\d{2})\b)?",
    re.I,
)
_REL_QUARTER = re.compile(
    r"\b(?:(?P<edge>end|start|beginning)[- ]of\s+)?(?:the\s+)?(?P<which>this|next|current|"
    r"following|coming) (?:fiscal )?quarter\b",
    re.I,
)
_REL_PERIOD = re.compile(
    r"\b(?:(?P<edge>end|start|beginning)[- ]of\s+)?(?:the\s+)?(?P<which>this|next|current|the)\s+"
    r"(?P<unit>month|year|fiscal year|fiscal|fy)\b"
    r"|\b(?P<short>year[- ]end|eoy|eom|eoq|end of fy)\b",
    re.I,
)
_WITHIN = re.compile(
    r"\b(?:within|in|over|inside(?: of)?|under)\s+(?:the\s+)?"
    rf"(?:next\s+|coming\s+|about\s+|around\s+|roughly\s+)*(?P<n>{_COUNT})\s+(?P<unit>day|week|month|year)s?\b",
    re.I,
)
_WEEKDAY = re.compile(
    rf"\b(?P<prep>by|on|before|this|next|until|till)\s+(?P<day>{_DAY_NAMES})\b", re.I
)
_MONTH = re.compile(
    rf"\b(?P<prep>by|in|before|until|till|end of|early|mid|late|start of|beginning of|around)\s+"
    rf"(?P<month>{_MONTH_NAMES})\b(?:\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b)?(?:,?\s+(?P<year>\d{{4}}))?",
    re.I,
)
_NEAR = re.compile(
    r"\b(?P<near>tomorrow|next week|this week|end of (?:the )?week|later this week|eow)\b", re.I
)
_CALENDAR = re.compile(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?"
    rf"\s+of\s+(?:{_MONTH_NAMES})|(?:{_MONTH_NAMES})\s+\d{{1,2}}(?:st|nd|rd|th)?)\b",
    re.I,
)


@dataclass(frozen=True)
class TimeBound:
    """A time expression as said, and the day it bounds (None when it cannot be resolved)."""

    phrase: str
    date: date | None
    within_days: int | None = None


def find_time_bounds(
    text: str, *, call_date: date | None, fiscal_year_start: int = 1
) -> list[TimeBound]:
    """Time expressions in `text`, resolved against `call_date` (None: phrases only)."""
    found: list[tuple[int, int, TimeBound]] = []
    for pattern, resolve in _RESOLVERS:
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e, _ in found):
                continue
            bound = resolve(match, call_date, fiscal_year_start)
            if bound is not None:
                found.append((match.start(), match.end(), bound))
    return [bound for _, _, bound in sorted(found, key=lambda item: item[0])]


def quarter_end(year: int, quarter: int, fiscal_year_start: int = 1) -> date:
    """Last day of fiscal `quarter` (1-4) of the fiscal year that starts in calendar `year`."""
    month_index = fiscal_year_start - 1 + 3 * quarter - 1
    y, m = year + month_index // 12, month_index % 12 + 1
    return date(y, m, calendar.monthrange(y, m)[1])


def _fiscal_quarter(day: date, fiscal_year_start: int) -> tuple[int, int]:
    """(fiscal year's calendar start year, quarter 1-4) containing `day`."""
    offset = (day.month - fiscal_year_start) % 12
    start_year = day.year if day.month >= fiscal_year_start else day.year - 1
    return start_year, offset // 3 + 1


def _edge(start: date, end: date, edge: str | None) -> date:
    """The day an edge word picks in [start, end]: its start, middle, or (default) its end."""
    if edge and edge.lower() in ("start", "beginning"):
        return start
    if edge and edge.lower() in ("middle", "mid"):
        return start + (end - start) / 2
    return end


def _quarter_span(start_year: int, quarter: int, fy: int) -> tuple[date, date]:
    previous = quarter_end(start_year, quarter - 1, fy) if quarter > 1 else None
    first = previous + timedelta(days=1) if previous else date(start_year, fy, 1)
    return first, quarter_end(start_year, quarter, fy)


def _quarter(m: re.Match[str], call: date | None, fy: int) -> TimeBound:
    ordinals = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 4}
    quarter = int(m.group("q")) if m.group("q") else ordinals[m.group("ord").lower()]
    if call is None:
        return TimeBound(m.group(0), None)
    start_year, current = _fiscal_quarter(call, fy)
    if m.group("year"):
        year = int(m.group("year"))
        start_year = (2000 + year if year < 100 else year) - (1 if fy > 1 else 0)
    elif quarter < current:
        start_year += 1
    return TimeBound(m.group(0), _edge(*_quarter_span(start_year, quarter, fy), m.group("edge")))


def _relative_quarter(m: re.Match[str], call: date | None, fy: int) -> TimeBound:
    if call is None:
        return TimeBound(m.group(0), None)
    start_year, quarter = _fiscal_quarter(call, fy)
    if m.group("which").lower() in ("next", "following", "coming"):
        start_year, quarter = (start_year + 1, 1) if quarter == 4 else (start_year, quarter + 1)
    return TimeBound(m.group(0), _edge(*_quarter_span(start_year, quarter, fy), m.group("edge")))


def _relative_period(m: re.Match[str], call: date | None, fy: int) -> TimeBound | None:
    if call is None:
        return TimeBound(m.group(0), None)
    short = (m.group("short") or "").lower().replace("-", " ")
    if short == "eoq":
        return TimeBound(m.group(0), quarter_end(*_fiscal_quarter(call, fy), fy))
    unit, later, edge = "year", False, None
    if short in ("eom",):
        unit = "month"
    elif short == "end of fy":
        unit = "fiscal"
    elif not short:
        which = m.group("which").lower()
        if which == "the" and not m.group("edge"):
            return None  # "the year" alone bounds nothing
        unit, later, edge = m.group("unit").lower(), which == "next", m.group("edge")
    if unit == "month":
        year, month = _next_month(call) if later else (call.year, call.month)
        end = date(year, month, calendar.monthrange(year, month)[1])
        return TimeBound(m.group(0), _edge(date(year, month, 1), end, edge))
    if unit == "year":
        first, end = date(call.year + later, 1, 1), date(call.year + later, 12, 31)
    else:
        start_year = _fiscal_quarter(call, fy)[0] + later
        first, end = date(start_year, fy, 1), quarter_end(start_year, 4, fy)
    return TimeBound(m.group(0), _edge(first, end, edge))


def _within(m: re.Match[str], call: date | None, fy: int) -> TimeBound:
    raw = m.group("n").lower()
    count = int(raw) if raw.isdigit() else _NUMBERS[raw]
    days = count * _UNIT_DAYS[m.group("unit").lower()]
    return TimeBound(m.group(0), call + timedelta(days=days) if call else None, days)


def _weekday(m: re.Match[str], call: date | None, fy: int) -> TimeBound:
    if call is None:
        return TimeBound(m.group(0), None)
    ahead = (_DAYS[m.group("day").lower()] - call.weekday()) % 7 or 7
    return TimeBound(m.group(0), call + timedelta(days=ahead))


def _month(m: re.Match[str], call: date | None, fy: int) -> TimeBound:
    if call is None:
        return TimeBound(m.group(0), None)
    month = _MONTHS[m.group("month").lower()]
    year = int(m.group("year")) if m.group("year") else call.year + (month < call.month)
    last = calendar.monthrange(year, month)[1]
    prep = m.group("prep").lower()
    default = {"early": 10, "start of": 1, "beginning of": 1, "mid": 15}.get(prep, last)
    day = min(int(m.group("day")), last) if m.group("day") else default
    return TimeBound(m.group(0), date(year, month, day))


def _calendar(m: re.Match[str], call: date | None, fy: int) -> TimeBound | None:
    base = datetime(call.year, call.month, call.day) if call else None
    settings: dict[str, Any] = {"PREFER_DATES_FROM": "future", "DATE_ORDER": "DMY"}
    if base is not None:
        settings["RELATIVE_BASE"] = base
    import dateparser  # type: ignore[import-untyped]  # loaded on first use: ~0.1 s

    parsed = dateparser.parse(m.group(0), languages=["en"], settings=settings)
    return TimeBound(m.group(0), parsed.date() if parsed else None)


def _near(m: re.Match[str], call: date | None, fy: int) -> TimeBound:
    """Tomorrow, or the Friday of this or next week."""
    if call is None:
        return TimeBound(m.group(0), None)
    near = m.group("near").lower()
    if near == "tomorrow":
        return TimeBound(m.group(0), call + timedelta(days=1))
    friday = call + timedelta(days=(4 - call.weekday()) % 7)
    return TimeBound(m.group(0), friday + timedelta(days=7 if near == "next week" else 0))


def _next_month(day: date) -> tuple[int, int]:
    return (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)


_Resolver = Callable[[re.Match[str], date | None, int], TimeBound | None]
_RESOLVERS: tuple[tuple[re.Pattern[str], _Resolver], ...] = (
    (_QUARTER, _quarter),
    (_REL_QUARTER, _relative_quarter),
    (_WITHIN, _within),
    (_CALENDAR, _calendar),
    (_MONTH, _month),
    (_REL_PERIOD, _relative_period),
    (_WEEKDAY, _weekday),
    (_NEAR, _near),
)
