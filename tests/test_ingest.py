"""Tests for streaming ingestion: idempotency, dead letters, CSV, Segment, CRM exports."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gtmflow.errors import ConfigError, InputError
from gtmflow.models import Contact, Event
from gtmflow.tools.events.event_store import SQLiteEventStore, WriteResult
from gtmflow.tools.events.ingest import (
    IngestReport,
    explain_validation_error,
    ingest_contacts,
    ingest_events,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def row(
    id: str | None, type: str = "page_view", contact: str = "c1", minutes: int = 0, **props: Any
) -> str:
    data: dict[str, Any] = {
        "type": type,
        "contact_id": contact,
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "properties": props,
    }
    if id is not None:
        data["id"] = id
    return json.dumps(data)


def write(path: Path, lines: Iterable[str], *, bom: bool = False) -> Path:
    text = "".join(f"{line}\n" for line in lines)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def dead_letters(report: IngestReport) -> list[dict[str, Any]]:
    assert report.dead_letter is not None
    return [json.loads(line) for line in report.dead_letter.read_text("utf-8").splitlines()]


def snapshot(store: SQLiteEventStore) -> list[tuple[int, Event]]:
    return list(store.changes())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteEventStore]:
    with SQLiteEventStore(tmp_path / "store" / "events.db") as opened:
        yield opened


# Idempotency ------------------------------------------------------------------------------------


def test_reingesting_a_file_stores_nothing_new(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = write(tmp_path / "events.jsonl", [row(f"e{i}", minutes=i) for i in range(5)])

    first = ingest_events(store, source)
    before = snapshot(store)
    second = ingest_events(store, source)

    assert (first.accepted, first.duplicates) == (5, 0)
    assert (second.accepted, second.duplicates) == (0, 5)
    assert snapshot(store) == before


def test_rows_without_ids_get_derived_ids_and_stay_idempotent(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    source = write(
        tmp_path / "events.jsonl", [row(None, minutes=i) for i in range(3)] + [row("", minutes=9)]
    )

    first = ingest_events(store, source)
    second = ingest_events(store, source)

    assert (first.accepted, second.accepted, second.duplicates) == (4, 0, 4)
    assert all(e.id for e in store.events("c1"))


def test_derived_id_ignores_timestamp_spelling(store: SQLiteEventStore, tmp_path: Path) -> None:
    zulu = '{"type":"t","contact_id":"c1","timestamp":"2026-03-01T10:00:00Z"}'
    offset = '{"type":"t","contact_id":"c1","timestamp":"2026-03-01T11:00:00+01:00"}'

    report = ingest_events(store, write(tmp_path / "e.jsonl", [zulu, offset]))

    assert (report.accepted, report.duplicates) == (1, 1)


def test_duplicates_within_one_file(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = write(tmp_path / "e.jsonl", [row("e1"), row("e2"), row("e1"), row(None), row(None)])

    report = ingest_events(store, source)

    assert (report.accepted, report.duplicates, report.rejected) == (3, 2, 0)


def test_small_batches_give_the_same_result(store: SQLiteEventStore, tmp_path: Path) -> None:
    lines = [row(f"e{i}", minutes=i % 4) for i in range(7)] + ["", "{bad"]
    source = write(tmp_path / "e.jsonl", lines)

    report = ingest_events(store, source, batch_size=2)

    assert (report.accepted, report.rejected, report.ignored_blank) == (7, 1, 1)
    assert store.stats().events == 7


# Dead letters -----------------------------------------------------------------------------------


def test_bad_rows_go_to_the_dead_letter_with_line_reason_and_raw(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    naive = '{"id":"n1","type":"t","contact_id":"c1","timestamp":"2026-01-01 10:00"}'
    no_contact = '{"id":"m1","type":"t","timestamp":"2026-01-01T10:00:00Z"}'
    broken = '{"id": "b1", "type": "t" "contact_id": "c1"}'
    source = write(
        tmp_path / "e.jsonl", [row("ok1"), naive, no_contact, broken, "[1, 2]", row("ok2")]
    )

    report = ingest_events(store, source)

    assert (report.accepted, report.rejected) == (2, 4)
    assert report.dead_letter == tmp_path / "e.jsonl.dead-letter.jsonl"
    assert dead_letters(report) == [
        {
            "line": 2,
            "reason": (
                "timestamp '2026-01-01 10:00' has no timezone; use ISO-8601 with Z or an offset"
            ),
            "raw": naive,
        },
        {"line": 3, "reason": "missing 'contact_id'", "raw": no_contact},
        {
            "line": 4,
            "reason": "line is not valid JSON: Expecting ',' delimiter at column 26",
            "raw": broken,
        },
        {
            "line": 5,
            "reason": "line is JSON but an array, not an object; write one object per line",
            "raw": "[1, 2]",
        },
    ]
    assert [e.id for e in store.events("c1")] == ["ok1", "ok2"]


def test_no_dead_letter_file_when_nothing_is_rejected(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    report = ingest_events(store, write(tmp_path / "e.jsonl", [row("e1")]))

    assert report.dead_letter is None and report.rejected == 0
    assert not (tmp_path / "e.jsonl.dead-letter.jsonl").exists()


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("last tuesday", "timestamp 'last tuesday' is not a date-time; use ISO-8601"),
        ("2026-03-01T10:00:00 PST", "'2026-03-01T10:00:00 PST' is not a date-time"),
        ("2026-03-01", "timestamp '2026-03-01' has no timezone"),
    ],
)
def test_timestamp_reasons(
    store: SQLiteEventStore, tmp_path: Path, timestamp: str, reason: str
) -> None:
    line = json.dumps({"id": "e", "type": "t", "contact_id": "c", "timestamp": timestamp})

    report = ingest_events(store, write(tmp_path / "e.jsonl", [line]))

    assert reason in dead_letters(report)[0]["reason"]


def test_oversize_properties_are_rejected(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = write(
        tmp_path / "e.jsonl", [row("big", body="x" * 70_000), row("fine", body="x" * 60_000)]
    )

    report = ingest_events(store, source)

    (letter,) = dead_letters(report)
    assert letter["line"] == 1
    assert letter["reason"].startswith("properties are 70,011 bytes as JSON, over the 65,536-byte")
    assert [e.id for e in store.events("c1")] == ["fine"]


def test_size_limit_counts_escaped_characters(store: SQLiteEventStore, tmp_path: Path) -> None:
    # 11,000 "é" are 22 KB in the file but 66 KB once JSON-escaped, as the model measures them.
    line = json.dumps(
        {"id": "e", "type": "t", "contact_id": "c", "timestamp": "2026-03-01T00:00:00Z",
         "properties": {"s": "é" * 11_000}},
        ensure_ascii=False,
    )  # fmt: skip

    report = ingest_events(store, write(tmp_path / "e.jsonl", [line]))

    assert report.rejected == 1
    assert "over the 65,536-byte limit" in dead_letters(report)[0]["reason"]


def test_unexpected_values_are_explained(store: SQLiteEventStore, tmp_path: Path) -> None:
    lines = [
        '{"id":"a","type":"t","contact_id":"c","timestamp":"2026-03-01T00:00:00Z","properties":[1]}',
        '{"id":"b","type":7,"contact_id":"c","timestamp":"2026-03-01T00:00:00Z"}',
        '{"id":"c","type":"t","contact_id":"  ","timestamp":"2026-03-01T00:00:00Z"}',
        '{"type":"group","userId":"u1"}',
    ]

    reasons = [
        d["reason"] for d in dead_letters(ingest_events(store, write(tmp_path / "e.jsonl", lines)))
    ]

    assert reasons == [
        "'properties' must be a JSON object, got [1]",
        "'type' must be text, got 7",
        "'contact_id' is empty",
        "Segment 'group' calls are not supported; send 'track', 'page' or 'identify' payloads",
    ]


def test_explicit_dead_letter_file_and_folder(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = write(tmp_path / "e.jsonl", ["{oops"])

    to_file = ingest_events(store, source, dead_letter=tmp_path / "out" / "rejects.jsonl")
    (tmp_path / "dl").mkdir()
    to_folder = ingest_events(store, source, dead_letter=tmp_path / "dl")

    assert to_file.dead_letter == tmp_path / "out" / "rejects.jsonl"
    assert to_folder.dead_letter == tmp_path / "dl" / "e.jsonl.dead-letter.jsonl"
    assert dead_letters(to_folder)[0]["raw"] == "{oops"


def test_dead_letter_falls_back_when_beside_the_input_is_unusable(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    source = write(tmp_path / "e.jsonl", ["{oops"])
    (tmp_path / "e.jsonl.dead-letter.jsonl").mkdir()  # cannot be opened as a file, even by root

    report = ingest_events(store, source, fallback_dir=tmp_path / "fallback")

    assert report.dead_letter == tmp_path / "fallback" / "e.jsonl.dead-letter.jsonl"
    assert dead_letters(report)[0]["line"] == 1


# Blank lines, BOM, order, progress ---------------------------------------------------------------


def test_blank_lines_are_counted_and_a_bom_is_tolerated(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    source = write(tmp_path / "e.jsonl", [row("e1"), "", "   ", row("e2"), "\r"], bom=True)

    report = ingest_events(store, source)

    assert report == IngestReport(
        accepted=2, duplicates=0, rejected=0, ignored_blank=3, dead_letter=None
    )


def test_out_of_order_file_is_stored_in_time_order(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = write(
        tmp_path / "e.jsonl",
        [row("late", minutes=30), row("early", minutes=1), row("mid", minutes=9)],
    )

    ingest_events(store, source)

    assert [e.id for e in store.events("c1")] == ["early", "mid", "late"]


def test_progress_reports_bytes_up_to_the_file_size(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    source = write(
        tmp_path / "e.jsonl", [row(f"e{i}", pad="x" * 3000) for i in range(400)], bom=True
    )
    seen: list[int] = []

    ingest_events(store, source, progress=seen.append)

    assert seen == sorted(seen) and len(seen) >= 2
    assert seen[-1] == source.stat().st_size


def test_contacts_are_created_on_first_sight(store: SQLiteEventStore, tmp_path: Path) -> None:
    ingest_events(
        store, write(tmp_path / "e.jsonl", [row("e1", contact="new-1"), row("e2", contact="new-2")])
    )

    assert list(store.contact_ids()) == ["new-1", "new-2"]
    assert store.contact("new-1") == Contact(id="new-1")


def test_extra_top_level_keys_become_properties(store: SQLiteEventStore, tmp_path: Path) -> None:
    line = (
        '{"id":"e","type":"t","contact_id":"c","timestamp":"2026-03-01T00:00:00Z",'
        '"path":"/p","properties":{"n":1}}'
    )

    ingest_events(store, write(tmp_path / "e.jsonl", [line]))

    assert store.events("c")[0].properties == {"path": "/p", "n": 1}


def test_null_properties_mean_none(store: SQLiteEventStore, tmp_path: Path) -> None:
    line = (
        '{"id":"e","type":"t","contact_id":"c","timestamp":"2026-03-01T00:00:00Z",'
        '"properties":null}'
    )

    assert ingest_events(store, write(tmp_path / "e.jsonl", [line])).accepted == 1
    assert store.events("c")[0].properties == {}


# Segment payloads in an event file ---------------------------------------------------------------


def test_segment_payloads_mix_with_gtmflow_rows(store: SQLiteEventStore, tmp_path: Path) -> None:
    lines = [
        row("e1", contact="u1"),
        json.dumps({"type": "track", "event": "Meeting Booked", "messageId": "m1", "userId": "u1",
                    "timestamp": "2026-03-01T12:00:00Z", "properties": {"with": "AE"}}),
        json.dumps({"type": "page", "userId": "u1", "messageId": "p1", "name": "Pricing",
                    "timestamp": "2026-03-01T11:00:00Z", "properties": {"path": "/pricing"}}),
        json.dumps({"type": "identify", "userId": "u1", "messageId": "i1",
                    "traits": {"email": "u1@x.io", "firstName": "Ann", "plan": "pro"}}),
    ]  # fmt: skip

    report = ingest_events(store, write(tmp_path / "e.jsonl", lines), batch_size=2)

    assert (report.accepted, report.rejected) == (4, 0)
    assert [(e.id, e.type) for e in store.events("u1")] == [
        ("e1", "page_view"),
        ("p1", "page_view"),
        ("m1", "meeting_booked"),
    ]
    assert store.contact("u1") == Contact(
        id="u1", email="u1@x.io", name="Ann", attributes={"first_name": "Ann", "plan": "pro"}
    )


# CSV events -------------------------------------------------------------------------------------


def test_csv_events_with_extra_columns_become_properties(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    source = tmp_path / "events.csv"
    source.write_text(
        "id,type,contact_id,timestamp,path,utm_source,properties\n"
        'e1,page_view,c1,2026-03-01T10:00:00Z,/pricing,google,"{""score"": 3}"\n'
        ",form_submit,c1,2026-03-01T11:00:00+01:00,/demo,,\n"
        "\n"
        'e3,page_view,c1,2026-03-01T09:00:00Z,"/a,b",,\n',
        encoding="utf-8-sig",
    )

    report = ingest_events(store, source)

    assert (report.accepted, report.rejected, report.ignored_blank) == (3, 0, 1)
    assert [(e.type, e.properties) for e in store.events("c1")] == [
        ("page_view", {"path": "/a,b"}),
        ("form_submit", {"path": "/demo"}),
        ("page_view", {"path": "/pricing", "utm_source": "google", "score": 3}),
    ]
    assert ingest_events(store, source).duplicates == 3


def test_csv_blank_lines_before_the_header_are_skipped(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    source = tmp_path / "events.csv"
    source.write_text("\n\nid,type,contact_id,timestamp\ne1,t,c1,2026-03-01T10:00:00Z\n")

    report = ingest_events(store, source)

    assert (report.accepted, report.ignored_blank) == (1, 2)


def test_csv_rejects_keep_line_numbers_and_raw_text(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    source = tmp_path / "events.csv"
    source.write_text(
        "id,type,contact_id,timestamp,note\n"
        'e1,page_view,c1,2026-03-01T10:00:00Z,"two\nlines"\n'
        "e2,page_view,c1,2026-03-01T10:00:00,\n"
        "e3,page_view,c1,2026-03-01T10:00:00Z,x,extra\n"
        'e4,page_view,c1,2026-03-01T10:00:00Z,"{not json"\n',
        encoding="utf-8",
    )

    report = ingest_events(store, source)

    assert [(d["line"], d["raw"]) for d in dead_letters(report)] == [
        (4, "e2,page_view,c1,2026-03-01T10:00:00,"),
        (5, "e3,page_view,c1,2026-03-01T10:00:00Z,x,extra"),
    ]
    assert "row has 6 cells but the header has 5 columns" in dead_letters(report)[1]["reason"]
    assert [e.properties for e in store.events("c1")] == [
        {"note": "two\nlines"},
        {"note": "{not json"},
    ]


def test_format_can_be_forced(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = write(tmp_path / "events.txt", [row("e1")])

    with pytest.raises(InputError, match=r"cannot tell the format of .*events\.txt"):
        ingest_events(store, source)
    assert ingest_events(store, source, format="jsonl").accepted == 1


# Errors about the file itself ---------------------------------------------------------------------


def test_missing_file_says_what_why_and_how(store: SQLiteEventStore, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        ingest_events(store, tmp_path / "nope.jsonl")

    message = str(caught.value)
    assert "cannot read events file" in message and "nope.jsonl" in message
    assert "does not exist" in message and "check the path" in message


def test_folder_instead_of_file(store: SQLiteEventStore, tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()

    with pytest.raises(InputError, match=r"it is a folder; pass a \.jsonl or \.csv file"):
        ingest_contacts(store, tmp_path / "dir.csv")


def test_json_array_file_is_refused_with_a_fix(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = tmp_path / "export.json"
    source.write_text(json.dumps([json.loads(row("e1"))], indent=2))

    with pytest.raises(InputError, match=r"holds a JSON array.*jq -c"):
        ingest_events(store, source)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size 0 is too small"),
        ({"format": "xml"}, "format 'xml' is not supported"),
    ],
)
def test_bad_arguments_are_config_errors(
    store: SQLiteEventStore, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ingest_events(store, write(tmp_path / "e.jsonl", [row("e1")]), **kwargs)


def test_a_store_that_ignores_its_rows_is_caught(tmp_path: Path) -> None:
    class Lazy(SQLiteEventStore):
        def write_events(self, events: Iterable[Event], **options: Any) -> WriteResult:
            return WriteResult(0, 0)

    with Lazy(":memory:") as lazy, pytest.raises(ConfigError, match="must consume"):
        ingest_events(lazy, write(tmp_path / "e.jsonl", [row("e1")]))


# Contacts ---------------------------------------------------------------------------------------

HUBSPOT = (
    "Record ID,First Name,Last Name,Email,Company Name,Job Title,Lifecycle Stage,Time Zone,"
    "Unsubscribed from all email,Marketing contact status,Number of Employees\n"
    "101,Ann,Lee,Ann@Acme.com,Acme,CTO,marketingqualifiedlead,america_slash_new_york,false,"
    "Marketing contact,120\n"
    "102,Bob,,bob@x.io,X,,salesqualifiedlead,,true,Non-marketing contact,\n"
    ",Nobody,,nobody@x.io,,,,,,,\n"
    "103,Cy,,not-an-email,,,Customer,,,,\n"
    "104,Di,,di@x.io,,,1234567,(GMT+01:00) Europe/Berlin,,,\n"
)


def test_hubspot_export_maps_headers_and_values(store: SQLiteEventStore, tmp_path: Path) -> None:
    source = tmp_path / "hubspot.csv"
    source.write_text(HUBSPOT, encoding="utf-8-sig")

    report = ingest_contacts(store, source)

    assert (report.accepted, report.rejected) == (3, 2)
    assert store.contact("101") == Contact(
        id="101",
        email="ann@acme.com",
        name="Ann Lee",
        company="Acme",
        title="CTO",
        lifecycle_stage="mql",
        timezone="America/New_York",
        attributes={
            "first_name": "Ann",
            "last_name": "Lee",
            "marketing_contact_status": "Marketing contact",
            "number_of_employees": "120",
        },
    )
    bob, di = store.contact("102"), store.contact("104")
    assert bob is not None and (bob.lifecycle_stage, bob.subscription) == ("sql", "unsubscribed")
    assert di is not None and (di.lifecycle_stage, di.timezone) == ("other", "Europe/Berlin")
    assert di.attributes["lifecycle_stage_raw"] == "1234567"
    reasons = [(d["line"], d["reason"]) for d in dead_letters(report)]
    assert reasons[0][0] == 4 and reasons[0][1].startswith("missing contact 'id'")
    assert reasons[1] == (5, "email 'not-an-email' is not an address like 'name@example.com'")


def test_salesforce_exports_map_headers(store: SQLiteEventStore, tmp_path: Path) -> None:
    report_csv = tmp_path / "salesforce.csv"
    report_csv.write_text(
        "Contact ID,First Name,Last Name,Email,Account Name,Title,Email Opt Out,Lead Source\n"
        "003A,Dee,Park,dee@sf.com,SF Inc,VP Sales,1,Web\n"
    )
    api_csv = tmp_path / "salesforce_api.csv"
    api_csv.write_text(
        "Id,FirstName,LastName,Email,Title,HasOptedOutOfEmail,Timezone\n"
        "003B,Eve,Ng,eve@sf.com,CMO,false,Asia/Tokyo\n"
    )

    assert ingest_contacts(store, report_csv).accepted == 1
    assert ingest_contacts(store, api_csv).accepted == 1

    assert store.contact("003A") == Contact(
        id="003A",
        email="dee@sf.com",
        name="Dee Park",
        company="SF Inc",
        title="VP Sales",
        subscription="unsubscribed",
        attributes={"first_name": "Dee", "last_name": "Park", "lead_source": "Web"},
    )
    eve = store.contact("003B")
    assert eve is not None and (eve.name, eve.timezone, eve.subscription) == (
        "Eve Ng",
        "Asia/Tokyo",
        "unknown",
    )


def test_contact_import_enriches_and_is_idempotent(store: SQLiteEventStore, tmp_path: Path) -> None:
    ingest_events(store, write(tmp_path / "e.jsonl", [row("e1", contact="101")]))
    source = tmp_path / "hubspot.csv"
    source.write_text(HUBSPOT)

    first = ingest_contacts(store, source)
    second = ingest_contacts(store, source)

    assert (first.accepted, first.duplicates) == (3, 0)  # 101 existed bare: enriched, so accepted
    assert (second.accepted, second.duplicates) == (0, 3)


def test_contacts_from_jsonl_with_attributes_and_identify(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    lines = [
        json.dumps(
            {
                "id": "c1",
                "email": "a@x.io",
                "Job Title": "CEO",
                "attributes": {"tier": 1},
                "Plan Name": "pro",
            }
        ),
        json.dumps({"type": "identify", "userId": "c2", "traits": {"email": "b@x.io"}}),
        json.dumps({"email": "noid@x.io"}),
    ]

    report = ingest_contacts(store, write(tmp_path / "contacts.jsonl", lines))

    assert (report.accepted, report.rejected) == (2, 1)
    assert store.contact("c1") == Contact(
        id="c1", email="a@x.io", title="CEO", attributes={"tier": 1, "plan_name": "pro"}
    )
    c2 = store.contact("c2")
    assert c2 is not None and c2.email == "b@x.io"


# The report and reasons --------------------------------------------------------------------------


def test_report_to_json_has_exactly_the_documented_keys(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    report = ingest_events(store, write(tmp_path / "e.jsonl", [row("e1"), "{bad", ""]))

    assert report.to_json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": 1,
        "ignored_blank": 1,
        "dead_letter": str(tmp_path / "e.jsonl.dead-letter.jsonl"),
        "warnings": [],
    }
    assert IngestReport(0, 0, 0, 0, None).to_json()["dead_letter"] is None


def test_explain_validation_error_joins_several_problems() -> None:
    with pytest.raises(ValidationError) as caught:
        Event.model_validate({"id": "", "type": "t", "timestamp": "2026-03-01 10:00"})

    assert explain_validation_error(caught.value) == (
        "'id' is empty; missing 'contact_id'; "
        "timestamp '2026-03-01 10:00' has no timezone; use ISO-8601 with Z or an offset"
    )


# Properties -------------------------------------------------------------------------------------

_lines = st.lists(
    st.builds(
        row,
        id=st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),
        type=st.sampled_from(["page_view", "email_open"]),
        contact=st.sampled_from(["c1", "c2"]),
        minutes=st.integers(min_value=0, max_value=3),
    ),
    max_size=12,
    unique=True,
)


@settings(max_examples=30, deadline=None)
@given(lines=_lines, data=st.data())
def test_any_permutation_of_a_file_ingests_to_the_same_store(
    lines: list[str], data: st.DataObject
) -> None:
    # Rows with an explicit id may repeat one with other content; keep one row per id so
    # "first one wins" does not depend on the order.
    by_id = {json.loads(line).get("id") or line: line for line in lines}
    unique = list(by_id.values())
    shuffled = data.draw(st.permutations(unique))

    def contents(ordered: list[str]) -> dict[str, list[Event]]:
        with tempfile.TemporaryDirectory() as folder, SQLiteEventStore(":memory:") as store:
            ingest_events(store, write(Path(folder) / "e.jsonl", ordered), batch_size=3)
            return {c: store.events(c) for c in store.contact_ids()}

    assert contents(shuffled) == contents(unique)
