"""A process killed at any checkpoint of a sequence's run: the next pass finishes that run.

LangGraph saves each finished task's writes before the step's checkpoint, so a crash between the
two leaves a checkpoint whose every task already has its writes (`get_state().next` is empty)
while the run is not over. And a node may act before its checkpoint: ending the enrollment
cancels its waits, so a kill after that leaves nothing to wake the thread (`runs_in_flight`
finishes it). The enrollment's emails are sent, once, exactly as in a run nobody killed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow import VirtualClock, Workspace
from gtmflow.models import Contact, Event
from gtmflow.tools.delivery.transports import FileTransport

START = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
FILES = {
    "gtmflow.toml": """
        [gtmflow]
        rules = "rules:RULES"
        sequences = "sequences:SEQUENCES"
        [governor]
        frequency_cap = false
        quiet_hours = false
    """,
    "rules.py": """
        from gtmflow import pipes as p
        RULES = [p.Rule("start", when=p.event("signup"), then=p.enroll("nurture"))]
    """,
    "sequences.py": """
        from gtmflow.graphs.sequences import Sequence, send, wait
        SEQUENCES = [Sequence("nurture", steps=[
            send("welcome", subject="Welcome {first_name}", body="Hello {first_name}"),
            wait("3d"),
            send("second", subject="Next steps, {first_name}", body="More for {first_name}"),
        ])]
    """,
}

KILLED_AT_CHECKPOINT = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timedelta
    from gtmflow import VirtualClock, Workspace
    from gtmflow.runtime.retention import LatestCheckpointSaver
    from gtmflow.tools.delivery.transports import FileTransport
    root, at, kill_at = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
    put, seen = LatestCheckpointSaver.put, [0]
    def put_or_die(self, config, *args, **kwargs):
        if str(config["configurable"]["thread_id"]).startswith("sequence:"):
            seen[0] += 1
            if seen[0] == kill_at:
                os._exit(9)  # the step's writes are saved, its checkpoint is not
        return put(self, config, *args, **kwargs)
    LatestCheckpointSaver.put = put_or_die
    with Workspace.open(root, clock=VirtualClock(at)) as ws:
        ws.outbox.lease = timedelta(0)  # the killed pass's enroll lease is over by the next
        ws.tick(at, transport=FileTransport(ws.state_dir / "wire.jsonl"), progress=False)
""")


def _workspace(root: Path) -> None:
    for name, text in FILES.items():
        (root / name).write_text(textwrap.dedent(text))
    with Workspace.open(root, clock=VirtualClock(START)) as ws:
        ws.events.write_contacts([Contact(id="ann", email="ann@example.com", name="Ann Lee")])
        ws.events.write_events([Event(id="s1", type="signup", contact_id="ann", timestamp=START)])
        ws.run(as_of=START, progress=False)


def _finish(root: Path) -> list[tuple[str, str]]:
    """Tick to the end of the journey; every delivery on the wire as (template, key)."""
    with Workspace.open(root, clock=VirtualClock(START)) as ws:
        ws.outbox.lease = timedelta(0)
        wire = FileTransport(ws.state_dir / "wire.jsonl")
        ws.tick(START + timedelta(days=4), transport=wire, progress=False)
    path = root / ".gtmflow" / "wire.jsonl"
    sent = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [(s["payload"]["template"], s["idempotency_key"]) for s in sent]


@pytest.mark.parametrize(
    ("tick_at", "kill_at"),
    [
        *((timedelta(0), k) for k in range(1, 6)),  # the enrollment's first run
        *((timedelta(days=3, minutes=1), k) for k in range(1, 7)),  # the run the wait resumes
    ],
)
def test_a_kill_at_any_checkpoint_of_the_journey_still_sends_each_email_once(
    tmp_path: Path, tick_at: timedelta, kill_at: int
) -> None:
    calm, crashy = tmp_path / "calm", tmp_path / "crashy"
    for root in (calm, crashy):
        root.mkdir()
        _workspace(root)
    expected = _finish(calm)
    assert [template for template, _ in expected] == ["welcome", "second"]
    if tick_at:  # the first run went well; the kill comes when the wait resumes the thread
        with Workspace.open(crashy, clock=VirtualClock(START)) as ws:
            ws.tick(START, transport=FileTransport(ws.state_dir / "wire.jsonl"), progress=False)
    args = [sys.executable, "-c", KILLED_AT_CHECKPOINT, str(crashy),
            (START + tick_at).isoformat(), str(kill_at)]  # fmt: skip
    killed = subprocess.run(args, capture_output=True, timeout=300)
    assert killed.returncode == 9, killed.stderr.decode()[-2000:]
    assert _finish(crashy) == expected
