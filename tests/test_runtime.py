"""Workspace runs: the three classic rules end to end, exactly-once, crash replay, triggers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gtmflow import Workspace
from gtmflow import pipes as p
from gtmflow.errors import ConfigError
from gtmflow.graphs.inbound_router import build_inbound_router
from gtmflow.tools.delivery.outbox import Outbox

from .conftest import at, ev, write_events


def _classic_world() -> list[dict[str, Any]]:
    return [
        # pricing-hot: three views spanning exactly 7 days
        ev("p1", "page_view", "hot", at(0), path="/pricing"),
        ev("p2", "page_view", "hot", at(3), path="/pricing"),
        ev("p3", "page_view", "hot", at(7), path="/pricing"),
        ev("o1", "email_open", "hot", at(8)),
        # ebook-nurture
        ev("d1", "content_download", "reader", at(2), asset_type="ebook"),
        ev("d2", "content_download", "reader", at(3), asset_type="whitepaper"),
        ev("o2", "email_open", "reader", at(20)),
        # re-engage: last open 40 days before as-of, history older than 30 days
        ev("o3", "email_open", "dormant", at(-10)),
        # never opens, but too new to be "inactive for 30 days"
        ev("v1", "page_view", "newbie", at(20), path="/"),
    ]


def test_classic_rules_fire_once_each_with_evidence(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest(write_events(tmp_path / "e.jsonl", _classic_world()), progress=False)
    report = workspace.run(as_of=at(30), progress=False)
    assert report.by_rule == {"ebook-nurture": 1, "pricing-hot": 1, "re-engage": 1}
    by_contact = {r.action.contact_id: r.action for r in workspace.outbox.records()}
    assert set(by_contact) == {"hot", "reader", "dormant"}
    assert by_contact["hot"].payload["evidence"] == ["p1", "p2", "p3"]
    assert by_contact["hot"].created_at == at(7)  # fired at the third view, in realtime
    assert by_contact["reader"].payload["sequence"] == "nurture"
    assert by_contact["dormant"].payload["sequence"] == "re-engagement"


def test_rerun_and_reingest_leave_outbox_unchanged(workspace: Workspace, tmp_path: Path) -> None:
    path = write_events(tmp_path / "e.jsonl", _classic_world())
    workspace.ingest(path, progress=False)
    workspace.run(as_of=at(30), progress=False)
    before = [r.to_json() for r in workspace.outbox.records()]
    assert workspace.ingest(path, progress=False).accepted == 0
    assert workspace.run(as_of=at(30), progress=False).actions == 0
    assert workspace.run(as_of=at(31), progress=False).actions == 0
    assert [r.to_json() for r in workspace.outbox.records()] == before


def _delete_rows(ws: Workspace, *tables: str) -> None:
    """Empty tables of a workspace's store, whichever backend it is on."""
    if ws.stores.database is not None:
        with ws.stores.database.transaction() as conn:
            for table in tables:
                conn.execute(f"DELETE FROM {table}")
        return
    with sqlite3.connect(ws.state_dir / "gtmflow.db") as db:
        for table in tables:
            db.execute(f"DELETE FROM {table}")


def test_fresh_checkpoints_still_yield_the_same_keys(workspace: Workspace, tmp_path: Path) -> None:
    """Even if checkpoints are lost, a replay derives the same idempotency keys."""
    workspace.ingest(write_events(tmp_path / "e.jsonl", _classic_world()), progress=False)
    workspace.run(as_of=at(30), progress=False)
    renamed = build_inbound_router(rules=workspace.rules())
    with Workspace.open(tmp_path) as again:
        again.checkpointer.delete_thread("inbound_router:hot")
        again.cursors.reset()
        _delete_rows(again, "rule_cursors", "rule_state")  # every cursor and state
        replay = again.run(renamed, as_of=at(30), progress=False)
        assert (replay.contacts, replay.actions) == (4, 0)
    assert len(workspace.outbox.records()) == 3


def test_crash_between_checkpoint_and_outbox_is_replayed_once(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.ingest(write_events(tmp_path / "e.jsonl", _classic_world()), progress=False)
    real_put = Outbox.put

    def crash(self: Outbox, actions: Any, **kwargs: Any) -> Any:
        actions = list(actions)
        if actions:
            raise RuntimeError("process died before the outbox write")
        return real_put(self, actions, **kwargs)

    monkeypatch.setattr(Outbox, "put", crash)
    with pytest.raises(RuntimeError):
        workspace.run(as_of=at(30), progress=False)
    monkeypatch.setattr(Outbox, "put", real_put)
    workspace.run(as_of=at(30), progress=False)
    sources = sorted(r.action.source for r in workspace.outbox.records())
    assert sources == ["ebook-nurture", "pricing-hot", "re-engage"]


def test_late_events_are_evaluated_at_their_own_time(workspace: Workspace, tmp_path: Path) -> None:
    first = [
        ev("p1", "page_view", "c", at(0), path="/pricing"),
        ev("p3", "page_view", "c", at(6), path="/pricing"),
    ]
    workspace.ingest(write_events(tmp_path / "a.jsonl", first), progress=False)
    assert workspace.run(as_of=at(10), progress=False).actions == 0
    late = [ev("p2", "page_view", "c", at(2), path="/pricing")]
    workspace.ingest(write_events(tmp_path / "b.jsonl", late), progress=False)
    assert workspace.run(as_of=at(10), progress=False).by_rule == {"pricing-hot": 1}
    (record,) = workspace.outbox.records()
    assert record.action.created_at == at(6)


def test_events_after_as_of_wait_for_a_later_run(tmp_path: Path) -> None:
    rules = [p.Rule("demo", when=p.event("demo_requested"), then=p.alert_sales())]
    graph = build_inbound_router(rules=rules)
    with Workspace.open(tmp_path) as ws:
        rows = [ev("d1", "demo_requested", "c", at(5))]
        ws.ingest(write_events(tmp_path / "e.jsonl", rows), progress=False)
        assert ws.run(graph, as_of=at(1), progress=False).actions == 0
        assert ws.run(graph, as_of=at(6), progress=False).by_rule == {"demo": 1}


def test_contacts_no_trigger_cares_about_are_not_invoked(tmp_path: Path) -> None:
    rules = [p.Rule("pricing", when=p.event("page_view", path="/pricing"), then=p.alert_sales())]
    with Workspace.open(tmp_path) as ws:
        rows = [
            ev("a", "page_view", "x", at(0), path="/blog"),
            ev("b", "email_open", "y", at(0)),
            ev("c", "page_view", "z", at(0), path="/pricing"),
        ]
        ws.ingest(write_events(tmp_path / "e.jsonl", rows), progress=False)
        report = ws.run(build_inbound_router(rules=rules), as_of=at(1), progress=False)
    assert (report.contacts, report.by_rule) == (1, {"pricing": 1})


def test_explain_says_what_fired_why_and_what_was_sent(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.ingest(write_events(tmp_path / "e.jsonl", _classic_world()), progress=False)
    workspace.run(as_of=at(30), progress=False)
    data = workspace.explain("hot")
    verdicts = {r["rule"]: r for r in data["rules"]}
    assert verdicts["pricing-hot"]["fired"] is True
    assert verdicts["pricing-hot"]["evidence"] == ["p1", "p2", "p3"]
    assert verdicts["pricing-hot"]["at"] == at(7).isoformat()
    assert verdicts["ebook-nurture"]["fired"] is False
    assert "no content_download" in verdicts["ebook-nurture"]["reason"]
    assert [a["kind"] for a in data["actions"]] == ["alert_sales"]
    with pytest.raises(ConfigError, match="'nobody' is not in this workspace"):
        workspace.explain("nobody")


def test_bad_rules_module_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "rules.py").write_text("RULES = [lambda: None]\n")
    with Workspace.open(tmp_path) as ws, pytest.raises(ConfigError, match="list of gtmflow"):
        ws.run(progress=False)


def test_forget_erases_a_contact_everywhere(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest(write_events(tmp_path / "e.jsonl", _classic_world()), progress=False)
    workspace.run(as_of=at(30), progress=False)
    key = workspace.outbox.records(contact_id="hot")[0].action.idempotency_key
    report = workspace.forget("hot")
    assert report == {
        "contact_id": "hot",
        "events": 4,
        "decisions": 4,  # one per scaffold rule
        "outbox_redacted": 1,
        "checkpoint_threads": 1,
        "waits": 0,
        "approvals": 0,
        "trigger_owners": 0,
        "context_records": 0,
        "files": 0,
        "complete": True,
        "resumed": False,
        "remaining": [],
    }
    assert workspace.events.contact("hot") is None and workspace.events.events("hot") == []
    assert workspace.decisions.for_contact("hot") == []
    assert workspace.outbox.records(contact_id="hot") == []
    (redacted,) = [r for r in workspace.outbox.records() if r.action.idempotency_key == key]
    assert redacted.action.payload == {"redacted": True}
    assert "hot" not in redacted.action.contact_id
    config = {"configurable": {"thread_id": "inbound_router:hot"}}
    assert workspace.checkpointer.get_tuple(config) is None  # type: ignore[arg-type]
    assert workspace.events.contact("reader") is not None  # others untouched


def test_sweep_skips_contacts_until_a_rule_could_fire(workspace: Workspace, tmp_path: Path) -> None:
    rows = [ev(f"o{i}", "email_open", f"c{i}", at(-40 + i)) for i in range(10)]
    workspace.ingest(write_events(tmp_path / "e.jsonl", rows), progress=False)
    first = workspace.run(as_of=at(-12), progress=False)
    assert (first.contacts, first.by_rule) == (10, {})
    # c_i last opened on day -40+i, so it can go quiet for 30 days just after day -10+i
    assert workspace.run(as_of=at(-10), progress=False).contacts == 0
    soon = workspace.run(as_of=at(-10, hours=1), progress=False)
    assert (soon.contacts, soon.by_rule) == (1, {"re-engage": 1})
    later = workspace.run(as_of=at(-6), progress=False)
    assert (later.contacts, later.by_rule) == (3, {"re-engage": 3})  # c1..c3; c0 fired once
