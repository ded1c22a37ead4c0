"""How events and contacts become rows of the SQLite event store, and back.

Writing: the parameters of an insert, why a row cannot be stored (`unstorable`), whether an id
already stored holds other content (`conflict`), contacts checked one by one as they are pulled
(`StorableContacts`), the id of an event that came without one (`derived_event_id`), an
event of checked values built without validating them again (`trusted_event`).
Reading: `stored_event` turns a row back into an `Event` and raises
`Unreadable` for one an older gtmflow (or another tool) wrote that is not valid now (the store
reports it as `UnreadableRow` to whoever asked for that contact, and skips it in a scan).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, TypeVar

from gtmflow.errors import InputWarning, StoreError
from gtmflow.models import EVENT_TIME_RANGE, Contact, Event

__all__ = [
    "CANONICAL",
    "CONTACT_COLUMNS",
    "ROW_FAILURES",
    "Reject",
    "StorableContacts",
    "Unreadable",
    "UnreadableRow",
    "conflict",
    "contact_params",
    "contact_record",
    "derived_event_id",
    "dump",
    "event_params",
    "merge_contact",
    "micros",
    "refuse",
    "stored_contact",
    "stored_event",
    "trusted_event",
    "unstorable",
]

_Row = TypeVar("_Row", Event, Contact)
Reject = Callable[[_Row, str], None]
"""Told about a row a store will not hold, and why; the row is skipped."""

CONTACT_COLUMNS = (
    "id", "email", "name", "company", "title", "timezone", "lifecycle_stage", "subscription"
)  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
_EVENT_FIELDS = frozenset(Event.model_fields)
_new_object = object.__new__
_set = object.__setattr__
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# A row-level failure of one insert (the value, not the database): anything raised while
# encoding the row or binding it. Locks, full disks and corruption stay `sqlite3.OperationalError`
# / `DatabaseError` and fail the whole write.
ROW_FAILURES = (
    ValueError,  # UnicodeEncodeError (a lone surrogate), circular data
    TypeError,
    OverflowError,
    RecursionError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
)


class NulCharacter(ValueError):
    """A text column holds U+0000, which PostgreSQL text cannot store (refused on both backends)."""


def no_nul(*texts: object) -> None:
    """Raise `NulCharacter` if any of these text columns holds a NUL character.

    JSON columns escape it (`\\u0000`) and need no check; plain text columns are stored as
    they are, so a NUL would fail a whole PostgreSQL batch (SQLite would keep it): both backends
    refuse the row.
    """
    for text in texts:
        if isinstance(text, str) and "\x00" in text:
            raise NulCharacter(text)


def event_params(event: Event) -> tuple[str, str, str, int, str]:
    """The insert parameters of an event: id, contact, type, UTC microseconds, JSON."""
    no_nul(event.id, event.contact_id, event.type)
    return (
        event.id,
        event.contact_id,
        event.type,
        micros(event.timestamp),
        dump(event.properties),
    )


def unstorable(what: str, exc: BaseException) -> str:
    """Why the row `what` could not be stored, from what its encoding or insert raised."""
    if isinstance(exc, UnicodeError):
        return (
            f"'{what}' holds text that is not valid Unicode (a lone surrogate such as "
            "'\\ud800'); fix the encoding where the data comes from"
        )
    if isinstance(exc, NulCharacter):
        return (
            f"'{what}' holds a NUL character (U+0000) in {exc.args[0][:40]!r}, which the store "
            "cannot keep as text; strip NUL bytes where the data comes from"
        )
    if isinstance(exc, RecursionError):
        return f"'{what}' is nested too deeply to store; flatten its properties"
    return f"'{what}' cannot be stored ({type(exc).__name__}: {exc})"


def conflict(
    event: Event, params: tuple[str, str, str, int, str], stored: tuple[Any, ...] | None
) -> str:
    """Empty when the stored event is the same one, else the conflict as a dead-letter reason."""
    if stored is None:  # ignored without a stored row: the id index and the table disagree
        return f"event '{event.id}' was not stored and no event holds its id; check the store"
    names = ("contact_id", "type", "timestamp")
    pairs = zip(names, stored[:3], params[1:4], strict=True)
    differ = [name for name, before, now in pairs if before != now]
    if stored[3] != params[4] and _same_json(stored[3], event.properties) is False:
        differ.append("properties")
    if not differ:
        return ""
    return (
        f"conflict: event id '{event.id}' is already stored with a different "
        f"{', '.join(differ)}; the stored event stays: give different events different ids"
    )


def _same_json(stored: str, properties: Mapping[str, Any]) -> bool:
    """Whether stored properties JSON means `properties` (key order and spacing aside)."""
    try:
        return bool(CANONICAL.encode(json.loads(stored)) == CANONICAL.encode(properties))
    except (ValueError, TypeError, RecursionError):
        return False


def refuse(item: Event | Contact, reason: str) -> None:
    """The default `Reject`: an `InputWarning` naming the row and why it was not stored."""
    warnings.warn(
        InputWarning(f"{type(item).__name__.lower()} '{item.id}' was not stored: {reason}"),
        stacklevel=4,
    )


class StorableContacts:
    """Contacts the database can hold, checked one by one as they are pulled."""

    def __init__(self, contacts: Iterable[Contact], reject: Reject[Contact]) -> None:
        self._contacts = iter(contacts)
        self._reject = reject
        self.rejected = 0

    def __iter__(self) -> Iterator[Contact]:
        return self

    def __next__(self) -> Contact:
        for contact in self._contacts:
            try:
                fields = [getattr(contact, name) for name in CONTACT_COLUMNS]
                no_nul(*fields)
                text = dump({"fields": fields, "attributes": contact.attributes})
                text.encode("utf-8")
            except ROW_FAILURES as exc:
                self.rejected += 1
                self._reject(contact, unstorable(contact.id, exc))
                continue
            return contact
        raise StopIteration


def merge_contact(before: dict[str, Any] | None, contact: Contact) -> dict[str, Any]:
    """A stored contact record with the fields `contact` sets (non-empty) and its attributes."""
    after: dict[str, Any] = dict(before) if before else {"id": contact.id, "attributes": {}}
    for name in contact.model_fields_set & set(CONTACT_COLUMNS[1:]):
        value = getattr(contact, name)
        if value is not None and value != "":
            after[name] = value
    if contact.attributes:
        after["attributes"] = {**after["attributes"], **contact.attributes}
    return after


def contact_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A contacts row as a record: columns that are set, attributes parsed."""
    *columns, attributes = row
    record = {k: v for k, v in zip(CONTACT_COLUMNS, columns, strict=True) if v is not None}
    record["attributes"] = json.loads(attributes)
    return record


def contact_params(record: dict[str, Any]) -> tuple[Any, ...]:
    """The upsert parameters of a contact record."""
    return (*(record.get(name) for name in CONTACT_COLUMNS), dump(record["attributes"]))


def stored_contact(row: tuple[Any, ...]) -> Contact:
    """A contacts row as a `Contact` (validated when it was written)."""
    return Contact.model_construct(**contact_record(row))


class UnreadableRow(StoreError):
    """A stored row that cannot be read back (written by an older gtmflow or another tool).

    The data's fault, not the database's: a run records it against that one contact
    (`contact_id`) and goes on.
    """

    def __init__(self, message: str, *, contact_id: str) -> None:
        super().__init__(message)
        self.contact_id = contact_id


class Unreadable(Exception):
    """A stored event row this gtmflow cannot turn back into an `Event`."""

    def __init__(self, message: str, *, contact_id: str) -> None:
        super().__init__(message)
        self.contact_id = contact_id

    def for_reader(self) -> UnreadableRow:
        """The `StoreError` a reader of this contact's events gets."""
        return UnreadableRow(f"cannot read {self}", contact_id=self.contact_id)


def stored_event(event_id: str, type_: str, contact_id: str, ts: int, props: str) -> Event:
    """An events row as an `Event`; `Unreadable` when the row is not a valid event."""
    # Rows were validated on write; trusted_event skips validating them again. Rows an older
    # gtmflow (or another tool) wrote may not be valid, and must not stop every reader.
    problem: str | None
    try:
        timestamp = _EPOCH + timedelta(microseconds=ts)
        properties = json.loads(props)
    except (OverflowError, ValueError, TypeError, RecursionError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    else:
        problem = _row_problem(timestamp, properties)
    if problem is not None:
        raise Unreadable(
            f"event '{event_id}' of contact '{contact_id}' ({problem}); remove it: "
            f"`gtmflow forget {contact_id}` erases the contact, or delete the row from the "
            "events table",
            contact_id=contact_id,
        )
    return trusted_event(event_id, type_, contact_id, timestamp, properties)


def _row_problem(timestamp: datetime, properties: Any) -> str | None:
    earliest, end = EVENT_TIME_RANGE
    if not earliest <= timestamp < end:
        return f"its timestamp {timestamp.isoformat()[:10]} is outside 1970-2200"
    if not isinstance(properties, dict):
        return "its properties are not a JSON object"
    return None


def dump(value: Mapping[str, Any]) -> str:
    """Compact JSON, as stored (what `_ENCODER.encode` writes)."""
    return _encoded(value, _ENCODER, sort_keys=False)


def _encoded(value: Any, encoder: json.JSONEncoder, *, sort_keys: bool) -> str:
    """What `encoder` (compact, `default=str`, `ensure_ascii=False`) writes for `value`.

    The C encoder is called directly: `JSONEncoder.encode` rebuilds it on each call behind two
    layers of Python (0.75 of 2.7 us for a sample-world event). Each call gets its own
    `markers` dict, as `encode` does: one left over from a failed call would report a later
    value as circular.
    """
    if c_make_encoder is None:  # pragma: no cover - Python without the C accelerator
        return encoder.encode(value)
    encode = c_make_encoder({}, str, encode_basestring, None, ":", ",", sort_keys, False, True)
    return "".join(encode(value, 0))


def trusted_event(
    event_id: str, type: str, contact_id: str, timestamp: datetime, properties: dict[str, Any]
) -> Event:
    """An `Event` of values already checked, as `Event.model_construct` builds it, faster.

    The same `__dict__` and fields set, no extras and no private values (Event has neither a
    post-init hook nor private attributes); `model_construct` costs 3 us per call in its loop
    over aliases and defaults, a tenth of a whole ingested row.
    """
    event = _new_object(Event)
    _set(event, "__dict__", {
        "id": event_id, "type": type, "contact_id": contact_id, "timestamp": timestamp,
        "properties": properties,
    })  # fmt: skip
    _set(event, "__pydantic_fields_set__", set(_EVENT_FIELDS))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


def micros(moment: datetime) -> int:
    """UTC microseconds since 1970, as stored."""
    return (moment - _EPOCH) // _MICROSECOND


def derived_event_id(
    contact_id: str, type: str, timestamp: datetime, properties: Mapping[str, Any]
) -> str:
    """The deterministic id given to an event that arrives without one.

    It hashes (contact_id, type, UTC timestamp, properties as canonical JSON), so the same
    event read twice, from the same file or another, gets the same id and is stored once.
    Two genuinely distinct events with identical fields collapse into one: give them ids.

    Returns:
        22 URL-safe base64 characters (128 bits of SHA-256): short, because every byte of an
        id is paid again in the unique index on each insert.
    """
    canonical = _encoded(
        [contact_id, type, micros(timestamp), properties], CANONICAL, sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode()[:22]
