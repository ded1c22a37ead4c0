"""One bad row never stops an ingest: whatever fails (decoding, validation, the database write),
that row is dead-lettered with a reason and every other row is stored."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gtmflow.errors import InputError, InputWarning
from gtmflow.models import Event
from gtmflow.tools.events.event_store import SQLiteEventStore
from gtmflow.tools.events.ingest import IngestReport, ingest_contacts, ingest_events

STAMP = "2026-03-01T10:00:00Z"


def good(index: int) -> str:
    return json.dumps(
        {"id": f"g{index}", "type": "page_view", "contact_id": f"c{index}", "timestamp": STAMP}
    )


def sandwich(path: Path, bad: str, *, good_rows: int = 3) -> Path:
    """A file whose second line is `bad`, between good rows."""
    lines = [good(0), bad, *(good(i) for i in range(1, good_rows))]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def dead(report: IngestReport) -> list[dict[str, Any]]:
    assert report.dead_letter is not None
    return [json.loads(line) for line in report.dead_letter.read_text("utf-8").splitlines()]


def stored_ids(store: SQLiteEventStore) -> set[str]:
    return {event.id for _, event in store.changes()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteEventStore]:
    with SQLiteEventStore(tmp_path / "state" / "events.db") as opened:
        yield opened


def _bad_row(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "bad",
        "type": "page_view",
        "contact_id": "c-bad",
        "timestamp": STAMP,
        **overrides,
    }


# Rows that crashed the whole file --------------------------------------------------------------

LONE_SURROGATE = json.dumps(_bad_row(properties={"note": "\ud800"}))
DEEP = (
    '{"id": "bad", "type": "t", "contact_id": "c", "timestamp": "'
    + STAMP
    + '", "p": '
    + "[" * 100_000
    + "]" * 100_000
    + "}"
)
BIG_INT = (
    '{"id": "bad", "type": "t", "contact_id": "c", "timestamp": "'
    + STAMP
    + '", "n": '
    + "9" * 5000
    + "}"
)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (LONE_SURROGATE, "not valid Unicode"),
        (DEEP, "nested"),
        (BIG_INT, "digits"),
        (json.dumps(_bad_row(contact_id="c-\udfff")), "not valid Unicode"),
        (json.dumps(_bad_row(properties={"k" * 3: [[[[[[[[[[[]]]]]]]]]]] * 1})), None),
    ],
    ids=["lone-surrogate", "100k-deep", "5000-digits", "surrogate-id", "deep-but-fine"],
)
def test_a_row_that_crashed_the_file_costs_only_itself(
    store: SQLiteEventStore, tmp_path: Path, bad: str, reason: str | None
) -> None:
    report = ingest_events(store, sandwich(tmp_path / "events.jsonl", bad))

    assert {"g0", "g1", "g2"} <= stored_ids(store)
    if reason is None:
        assert (report.accepted, report.rejected) == (4, 0)
        return
    assert (report.accepted, report.rejected) == (3, 1)
    [letter] = dead(report)
    assert letter["line"] == 2
    assert reason in letter["reason"]


def test_a_contact_that_the_database_cannot_hold_costs_only_itself(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    rows = [
        {"id": "c1", "email": "a@example.com"},
        {"id": "c2", "attributes": {"note": "\ud800"}},
        {"id": "c3", "email": "b@example.com"},
    ]
    path = tmp_path / "contacts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    report = ingest_contacts(store, path)

    assert (report.accepted, report.rejected) == (2, 1)
    assert store.contact("c1") is not None and store.contact("c3") is not None
    assert store.contact("c2") is None
    assert "not valid Unicode" in dead(report)[0]["reason"]


def test_a_segment_identify_the_database_cannot_hold_costs_only_itself(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    identify = json.dumps({"type": "identify", "userId": "u1", "traits": {"bio": "\udc80"}})

    report = ingest_events(store, sandwich(tmp_path / "events.jsonl", identify))

    assert (report.accepted, report.rejected) == (3, 1)
    assert store.contact("u1") is None
    assert dead(report)[0]["line"] == 2


def test_a_row_refused_by_a_direct_write_is_a_warning_naming_it(store: SQLiteEventStore) -> None:
    from datetime import UTC, datetime

    event = Event.model_construct(
        id="e1", type="t", contact_id="c", timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        properties={"note": "\ud800"},
    )  # fmt: skip

    with pytest.warns(InputWarning, match="'e1'.*not valid Unicode"):
        result = store.write_events([event])
    assert (result.rejected, store.stats().events) == (1, 0)


# Timestamps outside 1970-2200 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        ("9999-12-31T23:59:59-01:00", "after 2200"),
        ("9999-12-31T23:59:59Z", "after 2200"),
        ("2201-01-01T00:00:00Z", "after 2200"),
        ("0001-01-01T00:00:00Z", "before 1970"),
        ("0001-01-01T00:00:00+01:00", "before 1970"),
        ("1969-12-31T23:59:59Z", "before 1970"),
        (-86_400, "negative epoch"),
        (-1_700_000_000_000, "negative epoch"),
        ("-86400", "negative epoch"),
    ],
)
def test_timestamps_outside_1970_to_2200_are_rejected_at_ingest(
    store: SQLiteEventStore, tmp_path: Path, stamp: str | int, reason: str
) -> None:
    report = ingest_events(
        store, sandwich(tmp_path / "events.jsonl", json.dumps(_bad_row(timestamp=stamp)))
    )

    assert (report.accepted, report.rejected) == (3, 1)
    assert reason in dead(report)[0]["reason"]


@pytest.mark.parametrize("stamp", ["1970-01-01T00:00:00Z", "2200-12-31T23:59:59Z", 1_767_225_600])
def test_the_edges_of_the_range_and_positive_epochs_are_accepted(
    store: SQLiteEventStore, tmp_path: Path, stamp: str | int
) -> None:
    report = ingest_events(
        store, sandwich(tmp_path / "events.jsonl", json.dumps(_bad_row(timestamp=stamp)))
    )

    assert (report.accepted, report.rejected) == (4, 0)


def test_csv_timestamps_outside_the_range_are_rejected(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "id,type,contact_id,timestamp\n"
        f"a,page_view,c1,{STAMP}\n"
        "b,page_view,c2,9999-12-31T23:59:59-01:00\n"
        f"c,page_view,c3,{STAMP}\n",
        encoding="utf-8",
    )

    report = ingest_events(store, path)

    assert (report.accepted, report.rejected) == (2, 1)
    assert stored_ids(store) == {"a", "c"}


# Dead letters live in the workspace -------------------------------------------------------------


def test_a_workspace_keeps_dead_letters_under_its_state_folder(tmp_path: Path) -> None:
    from gtmflow import Workspace

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = sandwich(inbox / "events.jsonl", "{broken")
    (tmp_path / "other").mkdir()
    other = sandwich(tmp_path / "other" / "events.jsonl", "{also broken")

    with Workspace.open(tmp_path / "ws") as ws:
        first = ws.ingest(source, progress=False)
        second = ws.ingest(other, progress=False)

    assert list(inbox.iterdir()) == [source]  # nothing beside the input
    for report in (first, second):
        assert report.dead_letter is not None
        assert report.dead_letter.parent == tmp_path / "ws" / ".gtmflow" / "dead-letter"
        assert report.dead_letter.name.startswith("events.jsonl.")
    assert first.dead_letter != second.dead_letter  # same name, other folder: both kept
    assert dead(first)[0]["raw"] == "{broken" and dead(second)[0]["raw"] == "{also broken"


def test_the_cli_report_names_the_dead_letter_path(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gtmflow.cli import app

    source = sandwich(tmp_path / "events.jsonl", "{broken")
    result = CliRunner().invoke(app, ["ingest", "events", str(source), "-w", str(tmp_path / "w")])

    assert result.exit_code == 0, result.output
    assert ".gtmflow/dead-letter/events.jsonl." in result.output.replace("\n", "")


# CSV: an unclosed quote costs one line; a wrong delimiter is named ------------------------------

HEADER = "id,type,contact_id,timestamp,note\n"


def _csv_rows(count: int, start: int = 0) -> str:
    return "".join(f"r{i},page_view,c{i},{STAMP},fine\n" for i in range(start, start + count))


def test_an_unclosed_quote_costs_only_its_line(store: SQLiteEventStore, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        HEADER + _csv_rows(2) + f'bad,page_view,c9,{STAMP},"he said hi\n' + _csv_rows(100, 2),
        encoding="utf-8",
    )

    report = ingest_events(store, path)

    assert (report.accepted, report.rejected) == (102, 1)
    assert stored_ids(store) == {f"r{i}" for i in range(102)}
    [letter] = dead(report)
    assert (letter["line"], letter["raw"]) == (4, f'bad,page_view,c9,{STAMP},"he said hi')
    assert "quote" in letter["reason"] and "never closes" in letter["reason"]


def test_an_unclosed_quote_on_the_last_line_is_rejected(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        HEADER + _csv_rows(2) + f'bad,page_view,c9,{STAMP},"he said hi', encoding="utf-8"
    )

    report = ingest_events(store, path)

    assert (report.accepted, report.rejected) == (2, 1)


def test_an_unclosed_quote_that_reaches_the_field_limit_costs_only_its_line(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    long_rows = "".join(f"r{i},page_view,c{i},{STAMP},{'x' * 200}\n" for i in range(1000))
    path = tmp_path / "events.csv"
    path.write_text(HEADER + f'bad,page_view,c9,{STAMP},"oops\n' + long_rows, encoding="utf-8")

    report = ingest_events(store, path)

    assert (report.accepted, report.rejected) == (1000, 1)
    assert dead(report)[0]["line"] == 2


def test_a_quote_closed_many_lines_later_costs_only_the_line_that_opened_it(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        HEADER + f'bad,page_view,c9,{STAMP},"he said hi\n' + _csv_rows(40) + 'x,y,z,"w\n',
        encoding="utf-8",
    )

    report = ingest_events(store, path)

    assert stored_ids(store) == {f"r{i}" for i in range(40)}
    assert report.accepted + report.rejected + report.duplicates + report.ignored_blank == 42


def test_quoted_fields_over_several_lines_still_read_as_one_value(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        HEADER + f'm,page_view,c1,{STAMP},"line one\nline ""two""\nthree"\n' + _csv_rows(1),
        encoding="utf-8",
    )

    report = ingest_events(store, path)

    assert (report.accepted, report.rejected) == (2, 0)
    assert store.events("c1")[0].properties == {"note": 'line one\nline "two"\nthree'}


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_csv_with_another_delimiter_is_named_with_the_fix(
    store: SQLiteEventStore, tmp_path: Path, delimiter: str
) -> None:
    path = tmp_path / "events.csv"
    path.write_text((HEADER + _csv_rows(3)).replace(",", delimiter), encoding="utf-8")

    shown = "\\t" if delimiter == "\t" else delimiter
    with pytest.raises(
        InputError, match=re.escape(f"looks like '{shown}'-separated: pass --delimiter '{shown}'")
    ):
        ingest_events(store, path)

    report = ingest_events(store, path, delimiter=delimiter)
    assert (report.accepted, report.rejected) == (3, 0)


def test_the_cli_names_the_delimiter_and_exits_non_zero(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gtmflow.cli import app

    path = tmp_path / "events.csv"
    path.write_text((HEADER + _csv_rows(3)).replace(",", ";"), encoding="utf-8")
    runner = CliRunner()
    workspace = ["-w", str(tmp_path / "w")]

    wrong = runner.invoke(app, ["ingest", "events", str(path), *workspace])
    right = runner.invoke(
        app, ["ingest", "events", str(path), "--delimiter", ";", *workspace, "--json"]
    )

    assert wrong.exit_code == 2
    said = " ".join(wrong.output.split())  # the console wraps at its width, wherever tmp is
    assert "looks like ';'-separated: pass --delimiter ';'" in said
    assert right.exit_code == 0 and json.loads(right.output)["accepted"] == 3


def test_contacts_csv_with_semicolons_is_named_too(store: SQLiteEventStore, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("id;email\n1;a@x.io\n", encoding="utf-8")

    with pytest.raises(InputError, match="looks like ';'-separated"):
        ingest_contacts(store, path)


# A repeated event id with other content is a conflict, never a silent duplicate ----------------


def test_an_event_id_repeated_with_other_content_is_a_reported_conflict(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    first = json.dumps({"id": "e1", "type": "page_view", "contact_id": "c1", "timestamp": STAMP})
    same = json.dumps({"type": "page_view", "timestamp": STAMP, "contact_id": "c1", "id": "e1"})
    other = json.dumps({"id": "e1", "type": "unsubscribed", "contact_id": "c1", "timestamp": STAMP})
    path = tmp_path / "events.jsonl"
    path.write_text(f"{first}\n{same}\n{other}\n", encoding="utf-8")

    report = ingest_events(store, path)
    again = ingest_events(store, path)

    assert (report.accepted, report.duplicates, report.rejected) == (1, 1, 1)
    [letter] = dead(report)
    assert letter["line"] == 3 and letter["reason"].startswith("conflict: event id 'e1'")
    assert "type" in letter["reason"]
    assert [e.type for e in store.events("c1")] == ["page_view"]  # the stored event stays
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 1)


def test_a_nul_character_costs_only_its_row_in_a_workspace_on_each_backend(
    workspace: Any, tmp_path: Path
) -> None:
    """U+0000 in a contact's field or an event's type is refused with the fix, on PostgreSQL too
    (where it used to fail the whole batch); a NUL inside properties is kept as JSON text and never
    reaches a message."""
    contacts = [
        {"id": "c1", "email": "ana@example.com", "name": "Ana"},
        {"id": "c2", "email": "bo@example.com", "name": "Bo\u0000b"},
        {"id": "c3", "email": "cy@example.com"},
    ]
    contacts_path = tmp_path / "contacts.jsonl"
    contacts_path.write_text("".join(json.dumps(r) + "\n" for r in contacts), encoding="utf-8")
    events = [_bad_row(id=f"p{i}", contact_id="c1", path="/pricing\u0000") for i in range(3)] + [
        _bad_row(id="x1", contact_id="c3", type="page\u0000view"),
        _bad_row(id="x2", contact_id="c3"),
    ]
    events_path = tmp_path / "events.jsonl"
    events_path.write_text("".join(json.dumps(r) + "\n" for r in events), encoding="utf-8")

    people = workspace.ingest(contacts_path, kind="contacts", progress=False)
    seen = workspace.ingest(events_path, progress=False)

    assert (people.accepted, people.rejected) == (2, 1)
    assert (seen.accepted, seen.rejected) == (4, 1)
    for report, line in ((people, 2), (seen, 4)):
        [letter] = dead(report)
        assert letter["line"] == line
        assert "NUL character" in letter["reason"] and "strip" in letter["reason"]
    assert workspace.stores.events.contact("c2") is None
    paths = [e.properties["path"] for e in workspace.stores.events.events("c1")]
    assert paths == ["/pricing\x00"] * 3
    run = workspace.run(as_of=datetime(2026, 3, 2, tzinfo=UTC), progress=False)
    assert not run.errors
