"""Nothing lost, nothing stuck: transient failures come back on a schedule, internal effects are
never `unknown`, and two delivery passes at once never crash or send twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gtmflow.clock import VirtualClock
from gtmflow.errors import ConfigError, InputError
from gtmflow.models import Action
from gtmflow.tools.delivery.outbox import Outbox, OutboxRecord, Verdict
from gtmflow.tools.delivery.retry_schedule import RetrySchedule
from gtmflow.tools.delivery.transports import (
    DeliveryDeferred,
    DeliveryFailed,
    RecordingTransport,
    Transport,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NO_JITTER = RetrySchedule(jitter=0.0)


def _action(contact: str = "c-1", kind: str = "alert_sales") -> Action:
    return Action(
        kind=kind, contact_id=contact, payload={"channel": "sales"}, graph="g",
        source="pricing-hot", step=1, created_at=START,
    )  # fmt: skip


def _box(tmp_path: Path, clock: VirtualClock | None = None, **options: object) -> Outbox:
    return Outbox(tmp_path / "db.sqlite", clock=clock or VirtualClock(START), **options)  # type: ignore[arg-type]


class _Deferring(Transport):
    """Down for the first `down` calls (a 451, a 503, a refused connection), then accepts."""

    def __init__(self, down: int, *, retry_after: float | None = None) -> None:
        self.down, self.retry_after = down, retry_after
        self.calls = 0
        self.accepted: list[str] = []

    def send(self, record: OutboxRecord) -> None:
        self.calls += 1
        if self.calls <= self.down:
            raise DeliveryDeferred("451 try again later", retry_after=self.retry_after)
        self.accepted.append(record.action.idempotency_key)


# ------------------------------------------------------------------ two passes at once


def test_a_record_another_pass_claimed_is_counted_skipped_not_a_crash(tmp_path: Path) -> None:
    mine, theirs = _box(tmp_path), _box(tmp_path)
    mine.put([_action("a"), _action("b")])
    other = RecordingTransport()

    class Racing(Transport):
        """While this pass sends 'a', another process delivers everything still pending."""

        def __init__(self) -> None:
            self.sent: list[str] = []

        def send(self, record: OutboxRecord) -> None:
            theirs.deliver(other)
            self.sent.append(record.action.contact_id)

    racing = Racing()
    report = mine.deliver(racing)
    assert (report.sent, report.skipped) == (1, 1)
    assert sorted([*racing.sent, *(r.action.contact_id for r in other.sent)]) == ["a", "b"]
    assert mine.counts() == {"sent": 2}


def test_a_gate_verdict_never_overwrites_what_another_pass_sent(tmp_path: Path) -> None:
    mine, theirs = _box(tmp_path), _box(tmp_path)
    mine.put([_action()])

    def slow_gate(record: OutboxRecord, now: datetime) -> Verdict:
        theirs.deliver(RecordingTransport())  # meanwhile another pass sent it
        return Verdict.hold("quiet hours", until=now + timedelta(hours=8))

    mine.deliver(RecordingTransport(), gate=slow_gate)
    assert mine.counts() == {"sent": 1}


# ------------------------------------------------------------------ internal effects


class _Internal(Transport):
    """An effect with no outside receiver, idempotent by the record's key (like enroll)."""

    name = "internal"
    internal = True

    def __init__(self, crash_first: bool = False) -> None:
        self.crash_first = crash_first
        self.calls: list[str] = []

    def send(self, record: OutboxRecord) -> None:
        self.calls.append(record.action.idempotency_key)
        if self.crash_first and len(self.calls) == 1:
            raise KeyboardInterrupt  # the process dies half way through the effect


def test_a_crash_during_an_internal_effect_leaves_it_pending_not_unknown(tmp_path: Path) -> None:
    box = _box(tmp_path, lease=timedelta(0))  # a lease that has already run out
    box.put([_action(kind="enroll")])
    internal = _Internal(crash_first=True)
    with pytest.raises(KeyboardInterrupt):
        box.deliver(internal)
    assert box.counts() == {"pending": 1}
    assert box.deliver(internal).sent == 1
    assert box.counts() == {"sent": 1} and len(internal.calls) == 2


def test_an_internal_effect_in_progress_is_leased_to_its_pass(tmp_path: Path) -> None:
    box = _box(tmp_path)
    box.put([_action(kind="enroll")])
    internal = _Internal(crash_first=True)
    with pytest.raises(KeyboardInterrupt):
        box.deliver(internal)
    assert box.deliver(internal).sent == 0  # the lease (60 s) still holds: not run twice at once
    assert len(internal.calls) == 1 and box.counts() == {"pending": 1}


def test_an_internal_effect_whose_data_is_wrong_fails_at_once_saying_how_to_retry(
    tmp_path: Path,
) -> None:
    class Unreadable(_Internal):
        def send(self, record: OutboxRecord) -> None:
            self.calls.append(record.action.idempotency_key)
            raise InputError("transcript 'call-1' has no line like 'Speaker: text'")

    box, effect = _box(tmp_path), Unreadable()
    box.put([_action(kind="enroll")])
    assert box.deliver(effect).failed == 1
    assert box.deliver(effect, now=START + timedelta(days=1)).failed == 0  # not tried again
    (record,) = box.records()
    assert record.status == "failed" and len(effect.calls) == 1
    assert "has no line like" in str(record.last_error)
    assert f"gtmflow outbox retry {record.action.idempotency_key[:12]}" in str(record.last_error)


def test_an_internal_effect_that_raises_is_retried_not_unknown(tmp_path: Path) -> None:
    class Broken(_Internal):
        def send(self, record: OutboxRecord) -> None:
            raise OSError("database is locked")

    box = _box(tmp_path)
    box.put([_action(kind="enroll")])
    assert box.deliver(Broken()).deferred == 1
    (record,) = box.records()
    assert record.status == "pending" and "database is locked" in str(record.last_error)


# ------------------------------------------------------------------ transient failures


def test_a_transient_failure_goes_back_to_pending_and_is_retried_later(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    box = _box(tmp_path, clock, retry=NO_JITTER)
    box.put([_action()])
    smtp = _Deferring(down=1)
    report = box.deliver(smtp)
    assert (report.deferred, report.failed, report.sent) == (1, 0, 0)
    (record,) = box.records()
    assert record.status == "pending" and record.next_attempt_at == START + timedelta(minutes=1)
    assert record.last_error == "451 try again later" and record.delivered_at is None
    clock.advance("30s")
    assert box.deliver(smtp).sent == 0 and smtp.calls == 1  # not due yet
    assert box.next_retry() == START + timedelta(minutes=1)
    clock.advance("30s")
    assert box.deliver(smtp).sent == 1
    assert smtp.accepted == [record.action.idempotency_key]
    assert [h["status"] for h in box.history(record.action.idempotency_key)] == [
        "pending", "unknown", "pending", "unknown", "sent",
    ]  # fmt: skip


def test_the_backoff_grows_from_minutes_to_hours(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    box = _box(tmp_path, clock, retry=NO_JITTER)
    box.put([_action()])
    smtp = _Deferring(down=100)
    waits = []
    for _ in range(9):
        box.deliver(smtp)
        (record,) = box.records()
        assert record.next_attempt_at is not None
        waits.append(record.next_attempt_at - clock.now())
        clock.set(record.next_attempt_at)
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert waits[-1] == timedelta(hours=2)  # the longest wait


def test_a_receiver_that_is_down_is_not_tried_again_for_each_record(tmp_path: Path) -> None:
    class Down(Transport):
        def __init__(self) -> None:
            self.calls = 0

        def send(self, record: OutboxRecord) -> None:
            self.calls += 1
            raise DeliveryDeferred("cannot connect (ConnectionRefusedError)", scope="receiver")

    box = _box(tmp_path)
    box.put([_action("a"), _action("b"), _action("c")])
    down = Down()
    assert box.deliver(down).deferred == 3
    assert down.calls == 1  # one server down costs one try per pass, not one per record
    errors = [str(r.last_error) for r in box.records()]
    assert "not tried: the receiver was unavailable in this pass" in errors[2]
    assert all(r.status == "pending" and r.next_attempt_at for r in box.records())


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    box = _box(tmp_path, retry=NO_JITTER)
    box.put([_action()])
    box.deliver(_Deferring(down=1, retry_after=3 * 3600))
    assert box.records()[0].next_attempt_at == START + timedelta(hours=3)


def test_a_failure_that_outlives_the_max_age_fails_with_the_reason(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    box = _box(tmp_path, clock, retry=RetrySchedule(max_age=timedelta(hours=6), jitter=0.0))
    box.put([_action()])
    smtp = _Deferring(down=1000)
    for _ in range(50):
        if box.deliver(smtp).failed:
            break
        clock.set(box.next_retry() or clock.now())
    (record,) = box.records()
    assert record.status == "failed"
    assert clock.now() - START >= timedelta(hours=6)
    assert "gave up after" in str(record.last_error)
    assert "451 try again later" in str(record.last_error)
    assert box.next_retry() is None


def test_jitter_spreads_retries_within_its_bound(tmp_path: Path) -> None:
    schedule = RetrySchedule(jitter=0.1)
    waits = {schedule.wait(3) for _ in range(50)}
    assert len(waits) > 1
    assert all(timedelta(minutes=4) <= w <= timedelta(minutes=4.4) for w in waits)


def test_a_bad_schedule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="first"):
        RetrySchedule(first=timedelta(0))
    with pytest.raises(ConfigError, match="max_age"):
        RetrySchedule(
            first=timedelta(hours=3), longest=timedelta(hours=3), max_age=timedelta(hours=1)
        )


def test_a_definite_refusal_still_fails_at_once(tmp_path: Path) -> None:
    class Refusing(Transport):
        def send(self, record: OutboxRecord) -> None:
            raise DeliveryFailed("550 no such user")

    box = _box(tmp_path)
    box.put([_action()])
    assert box.deliver(Refusing()).failed == 1
    assert box.records()[0].next_attempt_at is None


# ------------------------------------------------------------------ requeue by hand


def test_failed_and_unknown_records_can_be_requeued_by_hand(tmp_path: Path) -> None:
    box = _box(tmp_path)
    box.put([_action("a"), _action("b"), _action("c")])
    keys = [r.action.idempotency_key for r in box.records()]
    box.set_status(keys[0], "failed", error="550 mailbox full")
    box.set_status(keys[1], "unknown")
    box.set_status(keys[2], "sent")
    assert box.requeue(status="failed") == [keys[0]]
    assert box.requeue([keys[1][:10]]) == [keys[1]]  # a unique prefix, as the listing shows
    assert [r.status for r in box.records()] == ["pending", "pending", "sent"]
    assert "requeued by hand" in str(box.history(keys[1])[-1]["note"])
    with pytest.raises(ConfigError, match="is sent"):
        box.requeue([keys[2]])
    with pytest.raises(ConfigError, match="no outbox record"):
        box.requeue(["zzz"])
    with pytest.raises(ConfigError, match="failed or unknown"):
        box.requeue(status="sent")  # type: ignore[arg-type]


def test_a_requeued_record_gets_a_fresh_max_age(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    box = _box(tmp_path, clock, retry=RetrySchedule(max_age=timedelta(hours=1), jitter=0.0))
    box.put([_action()])
    smtp = _Deferring(down=1000)
    while not box.deliver(smtp).failed:
        clock.set(box.next_retry() or clock.now())
    box.requeue(status="failed")
    assert box.deliver(smtp).deferred == 1  # not failed at once: the clock starts again
