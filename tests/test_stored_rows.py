"""A row already in the store, however it got there, never stops `run`, `tick` or `deliver`:
that contact's failure is recorded, and every other contact goes on."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow import Workspace
from gtmflow.errors import GtmflowWarning, StoreError
from gtmflow.models import Action, Contact
from gtmflow.runtime.workspace import RunMode

from .conftest import at, ev, write_events

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_10000 = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds() + 7200


_PRICING = '{"path":"/pricing"}'  # a row the pricing rule reads (others are never decoded)


def _store_raw(ws: Workspace, *rows: tuple[str, str, str, int, str]) -> None:
    """Rows written straight into the database, as an older gtmflow could have."""
    if ws.stores.backend == "postgresql":
        with ws.stores.events.db.transaction() as pg:  # type: ignore[attr-defined]
            pg.executemany(
                "INSERT INTO events (id, contact_id, type, ts, properties) VALUES (?, ?, ?, ?, ?)",
                list(rows),
            )
            pg.executemany(
                "INSERT INTO contacts (id) VALUES (?) ON CONFLICT (id) DO NOTHING",
                [(r[1],) for r in rows],
            )
        return
    with sqlite3.connect(ws.state_dir / "gtmflow.db") as conn:
        conn.executemany(
            "INSERT INTO events (id, contact_id, type, ts, properties) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany("INSERT OR IGNORE INTO contacts (id) VALUES (?)", ((r[1],) for r in rows))


def _execute(ws: Workspace, sql: str, *rows: tuple[Any, ...]) -> None:
    """One statement straight on the workspace's database (either backend), once per row."""
    if ws.stores.backend == "postgresql":
        with ws.stores.events.db.transaction() as pg:  # type: ignore[attr-defined]
            if rows:
                pg.executemany(sql, list(rows))
            else:
                pg.execute(sql)
        return
    with sqlite3.connect(ws.state_dir / "gtmflow.db") as conn:
        conn.executemany(sql, rows) if rows else conn.execute(sql)


def _hot(contact: str) -> list[dict[str, object]]:
    return [ev(f"{contact}-{i}", "page_view", contact, at(i), path="/pricing") for i in range(3)]


@pytest.mark.parametrize(
    ("ts", "properties"),
    [
        (int(_YEAR_10000 * 1_000_000), _PRICING),
        (-62_135_596_800_000_000, _PRICING),
        (0, "not json"),
        (0, "[1, 2]"),
    ],
    ids=["year-10000", "year-1", "broken-properties", "properties-not-an-object"],
)
@pytest.mark.parametrize("mode", ["bulk", "per_contact"])
def test_run_and_tick_survive_a_stored_row_they_cannot_read(
    workspace: Workspace, tmp_path: Path, ts: int, properties: str, mode: RunMode
) -> None:
    workspace.ingest(write_events(tmp_path / "e.jsonl", _hot("ok") + _hot("bad")), progress=False)
    _store_raw(workspace, ("broken", "bad", "page_view", ts, properties))

    with pytest.warns(GtmflowWarning, match="'broken'"):
        report = workspace.run(as_of=at(5), progress=False, mode=mode)
        ticked = workspace.tick(at(5, hours=12), progress=False)

    assert report.by_rule == {"pricing-hot": 1}
    assert set(report.errors) == {"bad"}
    assert "'broken'" in report.errors["bad"]
    assert {r.action.contact_id for r in workspace.outbox.records()} == {"ok"}
    assert ticked["sent"] == 1
    assert report.to_json()["errors"] == report.errors


def test_a_contacts_history_with_an_unreadable_row_says_which_and_how_to_fix(
    workspace: Workspace,
) -> None:
    _store_raw(workspace, ("broken", "bad", "page_view", int(_YEAR_10000 * 1_000_000), "{}"))

    with pytest.raises(StoreError, match=r"event 'broken' of contact 'bad'.*gtmflow forget bad"):
        workspace.events.events("bad")


def test_a_stored_row_the_rules_never_read_costs_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.ingest(write_events(tmp_path / "e.jsonl", _hot("bad")), progress=False)
    _store_raw(workspace, ("broken", "bad", "page_view", int(_YEAR_10000 * 1_000_000), "{}"))

    report = workspace.run(as_of=at(5), progress=False)  # the pricing rule reads /pricing only

    assert (report.errors, report.by_rule) == ({}, {"pricing-hot": 1})


def test_a_failing_contact_is_retried_on_the_next_run(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest(write_events(tmp_path / "e.jsonl", _hot("bad")), progress=False)
    _store_raw(workspace, ("broken", "bad", "page_view", int(_YEAR_10000 * 1_000_000), _PRICING))
    with pytest.warns(GtmflowWarning, match="'broken'"):
        assert set(workspace.run(as_of=at(5), progress=False).errors) == {"bad"}

    _execute(workspace, "DELETE FROM events WHERE id = 'broken'")
    again = workspace.run(as_of=at(5), progress=False)

    assert (again.errors, again.by_rule) == ({}, {"pricing-hot": 1})


def test_a_stored_invalid_time_zone_does_not_stop_a_delivery_pass(workspace: Workspace) -> None:
    _execute(
        workspace,
        "INSERT INTO contacts (id, email, timezone) VALUES (?, ?, ?)",
        ("zoneless", "z@example.com", "Mars/Olympus"),
        ("fine", "f@x.io", "UTC"),
    )
    now = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday morning in UTC
    workspace.outbox.put(
        Action(kind="send_email", contact_id=c, payload={"subject": "Hi"}, graph="g",
               source="s", created_at=now)
        for c in ("zoneless", "fine")
    )  # fmt: skip

    report = workspace.deliver(now=now)

    assert report.sent == 2
    assert workspace.events.contact("fine") == Contact(id="fine", email="f@x.io", timezone="UTC")


def _email(contact: str, now: datetime) -> Action:
    return Action(
        kind="send_email", contact_id=contact, payload={"subject": "Hi"}, graph="g", source="s",
        created_at=now,
    )  # fmt: skip


def test_a_stored_zone_label_is_read_as_its_iana_zone(workspace: Workspace) -> None:
    _execute(
        workspace, "INSERT INTO contacts (id, timezone) VALUES ('ny', 'Eastern Time (US & Canada)')"
    )
    now = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # 05:00 in New York: quiet
    workspace.outbox.put([_email("ny", now)])

    assert workspace.deliver(now=now).held == 1
    [record] = workspace.outbox.records()
    assert record.note == "quiet hours in America/New_York"


def test_a_message_whose_consent_cannot_be_checked_is_held_not_sent(
    workspace: Workspace,
) -> None:
    _store_raw(workspace, ("broken", "bad", "unsubscribed", int(_YEAR_10000 * 1_000_000), "{}"))
    now = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    workspace.outbox.put([_email("bad", now), _email("fine", now)])

    report = workspace.deliver(now=now)

    assert (report.sent, report.held) == (1, 1)
    held = next(r for r in workspace.outbox.records() if r.action.contact_id == "bad")
    assert held.status == "held"
    assert held.note is not None and "could not check" in held.note and "'broken'" in held.note
    assert held.hold_until == now + timedelta(hours=1)
