"""Generate a realistic, reproducible sample GTM workspace: a HubSpot contact export and events.

`generate_sample_world` writes two files into a directory:

- `contacts.csv`: a HubSpot-style contact export (`Record ID`, `First Name`, ... `Country`).
- `events.jsonl`: about 100 events per contact over `days` days, one JSON object a line.
  Most lines are native gtmflow events (`{"id", "type", "contact_id", "timestamp",
  "properties"}`); about 2% are Segment-spec `track` / `page` payloads mixed in, as when a
  second source is synced into the same export.

Contacts follow personas, assigned in shuffled blocks of 20 so the shares are exact:
15% hot evaluators (bursts of `/pricing` views, demo requests; a few with exactly three
pricing views spanning exactly 7 days to the second, the inclusive-window edge case; a few near
misses), 25% researchers (ebooks, whitepapers, webinars), 25% dormant contacts (email opens
stop at least 31 days before `end`; their history starts 60+ days before it), 5% newcomers
(first event less than 30 days before `end`) and 30% light visitors. Every contact that is not
dormant and has history older than 30 days opens at least one email in the last 30 days, so
the classic "no `email_open` for 30 days" rule matches the dormant share and nothing else.

Lines are in arrival order, which is roughly time order: about 4% of contacts have one day of
events that arrives one to three days late, as a delayed sync batch would.

Exactly `MALFORMED_ROWS` lines are deliberately bad, so a demo shows dead-lettering (see
`MALFORMED_ROW_KINDS`): a naive timestamp (`"2026-01-01 10:00"` style), a missing
`contact_id`, a truncated JSON line, a timestamp with a timezone abbreviation instead of an
offset (`"... PST"`) and a timestamp that is not a date (`"last tuesday"`). One blank line is
also written; blank lines are ignored by readers and not counted as malformed.

Everything derives from `random.Random` seeded from `seed`, with no wall clock and no set
ordering, so the same arguments give byte-identical files. Events are generated one contact at
a time and spooled to day buckets on disk, so memory stays flat however many contacts you ask
for.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import IO, Any, Final
from zoneinfo import ZoneInfo

from gtmflow.errors import ConfigError
from gtmflow.examples import sample_vocabulary as vocab

__all__ = [
    "CONTACT_HEADERS",
    "DEFAULT_END",
    "MALFORMED_ROWS",
    "MALFORMED_ROW_KINDS",
    "SampleWorld",
    "generate_sample_world",
]

DEFAULT_END: Final = datetime(2026, 3, 31, tzinfo=UTC)
"""Fixed default end of the window, so the demo reads the same on every machine and day."""

CONTACT_HEADERS: Final = (
    "Record ID", "First Name", "Last Name", "Email", "Company Name", "Job Title",
    "Lifecycle Stage", "Time Zone", "Industry", "Number of Employees", "Country",
)  # fmt: skip
"""Column headers of `contacts.csv`, as a HubSpot contact export names them."""

MALFORMED_ROW_KINDS: Final = (
    "naive_timestamp", "missing_contact_id", "truncated_json",
    "timezone_abbreviation", "not_a_date",
)  # fmt: skip
"""The deliberately bad lines in `events.jsonl`, one of each."""

MALFORMED_ROWS: Final = len(MALFORMED_ROW_KINDS)

_DAY: Final = 86_400
_WEEK: Final = 7 * _DAY
_MAX_BUCKETS: Final = 128

_Raw = tuple[int, str, dict[str, Any]]
"""A generated event before serialisation: (epoch seconds, type, properties)."""


@dataclass(frozen=True)
class SampleWorld:
    """What `generate_sample_world` wrote, and the window its events cover.

    Attributes:
        contacts_csv: Path of the HubSpot-style contact export.
        events_jsonl: Path of the events file.
        contacts: Number of contact rows written.
        events: Number of valid event lines, native events and Segment payloads together.
        malformed_rows: Number of deliberately bad lines (blank lines are not counted).
        start: First instant of the window (aware, UTC); every valid event is at or after it.
        end: End of the window (aware, UTC); every valid event is before it.
    """

    contacts_csv: Path
    events_jsonl: Path
    contacts: int
    events: int
    malformed_rows: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Calendar:
    """The world's fixed dates: window bounds, email sends and webinars (epoch seconds)."""

    start: int
    end: int
    sends: tuple[tuple[int, str, str], ...]  # (sent at, campaign, email_id)
    webinars: tuple[tuple[int, str, str], ...]  # (starts at, webinar_id, title)


@dataclass(frozen=True)
class _Person:
    """One contact row plus the persona that drives their journey."""

    number: int
    record_id: str
    row: tuple[str, ...]
    zone: ZoneInfo
    persona: str
    variant: str


def generate_sample_world(
    directory: str | Path,
    *,
    contacts: int = 500,
    days: int = 90,
    seed: int = 7,
    end: datetime | None = None,
) -> SampleWorld:
    """Write a deterministic sample workspace (`contacts.csv`, `events.jsonl`) into `directory`.

    Args:
        directory: Where to write; created if missing. Existing files of the same name are
            replaced.
        contacts: How many contacts to generate (about 100 events each over 90 days; volume
            grows with `days`).
        days: Length of the window; events fall in `[end - days, end)`. Persona shares hold for
            60 days or more.
        seed: Seed of every random choice; the same arguments give byte-identical files.
        end: End of the window, an aware datetime (truncated to the second); defaults to
            `DEFAULT_END`, 2026-03-31T00:00:00Z.

    Returns:
        The written paths, counts and window.

    Raises:
        ConfigError: If `contacts` or `days` is below 1 or `end` has no timezone.
    """
    end_at = _check_args(contacts, days, end)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    calendar = _make_calendar(int(end_at.timestamp()), days)
    world = SampleWorld(
        contacts_csv=folder / "contacts.csv",
        events_jsonl=folder / "events.jsonl",
        contacts=contacts,
        events=0,
        malformed_rows=MALFORMED_ROWS,
        start=end_at - timedelta(days=days),
        end=end_at,
    )
    with _Spool(folder, calendar) as spool:
        events = _write_contacts(world, calendar, seed, spool)
        for arrival, line in _malformed_lines(calendar, contacts, Random(f"{seed}/malformed")):
            spool.add(arrival, line)
        spool.merge_into(world.events_jsonl)
    return replace(world, events=events)


def _check_args(contacts: int, days: int, end: datetime | None) -> datetime:
    """Validate the arguments and return the window end as a whole-second UTC datetime."""
    if contacts < 1 or days < 1:
        raise ConfigError(
            f"'contacts' and 'days' must be at least 1, got contacts={contacts}, days={days}"
        )
    end = DEFAULT_END if end is None else end
    if end.tzinfo is None or end.utcoffset() is None:
        raise ConfigError(
            f"'end' must be timezone-aware, got {end.isoformat()!r}; "
            "pass e.g. datetime(2026, 3, 31, tzinfo=UTC)"
        )
    return end.astimezone(UTC).replace(microsecond=0)


def _write_contacts(world: SampleWorld, calendar: _Calendar, seed: int, spool: _Spool) -> int:
    """Generate each contact's row and journey; write rows to the CSV, events to the spool."""
    encoder = json.JSONEncoder(separators=(",", ":"))
    seen_emails: set[str] = set()  # membership only; never iterated
    count = 0
    with world.contacts_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CONTACT_HEADERS)
        for number in range(1, world.contacts + 1):
            rng = Random(f"{seed}/contact/{number}")
            person = _make_person(number, _persona(seed, number), rng, seen_emails)
            writer.writerow(person.row)
            for arrival, line in _lines(person, _journey(person, calendar, rng), rng, encoder):
                spool.add(arrival, line)
                count += 1
    return count


# --- contacts ---------------------------------------------------------------------------------


def _persona(seed: int, number: int) -> tuple[str, str]:
    """Return the (persona, variant) of contact `number`, from its shuffled block of 20."""
    block, slot = divmod(number - 1, len(vocab.BLOCK))
    order = list(vocab.BLOCK)
    Random(f"{seed}/block/{block}").shuffle(order)
    persona, variant = order[slot]
    if persona == "hot" and variant == "first":
        variant = "exact" if block % 2 == 0 else "burst"
    return persona, variant


def _make_person(number: int, persona: tuple[str, str], rng: Random, seen: set[str]) -> _Person:
    """Build one contact: name, unique email, company firmographics, title, stage, time zone."""
    first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
    company = f"{rng.choice(vocab.COMPANY_ROOTS)} {rng.choice(vocab.COMPANY_SUFFIXES)}"
    zones, (industry, employees, country) = _company(company)
    zone = zones[0] if rng.random() < 0.7 else rng.choice(zones)
    email = _unique_email(first, last, company, number, seen)
    record_id, title = f"c-{number:04d}", rng.choice(vocab.TITLES)
    stage = rng.choice(vocab.STAGES[persona[0]])
    row = (record_id, first, last, email, company, title, stage, zone, industry, employees, country)
    return _Person(number, record_id, row, ZoneInfo(zone), *persona)


def _company(name: str) -> tuple[tuple[str, ...], tuple[str, str, str]]:
    """Return a company's time zones and its industry, head count and country (fixed per name)."""
    rng = Random(f"company/{name}")
    country, zones = rng.choices(vocab.COUNTRY_ZONES, cum_weights=vocab.COUNTRY_CUM)[0]
    return zones, (rng.choice(vocab.INDUSTRIES), rng.choice(vocab.EMPLOYEES), country)


def _unique_email(first: str, last: str, company: str, number: int, seen: set[str]) -> str:
    """Return `first.last@company-domain.com`, made unique with the record number if taken."""
    local = f"{first}.{last}".lower().replace("ü", "ue")
    email = f"{local}@{company.lower().replace(' ', '-')}.com"
    if email in seen:
        email = email.replace("@", f"{number}@", 1)
    seen.add(email)
    return email


# --- calendar ---------------------------------------------------------------------------------


def _make_calendar(end: int, days: int) -> _Calendar:
    """Lay out the fixed email sends and webinars of the window ending at `end`."""
    start = end - days * _DAY
    sends = [*_newsletters(start, end), *_webinar_invites(start, end)]
    sends.sort()
    numbered = tuple((at, name, f"em-{i:03d}") for i, (at, name) in enumerate(sends, 1))
    return _Calendar(start, end, numbered, _webinars(start, end))


def _weekday_at(day_start: int, weekday: int, hour: int) -> int:
    """Return the first `weekday` (0 = Monday) at `hour` UTC on or after the day of `day_start`."""
    day = datetime.fromtimestamp(day_start - day_start % _DAY, UTC)
    ahead = (weekday - day.weekday()) % 7
    return int((day + timedelta(days=ahead, hours=hour)).timestamp())


def _newsletters(start: int, end: int) -> Iterator[tuple[int, str]]:
    """Yield the weekly newsletter sends: Tuesdays, 14:00 UTC."""
    at = _weekday_at(start + _DAY, 1, 14)
    while at < end - _DAY:
        yield at, "newsletter-" + time.strftime("%Y-%m-%d", time.gmtime(at))
        at += _WEEK


def _webinars(start: int, end: int) -> tuple[tuple[int, str, str], ...]:
    """Place three webinars on Thursdays, 16:00 UTC, at 1/4, 1/2 and 3/4 of the window."""
    span = end - start
    slots = (_weekday_at(start + span * k // 4, 3, 16) for k in (1, 2, 3))
    return tuple(
        (at, f"wb-{i:02d}", title)
        for i, (at, title) in enumerate(zip(slots, vocab.WEBINAR_TITLES, strict=True), 1)
        if start + _DAY < at < end
    )


def _webinar_invites(start: int, end: int) -> Iterator[tuple[int, str]]:
    """Yield one invite per webinar, sent ten days before it."""
    for at, webinar_id, _ in _webinars(start, end):
        if at - 10 * _DAY >= start:
            yield at - 10 * _DAY, f"webinar-invite-{webinar_id}"


# --- journeys ---------------------------------------------------------------------------------


@dataclass
class _Journey:
    """Builds one contact's events; persona functions compose its small behaviours."""

    person: _Person
    calendar: _Calendar
    rng: Random
    pricing_left: int = 2
    events: list[_Raw] = field(default_factory=list)

    def add(self, at: int, kind: str, **properties: Any) -> None:
        """Record one event."""
        self.events.append((at, kind, properties))

    def local_time(self, lo: int, hi: int) -> int:
        """Pick an instant in `[lo, hi)`, mostly on weekdays, mostly in local working hours."""
        rng = self.rng
        for _ in range(4):
            day = datetime.fromtimestamp(rng.randrange(lo, max(hi, lo + 1)), self.person.zone)
            if day.weekday() < 5 or rng.random() < 0.15:
                break
        hour = rng.choices(vocab.HOURS, cum_weights=vocab.HOUR_CUM)[0]
        local = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
        at = int(local.timestamp())
        # Moving to the chosen hour can leave the range by less than a day; step back inside.
        if at < lo:
            return at + _DAY
        return at - _DAY if at >= hi and at - _DAY >= lo else at

    def path(self) -> str:
        """Pick the next page by the persona's interests, within the pricing-view budget."""
        interest = vocab.INTEREST[self.person.persona]
        group = self.rng.choices(range(len(vocab.PATH_GROUPS)), cum_weights=interest)[0]
        if group == vocab.PRICING_GROUP and self.pricing_left <= 0:
            group = vocab.CUSTOMERS_GROUP
        elif group == vocab.PRICING_GROUP:
            self.pricing_left -= 1
        return self.rng.choice(vocab.PATH_GROUPS[group])

    def session(self, at: int, pages: float, utm: tuple[str | None, ...] | None = None) -> int:
        """Add a browsing session of about `pages` page views from `at`; return its end."""
        rng = self.rng
        count = 1 + int(rng.expovariate(1 / max(pages - 1, 0.01)))
        first: dict[str, Any] = {}
        if utm is None and rng.random() < 0.45:
            utm = rng.choice(vocab.UTMS)
        if utm is not None:
            keys = ("referrer", "utm_source", "utm_medium", "utm_campaign")
            first = {key: value for key, value in zip(keys, utm, strict=True) if value}
        for i in range(count):
            self.add(at, "page_view", path=self.path(), **(first if i == 0 else {}))
            at += 8 + int(rng.expovariate(1 / 70))
        return at

    def browse(self, lo: int, hi: int, per_week: float, pages: float) -> None:
        """Add Poisson-ish browsing sessions between `lo` and `hi`."""
        weeks = max(hi - lo, 0) / _WEEK
        for _ in range(round(self.rng.gauss(per_week * weeks, math.sqrt(per_week * weeks + 1)))):
            self.session(self.local_time(lo, hi), pages)

    def opens(self, lo: int, hi: int, rate: float) -> None:
        """Open each campaign sent in `[lo, hi)` with probability `rate`, all opens before `hi`."""
        for sent, campaign, email_id in self.calendar.sends:
            if lo <= sent < hi and self.rng.random() < rate:
                self.open_email(sent, campaign, email_id, hi)

    def open_email(self, sent: int, campaign: str, email_id: str, hi: int) -> None:
        """Open one email (sometimes twice), sometimes click through to a session."""
        rng = self.rng
        delay = int(rng.expovariate(1 / 2400)) if rng.random() < 0.55 else rng.randrange(3 * _DAY)
        at, email = min(sent + 30 + delay, hi - 1), {"campaign": campaign, "email_id": email_id}
        self.add(at, "email_open", **email)
        if rng.random() < 0.2:
            self.add(at + rng.randrange(3600, _DAY), "email_open", **email)
        if rng.random() < 0.22:
            self.add(at + rng.randrange(5, 120), "email_click", **email)
            self.session(at + 130, 3, (None, "newsletter", "email", campaign))

    def ensure_recent_open(self, since: int) -> None:
        """Make sure a contact with history before the last 30 days opened mail in them."""
        recent = self.calendar.end - 30 * _DAY
        if since >= recent or any(e[1] == "email_open" and e[0] >= recent for e in self.events):
            return
        candidates = [send for send in self.calendar.sends if send[0] >= recent]
        if candidates:
            self.open_email(*self.rng.choice(candidates), self.calendar.end)

    def download(self, lo: int, hi: int, assets: tuple[tuple[str, str, str], ...]) -> None:
        """Visit a resource page and download one of `assets`."""
        asset, at = self.rng.choice(assets), self.local_time(lo, hi)
        self.add(at, "page_view", path=f"/resources/{asset[0]}")
        properties = dict(zip(("asset_id", "asset_type", "title"), asset, strict=True))
        self.add(at + self.rng.randrange(20, 200), "content_download", **properties)

    def webinars(self, lo: int, rate: float) -> None:
        """Register for webinars after `lo` with probability `rate`; attend most of them."""
        for at, webinar_id, title in self.calendar.webinars:
            if at - 3 * _DAY <= lo or self.rng.random() >= rate:
                continue
            webinar = {"webinar_id": webinar_id, "title": title}
            registered = self.local_time(max(lo, at - 12 * _DAY), at - _DAY)
            self.add(registered, "webinar_registered", **webinar)
            if self.rng.random() < 0.6:
                self.add(at + self.rng.randrange(0, 600), "webinar_attended", **webinar)

    def pricing_views(self, times: list[int]) -> None:
        """Add one `/pricing` page view at each instant, bypassing the budget."""
        for at in times:
            self.add(at, "page_view", path="/pricing")

    def demo(self, at: int) -> None:
        """Request a demo; sometimes book the meeting and reply to the follow-up."""
        rng = self.rng
        self.add(at, "form_submit", form="demo_request", page="/pricing")
        self.add(at + 2, "demo_requested", source="pricing_page")
        if rng.random() < 0.4:
            reply = {"email_id": "seq-demo-followup-1", "sequence": "inbound-demo"}
            self.add(at + rng.randrange(3600, 2 * _DAY), "email_replied", **reply)
        if rng.random() < 0.6:
            meeting = {"meeting_type": "demo", "duration_minutes": 30}
            self.add(at + rng.randrange(4 * 3600, 3 * _DAY), "meeting_booked", **meeting)


def _journey(person: _Person, calendar: _Calendar, rng: Random) -> list[_Raw]:
    """Generate one contact's events, in time order, all inside the window."""
    journey = _Journey(person, calendar, rng)
    match person.persona:
        case "hot":
            _hot(journey)
        case "researcher":
            _researcher(journey)
        case "dormant":
            _dormant(journey)
        case "new":
            _newcomer(journey)
        case _:
            _light(journey)
    events = [e for e in journey.events if calendar.start <= e[0] < calendar.end]
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def _first_seen(journey: _Journey, earliest: int, latest: int) -> int:
    """Pick when the contact first shows up and add that first session; return the instant."""
    cal = journey.calendar
    lo = max(cal.start, earliest)
    first = journey.local_time(lo, max(lo + 1, min(latest, cal.end - _DAY)))
    journey.session(first, 4)
    return first


def _hot(journey: _Journey) -> None:
    """An evaluator: heavy browsing, bursts of pricing views, a demo request."""
    cal, rng, variant = journey.calendar, journey.rng, journey.person.variant
    journey.pricing_left = 99 if variant in ("burst", "ebook") else 0
    first = _first_seen(journey, cal.start, cal.end - 40 * _DAY)
    journey.browse(first, cal.end, 5, 5)
    journey.opens(first, cal.end, 0.6)
    journey.ensure_recent_open(first)
    if variant == "exact" or (variant == "maybe" and rng.random() < 0.7):
        _pricing_week(journey, first, exact=variant == "exact")
    elif variant == "maybe":
        _pricing_near_miss(journey, first)
    else:
        _pricing_burst(journey, first)
    if variant == "ebook" and rng.random() < 0.5:
        journey.download(first, cal.end, vocab.EBOOKS)


def _pricing_burst(journey: _Journey, first: int) -> None:
    """One or two bursts of three to six pricing views within a few days, then a demo."""
    cal, rng = journey.calendar, journey.rng
    for _ in range(rng.choice((1, 1, 2))):
        at = journey.local_time(max(first, cal.end - 45 * _DAY), cal.end - 7 * _DAY)
        views = sorted(at + rng.randrange(0, 5 * _DAY) for _ in range(rng.randrange(2, 6)))
        journey.pricing_views([at, *views])
        if rng.random() < 0.6:
            journey.demo(views[-1] + rng.randrange(60, 900))


def _pricing_week(journey: _Journey, first: int, *, exact: bool) -> None:
    """Three pricing views; with `exact`, the last is exactly 7 days after the first."""
    cal, rng = journey.calendar, journey.rng
    at = journey.local_time(max(first, cal.start + _DAY), cal.end - 9 * _DAY)
    span = _WEEK if exact else rng.randrange(_DAY, 6 * _DAY)
    journey.pricing_views([at, at + rng.randrange(3600, span - 3600), at + span])


def _pricing_near_miss(journey: _Journey, first: int) -> None:
    """Three pricing views spread over 8 to 12 days: interested, but not hot by the rule."""
    cal, rng = journey.calendar, journey.rng
    at = journey.local_time(max(first, cal.start + _DAY), cal.end - 14 * _DAY)
    span = rng.randrange(8 * _DAY, 12 * _DAY)
    journey.pricing_views([at, at + rng.randrange(_DAY, 6 * _DAY), at + span])


def _researcher(journey: _Journey) -> None:
    """A reader: blog-heavy sessions, downloads, webinars."""
    cal, rng = journey.calendar, journey.rng
    first = _first_seen(journey, cal.start, cal.end - 35 * _DAY)
    journey.browse(first, cal.end, 3.5, 4.5)
    journey.opens(first, cal.end, 0.55)
    journey.ensure_recent_open(first)
    if journey.person.variant == "ebook":
        journey.download(first, cal.end, vocab.EBOOKS)
    for _ in range(rng.randrange(1, 4)):
        journey.download(first, cal.end, vocab.OTHER_ASSETS)
    journey.webinars(first, 0.45)


def _dormant(journey: _Journey) -> None:
    """Active for a while, then silent on email for 31+ days before the end of the window."""
    cal, rng = journey.calendar, journey.rng
    first = _first_seen(journey, cal.start, cal.end - 60 * _DAY)
    quiet = rng.randrange(min(first + 14 * _DAY, cal.end - 31 * _DAY), cal.end - 31 * _DAY + 1)
    journey.browse(first, quiet, 4, 4)
    journey.opens(first, quiet, 0.5)
    earlier = [send for send in cal.sends if first <= send[0] < quiet]
    if earlier and not any(e[1] == "email_open" for e in journey.events):
        journey.open_email(*rng.choice(earlier), quiet)
    if rng.random() < 0.04:
        journey.download(first, quiet, vocab.EBOOKS)
    if rng.random() < 0.2:  # still visits the site now and then, never opens mail
        journey.session(journey.local_time(quiet, cal.end), 2)
    if rng.random() < 0.15:
        _unsubscribe(journey, quiet)


def _unsubscribe(journey: _Journey, quiet: int) -> None:
    """Unsubscribe shortly after the last email open, before going quiet."""
    last_open = max((e[0] for e in journey.events if e[1] == "email_open"), default=quiet - 3600)
    at = min(last_open + journey.rng.randrange(20, 3600), quiet - 1)
    reason = journey.rng.choice(("too_many_emails", "not_relevant", "other"))
    journey.add(at, "unsubscribed", reason=reason)


def _newcomer(journey: _Journey) -> None:
    """Arrived in the last 30 days: signs up for the newsletter, browses, opens what follows."""
    cal, rng = journey.calendar, journey.rng
    first = _first_seen(journey, cal.end - 28 * _DAY, cal.end - 2 * _DAY)
    journey.add(first + rng.randrange(60, 600), "form_submit", form="newsletter", page="/blog")
    journey.browse(first, cal.end, 4, 4)
    journey.opens(first, cal.end, 0.6)
    if rng.random() < 0.15:
        contact_us = journey.local_time(first, cal.end)
        journey.add(contact_us, "form_submit", form="contact_us", page="/contact")


def _light(journey: _Journey) -> None:
    """The long tail: a few short visits, an occasional email open."""
    cal, rng = journey.calendar, journey.rng
    journey.pricing_left = 1
    first = _first_seen(journey, cal.start, cal.end - 2 * _DAY)
    journey.browse(first, cal.end, 1.8, 3)
    journey.opens(first, cal.end, 0.35)
    journey.ensure_recent_open(first)
    if rng.random() < 0.03:
        journey.download(first, cal.end, vocab.EBOOKS)


# --- serialisation ----------------------------------------------------------------------------


def _lines(
    person: _Person, events: list[_Raw], rng: Random, encoder: json.JSONEncoder
) -> Iterator[tuple[int, str]]:
    """Serialise a contact's events as (arrival, JSON line); some as Segment, some late."""
    late_day, delay = -1, 0
    if events and rng.random() < 0.04:  # one day of events arrives in a late sync batch
        late_day, delay = rng.choice(events)[0] // _DAY, rng.randrange(_DAY, 3 * _DAY)
    segment_ok = person.variant != "exact"  # keep the exact-window edge case plain
    for i, (at, kind, props) in enumerate(events, 1):
        arrival = at + delay if at // _DAY == late_day else at
        if segment_ok and kind in vocab.SEGMENT_TRACK and rng.random() < vocab.SEGMENT_SHARE:
            payload = _segment(person.record_id, at, kind, props, rng)
        else:
            payload = {
                "id": f"ev-{person.number:05d}-{i:04d}",
                "type": kind,
                "contact_id": person.record_id,
                "timestamp": _iso(at),
                "properties": props,
            }
        yield arrival, encoder.encode(payload)


def _segment(user: str, at: int, kind: str, props: dict[str, Any], rng: Random) -> dict[str, Any]:
    """Return a Segment-spec `track` or `page` payload for a native event."""
    stamp = f"{_iso(at)[:-1]}.{rng.randrange(1000):03d}Z"
    message_id = f"ajs-next-{uuid.UUID(int=rng.getrandbits(128), version=4).hex}"
    common = {"messageId": message_id, "userId": user, "timestamp": stamp}
    if kind == "page_view" and rng.random() < 0.5:
        name = props["path"].strip("/").split("/")[0].title() or "Home"
        return {"type": "page", "name": name, "properties": props, **common}
    return {"type": "track", "event": vocab.SEGMENT_TRACK[kind], **common, "properties": props}


def _iso(at: int) -> str:
    """Format epoch seconds as ISO-8601 UTC with a `Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _malformed_lines(calendar: _Calendar, contacts: int, rng: Random) -> list[tuple[int, str]]:
    """Return (arrival, line) for each of `MALFORMED_ROW_KINDS`, in order, then a blank line."""
    span = calendar.end - calendar.start
    at = [calendar.start + span * k // 20 for k in (2, 6, 10, 14, 17, 19)]
    who = [f"c-{rng.randrange(1, contacts + 1):04d}" for _ in at]
    naive = time.strftime("%Y-%m-%d %H:%M", time.gmtime(at[0] + 10 * 3600))
    abbreviated = time.strftime("%Y-%m-%dT%H:%M:%S PST", time.gmtime(at[3]))
    newsletter = {"campaign": "newsletter", "email_id": "em-001"}
    lines = (
        _bad_row("naive", "page_view", who[0], naive, {"path": "/pricing"}),
        _bad_row("no-contact", "email_open", None, _iso(at[1]), newsletter),
        f'{{"id":"bad-truncated","type":"page_view","contact_id":"{who[2]}","timest',
        _bad_row("tz-abbreviation", "page_view", who[3], abbreviated, {"path": "/"}),
        _bad_row("not-a-date", "form_submit", who[4], "last tuesday", {"form": "contact_us"}),
        "",
    )
    return list(zip(at, lines, strict=True))


def _bad_row(name: str, kind: str, contact: str | None, stamp: str, props: dict[str, str]) -> str:
    """Return one JSON event line with id `bad-<name>`, without `contact_id` if it is None."""
    row = {"id": f"bad-{name}", "type": kind, "contact_id": contact, "timestamp": stamp,
           "properties": props}  # fmt: skip
    return json.dumps({k: v for k, v in row.items() if v is not None}, separators=(",", ":"))


class _Spool:
    """Day buckets on disk that turn per-contact output into one arrival-ordered file."""

    def __init__(self, folder: Path, calendar: _Calendar) -> None:
        self._start = calendar.start
        span = calendar.end - calendar.start
        self._width = max(_DAY, -(-span // _MAX_BUCKETS))
        self._count = -(-(span + 3 * _DAY) // self._width)  # room for late batches
        self._tmp = tempfile.TemporaryDirectory(prefix=".sample-world-", dir=folder)
        self._files: list[IO[str]] = []

    def __enter__(self) -> _Spool:
        root = Path(self._tmp.name)
        self._files = [
            (root / f"{i:04d}.txt").open("w+", encoding="utf-8") for i in range(self._count)
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._files:
            handle.close()
        self._tmp.cleanup()

    def add(self, arrival: int, line: str) -> None:
        """Spool one line under its arrival time."""
        offset = arrival - self._start
        bucket = min(max(offset // self._width, 0), self._count - 1)
        self._files[bucket].write(f"{offset:010d} {line}\n")

    def merge_into(self, path: Path) -> None:
        """Write every spooled line to `path`, bucket by bucket, sorted by arrival in each."""
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for handle in self._files:
                handle.seek(0)
                out.writelines(line[11:] for line in sorted(handle))
