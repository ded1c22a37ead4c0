"""Effects in a workspace: an enroll a crash interrupted is finished (never `unknown`), transient
failures come back in later ticks, a person can requeue by hand, and two passes at once both end
well."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gtmflow import VirtualClock, Workspace
from gtmflow.cli import app
from gtmflow.graphs._sequence_steps import SendNode
from gtmflow.models import Event
from gtmflow.runtime._threads import ThreadRunner
from gtmflow.tools.delivery.outbox import OutboxRecord
from gtmflow.tools.delivery.transports import DeliveryDeferred, RecordingTransport, Transport

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOML = """
[gtmflow]
rules = "rules:RULES"
sequences = "sequences:SEQUENCES"
[governor]
frequency_cap = false
quiet_hours = false
[outbox.retry]
first = "1m"
longest = "10m"
max_age = "1h"
jitter = 0
"""
RULES = """
from gtmflow import pipes as p
RULES = [p.Rule("start", when=p.event("signup"), then=p.enroll("onboarding"))]
"""
SEQUENCES = """
from gtmflow.graphs.sequences import Sequence, send, wait
SEQUENCES = [Sequence("onboarding", steps=[
    send("welcome", subject="Welcome {first_name}", body="Hello"),
    wait("3d"),
    send("second", subject="Next steps", body="..."),
])]
"""


def _write(root: Path, toml: str = TOML) -> None:
    for name, text in (("gtmflow.toml", toml), ("rules.py", RULES), ("sequences.py", SEQUENCES)):
        (root / name).write_text(textwrap.dedent(text))


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    _write(tmp_path)
    with Workspace.open(tmp_path, clock=VirtualClock(START)) as workspace:
        yield workspace


def _signup(ws: Workspace, contact: str = "c") -> None:
    ws.events.write_events(
        [Event(id=f"s-{contact}", type="signup", contact_id=contact, timestamp=START)]
    )
    ws.run(as_of=START, progress=False)


def _templates(ws: Workspace) -> list[str]:
    return [r.action.payload["template"] for r in ws.outbox.records(kinds=["send_email"])]


# ------------------------------------------------------------------ enroll: an internal effect


class _Once:
    """Raises KeyboardInterrupt (a process killed) the first time it is called."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self) -> None:
        if not self.fired:
            self.fired = True
            raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["inside the sequence graph", "after the graph, before commit"])
def test_an_enroll_a_crash_interrupted_is_finished_next_pass(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    _signup(ws)
    crash = _Once()
    if where == "inside the sequence graph":
        send = SendNode.__call__  # the step node that queues the first email

        def crashing(self: Any, state: Any, runtime: Any) -> Any:
            crash()
            return send(self, state, runtime)

        monkeypatch.setattr(SendNode, "__call__", crashing)
    else:
        commit = ThreadRunner.commit

        def crashing_commit(self: ThreadRunner, graph: str, contact: str, state: Any) -> Any:
            if graph.startswith("sequence:") and state.get("actions"):
                crash()
            return commit(self, graph, contact, state)

        monkeypatch.setattr(ThreadRunner, "commit", crashing_commit)
    ws.outbox.lease = timedelta(0)  # the killed process's lease has run out by the next pass
    recording = RecordingTransport()
    with pytest.raises(KeyboardInterrupt):
        ws.deliver(recording, now=START)
    (enroll,) = ws.outbox.records(kinds=["enroll"])
    assert enroll.status == "pending"  # never `unknown`: nothing left the workspace
    ws.deliver(recording, now=START)
    assert ws.outbox.records(kinds=["enroll"])[0].status == "sent"
    assert _templates(ws) == ["welcome"]  # the sequence started, once
    ws.deliver(recording, now=START)  # the pass that delivers what the enrollment wrote
    assert [r.action.payload["template"] for r in recording.sent if r.action.kind != "enroll"] == [
        "welcome"
    ]
    ws.tick(START + timedelta(days=3), transport=recording, progress=False)
    assert _templates(ws) == ["welcome", "second"]
    state = ws.enrollments.graph("onboarding").get_state(
        {"configurable": {"thread_id": "sequence:onboarding:c"}}
    )
    assert state.values["enrollment"] == 1 and state.values["status"] == "completed"


def test_enroll_is_delivered_without_an_unknown_step(ws: Workspace) -> None:
    _signup(ws)
    ws.deliver(RecordingTransport(), now=START)
    (enroll,) = ws.outbox.records(kinds=["enroll"])
    statuses = [h["status"] for h in ws.outbox.history(enroll.action.idempotency_key)]
    assert statuses == ["pending", "pending", "sent"]


# ------------------------------------------------------------------ transient failures over time


class _DownFor(Transport):
    """An SMTP server that is down until `up_at` (on the workspace's virtual clock)."""

    def __init__(self, clock: VirtualClock, up_at: datetime) -> None:
        self.clock, self.up_at = clock, up_at
        self.accepted: list[OutboxRecord] = []

    def send(self, record: OutboxRecord) -> None:
        if self.clock.now() < self.up_at:
            raise DeliveryDeferred("smtp '127.0.0.1:25': cannot connect (ConnectionRefusedError)")
        self.accepted.append(record)


def test_tick_retries_a_deferred_email_once_the_server_is_back(ws: Workspace) -> None:
    assert isinstance(ws.clock, VirtualClock)
    _signup(ws)
    smtp = _DownFor(ws.clock, START + timedelta(minutes=5))
    counts = ws.tick(START + timedelta(minutes=30), transport=smtp, progress=False)
    assert counts["deferred"] >= 3 and counts["sent"] >= 2  # enroll, then welcome once up
    assert [r.action.payload["template"] for r in smtp.accepted] == ["welcome"]
    (welcome,) = ws.outbox.records(kinds=["send_email"])
    assert welcome.status == "sent" and welcome.delivered_at is not None
    assert welcome.delivered_at >= START + timedelta(minutes=5)


def test_a_server_down_past_the_max_age_fails_with_the_reason(ws: Workspace) -> None:
    assert isinstance(ws.clock, VirtualClock)
    _signup(ws)
    smtp = _DownFor(ws.clock, START + timedelta(days=30))
    ws.tick(START + timedelta(hours=2), transport=smtp, progress=False)
    (welcome,) = ws.outbox.records(kinds=["send_email"])
    assert welcome.status == "failed"
    assert "gave up after" in str(welcome.last_error) and "ConnectionRefusedError" in str(
        welcome.last_error
    )


# ------------------------------------------------------------------ the command line


def test_outbox_retry_requeues_failed_and_unknown_records(ws: Workspace, tmp_path: Path) -> None:
    _signup(ws)
    _signup(ws, "d")
    keys = [r.action.idempotency_key for r in ws.outbox.records()]
    ws.outbox.set_status(keys[0], "failed", error="550 mailbox full")
    ws.outbox.set_status(keys[1], "unknown")
    runner = CliRunner()
    refused = runner.invoke(app, ["outbox", "retry", "-w", str(tmp_path)])
    assert refused.exit_code == 2 and "name the records" in refused.output
    done = runner.invoke(
        app,
        ["outbox", "retry", keys[1][:12], "-w", str(tmp_path), "--json"],
        catch_exceptions=False,
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"requeued": [keys[1]]}
    done = runner.invoke(app, ["outbox", "retry", "--status", "failed", "-w", str(tmp_path)])
    assert done.exit_code == 0 and "requeued 1" in done.output
    assert {r.status for r in ws.outbox.records()} == {"pending"}
    listing = runner.invoke(app, ["outbox", "-w", str(tmp_path), "--json"])
    assert listing.exit_code == 0 and len(json.loads(listing.stdout)) == 2


def test_two_deliver_and_tick_commands_at_once_both_exit_0(tmp_path: Path) -> None:
    toml = TOML.replace("[outbox.retry]", "[outbox.retry]\n# fast")
    _write(tmp_path, toml)
    rows = [
        {"id": f"s-{i}", "type": "signup", "contact_id": f"c-{i}", "timestamp": START.isoformat()}
        for i in range(150)
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with Workspace.open(tmp_path) as ws:
        ws.ingest(tmp_path / "events.jsonl", progress=False)
        ws.run(as_of=START, progress=False)
    env = os.environ | {"NO_COLOR": "1", "COLUMNS": "200"}
    base = [sys.executable, "-m", "gtmflow"]
    commands = [
        [*base, "deliver", "-w", str(tmp_path), "--json"],
        [*base, "deliver", "-w", str(tmp_path), "--json"],
        [*base, "tick", "-w", str(tmp_path), "--json"],
    ]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for c in commands]  # fmt: skip
    results = [p.communicate(timeout=180) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    with Workspace.open(tmp_path) as ws:
        counts = ws.outbox.counts()
        assert counts.get("unknown", 0) == 0 and counts.get("failed", 0) == 0
    lines = (tmp_path / ".gtmflow" / "delivered.jsonl").read_text().splitlines()
    keys = [json.loads(line)["idempotency_key"] for line in lines]
    assert len(keys) == len(set(keys))  # nothing delivered twice
