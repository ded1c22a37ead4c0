"""Rules over sequences of events: "A, then B within D" and "A, then no B within D after A"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow import Workspace
from gtmflow import pipes as p
from gtmflow.errors import ConfigError
from gtmflow.graphs.inbound_router import build_inbound_router
from gtmflow.models import Contact, Event

from .conftest import at, ev, write_events

T = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
STALLED = p.not_followed_by("trial_started", "login", within="5d")
ACTIVATED = p.followed_by("trial_started", "login", within="5d")


def event(id_: str, type_: str, when: datetime, **props: Any) -> Event:
    return Event(id=id_, type=type_, contact_id="c", timestamp=when, properties=props)


def judge(condition: p.Condition, events: list[Event], now: datetime) -> p.Match:
    return condition.evaluate(p.EvalContext(Contact(id="c"), p.History(events), now))


def test_no_login_in_the_five_days_after_a_trial_start_holds_once_the_window_closed() -> None:
    trial = [event("t", "trial_started", T)]
    assert not judge(STALLED, trial, T + 4 * DAY)  # the window is still open
    held = judge(STALLED, trial, T + 5 * DAY)
    assert held and held.evidence == ("t",)
    assert held.reason == "trial_started at 2026-03-01T00:00:00Z, no login within 5d"


def test_a_login_inside_the_window_answers_the_trial_even_on_its_last_second() -> None:
    for login_at in (T + DAY, T + 5 * DAY):
        events = [event("t", "trial_started", T), event("l", "login", login_at)]
        assert not judge(STALLED, events, T + 30 * DAY)
        assert judge(ACTIVATED, events, T + 30 * DAY).evidence == ("t", "l")


def test_a_login_after_the_window_does_not_answer_it() -> None:
    events = [event("t", "trial_started", T), event("l", "login", T + 6 * DAY)]
    assert judge(STALLED, events, T + 7 * DAY)
    assert not judge(ACTIVATED, events, T + 7 * DAY)


def test_a_login_before_the_trial_does_not_count() -> None:
    events = [event("l", "login", T - DAY), event("t", "trial_started", T)]
    assert judge(STALLED, events, T + 6 * DAY)


def test_earliest_is_when_the_window_closes_and_never_without_a_start() -> None:
    trial = [event("t", "trial_started", T)]
    context = p.EvalContext(Contact(id="c"), p.History(trial), T + DAY)
    assert STALLED.earliest(context) == T + 5 * DAY
    empty = p.EvalContext(Contact(id="c"), p.History([]), T)
    assert STALLED.earliest(empty) == p.NEVER


def test_property_filters_and_printing() -> None:
    cond = p.followed_by(p.event("demo_requested", source="ads"), "meeting_booked", within="14d")
    assert repr(cond) == (
        "followed_by(event('demo_requested', source='ads'), 'meeting_booked', within='14d')"
    )
    other = [event("d", "demo_requested", T, source="organic"), event("m", "meeting_booked", T)]
    assert not judge(cond, other, T + DAY)
    assert eval(repr(STALLED), {"not_followed_by": p.not_followed_by}) == STALLED


def test_a_window_is_required_and_steps_are_plain_events() -> None:
    with pytest.raises(ConfigError, match="within"):
        p.not_followed_by("trial_started", "login", within="0s")
    with pytest.raises(ConfigError, match="without within="):
        p.followed_by(p.event("trial_started", within="1d"), "login", within="5d")


def test_the_rule_fires_through_the_workspace_sweep_at_the_right_time(tmp_path: Path) -> None:
    rules = [p.Rule("trial-stalled", when=STALLED, then=p.action("create_task"))]
    graph = build_inbound_router(rules=rules)
    rows = [
        ev("t1", "trial_started", "quiet", at(0)),
        ev("t2", "trial_started", "busy", at(0)),
        ev("l2", "login", "busy", at(2)),
    ]
    with Workspace.open(tmp_path) as ws:
        ws.ingest(write_events(tmp_path / "e.jsonl", rows), progress=False)
        assert ws.run(graph, as_of=at(3), progress=False).actions == 0
        fired = ws.run(graph, as_of=at(6), progress=False)
        assert fired.by_rule == {"trial-stalled": 1}
        (record,) = ws.outbox.records()
        assert record.action.contact_id == "quiet"
        assert ws.run(graph, as_of=at(9), progress=False).actions == 0  # fires once


def test_a_trial_started_after_the_last_sweep_is_still_watched(tmp_path: Path) -> None:
    """A contact swept with nothing pending must be re-evaluated when a new trial starts."""
    rules = [p.Rule("trial-stalled", when=STALLED, then=p.action("create_task"))]
    graph = build_inbound_router(rules=rules)
    with Workspace.open(tmp_path) as ws:
        ws.ingest(write_events(tmp_path / "a.jsonl", [ev("o", "email_open", "c", at(0))]))
        assert ws.run(graph, as_of=at(1), progress=False).actions == 0
        ws.ingest(write_events(tmp_path / "b.jsonl", [ev("t", "trial_started", "c", at(2))]))
        assert ws.run(graph, as_of=at(3), progress=False).actions == 0
        assert ws.run(graph, as_of=at(8), progress=False).by_rule == {"trial-stalled": 1}


def test_misspelled_options_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"did you mean `within=`"):
        p.event("page_view", wihtin="7d")
    with pytest.raises(ConfigError, match=r"did you mean `at_least=`"):
        p.count("page_view", at_least=3, within="7d", at_lest=2)
    with pytest.raises(ConfigError, match=r"an option of Rule\(\), not event\(\)"):
        p.event("page_view", cooldown="1d")
    assert p.event("form_submit", form="contact_us")  # real properties stay filters
    odd = p.event("page_view", props={"within": "x"})
    assert odd.evaluate(
        p.EvalContext(Contact(id="c"), p.History([event("e", "page_view", T, within="x")]), T)
    )
    assert repr(odd) == "event('page_view', props={'within': 'x'})"
