"""Real third-party event data (Mode's Yammer email log) through ingest, pipes and a run.

The file has its own column names and `DD-MM-YYYY H.MM` local timestamps, so it also exercises
`EventMapping`. Skips when `../shared` is absent.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow import Workspace
from gtmflow import pipes as p
from gtmflow.graphs.inbound_router import build_inbound_router
from gtmflow.models import Contact
from gtmflow.tools.events.event_store import SQLiteEventStore
from gtmflow.tools.events.ingest import ingest_events
from gtmflow.tools.events.mapping import EventMapping
from gtmflow.triggers import RuleSet

from .conftest import SHARED

YAMMER = SHARED / "data" / "external" / "email_events" / "mode_yammer" / "email_events.csv"
MAPPING = EventMapping(
    columns={"action": "type"}, timestamp_format="%d-%m-%Y %H.%M", assume_timezone="UTC"
)
AS_OF = datetime(2014, 9, 1, tzinfo=UTC)
REENGAGE = p.Rule(
    "re-engage", when=p.inactive("email_open", for_="30d"), then=p.enroll("re-engagement")
)

pytestmark = pytest.mark.skipif(not YAMMER.exists(), reason="../shared data is absent")


def _brute_force_dormant(path: Path) -> set[str]:
    """Users with history before the window and no email_open in [as_of - 30d, as_of]."""
    first: dict[str, datetime] = {}
    opens: dict[str, list[datetime]] = defaultdict(list)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            when = datetime.strptime(row["occurred_at"], "%d-%m-%Y %H.%M").replace(tzinfo=UTC)
            user = row["user_id"]
            first[user] = min(first.get(user, when), when)
            if row["action"] == "email_open":
                opens[user].append(when)
    start = AS_OF - timedelta(days=30)
    return {
        u for u, t in first.items() if t <= start and not any(start <= o <= AS_OF for o in opens[u])
    }


def test_real_log_ingests_without_losing_a_row(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "db.sqlite")
    report = ingest_events(store, YAMMER, mapping=MAPPING, fallback_dir=tmp_path)
    rows = sum(1 for _ in YAMMER.open()) - 1
    assert report.rejected == 0
    # the export lost seconds, so identical rows in one minute collapse: duplicates, not loss
    assert report.accepted + report.duplicates == rows
    assert store.stats().contacts == 6179
    again = ingest_events(store, YAMMER, mapping=MAPPING, fallback_dir=tmp_path)
    assert (again.accepted, again.duplicates) == (0, rows)


def test_inactivity_rule_matches_brute_force_on_real_log(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "db.sqlite")
    ingest_events(store, YAMMER, mapping=MAPPING, fallback_dir=tmp_path)
    rules = RuleSet([REENGAGE])
    fired = {
        contact
        for contact in store.contact_ids()
        if rules.evaluate(
            Contact(id=contact), p.History(store.events(contact)), as_of=AS_OF
        ).firings
    }
    expected = _brute_force_dormant(YAMMER)
    assert fired == expected
    assert 1000 < len(fired) < 6179  # a real share, not all or nothing


def test_workspace_run_on_real_log_is_exactly_once(tmp_path: Path) -> None:
    subset = tmp_path / "yammer_subset.csv"
    with YAMMER.open(newline="") as src, subset.open("w", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        writer.writerows(row for row in reader if int(row[0]) < 400)
    with Workspace.open(tmp_path / "ws") as ws:
        ws.ingest(subset, mapping=MAPPING, progress=False)
        graph = build_inbound_router(rules=[REENGAGE])
        first = ws.run(graph, as_of=AS_OF, progress=False)
        assert ws.run(graph, as_of=AS_OF, progress=False).actions == 0
        contacts = {r.action.contact_id for r in ws.outbox.records()}
    assert first.actions == len(contacts) == len(_brute_force_dormant(subset))
