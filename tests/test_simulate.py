"""The simulator's invariant checks catch violations, and crashes never send twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow import VirtualClock, Workspace
from gtmflow.governor import GovernorPolicy
from gtmflow.models import Action, Contact, Event
from gtmflow.runtime.simulator import check_invariants
from gtmflow.tools.delivery.transports import RecordingTransport

NIGHT = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # a Tuesday, 02:00 UTC


def test_invariant_checks_can_fail(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text(
        "[governor]\nquiet_hours = false\nfrequency_cap = false\n"
    )
    (tmp_path / "sequences.py").write_text(
        "from gtmflow import pipes as p\n"
        "from gtmflow.graphs.sequences import Sequence, send\n"
        "SEQUENCES = [Sequence('s', steps=[send('t', subject='s', body='b')],\n"
        "                      exit_when=p.event('email_replied'))]\n"
    )
    quote = {"sentence": "You said x.", "source": "transcript", "ref": "x", "supported": True}
    with Workspace.open(tmp_path, clock=VirtualClock(NIGHT)) as ws:
        ws.events.write_contacts([Contact(id="c", timezone="Europe/Paris")])
        actions = [
            Action(
                kind="send_email",
                contact_id="c",
                payload={
                    "subject": f"{i}",
                    "sequence": "s",
                    "template": f"t{i}",
                    "claims": [quote],
                },
                graph="sequence:s",
                source="s#1",
                step=i,
                created_at=NIGHT - timedelta(hours=2),
            )
            for i in range(1, 5)
        ]
        ws.outbox.put(actions)
        recording = RecordingTransport()
        ws.deliver(recording, now=NIGHT)
        ws.events.write_events(
            [
                Event(
                    id="u",
                    type="unsubscribed",
                    contact_id="c",
                    timestamp=NIGHT - timedelta(hours=1),
                ),
                Event(
                    id="r",
                    type="email_replied",
                    contact_id="c",
                    timestamp=NIGHT - timedelta(hours=1),
                ),
            ]
        )
        ws.governor.policy = GovernorPolicy()  # judge with the defaults: cap 3/7d, quiet hours
        report = check_invariants(ws, recording.sent + recording.sent[:1], end=NIGHT)
    assert {name: check["violations"] for name, check in report.items()} == {
        "no_message_to_suppressed": 4,
        "frequency_cap_respected": 1,
        "no_delivery_in_quiet_hours": 4,
        "no_duplicate_message_ids": 1,
        "every_due_wait_resumed": 0,
        "no_send_after_exit": 4,  # all four were delivered after her reply
        "no_repeats_in_a_journey": 3,  # emails 2-4 reuse email 1's quote
    }


BATCH = textwrap.dedent("""
    import sys
    from datetime import timedelta
    from gtmflow import VirtualClock, Workspace
    from gtmflow.examples.sample_world import DEFAULT_END
    from gtmflow.tools.delivery.transports import FileTransport
    root = sys.argv[1]
    with Workspace.open(root, clock=VirtualClock(DEFAULT_END)) as ws:
        # batches run one after another: a killed batch's enroll lease (60 s of wall time by
        # default) has run out by the next one, as it would between real passes
        ws.outbox.lease = timedelta(0)
        ws.run(as_of=DEFAULT_END, progress=False)
        transport = FileTransport(ws.state_dir / "wire.jsonl")
        ws.tick(DEFAULT_END + timedelta(days=14), transport=transport, progress=False)
""")


def _prepare(root: Path, data: Path) -> None:
    from gtmflow.runtime.scaffold import scaffold

    scaffold(root)
    with Workspace.open(root) as ws:
        ws.ingest(data / "contacts.csv", kind="contacts", progress=False)
        ws.ingest(data / "events.jsonl", progress=False)


def _batch(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", BATCH, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _wire(root: Path) -> list[str]:
    path = root / ".gtmflow" / "wire.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["idempotency_key"] for line in lines]


@pytest.mark.slow
def test_sigkill_at_random_points_never_sends_twice(tmp_path: Path) -> None:
    from gtmflow.examples.sample_world import generate_sample_world

    world = generate_sample_world(tmp_path / "data", contacts=150, seed=3)
    calm, crashy = tmp_path / "calm", tmp_path / "crashy"
    for root in (calm, crashy):
        _prepare(root, world.contacts_csv.parent)
    began = time.monotonic()
    assert _batch(calm).wait(timeout=300) == 0
    duration = time.monotonic() - began
    expected = _wire(calm)
    assert expected and len(expected) == len(set(expected))

    rng, kills = random.Random(11), 0
    for _ in range(12):
        process = _batch(crashy)
        time.sleep(rng.uniform(0.1, 0.5) * duration)  # somewhere inside the batch
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
        if kills == 5:
            break
    assert _batch(crashy).wait(timeout=300) == 0  # and one run to the end
    delivered = _wire(crashy)
    assert kills >= 3
    assert len(delivered) == len(set(delivered)), "an action was delivered twice"
    with Workspace.open(crashy) as ws:
        unknown = {r.action.idempotency_key for r in ws.outbox.records(status="unknown")}
    # every action the calm run delivered was delivered exactly once, or is parked as
    # `unknown` (killed between claim and mark) for a person to check: never resent
    assert set(expected) - set(delivered) <= unknown
    assert len(unknown) <= kills
    assert set(delivered) <= set(expected) | unknown


def test_arrivals_stream_from_the_store_in_time_order(tmp_path: Path) -> None:
    from gtmflow.runtime.simulator import _Arrivals
    from gtmflow.tools.events.event_store import SQLiteEventStore

    start = datetime(2026, 3, 2, tzinfo=UTC)
    rng = random.Random(3)
    written = [
        Event(id=f"e{n}", type="page_view", contact_id=f"c{n % 7}",
              timestamp=start + timedelta(minutes=rng.randrange(0, 600)))
        for n in range(500)
    ]  # fmt: skip
    store = SQLiteEventStore(tmp_path / "arrivals.db")
    store.write_events(written)  # stored in id order, not time order
    arrivals = _Arrivals(store, page=16)  # pages smaller than an hour's arrivals
    seen: list[Event] = []
    for hour in range(1, 12):
        batch = arrivals.until(start + timedelta(hours=hour))
        assert all(e.timestamp < start + timedelta(hours=hour) for e in batch)
        seen += batch
    store.close()
    expected = sorted(written, key=lambda e: (e.timestamp, e.id))
    assert [e.id for e in seen] == [e.id for e in expected]  # each once, in time order


def test_the_simulation_runs_the_written_journeys(tmp_path: Path) -> None:
    from gtmflow.runtime.simulator import simulate

    report = simulate(tmp_path, days=14, contacts=40, seed=7, progress=False)
    assert all(check["ok"] for check in report["invariants"].values()), report["invariants"]
    with Workspace.open(tmp_path) as ws:
        mail = ws.outbox.records(contact_id="c-qa-priya", kinds=["send_email"])
        emails = [r.action.payload for r in mail if r.status == "sent"]
    assert [e["template"] for e in emails][:2] == ["webinar-1", "webinar-2-quiet"]
    assert "your CFO doesn't trust the attribution numbers" in emails[0]["body"]
