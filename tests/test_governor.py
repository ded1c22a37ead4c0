"""The governor: consent, caps, quiet hours, pacing and approvals, at send time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtmflow.clock import VirtualClock
from gtmflow.errors import ConfigError
from gtmflow.governor import Governor, GovernorPolicy, QuietHours, payload_digest, variant
from gtmflow.models import Action, Contact, Event
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.delivery.transports import RecordingTransport
from gtmflow.tools.events.event_store import SQLiteEventStore

MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class World:
    def __init__(self, tmp: Path, policy: GovernorPolicy, start: datetime = MONDAY_NOON) -> None:
        self.clock = VirtualClock(start)
        self.events = SQLiteEventStore(tmp / "db.sqlite")
        self.outbox = Outbox(tmp / "db.sqlite", clock=self.clock)
        self.governor = Governor(policy, events=self.events, outbox=self.outbox)
        self.transport = RecordingTransport()
        self.n = 0

    def email(self, contact: str = "c", **payload: object) -> str:
        self.n += 1
        action = Action(
            kind="send_email",
            contact_id=contact,
            payload={"subject": "hi", **payload},
            graph="g",
            source="s",
            step=self.n,
            created_at=self.clock.now(),
        )
        self.outbox.put([action])
        return action.idempotency_key

    def deliver(self) -> None:
        self.outbox.deliver(self.transport, gate=self.governor)


def _policy(**kwargs: object) -> GovernorPolicy:
    base: dict[str, object] = {"quiet_hours": None, "frequency_cap": None}
    return GovernorPolicy(**(base | kwargs))  # type: ignore[arg-type]


def test_unsubscribed_and_suppressed_contacts_are_never_messaged(tmp_path: Path) -> None:
    w = World(tmp_path, _policy())
    w.events.write_contacts([Contact(id="u", subscription="unsubscribed"), Contact(id="ok")])
    w.events.write_events(
        [Event(id="b", type="bounced", contact_id="s", timestamp=MONDAY_NOON - timedelta(days=1))]
    )
    keys = [w.email("u"), w.email("s"), w.email("ok")]
    w.deliver()
    assert [r.action.contact_id for r in w.transport.sent] == ["ok"]
    notes = {k: w.outbox.record(k).note for k in keys[:2]}  # type: ignore[union-attr]
    assert notes == {
        keys[0]: "contact is unsubscribed",
        keys[1]: "suppressed: bounced at 2026-03-01",
    }


def test_consent_is_checked_at_send_time_not_only_at_enrolment(tmp_path: Path) -> None:
    w = World(tmp_path, _policy())
    w.email("c")
    w.events.write_events(
        [
            Event(
                id="u",
                type="unsubscribed",
                contact_id="c",
                timestamp=MONDAY_NOON - timedelta(minutes=1),
            )
        ]
    )
    w.deliver()
    assert w.transport.sent == []


def test_frequency_cap_holds_and_releases_when_window_allows(tmp_path: Path) -> None:
    w = World(tmp_path, _policy(frequency_cap=(3, "7d")))
    for _ in range(4):
        w.email()
        w.deliver()
        w.clock.advance("1d")
    assert len(w.transport.sent) == 3
    held = w.outbox.records(status="held")[0]
    assert held.hold_until == MONDAY_NOON + timedelta(days=7)
    w.clock.set(MONDAY_NOON + timedelta(days=7))
    w.deliver()
    assert len(w.transport.sent) == 4
    history = [h["status"] for h in w.outbox.history(held.action.idempotency_key)]
    assert history == ["pending", "held", "pending", "unknown", "sent"]


def test_quiet_hours_use_the_recipients_timezone(tmp_path: Path) -> None:
    w = World(tmp_path, _policy(quiet_hours=QuietHours(time(20), time(8), weekends=False)))
    w.events.write_contacts(
        [Contact(id="tokyo", timezone="Asia/Tokyo"), Contact(id="paris", timezone="Europe/Paris")]
    )
    w.email("tokyo")  # 12:00 UTC is 21:00 in Tokyo: quiet
    w.email("paris")  # 13:00 in Paris: fine
    w.deliver()
    assert [r.action.contact_id for r in w.transport.sent] == ["paris"]
    held = w.outbox.records(status="held")[0]
    assert held.hold_until == datetime(2026, 3, 3, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    w.clock.set(held.hold_until)
    w.deliver()
    assert [r.action.contact_id for r in w.transport.sent] == ["paris", "tokyo"]


def test_quiet_weekend_holds_until_monday_morning() -> None:
    saturday = datetime(2026, 3, 7, 15, 0, tzinfo=ZoneInfo("America/New_York"))
    opens = QuietHours().opens_at(saturday)
    assert opens == datetime(2026, 3, 9, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    assert QuietHours().opens_at(saturday + timedelta(days=2)) is None  # Monday 15:00


def test_sender_cap_and_pacing(tmp_path: Path) -> None:
    w = World(tmp_path, _policy(sender_daily_cap=2))
    for contact in "abc":
        w.email(contact, **{"from": "sales@x.io"})
    w.deliver()
    assert len(w.transport.sent) == 2
    assert w.outbox.records(status="held")[0].hold_until == datetime(2026, 3, 3, tzinfo=UTC)
    paced = World(tmp_path / "p", _policy(hourly_pacing=1))
    paced.email("a"), paced.email("b")
    paced.deliver()
    assert len(paced.transport.sent) == 1


def test_approval_is_bound_to_the_exact_payload(tmp_path: Path) -> None:
    w = World(tmp_path, _policy())
    draft = {"subject": "Your pains", "body": "…", "author": "ai"}
    unapproved = w.email(**draft)
    stale = w.email(**draft, approval={"digest": "edited-since"})
    good = w.email(**draft, approval={"digest": payload_digest(draft)})
    w.deliver()
    assert [r.action.idempotency_key for r in w.transport.sent] == [good]
    assert {w.outbox.record(k).status for k in (unapproved, stale)} == {"held"}  # type: ignore[union-attr]


def test_forbid_cancels_and_policy_is_validated(tmp_path: Path) -> None:
    w = World(tmp_path, _policy(approvals={"send_email": "forbid"}))
    key = w.email()
    w.deliver()
    assert w.outbox.record(key).status == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="'auto', 'approve' or 'forbid'"):
        GovernorPolicy(approvals={"send_email": "maybe"})  # type: ignore[dict-item]


def test_variant_is_deterministic_and_balanced() -> None:
    arms = [variant(f"c{i}", "subject", ["a", "b"]) for i in range(2000)]
    assert arms == [variant(f"c{i}", "subject", ["a", "b"]) for i in range(2000)]
    assert 900 < arms.count("a") < 1100
    assert variant("c1", "other", ["a", "b", "c"]) in {"a", "b", "c"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 60 * 24 * 14)),
        min_size=1,
        max_size=25,
    ),
    unsubscribe_at=st.one_of(st.none(), st.integers(0, 60 * 24 * 14)),
)
def test_governor_invariants_hold_over_random_streams(
    tmp_path_factory: pytest.TempPathFactory,
    plan: list[tuple[str, int]],
    unsubscribe_at: int | None,
) -> None:
    tmp = tmp_path_factory.mktemp("gov")
    policy = GovernorPolicy(frequency_cap=(2, "3d"), quiet_hours=QuietHours(), approvals={})
    w = World(tmp, policy)
    zones = {"a": "UTC", "b": "Asia/Kolkata", "c": "America/Los_Angeles"}
    w.events.write_contacts([Contact(id=c, timezone=z) for c, z in zones.items()])
    if unsubscribe_at is not None:
        w.events.write_events(
            [
                Event(
                    id="u",
                    type="unsubscribed",
                    contact_id="a",
                    timestamp=MONDAY_NOON + timedelta(minutes=unsubscribe_at),
                )
            ]
        )
    for contact, minute in sorted(plan, key=lambda p: p[1]):
        w.clock.set(max(w.clock.now(), MONDAY_NOON + timedelta(minutes=minute)))
        w.email(contact)
        w.deliver()
    for _ in range(24 * 20):  # keep ticking hourly so holds get released
        w.clock.advance("1h")
        w.deliver()
    sent = [r for r in w.outbox.records() if r.status == "sent"]
    for record in sent:
        when = record.delivered_at
        assert when is not None
        local = when.astimezone(ZoneInfo(zones[record.action.contact_id]))
        assert QuietHours().opens_at(local) is None, "delivered in quiet hours"
        if unsubscribe_at is not None and record.action.contact_id == "a":
            assert when < MONDAY_NOON + timedelta(minutes=unsubscribe_at)
        window = [
            r
            for r in sent
            if r.action.contact_id == record.action.contact_id
            and r.delivered_at is not None
            and when - timedelta(days=3) < r.delivered_at <= when
        ]
        assert len(window) <= 2, "frequency cap exceeded"
    assert not w.outbox.records(status="pending")
