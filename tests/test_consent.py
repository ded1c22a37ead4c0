"""An opt-out always holds: one suppression vocabulary for Segment, CRM exports and the governor;
zone labels never cost a row; an opt-out counts from the moment it is stored."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow.errors import InputWarning
from gtmflow.governor import Governor, GovernorPolicy
from gtmflow.models import (
    SUPPRESSING_EVENTS,
    SUPPRESSION_ALIASES,
    SUPPRESSION_TYPES,
    Action,
    Contact,
    Event,
)
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.events.crm import CONTACT_HEADERS, contact_from_row
from gtmflow.tools.events.event_store import SQLiteEventStore
from gtmflow.tools.events.ingest import ingest_contacts
from gtmflow.tools.events.segment import SEGMENT_EVENT_NAMES, from_segment, segment_event_type
from gtmflow.tools.events.timezones import WINDOWS_ZONES, ZONE_LABELS, iana_zone

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday noon
_SUPPRESSION_WORDS = re.compile(r"spam|bounce|unsubscri|opt(ed)?.?out|complain", re.I)


@pytest.fixture
def world(tmp_path: Path) -> tuple[SQLiteEventStore, Outbox, Governor]:
    events = SQLiteEventStore(tmp_path / "g.db")
    outbox = Outbox(tmp_path / "g.db")
    policy = GovernorPolicy(quiet_hours=None, frequency_cap=None)
    return events, outbox, Governor(policy, events=events, outbox=outbox)


def _verdict(world: tuple[SQLiteEventStore, Outbox, Governor], contact_id: str) -> str:
    _, outbox, governor = world
    action = Action(
        kind="send_email", contact_id=contact_id, payload={"subject": "Hi"}, graph="g",
        source=contact_id, created_at=NOW,
    )  # fmt: skip
    outbox.put([action])
    record = outbox.record(action.idempotency_key)
    assert record is not None
    return governor(record, NOW).decision


def _suppressing_segment_names() -> list[str]:
    named = [n for n in SEGMENT_EVENT_NAMES if _SUPPRESSION_WORDS.search(n)]
    return [*named, "Marked As Spam", "Hard Bounce", "Email Opt Out", "Complaint"]


@pytest.mark.parametrize("name", _suppressing_segment_names())
def test_every_segment_opt_out_bounce_or_complaint_suppresses(
    world: tuple[SQLiteEventStore, Outbox, Governor], name: str
) -> None:
    event = from_segment(
        {"type": "track", "event": name, "userId": "c", "timestamp": "2026-03-01T00:00:00Z"}
    )
    assert isinstance(event, Event) and event.type in SUPPRESSING_EVENTS
    world[0].write_events([event])

    assert _verdict(world, "c") == "cancel"


def test_every_mapped_segment_type_is_either_suppressing_or_not_about_consent() -> None:
    for name, kind in SEGMENT_EVENT_NAMES.items():
        assert (kind in SUPPRESSING_EVENTS) == bool(_SUPPRESSION_WORDS.search(name)), name
        assert segment_event_type(name) == kind


@pytest.mark.parametrize("kind", sorted(SUPPRESSION_TYPES))
def test_every_suppressing_type_and_alias_suppresses(
    world: tuple[SQLiteEventStore, Outbox, Governor], kind: str
) -> None:
    world[0].write_events(
        [Event(id="e", type=kind, contact_id="c", timestamp=NOW - timedelta(days=1))]
    )

    assert _verdict(world, "c") == "cancel"
    assert SUPPRESSION_ALIASES.get(kind, kind) in SUPPRESSING_EVENTS


_CRM_SUPPRESSION_HEADERS = [
    h for h, target in CONTACT_HEADERS.items() if target in SUPPRESSING_EVENTS
]


@pytest.mark.parametrize(
    "header", [*_CRM_SUPPRESSION_HEADERS, "unsubscribed", "bounced", "spam_complaint", "Opted Out"]
)
@pytest.mark.parametrize("value", ["true", "Yes", "MAILBOX_FULL", "2026-02-01"])
def test_every_crm_suppression_column_suppresses(
    world: tuple[SQLiteEventStore, Outbox, Governor], header: str, value: str
) -> None:
    world[0].write_contacts([contact_from_row({"Record ID": "c", header: value})])

    assert _verdict(world, "c") == "cancel"


@pytest.mark.parametrize("value", ["false", "0", "no", ""])
def test_a_crm_suppression_column_that_says_false_does_not_suppress(
    world: tuple[SQLiteEventStore, Outbox, Governor], value: str
) -> None:
    world[0].write_contacts(
        [contact_from_row({"Record ID": "c", "Unsubscribed from all email": value})]
    )

    assert _verdict(world, "c") == "allow"


def test_segment_identify_suppression_traits_suppress(
    world: tuple[SQLiteEventStore, Outbox, Governor],
) -> None:
    for contact_id, trait in (("a", "unsubscribed"), ("b", "emailOptOut"), ("c", "bounced")):
        contact = from_segment({"type": "identify", "userId": contact_id, "traits": {trait: True}})
        world[0].write_contacts([contact])

    assert [_verdict(world, c) for c in "abc"] == ["cancel"] * 3


# An opt-out counts once stored, whatever its timestamp ----------------------------------------


def test_an_opt_out_stamped_after_the_senders_clock_still_suppresses(
    world: tuple[SQLiteEventStore, Outbox, Governor],
) -> None:
    ahead = NOW + timedelta(minutes=7)  # the sender's clock is seven minutes ahead of ours
    world[0].write_events([Event(id="u", type="unsubscribed", contact_id="c", timestamp=ahead)])

    assert _verdict(world, "c") == "cancel"


# Time zones ------------------------------------------------------------------------------------

HUBSPOT_OPT_OUT = (
    "Record ID,Email,Time Zone,Unsubscribed from all email\n"
    "1,a@x.io,Eastern Time (US & Canada),true\n"
    "2,b@x.io,(GMT+01:00) Amsterdam,false\n"
    "3,c@x.io,Middle Earth Time,true\n"
)


def test_a_hubspot_row_with_a_zone_label_keeps_its_opt_out(tmp_path: Path) -> None:
    path = tmp_path / "hubspot.csv"
    path.write_text(HUBSPOT_OPT_OUT, encoding="utf-8")

    with SQLiteEventStore(tmp_path / "s.db") as store:
        with pytest.warns(InputWarning, match="'Middle Earth Time' is not known"):
            report = ingest_contacts(store, path)
        first, second, third = (store.contact(c) for c in "123")

    assert (report.accepted, report.rejected) == (3, 0)
    assert first is not None and second is not None and third is not None
    assert (first.timezone, first.subscription) == ("America/New_York", "unsubscribed")
    assert second.timezone == "Europe/Amsterdam"
    assert (third.timezone, third.subscription) == ("UTC", "unsubscribed")
    assert third.attributes["timezone_raw"] == "Middle Earth Time"
    assert report.warnings == (
        "line 4: time zone 'Middle Earth Time' is not known, so the contact was stored without "
        "one (quiet hours use UTC); use an IANA name such as 'America/New_York'",
    )


def test_a_segment_identify_with_an_unknown_zone_keeps_the_contact() -> None:
    notes: list[str] = []
    contact = from_segment(
        {
            "type": "identify",
            "userId": "u",
            "traits": {"timezone": "Nowhere/Land", "unsubscribed": True},
        },
        warn=notes.append,
    )

    assert isinstance(contact, Contact)
    assert (contact.timezone, contact.subscription) == ("UTC", "unsubscribed")
    assert len(notes) == 1 and "'Nowhere/Land' is not known" in notes[0]


@pytest.mark.parametrize(
    ("written", "zone"),
    [
        ("Eastern Time (US & Canada)", "America/New_York"),
        ("eastern time (us and canada)", "America/New_York"),
        ("(GMT-08:00) Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "Europe/Brussels"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("america_slash_new_york", "America/New_York"),
        ("(GMT+01:00) Central European Time (Europe/Berlin)", "Europe/Berlin"),
        ("europe/paris", "Europe/Paris"),
        ("PST", "America/Los_Angeles"),
        ("GMT-5", "Etc/GMT+5"),
        ("UTC+02:00", "Etc/GMT-2"),
        ("Mars/Olympus", None),
        ("UTC+05:30", None),
        ("", None),
    ],
)
def test_zone_names_as_crms_and_windows_write_them(written: str, zone: str | None) -> None:
    assert iana_zone(written) == zone


def test_every_zone_table_entry_is_a_real_iana_zone() -> None:
    from zoneinfo import ZoneInfo

    for table in (WINDOWS_ZONES, ZONE_LABELS):
        for name, zone in table.items():
            ZoneInfo(zone)
            assert iana_zone(name) is not None, name


def test_contact_rows_keep_their_json_shape_with_a_zone_label(tmp_path: Path) -> None:
    path = tmp_path / "contacts.jsonl"
    path.write_text(json.dumps({"id": "j", "timezone": "Central Time (US & Canada)"}) + "\n")

    with SQLiteEventStore(tmp_path / "s.db") as store:
        ingest_contacts(store, path)
        contact = store.contact("j")

    assert contact is not None and contact.timezone == "America/Chicago"
