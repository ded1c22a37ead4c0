"""Tests for the Segment-spec mapping: track, page and identify payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from gtmflow.errors import InputError
from gtmflow.models import Contact, Event
from gtmflow.tools.events.segment import (
    SEGMENT_EVENT_NAMES,
    from_segment,
    is_segment_payload,
    segment_event_type,
    snake_case,
)


def track(event: str, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "track",
        "event": event,
        "messageId": "msg-1",
        "userId": "u1",
        "timestamp": "2026-03-01T10:00:00Z",
        "properties": {"title": "Pricing guide"},
    }
    return {**payload, **extra}


def as_event(payload: dict[str, Any]) -> Event:
    result = from_segment(payload)
    assert isinstance(result, Event)
    return result


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Page Viewed", "page_view"),
        ("Email Opened", "email_open"),
        ("Email Link Clicked", "email_click"),
        ("Form Submitted", "form_submit"),
        ("Content Downloaded", "content_download"),
        ("Ebook Downloaded", "content_download"),
        ("Webinar Attended", "webinar_attended"),
        ("Demo Requested", "demo_requested"),
        ("Meeting Booked", "meeting_booked"),
        ("Unsubscribed", "unsubscribed"),
        ("Email Bounced", "bounced"),
        ("Trial Started", "trial_started"),
        ("trialStarted", "trial_started"),
        ("page viewed", "page_view"),
        ("  Email Opened ", "email_open"),
    ],
)
def test_event_names_map_to_gtmflow_types(name: str, kind: str) -> None:
    assert segment_event_type(name) == kind
    assert as_event(track(name)).type == kind


def test_every_mapped_type_is_snake_case() -> None:
    for kind in SEGMENT_EVENT_NAMES.values():
        assert kind == snake_case(kind)


def test_track_maps_ids_time_and_properties() -> None:
    event = as_event(track("Demo Requested"))

    assert event == Event(
        id="msg-1",
        type="demo_requested",
        contact_id="u1",
        timestamp=datetime(2026, 3, 1, 10, tzinfo=UTC),
        properties={"title": "Pricing guide"},
    )


def test_anonymous_id_is_used_without_user_id() -> None:
    payload = track("Page Viewed", anonymousId="anon-7")
    del payload["userId"]

    assert as_event(payload).contact_id == "anon-7"


def test_numeric_user_id_becomes_text() -> None:
    assert as_event(track("Page Viewed", userId=42)).contact_id == "42"


def test_original_timestamp_is_the_fallback() -> None:
    payload = track("Page Viewed", originalTimestamp="2026-03-02T00:00:00+01:00")
    del payload["timestamp"]

    assert as_event(payload).timestamp == datetime(2026, 3, 1, 23, tzinfo=UTC)


def test_ebook_download_implies_asset_type_unless_given() -> None:
    assert as_event(track("Ebook Downloaded")).properties["asset_type"] == "ebook"
    explicit = track("Ebook Downloaded", properties={"asset_type": "guide"})
    assert as_event(explicit).properties["asset_type"] == "guide"


def test_campaign_context_becomes_utm_properties() -> None:
    payload = track(
        "Form Submitted",
        context={"campaign": {"source": "google", "medium": "cpc", "name": "spring"}},
        properties={"utm_source": "newsletter"},
    )

    assert as_event(payload).properties == {
        "utm_source": "newsletter",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
    }


def test_missing_message_id_gets_a_stable_derived_id() -> None:
    payload = track("Page Viewed")
    del payload["messageId"]

    first, second = as_event(payload), as_event(dict(payload))

    assert first.id == second.id and first.id != "pending"
    assert as_event({**payload, "userId": "u2"}).id != first.id


def test_page_call_becomes_a_page_view() -> None:
    payload = {
        "type": "page",
        "name": "Pricing",
        "userId": "u1",
        "messageId": "p-1",
        "timestamp": "2026-03-01T10:00:00Z",
        "properties": {"path": "/pricing", "url": "https://x.io/pricing"},
    }

    event = as_event(payload)

    assert (event.id, event.type) == ("p-1", "page_view")
    assert event.properties == {
        "path": "/pricing",
        "url": "https://x.io/pricing",
        "name": "Pricing",
    }


def test_page_path_falls_back_to_context_page() -> None:
    payload = {
        "type": "page",
        "userId": "u1",
        "timestamp": "2026-03-01T10:00:00Z",
        "context": {"page": {"path": "/blog/a", "title": "A"}},
    }

    assert as_event(payload).properties == {"path": "/blog/a", "title": "A"}


def test_identify_becomes_a_contact() -> None:
    payload = {
        "type": "identify",
        "userId": "u1",
        "traits": {
            "email": "Ann@Acme.COM",
            "firstName": "Ann",
            "lastName": "Lee",
            "company": {"name": "Acme", "employee_count": 120},
            "title": "CTO",
            "unsubscribed": True,
            "planName": "pro",
        },
        "context": {"timezone": "Europe/Paris"},
    }

    contact = from_segment(payload)

    assert contact == Contact(
        id="u1",
        email="ann@acme.com",
        name="Ann Lee",
        company="Acme",
        title="CTO",
        timezone="Europe/Paris",
        subscription="unsubscribed",
        attributes={
            "first_name": "Ann",
            "last_name": "Lee",
            "company_employee_count": 120,
            "plan_name": "pro",
        },
    )


def test_identify_name_trait_wins_over_first_and_last() -> None:
    payload = {"type": "identify", "userId": "u1", "traits": {"name": "A. Lee", "firstName": "Ann"}}

    contact = from_segment(payload)

    assert isinstance(contact, Contact) and contact.name == "A. Lee"


def test_identify_with_bad_email_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match="not an address"):
        from_segment({"type": "identify", "userId": "u1", "traits": {"email": "nope"}})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"type": "group", "userId": "u1"}, "'group' calls are not supported"),
        ({"type": "track", "event": "Page Viewed"}, "neither 'userId' nor 'anonymousId'"),
        ({"type": "track", "userId": "u1"}, "has no 'event' name"),
        ({"type": "track", "event": "!!", "userId": "u1"}, "no letters or digits"),
        ({**track("Page Viewed"), "properties": [1]}, "must be a JSON object"),
    ],
)
def test_unusable_payloads_raise_input_error(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        from_segment(payload)


def test_naive_timestamp_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        from_segment(track("Page Viewed", timestamp="2026-03-01 10:00"))


def test_segment_payloads_are_told_apart_from_gtmflow_rows() -> None:
    assert is_segment_payload(track("Page Viewed"))
    assert is_segment_payload({"type": "identify", "userId": "u1"})
    assert not is_segment_payload({"type": "page", "contact_id": "c1"})
    assert not is_segment_payload({"type": "page_view", "contact_id": "c1"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Trial Started", "trial_started"),
        ("HasOptedOutOfEmail", "has_opted_out_of_email"),
        ("Record ID", "record_id"),
        ("utm_source", "utm_source"),
        ("HTTPStatus", "http_status"),
        ("Marketing contact status", "marketing_contact_status"),
        ("  Number of Employees ", "number_of_employees"),
        ("e-mail / opt-out", "e_mail_opt_out"),
    ],
)
def test_snake_case(text: str, expected: str) -> None:
    assert snake_case(text) == expected
