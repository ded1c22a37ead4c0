"""EventMapping: exports with other column names and timestamp formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtmflow.cli import app
from gtmflow.errors import ConfigError
from gtmflow.runtime.workspace import Workspace
from gtmflow.tools.events.event_store import SQLiteEventStore
from gtmflow.tools.events.ingest import ingest_events
from gtmflow.tools.events.mapping import EventMapping

CSV = "uid,when,what,page\n1,06-05-2014 9.30,page_view,/pricing\n2,31-02-2014 9.30,page_view,/\n"


def test_mapping_renames_and_parses(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    mapping = EventMapping(
        columns={"uid": "contact_id", "when": "timestamp", "what": "type"},
        timestamp_format="%d-%m-%Y %H.%M",
        assume_timezone="Europe/Berlin",
    )
    store = SQLiteEventStore(":memory:")
    report = ingest_events(store, path, mapping=mapping)
    assert (report.accepted, report.rejected) == (1, 1)
    (event,) = store.events("1")
    assert event.timestamp.isoformat() == "2014-05-06T07:30:00+00:00"  # 09:30 CEST
    assert event.properties == {"page": "/pricing"}
    (dead,) = [json.loads(x) for x in report.dead_letter.read_text().splitlines()]  # type: ignore[union-attr]
    assert dead["line"] == 3
    assert dead["reason"] == "timestamp '31-02-2014 9.30' does not match format '%d-%m-%Y %H.%M'"


def test_naive_timestamps_stay_rejected_without_an_assumed_zone(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    mapping = EventMapping(
        columns={"uid": "contact_id", "when": "timestamp", "what": "type"},
        timestamp_format="%d-%m-%Y %H.%M",
    )
    report = ingest_events(SQLiteEventStore(":memory:"), path, mapping=mapping)
    assert report.accepted == 0
    first = json.loads(report.dead_letter.read_text().splitlines()[0])  # type: ignore[union-attr]
    assert "has no timezone" in first["reason"]


def test_mapping_mistakes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not event fields"):
        EventMapping(columns={"what": "kind"})
    with pytest.raises(ConfigError, match="not an IANA name"):
        EventMapping(assume_timezone="CEST")


def test_cli_map_options(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            "events",
            str(path),
            "-w",
            str(tmp_path / "ws"),
            "--map",
            "uid=contact_id",
            "--map",
            "when=timestamp",
            "--map",
            "what=type",
            "--timestamp-format",
            "%d-%m-%Y %H.%M",
            "--assume-timezone",
            "UTC",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 1
    bad = CliRunner().invoke(
        app, ["ingest", "events", str(path), "-w", str(tmp_path / "ws"), "--map", "uid"]
    )
    assert bad.exit_code == 2 and "SOURCE=FIELD" in bad.output


DISPLAY_NAMES = (
    "uid,when,what\n"
    "1,2024-05-06T09:30:00+00:00,Page Viewed\n"
    "1,2024-05-06T09:31:00+00:00,Trial Started\n"
    "1,2024-05-06T09:32:00+00:00,email_open\n"
)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], ["page_view", "trial_started", "email_open"]),
        (["--keep-event-names"], ["Page Viewed", "Trial Started", "email_open"]),
    ],
)
def test_cli_map_names_events_as_the_segment_reader_does(
    tmp_path: Path, extra: list[str], expected: list[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(DISPLAY_NAMES)
    ws = tmp_path / "ws"
    columns = ["--map", "uid=contact_id", "--map", "when=timestamp", "--map", "what=type"]
    result = CliRunner().invoke(
        app, ["ingest", "events", str(path), "-w", str(ws), *columns, *extra]
    )
    assert result.exit_code == 0, result.output
    with Workspace.open(ws) as opened:
        assert [e.type for e in opened.events.events("1")] == expected


def test_event_names_choice_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"'segment'.*'keep'"):
        EventMapping(event_names="Segment")  # type: ignore[arg-type]
