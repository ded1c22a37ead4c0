"""Tests for the sample world: determinism, shape, validity, and the persona shares rules rely on.

Rule matches are computed here with plain Python over the parsed lines, independently of
gtmflow's pipes, so the generator is checked against what the three classic rules mean.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gtmflow.errors import ConfigError
from gtmflow.examples.sample_world import (
    CONTACT_HEADERS,
    MALFORMED_ROW_KINDS,
    SampleWorld,
    generate_sample_world,
)
from gtmflow.models import Event

SEGMENT_TRACK = {"Page Viewed": "page_view", "Email Opened": "email_open",
                 "Form Submitted": "form_submit"}  # fmt: skip
HUBSPOT_STAGES = {"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                  "opportunity", "customer"}  # fmt: skip
WEEK = timedelta(days=7)
MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Parsed:
    """The sample world read back: valid events per contact, bad lines by kind, and raw stats."""

    world: SampleWorld
    rows: list[dict[str, str]]
    events: dict[str, list[Event]]
    malformed: list[str]
    segment: list[dict[str, Any]]
    timestamps: list[datetime]
    blank_lines: int


def to_event(row: dict[str, Any]) -> Event:
    """Map a native row or a Segment payload the way gtmflow's ingester does, and validate it."""
    if row.get("type") == "track":
        row = {"id": row["messageId"], "type": SEGMENT_TRACK[row["event"]],
               "contact_id": row["userId"], "timestamp": row["timestamp"],
               "properties": row["properties"]}  # fmt: skip
    elif row.get("type") == "page":
        row = {"id": row["messageId"], "type": "page_view", "contact_id": row["userId"],
               "timestamp": row["timestamp"], "properties": row["properties"]}  # fmt: skip
    return Event.model_validate(row)


def malformed_kind(line: str) -> str | None:
    """Name the documented fault of a bad line, or None if the line is fine."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return "truncated_json"
    if row.get("type") not in ("track", "page") and "contact_id" not in row:
        return "missing_contact_id"
    stamp = row["timestamp"]
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        abbreviated = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d [A-Z]{3,4}", stamp)
        return "timezone_abbreviation" if abbreviated else "not_a_date"
    return "naive_timestamp" if parsed.tzinfo is None else None


def parse(world: SampleWorld) -> Parsed:
    """Read both files back."""
    with world.contacts_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    events: dict[str, list[Event]] = defaultdict(list)
    malformed, segment, stamps, blank = [], [], [], 0
    for line in world.events_jsonl.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            blank += 1
        elif kind := malformed_kind(line):
            malformed.append(kind)
        else:
            row = json.loads(line)
            if row["type"] in ("track", "page"):
                segment.append(row)
            event = to_event(row)
            events[event.contact_id].append(event)
            stamps.append(event.timestamp)
    for history in events.values():
        history.sort(key=lambda e: e.timestamp)
    return Parsed(world, rows, dict(events), malformed, segment, stamps, blank)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Parsed:
    return parse(generate_sample_world(tmp_path_factory.mktemp("world")))


def share(parsed: Parsed, matches: int) -> float:
    return matches / len(parsed.rows)


def pricing_times(history: list[Event]) -> list[datetime]:
    return [e.timestamp for e in history
            if e.type == "page_view" and e.properties.get("path") == "/pricing"]  # fmt: skip


def is_pricing_hot(history: list[Event]) -> bool:
    """Three or more /pricing views inside some 7-day window (inclusive)."""
    times = pricing_times(history)
    return any(times[i + 2] - times[i] <= WEEK for i in range(len(times) - 2))


def is_dormant(history: list[Event], end: datetime) -> bool:
    """History before the last 30 days and no email_open in them."""
    recent = end - MONTH
    opened = any(e.type == "email_open" and e.timestamp >= recent for e in history)
    return history[0].timestamp < recent and not opened


def downloaded_ebook(history: list[Event]) -> bool:
    return any(e.type == "content_download" and e.properties.get("asset_type") == "ebook"
               for e in history)  # fmt: skip


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first = generate_sample_world(tmp_path / "a", contacts=60, seed=3)
    again = generate_sample_world(tmp_path / "b", contacts=60, seed=3)
    other = generate_sample_world(tmp_path / "c", contacts=60, seed=4)
    assert first.events_jsonl.read_bytes() == again.events_jsonl.read_bytes()
    assert first.contacts_csv.read_bytes() == again.contacts_csv.read_bytes()
    assert first.events_jsonl.read_bytes() != other.events_jsonl.read_bytes()
    assert first.contacts_csv.read_bytes() != other.contacts_csv.read_bytes()


def test_leaves_only_the_two_files(tmp_path: Path) -> None:
    generate_sample_world(tmp_path, contacts=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.csv", "events.jsonl"]


# --- shape ------------------------------------------------------------------------------------


def test_window_defaults_to_90_days_ending_2026_03_31(parsed: Parsed) -> None:
    assert parsed.world.end == datetime(2026, 3, 31, tzinfo=UTC)
    assert parsed.world.start == parsed.world.end - timedelta(days=90)


def test_custom_end_moves_the_window(tmp_path: Path) -> None:
    end = datetime(2025, 6, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    world = parse(generate_sample_world(tmp_path, contacts=20, days=60, end=end))
    assert world.world.end == end and world.world.end.tzinfo is UTC
    assert all(world.world.start <= t < world.world.end for t in world.timestamps)


def test_counts_are_in_expected_ranges(parsed: Parsed) -> None:
    world = parsed.world
    assert world.contacts == len(parsed.rows) == 500
    assert 45_000 <= world.events <= 55_000
    assert world.events == sum(len(h) for h in parsed.events.values())
    assert world.malformed_rows == len(parsed.malformed) == 5
    assert parsed.blank_lines == 1


def test_contacts_csv_is_a_hubspot_style_export(parsed: Parsed) -> None:
    header = parsed.world.contacts_csv.read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(CONTACT_HEADERS)
    assert [r["Record ID"] for r in parsed.rows[:3]] == ["c-0001", "c-0002", "c-0003"]
    emails = [r["Email"] for r in parsed.rows]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d*@[a-z]+-[a-z]+\.com", e) for e in emails)
    assert {r["Lifecycle Stage"] for r in parsed.rows} == HUBSPOT_STAGES
    for zone in {r["Time Zone"] for r in parsed.rows}:
        ZoneInfo(zone)


# --- validity ---------------------------------------------------------------------------------


def test_only_the_documented_lines_are_malformed(parsed: Parsed) -> None:
    assert sorted(parsed.malformed) == sorted(MALFORMED_ROW_KINDS)


def test_every_valid_event_is_aware_in_window_and_for_a_known_contact(parsed: Parsed) -> None:
    world, ids = parsed.world, {r["Record ID"] for r in parsed.rows}
    assert all(t.tzinfo is not None and world.start <= t < world.end for t in parsed.timestamps)
    assert set(parsed.events) <= ids
    assert len({e.id for h in parsed.events.values() for e in h}) == world.events


def test_segment_payloads_are_about_two_percent_and_both_kinds(parsed: Parsed) -> None:
    assert 0.01 <= len(parsed.segment) / parsed.world.events <= 0.04
    kinds = {row["type"] for row in parsed.segment}
    names = {row["event"] for row in parsed.segment if row["type"] == "track"}
    assert kinds == {"track", "page"} and names == set(SEGMENT_TRACK)


def test_lines_are_roughly_but_not_strictly_in_time_order(parsed: Parsed) -> None:
    stamps = parsed.timestamps
    late = sum(1 for a, b in pairwise(stamps) if b < a - timedelta(hours=1))
    assert 0 < late < 0.01 * len(stamps)


def test_event_types_cover_the_journey(parsed: Parsed) -> None:
    types = {e.type for h in parsed.events.values() for e in h}
    assert types == {
        "page_view", "email_open", "email_click", "content_download", "form_submit",
        "webinar_registered", "webinar_attended", "demo_requested", "meeting_booked",
        "email_replied", "unsubscribed",
    }  # fmt: skip


# --- personas and rule shares -----------------------------------------------------------------


def test_ebook_rule_matches_20_to_30_percent(parsed: Parsed) -> None:
    matches = sum(downloaded_ebook(h) for h in parsed.events.values())
    assert 0.20 <= share(parsed, matches) <= 0.30


def test_pricing_rule_matches_10_to_20_percent(parsed: Parsed) -> None:
    matches = sum(is_pricing_hot(h) for h in parsed.events.values())
    assert 0.10 <= share(parsed, matches) <= 0.20


def test_dormant_rule_matches_20_to_30_percent(parsed: Parsed) -> None:
    end = parsed.world.end
    matches = sum(is_dormant(h, end) for h in parsed.events.values())
    assert 0.20 <= share(parsed, matches) <= 0.30


def test_some_contacts_have_exactly_three_pricing_views_spanning_exactly_7_days(
    parsed: Parsed,
) -> None:
    spans = [pricing_times(h) for h in parsed.events.values()]
    assert any(len(t) == 3 and t[2] - t[0] == WEEK for t in spans)


def test_new_contacts_exist_and_are_never_dormant(parsed: Parsed) -> None:
    end = parsed.world.end
    new = [h for h in parsed.events.values() if h[0].timestamp > end - MONTH]
    assert new
    assert not any(is_dormant(h, end) for h in new)


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"contacts": 0}, {"days": 0}, {"end": datetime(2026, 3, 31)}],
)
def test_rejects_bad_arguments(tmp_path: Path, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        generate_sample_world(tmp_path, **options)
