"""Fuzz every reader with random bytes and random JSON values between good rows.

Whatever the input, an ingest never ends in a traceback, every physical line is counted once
(accepted + duplicates + rejected + blank = lines), and every good row is stored. Sized for a
2-core box: a few seconds in all.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtmflow.tools.events.event_store import SQLiteEventStore
from gtmflow.tools.events.ingest import IngestReport, ingest_contacts, ingest_events
from gtmflow.tools.events.mapping import EventMapping

FUZZ = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
STAMP = "2026-03-01T10:00:00Z"

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)  # lone surrogates included
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_timestamps = (
    st.sampled_from(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", STAMP, "", "now"])
    | st.integers(min_value=-(10**20), max_value=10**20)
    | json_values
)
event_like = st.fixed_dictionaries(
    {"id": st.text(max_size=6), "timestamp": _timestamps},
    optional={
        "type": st.sampled_from(["page_view", "", "unsubscribed"]) | json_values,
        "contact_id": st.text(max_size=6) | json_values,
        "properties": json_values,
    },
)
segment_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "identify", "screen"])},
    optional={
        "event": st.sampled_from(["Email Marked as Spam", "Page Viewed"]) | json_values,
        "userId": st.text(max_size=6) | json_values,
        "messageId": st.text(max_size=6),
        "timestamp": _timestamps,
        "properties": json_values,
        "traits": st.dictionaries(
            st.sampled_from(["email", "timezone", "unsubscribed", "name"]), json_values
        ),
    },
)
contact_like = st.fixed_dictionaries(
    {"id": st.text(max_size=6) | json_values},
    optional={
        "email": st.text(max_size=12) | json_values,
        "timezone": st.sampled_from(["Eastern Time (US & Canada)", "Mars/Olympus"]) | json_values,
        "attributes": json_values,
    },
)


def _json_line(value: Any, ascii_only: bool) -> bytes:
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8


def _garbage_line(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> bytes:
    kind = draw(st.sampled_from(["bytes", "value", "shaped", "blank"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    if kind == "blank":
        return draw(st.sampled_from([b"", b"   ", b"\t", b"\r"]))
    value = draw(json_values if kind == "value" else values)
    return _json_line(value, draw(st.booleans()))


@st.composite
def jsonl_files(draw: st.DrawFn, values: st.SearchStrategy[Any], good: Callable[[int], bytes]):
    """(file bytes, good row indexes): a good row first, then good rows and garbage mixed."""
    lines, goods = [good(0)], [0]
    for index in range(1, draw(st.integers(min_value=1, max_value=12))):
        if draw(st.booleans()):
            lines.append(good(index))
            goods.append(index)
        else:
            lines.append(_garbage_line(draw, values))
    ending = draw(st.sampled_from([b"\n", b""]))
    return b"\n".join(lines) + ending, goods


def _good_event(index: int) -> bytes:
    row = {"id": f"good-{index}", "type": "page_view", "contact_id": f"g{index}"}
    return json.dumps({**row, "timestamp": STAMP}).encode()


def _good_contact(index: int) -> bytes:
    return json.dumps({"id": f"good-{index}", "email": f"g{index}@example.com"}).encode()


def _physical_lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _ingest(
    data: bytes, suffix: str, read: Callable[[SQLiteEventStore, Path, Path], IngestReport]
) -> tuple[IngestReport, SQLiteEventStore, tempfile.TemporaryDirectory[str]]:
    folder = tempfile.TemporaryDirectory()
    root = Path(folder.name)
    source = root / f"input{suffix}"
    source.write_bytes(data)
    store = SQLiteEventStore(root / "events.db")
    return read(store, source, root / "dead-letter"), store, folder


def _counted(report: IngestReport) -> int:
    return report.accepted + report.duplicates + report.rejected + report.ignored_blank


@FUZZ
@given(jsonl_files(event_like | segment_like, _good_event))
def test_events_jsonl_never_crash_count_every_line_and_keep_good_rows(
    case: tuple[bytes, list[int]],
) -> None:
    data, goods = case
    report, store, folder = _ingest(
        data, ".jsonl", lambda s, p, d: ingest_events(s, p, dead_letter=d)
    )
    with folder, store:
        assert _counted(report) == _physical_lines(data)
        stored = {event.id for _, event in store.changes()}
        assert {f"good-{i}" for i in goods} <= stored


@FUZZ
@given(jsonl_files(event_like, _good_event))
def test_replies_never_crash_count_every_line_and_keep_good_rows(
    case: tuple[bytes, list[int]],
) -> None:
    data, goods = case
    replies = EventMapping(defaults={"type": "email_replied"})
    report, store, folder = _ingest(
        data, ".jsonl", lambda s, p, d: ingest_events(s, p, dead_letter=d, mapping=replies)
    )
    with folder, store:
        assert _counted(report) == _physical_lines(data)
        assert {f"good-{i}" for i in goods} <= {event.id for _, event in store.changes()}


@FUZZ
@given(jsonl_files(contact_like, _good_contact))
def test_contacts_jsonl_never_crash_count_every_line_and_keep_good_rows(
    case: tuple[bytes, list[int]],
) -> None:
    data, goods = case
    report, store, folder = _ingest(
        data, ".jsonl", lambda s, p, d: ingest_contacts(s, p, dead_letter=d)
    )
    with folder, store:
        assert _counted(report) == _physical_lines(data)
        for index in goods:
            contact = store.contact(f"good-{index}")
            assert contact is not None and contact.email == f"g{index}@example.com"


_CSV_CELL = st.binary(max_size=16).map(lambda b: b.replace(b"\n", b" ").replace(b'"', b"'"))


@st.composite
def csv_files(draw: st.DrawFn, header: bytes, good: Callable[[int], bytes]):
    """A CSV whose garbage lines are random bytes (no quotes: one record per line)."""
    lines, goods = [header, good(0)], [0]
    for index in range(1, draw(st.integers(min_value=1, max_value=12))):
        if draw(st.booleans()):
            lines.append(good(index))
            goods.append(index)
        else:
            cells = draw(st.lists(_CSV_CELL, max_size=6))
            lines.append(b",".join(cells))
    return b"\n".join(lines) + b"\n", goods


@st.composite
def quoted_csv_files(draw: st.DrawFn, header: bytes, good: Callable[[int], bytes]):
    """Random bytes with quotes and all: rows must not be lost, lines need not be one each."""
    lines, goods = [header, good(0)], [0]
    for index in range(1, draw(st.integers(min_value=1, max_value=10))):
        if draw(st.booleans()):
            lines.append(good(index))
            goods.append(index)
        else:
            lines.append(draw(st.binary(max_size=30)).replace(b"\n", b" "))
    return b"\n".join(lines) + b"\n", goods


def _csv_event(index: int) -> bytes:
    return f"good-{index},page_view,g{index},{STAMP}".encode()


def _crm_contact(index: int) -> bytes:
    return f"good-{index},g{index}@example.com,Eastern Time (US & Canada),true".encode()


EVENT_HEADER = b"id,type,contact_id,timestamp"
CRM_HEADER = b"Record ID,Email,Time Zone,Unsubscribed from all email"


@FUZZ
@given(csv_files(EVENT_HEADER, _csv_event))
def test_events_csv_never_crash_count_every_line_and_keep_good_rows(
    case: tuple[bytes, list[int]],
) -> None:
    data, goods = case
    report, store, folder = _ingest(
        data, ".csv", lambda s, p, d: ingest_events(s, p, dead_letter=d)
    )
    with folder, store:
        assert _counted(report) == _physical_lines(data) - 1  # the header
        assert {f"good-{i}" for i in goods} <= {event.id for _, event in store.changes()}


@FUZZ
@given(quoted_csv_files(EVENT_HEADER, _csv_event))
def test_events_csv_with_stray_quotes_keeps_every_good_row(case: tuple[bytes, list[int]]) -> None:
    data, goods = case
    report, store, folder = _ingest(
        data, ".csv", lambda s, p, d: ingest_events(s, p, dead_letter=d)
    )
    with folder, store:
        assert 1 <= _counted(report) <= _physical_lines(data) - 1
        assert {f"good-{i}" for i in goods} <= {event.id for _, event in store.changes()}


@FUZZ
@given(csv_files(CRM_HEADER, _crm_contact))
def test_crm_exports_never_crash_count_every_line_and_keep_every_opt_out(
    case: tuple[bytes, list[int]],
) -> None:
    data, goods = case
    report, store, folder = _ingest(
        data, ".csv", lambda s, p, d: ingest_contacts(s, p, dead_letter=d)
    )
    with folder, store:
        assert _counted(report) == _physical_lines(data) - 1
        for index in goods:
            contact = store.contact(f"good-{index}")
            assert contact is not None
            assert (contact.timezone, contact.subscription) == ("America/New_York", "unsubscribed")
