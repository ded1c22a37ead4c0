"""A demo webinar: three attendees of one session and what each of them said in its Q&A.

Fixed text written for gtmflow, in the format `gtmflow analyze` reads (`Speaker (Title, Company):
words`), hosted by the demo's seller. `add_sample_webinar` writes the attendees and one
`webinar_attended` event each, whose `webinar` property is the title and whose `transcript`
property holds their part of the Q&A, the way the `webinar-followup` sequence reads them.

Example:
    >>> [a.contact.name for a in SAMPLE_ATTENDEES]
    ['Priya Nair', 'Marco Bellini', 'Jonas Lind']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gtmflow.examples.sample_transcripts import NORTHWIND
from gtmflow.models import Contact, Event
from gtmflow.tools.events.event_store import EventStore

__all__ = ["SAMPLE_ATTENDEES", "WEBINAR", "SampleAttendee", "add_sample_webinar"]

WEBINAR = "Attribution for the Skeptical CFO"
"""The session's title (one of the sample world's webinars)."""
WEBINAR_ID = "wb-qa-cfo"


@dataclass(frozen=True)
class SampleAttendee:
    """One attendee and their turns of the Q&A (the host's lines included)."""

    contact: Contact
    qa: str


def _qa(contact: Contact, intro: str, *said: str) -> SampleAttendee:
    who = f"{contact.name} ({contact.title}, {contact.company})"
    lines = [f"{NORTHWIND}: {intro}", *(f"{who}: {words}" for words in said)]
    return SampleAttendee(contact, "\n".join(lines))


def _contact(id: str, name: str, title: str, company: str, email: str, tz: str) -> Contact:
    return Contact(
        id=id, name=name, email=email, company=company, title=title,
        subscription="subscribed", timezone=tz,
    )  # fmt: skip


SAMPLE_ATTENDEES: tuple[SampleAttendee, ...] = (
    _qa(
        _contact(
            "c-qa-priya",
            "Priya Nair",
            "Head of Marketing Ops",
            "Fernbrook Software",
            "priya.nair@fernbrook.example",
            "America/New_York",
        ),
        "Priya from Fernbrook Software has a question about reporting to finance.",
        "So, um, honestly our CFO doesn't trust the attribution numbers, because every report "
        "gives last touch all the credit and she knows it.",
        "We're on HubSpot and honestly we like it, so whatever we add has to work inside HubSpot.",
        "Could you send me the comparison slides from today?",
    ),
    _qa(
        _contact(
            "c-qa-marco",
            "Marco Bellini",
            "VP Finance",
            "Tallow & Pine",
            "marco@tallowandpine.example",
            "Europe/Rome",
        ),
        "Marco from Tallow & Pine is next.",
        "Every quarter I get a spreadsheet from marketing where the channels add up to a "
        "hundred and forty percent of pipeline.",
        "Do you have a retail customer who did this that I could talk to?",
        "And how would pricing work for a team of five?",
    ),
    _qa(
        _contact(
            "c-qa-jonas",
            "Jonas Lind",
            "Demand Generation Manager",
            "Kestrel Freight",
            "jonas.lind@kestrelfreight.example",
            "Europe/Stockholm",
        ),
        "Jonas from Kestrel Freight asks the last question.",
        "We spend about forty thousand a month on LinkedIn and I can't tell whether any of it "
        "turns into deals.",
        "We tried Bizible two years ago and gave up after the setup dragged on for six months.",
    ),
)


def add_sample_webinar(store: EventStore, *, at: datetime) -> list[Event]:
    """Write the attendees and their `webinar_attended` events (with the Q&A) at `at`."""
    store.write_contacts([a.contact for a in SAMPLE_ATTENDEES])
    events = [
        Event(
            id=f"webinar-attended-{WEBINAR_ID}-{a.contact.id}",
            type="webinar_attended",
            contact_id=a.contact.id,
            timestamp=at,
            properties={"webinar": WEBINAR, "webinar_id": WEBINAR_ID, "transcript": a.qa},
        )
        for a in SAMPLE_ATTENDEES
    ]
    store.write_events(events)
    return events
