"""The outbox is an exactly-once ledger: keys are unique and delivery never repeats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gtmflow.errors import ConfigError
from gtmflow.models import Action
from gtmflow.tools._database import StoreTarget
from gtmflow.tools.delivery.outbox import Outbox, OutboxRecord
from gtmflow.tools.delivery.transports import (
    DeliveryFailed,
    FileTransport,
    RecordingTransport,
    Transport,
)

WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def _action(contact: str = "c-1", step: int = 1, kind: str = "alert_sales") -> Action:
    return Action(
        kind=kind,
        contact_id=contact,
        payload={"channel": "sales"},
        graph="g",
        source="pricing-hot",
        step=step,
        created_at=WHEN,
    )


@pytest.fixture
def box(ledger_target: StoreTarget) -> Outbox:
    return Outbox(ledger_target)


def test_same_intent_gets_same_key_and_is_stored_once(box: Outbox) -> None:
    first, again = _action(), _action()
    assert first.idempotency_key == again.idempotency_key
    assert box.put([first]).added == 1
    result = box.put([again, _action(step=2)])
    assert (result.added, result.existing) == (1, 1)
    assert [r.action.step for r in box.records()] == [1, 2]


def test_key_depends_on_graph_contact_source_step_and_kind() -> None:
    base = _action()
    variants = [
        base.model_copy(update={"graph": "other", "idempotency_key": ""}),
        _action(contact="c-2"),
        _action(step=2),
        _action(kind="enroll"),
    ]
    keys = {
        Action.model_validate(v.model_dump() | {"idempotency_key": ""}).idempotency_key
        for v in variants
    }
    assert base.idempotency_key not in keys
    assert len(keys) == 4


def test_records_survive_reopening(ledger_target: StoreTarget) -> None:
    Outbox(ledger_target).put([_action()])
    records = Outbox(ledger_target).records()
    assert [(r.status, r.action.payload) for r in records] == [("pending", {"channel": "sales"})]


def test_deliver_sends_each_pending_record_once(box: Outbox, tmp_path: Path) -> None:
    box.put([_action("a"), _action("b")])
    transport = FileTransport(tmp_path / "delivered.jsonl")
    assert box.deliver(transport).sent == 2
    assert box.deliver(transport).sent == 0
    lines = (tmp_path / "delivered.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["contact_id"] for line in lines) == ["a", "b"]
    assert box.counts() == {"sent": 2}


class _Refusing(Transport):
    def send(self, record: OutboxRecord) -> None:
        raise DeliveryFailed("mailbox full")


class _Hanging(Transport):
    """Accepted the request, then the connection dropped: the outcome is unknown."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, record: OutboxRecord) -> None:
        self.calls += 1
        raise TimeoutError("no response after the request was sent")


def test_definite_failure_is_marked_failed_with_reason(box: Outbox) -> None:
    box.put([_action()])
    assert box.deliver(_Refusing()).failed == 1
    (record,) = box.records()
    assert (record.status, record.attempts, record.last_error) == ("failed", 1, "mailbox full")


def test_unknown_outcome_is_never_resent_automatically(box: Outbox) -> None:
    box.put([_action()])
    hanging = _Hanging()
    assert box.deliver(hanging).unknown == 1
    assert box.deliver(hanging).unknown == 0
    assert hanging.calls == 1
    assert box.records(status="unknown")[0].last_error == (
        "TimeoutError: no response after the request was sent"
    )


def test_crash_during_send_leaves_record_unknown(box: Outbox) -> None:
    class Crash(Transport):
        def send(self, record: OutboxRecord) -> None:
            raise KeyboardInterrupt  # the process dies mid-delivery

    box.put([_action()])
    with pytest.raises(KeyboardInterrupt):
        box.deliver(Crash())
    recording = RecordingTransport()
    box.deliver(recording)
    assert recording.sent == []
    assert box.counts() == {"unknown": 1}


def test_a_person_can_release_an_unknown_record(box: Outbox) -> None:
    box.put([_action()])
    box.deliver(_Hanging())
    key = box.records()[0].action.idempotency_key
    box.set_status(key, "pending")
    assert box.deliver(RecordingTransport()).sent == 1
    with pytest.raises(ConfigError, match="no outbox record"):
        box.set_status("nope", "sent")


def test_outbox_json_shape(box: Outbox) -> None:
    box.put([_action()])
    data = box.records()[0].to_json()
    assert {"contact_id", "kind", "rule", "payload", "status", "idempotency_key"} <= set(data)
    assert data["rule"] == "pricing-hot"
