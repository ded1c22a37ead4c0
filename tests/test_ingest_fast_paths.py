"""The ingest's shortcuts build exactly what the slow paths they replace build."""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow.models import Event
from gtmflow.tools.events import readers
from gtmflow.tools.events.crm import json_object
from gtmflow.tools.events.sqlite_rows import (
    _ENCODER,
    CANONICAL,
    derived_event_id,
    dump,
    micros,
    trusted_event,
)

T0 = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_a_trusted_event_is_what_model_construct_builds() -> None:
    values: dict[str, Any] = {
        "id": "e1", "type": "page_view", "contact_id": "c1", "timestamp": T0,
        "properties": {"path": "/pricing", "n": [1, 2.5, None]},
    }  # fmt: skip
    fast = trusted_event(**{"event_id": values["id"], "type": values["type"],
                            "contact_id": values["contact_id"], "timestamp": T0,
                            "properties": values["properties"]})  # fmt: skip
    slow = Event.model_construct(**values)
    assert type(fast) is Event
    assert fast == slow
    assert vars(fast) == vars(slow)
    assert fast.model_fields_set == slow.model_fields_set == set(Event.model_fields)
    other = trusted_event("e2", "t", "c", T0, {})
    assert fast.model_fields_set is not other.model_fields_set  # each its own, as pydantic's
    for slot in ("__pydantic_extra__", "__pydantic_private__"):
        assert getattr(fast, slot) is getattr(slow, slot)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert fast.model_copy(update={"id": "e9"}).id == "e9"
    assert Event.model_validate(fast.model_dump()) == fast


def test_model_construct_still_sets_only_what_trusted_event_sets() -> None:
    """A pydantic upgrade that adds per-instance state to `model_construct` fails here."""
    slow = Event.model_construct(id="e", type="t", contact_id="c", timestamp=T0, properties={})
    slots = {name for cls in type(slow).__mro__ for name in getattr(cls, "__slots__", ())}
    state = {name: getattr(slow, name) for name in slots if hasattr(slow, name)}
    assert set(state) == {
        "__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__",
    }  # fmt: skip
    assert Event.__pydantic_post_init__ is None and not Event.__private_attributes__


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_dump_writes_what_the_json_encoder_writes(value: dict[str, Any]) -> None:
    try:
        expected = _ENCODER.encode(value)
    except ValueError:
        with pytest.raises(ValueError):
            dump(value)
        return
    assert dump(value) == expected


def test_dump_keeps_the_encoders_fallbacks_and_recovers_after_a_failure() -> None:
    odd = {"when": date(2026, 3, 1), "amount": Decimal("1.50"), "nan": float("nan"), "é": "\ud800"}
    assert dump(odd) == _ENCODER.encode(odd)
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular"):
        dump(circular)
    inner = {"a": 1}
    assert dump({"x": inner, "y": inner}) == '{"x":{"a":1},"y":{"a":1}}'  # not "circular"


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["", "\n", "\r\n", " \n", "\t", "  x", "\x0c\n", "}"]))
def test_scanning_a_line_reads_or_refuses_it_as_json_loads_does(value: Any, tail: str) -> None:
    text = json.dumps(value) + tail
    for line in (text, " " + text):
        try:
            expected = json.loads(line)
        except ValueError as exc:
            with pytest.raises(type(exc)) as raised:
                readers._scan_line(line)
            assert str(raised.value) == str(exc)
            continue
        assert json.dumps(readers._scan_line(line)) == json.dumps(expected)


@pytest.mark.parametrize(
    "line",
    ['{"a": [1, 2', '{"a": 1} {"b": 2}\n', "[" * 5000 + "]" * 5000, '{"n": ' + "9" * 5000 + "}"],
)
def test_lines_json_refuses_are_refused_with_its_reason(line: str) -> None:
    assert isinstance(readers._parse_json_line(line.encode()), readers.Rejected)


def _fields(event: Event | Any) -> tuple[Any, ...]:
    """An event's fields, properties as stored (so NaN equals NaN)."""
    return (type(event), event.id, event.type, event.contact_id, event.timestamp,
            dump(event.properties))  # fmt: skip


def _csv_event(properties_cell: str, **cells: str) -> Event:
    row = {"id": "e1", "type": "t", "contact_id": "c1", "timestamp": "2026-03-01T12:30:00Z"}
    return readers.event_from_csv({**row, **cells, "properties": properties_cell}, 0)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1), json_values, max_size=5),
    st.dictionaries(st.sampled_from(["plan", "seats", "é"]), st.text(min_size=1), max_size=2),
)
def test_a_csv_properties_cell_gives_the_event_pydantic_validates(
    cell: dict[str, Any], columns: dict[str, str]
) -> None:
    text = json.dumps(cell, ensure_ascii=False)
    expected = Event.model_validate(
        {"id": "e1", "type": "t", "contact_id": "c1", "timestamp": "2026-03-01T12:30:00Z",
         "properties": {**columns, **cell}}
    )  # fmt: skip
    assert _fields(_csv_event(text, **columns)) == _fields(expected)


@pytest.mark.parametrize(("char", "count", "kept"), [("é", 10_000, True), ("😀", 6_000, False)])
def test_a_csv_properties_cell_is_held_to_the_size_limit_as_escaped_json(
    char: str, count: int, kept: bool
) -> None:
    """10,000 "é" are 60,000 bytes escaped (kept); 6,000 emoji are 72,000 (over 64 KB)."""
    cell = json.dumps({"note": char * count}, ensure_ascii=False)
    if kept:
        assert _csv_event(cell).properties == {"note": char * count}
    else:
        with pytest.raises(ValueError, match="over the 65,536-byte limit"):
            _csv_event(cell)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=4), json_values, max_size=5),
    st.sampled_from(["e1", " e1", "", None]),
    st.sampled_from(["2026-03-01T12:30:00Z", "2026-03-01T12:30:00+02:00", "2026-03-01 12:30"]),
)
def test_a_json_line_gives_the_event_pydantic_validates(
    properties: dict[str, Any], event_id: str | None, stamp: str
) -> None:
    row = {"id": event_id, "type": "t", "contact_id": "c1", "timestamp": stamp,
           "properties": properties}  # fmt: skip
    try:
        expected = readers._event(dict(row))  # the slow path: pydantic, then the derived id
    except ValueError:
        with pytest.raises(ValueError):
            readers.event_from_json(dict(row), len(json.dumps(row)))
        return
    assert _fields(readers.event_from_json(dict(row), len(json.dumps(row)))) == _fields(expected)


@pytest.mark.parametrize(
    "cell", ["[1]", '{"a": ', "nope", '"text"', " {}x", "[" * 3000 + "]" * 3000, "9" * 5000]
)
def test_a_csv_properties_cell_that_is_no_object_is_refused_as_json_object_refuses_it(
    cell: str,
) -> None:
    with pytest.raises(Exception) as expected:
        json_object(cell, "properties")
    with pytest.raises(type(expected.value)) as got:
        _csv_event(cell)
    assert str(got.value) == str(expected.value)


def _derived_as_before(contact_id: str, properties: dict[str, Any]) -> str:
    """`derived_event_id` as it was written before the encoder was called directly."""
    canonical = CANONICAL.encode([contact_id, "t", micros(T0), properties])
    digest = hashlib.sha256(canonical.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode()[:22]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=6), st.text(min_size=1))
def test_a_derived_id_is_what_it_was(properties: dict[str, Any], contact_id: str) -> None:
    try:
        expected = _derived_as_before(contact_id, properties)
    except ValueError as exc:  # a lone surrogate (UnicodeEncodeError): refused alike
        with pytest.raises(type(exc)):
            derived_event_id(contact_id, "t", T0, properties)
        return
    assert derived_event_id(contact_id, "t", T0, properties) == expected
