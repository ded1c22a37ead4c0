"""Checkpoint retention: one checkpoint per thread as runs repeat; approvals survive compaction."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow import VirtualClock, Workspace
from gtmflow.errors import ConfigError
from gtmflow.models import Event
from gtmflow.runtime.scaffold import scaffold

from .conftest import at, ev, write_events
from .test_sequences import RULES, SEQUENCES, TOML


def _checkpoints(ws: Workspace) -> dict[str, int]:
    with sqlite3.connect(ws.state_dir / "checkpoints.db") as db:
        rows = db.execute("SELECT thread_id, COUNT(*) FROM checkpoints GROUP BY thread_id")
        return dict(rows.fetchall())


RULES_REFIRING = """
from gtmflow import pipes as p
RULES = [p.Rule("viewed", when=p.event("page_view"), then=p.alert_sales(), cooldown="1h")]
"""


def _repeat_runs(folder: Path, keep: str) -> tuple[list[int], dict[str, int]]:
    """Ten bulk runs, each firing a rule for all 400 contacts again (every thread re-invoked)."""
    folder.mkdir()
    (folder / "rules.py").write_text(RULES_REFIRING)
    (folder / "gtmflow.toml").write_text(f'[checkpoints]\nkeep = "{keep}"\n')
    sizes = []
    with Workspace.open(folder) as ws:
        for run in range(10):
            rows = [ev(f"v{run}-{c}", "page_view", f"c{c}", at(run)) for c in range(400)]
            ws.ingest(write_events(folder / f"e{run}.jsonl", rows), progress=False)
            report = ws.run(as_of=at(run, hours=1), progress=False, batch=25)
            assert (report.invoked, report.actions) == (400, 400)
            ws.retention.settle()  # measure the database file (the log is bounded and reused)
            sizes.append(ws.retention.size())
        return sizes, _checkpoints(ws)


def test_repeated_runs_keep_one_checkpoint_per_thread(tmp_path: Path) -> None:
    sizes, kept = _repeat_runs(tmp_path / "latest", "latest")
    assert set(kept.values()) == {1} and len(kept) == 400
    assert sizes[-1] <= 1.2 * sizes[0], sizes  # every thread rewritten in place, ten times
    every_size, every = _repeat_runs(tmp_path / "all", "all")
    assert set(every.values()) == {10}  # one checkpoint per invoke (durability="exit")
    assert every_size[-1] > 3 * every_size[0]
    with Workspace.open(tmp_path / "all") as ws:  # compaction cleans what keep="all" wrote
        report = ws.compact()
        assert set(_checkpoints(ws).values()) == {1}
    assert (report.threads, report.checkpoints_removed) == (400, 3600)
    assert report.bytes_after < report.bytes_before / 3
    (tmp_path / "all" / "gtmflow.toml").write_text('[checkpoints]\nkeep = "latest"\n')
    with Workspace.open(tmp_path / "all") as ws:  # threads with LangGraph's string versions
        rows = [ev(f"w-{c}", "page_view", f"c{c}", at(20)) for c in range(400)]
        ws.ingest(write_events(tmp_path / "w.jsonl", rows), progress=False)
        assert ws.run(as_of=at(20, hours=1), progress=False).actions == 400
        assert set(_checkpoints(ws).values()) == {1}


def test_per_contact_runs_prune_too(tmp_path: Path) -> None:
    scaffold(tmp_path)
    with Workspace.open(tmp_path) as ws:
        for run in range(3):
            rows = [ev(f"v{run}-{c}", "page_view", f"c{c}", at(run), path="/") for c in range(5)]
            ws.ingest(write_events(tmp_path / f"e{run}.jsonl", rows), progress=False)
            ws.run(as_of=at(run, hours=1), progress=False, mode="per_contact")
        assert _checkpoints(ws) == {f"inbound_router:c{c}": 1 for c in range(5)}


def test_a_draft_waiting_for_approval_survives_compaction(tmp_path: Path) -> None:
    for name, text in (("gtmflow.toml", TOML), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (tmp_path / name).write_text(text)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with Workspace.open(tmp_path, clock=VirtualClock(start)) as ws:
        ws.events.write_events(
            [Event(id="call", type="call_completed", contact_id="ana", timestamp=start)]
        )
        ws.run(as_of=start, progress=False)
        ws.tick(start, progress=False)
        (request,) = ws.approvals.list()
        report = ws.compact()
        assert report.threads >= 2 and set(_checkpoints(ws).values()) == {1}
        assert report.bytes_after <= report.bytes_before
        ws.approve(request.id, by="ana")
        ws.tick(start + timedelta(minutes=1), progress=False)
        (sent,) = ws.outbox.records(status="sent", kinds=["send_email"])
        assert sent.action.payload["approval"]["by"] == "ana"


def test_an_unknown_keep_setting_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text('[checkpoints]\nkeep = "last"\n')
    with pytest.raises(ConfigError, match="keep = 'last' is not known"):
        Workspace.open(tmp_path)
