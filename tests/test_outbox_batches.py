"""Delivery passes lease the outbox a batch at a time: they share the rows, never send a key
twice, keep a long batch alive with a heartbeat, and a SIGKILLed pass's batch is taken over.

Leases share work between processes on one store (`FOR UPDATE SKIP LOCKED` on PostgreSQL);
the claim that flips a row to `unknown` before its transport runs is still what makes a send
happen at most once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gtmflow.models import Action
from gtmflow.tools._database import StoreTarget
from gtmflow.tools._postgres import PostgresDatabase
from gtmflow.tools.delivery.outbox import Outbox, OutboxRecord
from gtmflow.tools.delivery.transports import RecordingTransport, Transport
from gtmflow.tools.delivery.webhook import WebhookTransport
from gtmflow.tools.migrations import migrate

from .local_servers import HTTPReceiver

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _actions(n: int) -> list[Action]:
    return [
        Action(
            kind="alert_sales",
            contact_id=f"c-{i:03d}",
            payload={"n": i},
            graph="g",
            source="pricing-hot",
            step=1,
            created_at=START,
        )
        for i in range(n)
    ]


def _box(target: StoreTarget, **options: Any) -> Outbox:
    return Outbox(target, batch_lease=options.pop("batch_lease", timedelta(seconds=30)), **options)


class _Slow(Transport):
    """Records what it sends, taking `seconds` per record (a receiver far away)."""

    def __init__(self, seconds: float, sent: list[str], lock: threading.Lock) -> None:
        self.seconds, self.sent, self.lock = seconds, sent, lock

    def send(self, record: OutboxRecord) -> None:
        time.sleep(self.seconds)
        with self.lock:
            self.sent.append(record.action.idempotency_key)


def test_two_passes_at_once_share_the_rows_and_send_each_key_once(
    ledger_target: StoreTarget,
) -> None:
    first, second = _box(ledger_target, batch=4), _box(ledger_target, batch=4)
    first.put(_actions(40))
    sent: list[str] = []
    lock = threading.Lock()
    reports: dict[str, Any] = {}

    def deliver(name: str, box: Outbox) -> None:
        reports[name] = box.deliver(_Slow(0.005, sent, lock))

    threads = [threading.Thread(target=deliver, args=pair) for pair in
               (("first", first), ("second", second))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(sent) == sorted(a.idempotency_key for a in _actions(40))  # each key once
    assert reports["first"].sent + reports["second"].sent == 40
    assert reports["first"].sent > 0 and reports["second"].sent > 0  # both did some
    assert reports["first"].skipped == reports["second"].skipped == 0  # no row raced for
    assert first.counts() == {"sent": 40}


def test_another_pass_skips_a_leased_batch_until_its_lease_runs_out(
    ledger_target: StoreTarget,
) -> None:
    holder = _box(ledger_target, batch=5, batch_lease=timedelta(seconds=0.6))
    holder.put(_actions(8))
    leased = [r for _, r in holder._lease_batch(datetime.now(UTC), 5, (0, 8))]  # then died
    other = _box(ledger_target)

    early = other.deliver(RecordingTransport())
    time.sleep(0.7)
    late = other.deliver(RecordingTransport())

    assert [r.action.contact_id for r in leased] == [f"c-{i:03d}" for i in range(5)]
    assert (early.sent, late.sent) == (3, 5)  # the three unleased at once, the batch later
    assert other.counts() == {"sent": 8}


def test_the_heartbeat_keeps_a_batch_longer_than_its_lease(ledger_target: StoreTarget) -> None:
    mine = _box(ledger_target, batch=6, batch_lease=timedelta(seconds=0.6))
    theirs = _box(ledger_target)
    mine.put(_actions(6))
    taken: list[int] = []

    class Meanwhile(Transport):
        """Slower than the lease; half way through, another pass looks for work."""

        def __init__(self) -> None:
            self.calls = 0

        def send(self, record: OutboxRecord) -> None:
            self.calls += 1
            time.sleep(0.25)
            if self.calls == 4:  # a second past the lease: renewed, so none is free
                taken.append(theirs.deliver(RecordingTransport()).sent)

    report = mine.deliver(Meanwhile())

    assert taken == [0]
    assert (report.sent, report.skipped) == (6, 0)


def test_a_pass_that_stops_early_gives_back_the_rest_of_its_batch(
    ledger_target: StoreTarget,
) -> None:
    mine, theirs = _box(ledger_target, batch=10), _box(ledger_target)
    mine.put(_actions(10))

    class Broken(Transport):
        def send(self, record: OutboxRecord) -> None:
            raise KeyboardInterrupt  # a person stops the pass mid-batch

    with pytest.raises(KeyboardInterrupt):
        mine.deliver(Broken())
    report = theirs.deliver(RecordingTransport())

    assert report.sent == 9  # all but the one being sent, at once, not after 30 s
    assert theirs.counts() == {"sent": 9, "unknown": 1}


_VICTIM = """
import os
from datetime import timedelta
from gtmflow.tools._postgres import PostgresDatabase
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.delivery.webhook import WebhookTransport

box = Outbox(PostgresDatabase(os.environ["URL"]), batch=10, batch_lease=timedelta(seconds=4))
box.deliver(WebhookTransport(os.environ["HOOK"], timeout=60))
"""


def test_a_sigkilled_pass_loses_its_batch_to_another_and_no_key_is_posted_twice(
    pg_url: str,
) -> None:
    db = PostgresDatabase(pg_url)
    migrate(db)
    survivor = _box(db, batch=50, batch_lease=timedelta(seconds=4))
    survivor.put(_actions(25))
    with HTTPReceiver([200, 200, "hang"]) as hook:
        victim = subprocess.Popen(
            [sys.executable, "-c", _VICTIM], env={**os.environ, "URL": pg_url, "HOOK": hook.url()}
        )
        deadline = time.monotonic() + 60
        while len(hook.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(hook.requests) == 3, "the victim never reached its third POST"
        os.kill(victim.pid, 9)  # mid-POST, its batch of 10 leased
        victim.wait()
        transport = WebhookTransport(hook.url())

        at_once = survivor.deliver(transport)  # the 15 rows outside its batch
        time.sleep(4.2)
        after_expiry = survivor.deliver(transport)  # the 7 it leased and never reached

        posted = Counter(r.headers.get("idempotency-key") for r in hook.requests)
    hung = survivor.record(_actions(25)[2].idempotency_key)
    counts = survivor.counts()
    db.close()
    assert (at_once.sent, after_expiry.sent) == (15, 7)
    assert set(posted.values()) == {1} and len(posted) == 25  # every key, each once
    assert counts == {"sent": 24, "unknown": 1}
    assert hung is not None and hung.status == "unknown"  # the interrupted POST: never resent


@pytest.mark.parametrize("batch_lease", [None, timedelta(seconds=30)], ids=["plain", "leased"])
def test_a_row_written_during_a_pass_waits_for_the_next_pass(
    ledger_target: StoreTarget, batch_lease: timedelta | None
) -> None:
    box = Outbox(ledger_target, batch=1, batch_lease=batch_lease)
    first, follow_up = _actions(2)
    box.put([first])

    class Enrolling(Transport):
        """Delivering the first action writes another (as an enroll writes its first email)."""

        def send(self, record: OutboxRecord) -> None:
            box.put([follow_up])

    assert box.deliver(Enrolling()).sent == 1  # the pass ends: it never chases its own rows
    assert [r.action.contact_id for r in box.records(status="pending")] == ["c-001"]
    assert box.deliver(RecordingTransport()).sent == 1
