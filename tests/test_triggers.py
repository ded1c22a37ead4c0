"""Rule sets: validation, the trigger index, and replay with fire-once and cooldowns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow import pipes as p
from gtmflow.errors import ConfigError
from gtmflow.models import Contact, Event
from gtmflow.triggers import Evaluation, RuleSet

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
CONTACT = Contact(id="c1")

PRICING_HOT = p.Rule(
    "pricing-hot",
    when=p.count("page_view", path="/pricing", at_least=3, within="7d"),
    then=p.alert_sales(),
)
GONE_QUIET = p.Rule(
    "gone-quiet", when=p.inactive("email_open", for_="30d"), then=p.enroll("re-engage")
)
DEMO = p.Rule("demo", when=p.event("demo_requested"), then=[p.alert_sales(), p.action("task")])


def ev(id_: str, type_: str, at: datetime, **properties: Any) -> Event:
    return Event(id=id_, type=type_, contact_id="c1", timestamp=at, properties=properties)


def view(id_: str, at: datetime, path: str = "/pricing") -> Event:
    return ev(id_, "page_view", at, path=path)


def run(
    rules: RuleSet,
    history: list[Event],
    new: list[Event] | None = None,
    **kwargs: Any,
) -> Evaluation:
    """Evaluate with every history event as new unless told otherwise."""
    new_events = history if new is None else new
    return rules.evaluate(CONTACT, p.History(history), new_events=new_events, **kwargs)


def fired(result: Evaluation) -> list[tuple[str, int, datetime, tuple[str, ...]]]:
    return [(f.rule.name, f.step, f.decision.at, f.decision.evidence) for f in result.firings]


# --------------------------------------------------------------------------- validation and index


def test_duplicate_names_and_non_rules_are_reported_together() -> None:
    other = p.Rule("pricing-hot", when=p.event("x"), then=p.alert_sales())
    demo_again = p.Rule("demo", when=p.event("y"), then=p.alert_sales())
    with pytest.raises(ConfigError) as info:
        RuleSet([PRICING_HOT, DEMO, other, "gone-quiet", demo_again])  # type: ignore[list-item]
    message = str(info.value)
    assert message.startswith("invalid rules:")
    assert "rule name 'pricing-hot' is used more than once" in message
    assert "rule name 'demo' is used more than once" in message
    assert "item 3 is a str, not a Rule" in message


def test_cares_about_needs_type_and_property_filter() -> None:
    rules = RuleSet([PRICING_HOT, GONE_QUIET])
    assert rules.cares_about(view("v1", T0))
    assert rules.cares_about(ev("v1", "page_view", T0, path="/pricing", utm="ads"))
    assert not rules.cares_about(view("v1", T0, "/blog"))
    assert not rules.cares_about(ev("v1", "page_view", T0))
    assert not rules.cares_about(ev("o1", "email_open", T0, path="/pricing"))


def test_triggered_by_lists_realtime_rules_once_each() -> None:
    either = p.Rule(
        "either",
        when=p.event("page_view", path="/a") | p.event("page_view", path="/b"),
        then=p.alert_sales(),
    )
    rules = RuleSet([PRICING_HOT, either, GONE_QUIET, DEMO])
    assert rules.triggered_by("page_view") == [PRICING_HOT, either]
    assert rules.triggered_by("demo_requested") == [DEMO]
    assert rules.triggered_by("email_open") == []
    assert rules.has_sweep
    assert not RuleSet([PRICING_HOT, DEMO]).has_sweep


def test_rule_with_a_list_of_actions_fires_through_a_rule_set() -> None:
    result = run(RuleSet([DEMO]), [ev("d1", "demo_requested", T0)])
    assert fired(result) == [("demo", 1, T0, ("d1",))]
    assert [a.kind for a in result.firings[0].rule.actions] == ["alert_sales", "task"]


# --------------------------------------------------------------------------- realtime replay


BURST = [view("v1", T0), view("v2", T0 + DAY), view("v3", T0 + 2 * DAY)]


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 2, 0]])
def test_replay_in_time_order_fires_at_the_third_view(order: list[int]) -> None:
    result = run(RuleSet([PRICING_HOT]), [BURST[i] for i in order])
    assert fired(result) == [("pricing-hot", 1, T0 + 2 * DAY, ("v1", "v2", "v3"))]
    decision = result.decisions["pricing-hot"]
    assert decision.fired and decision.at == T0 + 2 * DAY
    assert result.fired == {"pricing-hot": (1, (T0 + 2 * DAY).isoformat())}


def test_views_spread_over_more_than_seven_days_do_not_fire() -> None:
    views = [view("v1", T0), view("v2", T0 + 3 * DAY), view("v3", T0 + 7 * DAY + SECOND)]
    result = run(RuleSet([PRICING_HOT]), views)
    assert result.firings == []
    assert not result.decisions["pricing-hot"].fired


def test_other_pages_do_not_trigger_or_count() -> None:
    views = [view("v1", T0), view("b1", T0 + HOUR, "/blog"), view("v2", T0 + 2 * HOUR)]
    result = run(RuleSet([PRICING_HOT]), views)
    assert result.firings == []
    assert result.decisions["pricing-hot"].at == T0 + 2 * HOUR  # the blog view was not replayed


def test_fire_once_by_default_even_for_a_second_burst() -> None:
    second = [view(f"w{i}", T0 + 20 * DAY + i * HOUR) for i in range(3)]
    result = run(RuleSet([PRICING_HOT]), BURST + second)
    assert [f.decision.at for f in result.firings] == [T0 + 2 * DAY]


def test_fired_state_carries_over_between_calls() -> None:
    rules = RuleSet([PRICING_HOT])
    first = run(rules, BURST)
    previous = dict(first.fired)

    again = run(rules, BURST, new=[], as_of=T0 + 3 * DAY, fired=first.fired)
    assert again.firings == []
    assert again.fired == previous

    second = [view(f"w{i}", T0 + 20 * DAY + i * HOUR) for i in range(3)]
    later = run(rules, BURST + second, new=second, fired=first.fired)
    assert later.firings == []
    assert first.fired == previous  # the caller's state is copied, not mutated


def test_without_carried_state_the_same_history_fires_again() -> None:
    rules = RuleSet([PRICING_HOT])
    assert run(rules, BURST).firings
    assert run(rules, BURST, new=[], as_of=T0 + 3 * DAY).firings


# --------------------------------------------------------------------------- cooldowns


COOL = p.Rule(
    "pricing-hot",
    when=p.count("page_view", path="/pricing", at_least=3, within="7d"),
    then=p.alert_sales(),
    cooldown="3d",
)


def test_cooldown_refires_only_after_the_cooldown_on_newer_evidence() -> None:
    fired_at = T0 + 2 * DAY
    events = [
        *BURST,
        view("v4", fired_at + DAY),  # in the window, but inside the cooldown
        view("v5", fired_at + 3 * DAY),  # cooldown passed, newer evidence
        view("v6", fired_at + 3 * DAY + HOUR),  # inside the new cooldown
    ]
    result = run(RuleSet([COOL]), events)
    assert fired(result) == [
        ("pricing-hot", 1, fired_at, ("v1", "v2", "v3")),
        ("pricing-hot", 2, fired_at + 3 * DAY, ("v1", "v2", "v3", "v4", "v5")),
    ]
    assert result.fired["pricing-hot"] == (2, (fired_at + 3 * DAY).isoformat())


def test_cooldown_passed_but_no_newer_evidence_does_not_refire() -> None:
    result = run(RuleSet([COOL]), BURST, as_of=T0 + 6 * DAY)
    assert len(result.firings) == 1
    decision = result.decisions["pricing-hot"]
    assert not decision.fired
    assert decision.at == T0 + 6 * DAY
    assert decision.reason.endswith("(already acted on)")
    assert decision.evidence == ()


def test_cooldown_counts_from_the_carried_last_firing() -> None:
    rules = RuleSet([COOL])
    first = run(rules, BURST)
    early = [view("v4", T0 + 4 * DAY)]  # 2 days after the firing: still cooling down
    assert run(rules, BURST + early, new=early, fired=first.fired).firings == []
    late = [view("v4", T0 + 5 * DAY)]  # exactly 3 days after: cooled down
    result = run(rules, BURST + late, new=late, fired=first.fired)
    assert [(f.step, f.decision.at) for f in result.firings] == [(2, T0 + 5 * DAY)]


WEBINAR = p.Rule(
    "webinar-followup", when=p.event("webinar_attended"), then=p.enroll("w"), cooldown="1d"
)


def test_a_cooled_down_rule_holding_on_old_evidence_needs_no_sweep() -> None:
    """Only a new event can refire it, so sweeps do not visit the contact every hour forever."""
    rules = RuleSet([WEBINAR])
    history = [ev("w1", "webinar_attended", T0)]
    first = run(rules, history)
    for later in (T0 + HOUR, T0 + DAY, T0 + 9 * DAY):
        assert rules.next_sweep(CONTACT, p.History(history), as_of=later, fired=first.fired) == (
            p.NEVER
        )
    # A second attendance inside the cooldown is fresh evidence: a sweep fires it once cooled.
    again = [*history, ev("w2", "webinar_attended", T0 + HOUR)]
    due = rules.next_sweep(CONTACT, p.History(again), as_of=T0 + HOUR, fired=first.fired)
    assert due == T0 + DAY
    swept = run(rules, again, new=[], as_of=due, fired=first.fired)
    assert [(f.step, f.decision.evidence) for f in swept.firings] == [(2, ("w2",))]


# --------------------------------------------------------------------------- sweeps and as_of


QUIET_HISTORY = [ev("signup", "signed_up", T0), ev("o1", "email_open", T0 + DAY)]


def test_inactivity_rules_fire_only_at_the_sweep() -> None:
    rules = RuleSet([GONE_QUIET])
    late_view = [view("v1", T0 + 40 * DAY, "/blog")]
    assert run(rules, QUIET_HISTORY + late_view, new=late_view).firings == []
    result = run(rules, QUIET_HISTORY + late_view, new=late_view, as_of=T0 + 40 * DAY)
    assert fired(result) == [("gone-quiet", 1, T0 + 40 * DAY, ("o1",))]


def test_inactivity_sweep_respects_the_inclusive_window() -> None:
    rules = RuleSet([GONE_QUIET])
    assert run(rules, QUIET_HISTORY, new=[], as_of=T0 + 31 * DAY).firings == []
    assert run(rules, QUIET_HISTORY, new=[], as_of=T0 + 31 * DAY + SECOND).firings


def test_events_after_as_of_are_not_replayed_or_seen() -> None:
    views = [*BURST[:2], view("v3", T0 + 3 * DAY)]
    result = run(RuleSet([PRICING_HOT]), views, as_of=T0 + 3 * DAY - SECOND)
    assert result.firings == []
    decision = result.decisions["pricing-hot"]
    assert decision.at == T0 + 3 * DAY - SECOND
    assert "needs 3" in decision.reason


def test_decisions_explain_rules_that_did_not_fire() -> None:
    rules = RuleSet([PRICING_HOT, GONE_QUIET, DEMO])
    result = run(rules, BURST, as_of=T0 + 2 * DAY + HOUR)
    assert [d.rule for d in result.all_decisions()] == ["pricing-hot", "gone-quiet", "demo"]
    pricing, quiet, demo = result.all_decisions()
    assert pricing.fired and pricing.evidence == ("v1", "v2", "v3")
    assert not quiet.fired and "too new to be inactive for 30d" in quiet.reason
    assert not demo.fired and demo.reason == "no demo_requested"
    assert quiet.at == demo.at == T0 + 2 * DAY + HOUR


def test_realtime_rule_is_also_caught_by_the_sweep() -> None:
    result = run(RuleSet([DEMO]), [ev("d1", "demo_requested", T0)], new=[], as_of=T0 + DAY)
    assert fired(result) == [("demo", 1, T0 + DAY, ("d1",))]


# --------------------------------------------------------------------------- replay property


@settings(max_examples=100, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=30 * 86_400), min_size=1, max_size=10),
    at_least=st.integers(min_value=1, max_value=4),
    within_days=st.integers(min_value=1, max_value=10),
    data=st.data(),
)
def test_replay_fires_once_at_the_first_instant_the_window_fills(
    offsets: list[int], at_least: int, within_days: int, data: st.DataObject
) -> None:
    events = [view(f"v{i:02d}", T0 + timedelta(seconds=s)) for i, s in enumerate(offsets)]
    within = timedelta(days=within_days)
    rule = p.Rule(
        "hot",
        when=p.count("page_view", path="/pricing", at_least=at_least, within=within),
        then=p.alert_sales(),
    )
    shuffled = data.draw(st.permutations(events))
    result = run(RuleSet([rule]), events, new=list(shuffled))

    ordered = sorted(events, key=lambda e: (e.timestamp, e.id))
    expected = next(
        (
            e.timestamp
            for e in ordered
            if sum(e.timestamp - within <= o.timestamp <= e.timestamp for o in events) >= at_least
        ),
        None,
    )
    assert [f.decision.at for f in result.firings] == ([] if expected is None else [expected])
