"""Domain models validate on construction and say what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gtmflow.models import (
    MAX_PROPERTIES_BYTES,
    Action,
    Contact,
    Event,
    Transcript,
    Utterance,
    json_schemas,
)

WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def test_event_requires_an_aware_timestamp() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Event(id="e", type="page_view", contact_id="c", timestamp=datetime(2026, 3, 1))


def test_event_properties_are_capped_at_64kb() -> None:
    Event(id="e", type="t", contact_id="c", timestamp=WHEN, properties={"x": "a" * 60_000})
    with pytest.raises(ValidationError, match="over the 65,536-byte limit"):
        Event(
            id="e",
            type="t",
            contact_id="c",
            timestamp=WHEN,
            properties={"x": "a" * MAX_PROPERTIES_BYTES},
        )


def test_contact_checks_email_and_timezone() -> None:
    contact = Contact(id="c", email="Ada@Example.COM", timezone="Europe/Paris")
    assert contact.email == "ada@example.com"
    with pytest.raises(ValidationError, match="not an address"):
        Contact(id="c", email="ada.example.com")
    with pytest.raises(ValidationError, match="not an IANA name"):
        Contact(id="c", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="subscription"):
        Contact(id="c", subscription="maybe")  # type: ignore[arg-type]


def test_blank_ids_are_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 1 character"):
        Event(id="  ", type="t", contact_id="c", timestamp=WHEN)


def test_transcript_needs_utterances() -> None:
    with pytest.raises(ValidationError):
        Transcript(id="t", utterances=())
    transcript = Transcript(id="t", utterances=(Utterance(speaker="Ana", text="hi", timestamp=3),))
    assert transcript.utterances[0].role == "unknown"


def test_action_key_is_derived_unless_given() -> None:
    derived = Action(kind="enroll", contact_id="c", graph="g", source="r", created_at=WHEN)
    given = Action(
        kind="enroll", contact_id="c", graph="g", source="r", created_at=WHEN, idempotency_key="k"
    )
    assert len(derived.idempotency_key) == 32
    assert given.idempotency_key == "k"


def test_json_schemas_cover_the_vocabulary() -> None:
    schemas = json_schemas()
    assert set(schemas) >= {
        "Contact",
        "Event",
        "ContentItem",
        "Transcript",
        "Deal",
        "Touchpoint",
        "Action",
        "RouteDecision",
    }
    assert "timestamp" in schemas["Event"]["required"]
