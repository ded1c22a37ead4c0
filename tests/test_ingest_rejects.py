"""Rows a store refuses after later rows were pulled still reach the dead letter with their line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow.models import Event
from gtmflow.tools.events.event_store import Reject, SQLiteEventStore, WriteResult
from gtmflow.tools.events.ingest import ingest_events
from gtmflow.tools.events.sqlite_rows import event_params

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class LateRejecting(SQLiteEventStore):
    """Pulls every row first, keeping only the parameters of good ones (so those rows die and
    their addresses are taken by later rows), then refuses the rows whose id starts with "bad".

    With `copies`, it refuses copies of those rows, objects the ingest never handed out.
    """

    def __init__(self, path: Path, *, copies: bool = False) -> None:
        super().__init__(path)
        self.copies = copies

    def write_events(
        self, events: Iterable[Event], *, reject: Reject[Event] | None = None
    ) -> WriteResult:
        assert reject is not None
        good, bad = [], []
        for event in events:
            if event.id.startswith("bad"):
                bad.append(event)
            else:
                good.append(event_params(event))
        for event in bad:
            reject(event.model_copy() if self.copies else event, "refused late")
        with self._transaction("write events"):
            self._conn.executemany(
                "INSERT INTO events (id, contact_id, type, ts, properties) VALUES (?, ?, ?, ?, ?)",
                good,
            )
        return WriteResult(len(good), 0, len(bad))


def _file(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "events.jsonl"
    lines = []
    for n, event_id in enumerate(ids):
        stamp = (T0 + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")
        row = {"id": event_id, "type": "t", "contact_id": "c1", "timestamp": stamp}
        lines.append(json.dumps(row) + "\n")
    path.write_text("".join(lines))
    return path


def _dead(path: Path | None) -> list[dict[str, Any]]:
    assert path is not None
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("batch_size", [7, 1000])
def test_a_row_refused_after_later_pulls_is_dead_lettered_with_its_own_line(
    tmp_path: Path, batch_size: int
) -> None:
    ids = [f"ok{n}" for n in range(50)]
    ids[3], ids[17], ids[40] = "bad-a", "bad-b", "bad-c"
    with LateRejecting(tmp_path / "s.db") as store:
        report = ingest_events(
            store, _file(tmp_path, ids), dead_letter=tmp_path / "dead.jsonl", batch_size=batch_size
        )
        stored = sorted(e.id for e in store.events("c1"))
    dead = _dead(report.dead_letter)
    assert [(d["line"], json.loads(d["raw"])["id"]) for d in dead] == [
        (4, "bad-a"),
        (18, "bad-b"),
        (41, "bad-c"),
    ]
    assert report.rejected == 3
    assert stored == sorted(i for i in ids if not i.startswith("bad"))


def test_a_refused_copy_never_takes_the_line_of_a_row_that_was_stored(tmp_path: Path) -> None:
    ids = [f"ok{n}" for n in range(30)]
    ids[2], ids[9], ids[-1] = "bad-a", "bad-b", "bad-last"
    with LateRejecting(tmp_path / "s.db", copies=True) as store:
        report = ingest_events(store, _file(tmp_path, ids), dead_letter=tmp_path / "dead.jsonl")
    dead = _dead(report.dead_letter)
    assert len(dead) == 3
    # A copy was never pulled, so its line cannot be looked up: the row last pulled stands in
    # (here a refused one), never a stored row whose address the copy happens to reuse.
    assert {json.loads(d["raw"])["id"] for d in dead} <= {"bad-a", "bad-b", "bad-last"}


def test_bad_rows_among_many_batches_cost_only_themselves(tmp_path: Path) -> None:
    """A bad row, a repeated id and a conflict among 3,500 rows in 1,000-row batches."""
    rows = []
    for n in range(3500):
        stamp = (T0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
        rows.append({"id": f"e{n}", "type": "t", "contact_id": f"c{n % 7}", "timestamp": stamp})
    rows[1700]["type"] = "bad\ud800"  # a lone surrogate: the database refuses it
    rows[300] = dict(rows[299])  # the same event again: a duplicate
    rows[2200] = {**rows[100], "type": "other"}  # id e100 again, other content: a conflict
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with SQLiteEventStore(tmp_path / "s.db") as store:
        first = ingest_events(store, path, dead_letter=tmp_path / "dead.jsonl", batch_size=1000)
        stored = {e.id for c in range(7) for e in store.events(f"c{c}")}
        again = ingest_events(store, path, dead_letter=tmp_path / "dead2.jsonl", batch_size=1000)
        assert store.stats().events == len(stored)
    assert (first.accepted, first.duplicates, first.rejected) == (3497, 1, 2)
    assert stored == {f"e{n}" for n in range(3500)} - {"e300", "e1700", "e2200"}
    assert [d["line"] for d in _dead(first.dead_letter)] == [1701, 2201]
    assert (again.accepted, again.duplicates, again.rejected) == (0, 3498, 2)
