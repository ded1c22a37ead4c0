"""Conditions and rules: window boundaries, comparisons, combinators, and conditions as values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow import pipes as p
from gtmflow.errors import ConfigError
from gtmflow.models import Contact, Event
from gtmflow.pipes.history import needed_events

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def ev(id_: str, type_: str, at: datetime, **properties: Any) -> Event:
    return Event(id=id_, type=type_, contact_id="c1", timestamp=at, properties=properties)


def ctx(
    events: Sequence[Event] = (),
    now: datetime = NOW,
    *,
    contact: Contact | None = None,
    score: float | None = None,
) -> p.EvalContext:
    return p.EvalContext(
        contact=contact or Contact(id="c1"), history=p.History(events), now=now, score=score
    )


def view(id_: str, at: datetime, path: str = "/pricing") -> Event:
    return ev(id_, "page_view", at, path=path)


HOT = p.count("page_view", path="/pricing", at_least=3, within="7d")


# --------------------------------------------------------------------------- event()


def test_event_requires_type_and_every_property_value() -> None:
    download = ev("e1", "content_download", NOW - DAY, asset_type="ebook", topic="ai")
    cond = p.event("content_download", asset_type="ebook")
    assert cond.evaluate(ctx([download]))
    assert not p.event("content_download", asset_type="webinar").evaluate(ctx([download]))
    assert not p.event("content_download", format="pdf").evaluate(ctx([download]))
    assert not p.event("page_view", asset_type="ebook").evaluate(ctx([download]))


def test_event_evidence_is_the_latest_match_at_or_before_now() -> None:
    events = [
        ev("old", "demo_requested", NOW - 3 * DAY),
        ev("new", "demo_requested", NOW - DAY),
        ev("future", "demo_requested", NOW + SECOND),
    ]
    result = p.event("demo_requested").evaluate(ctx(events))
    assert result.matched
    assert result.evidence == ("new",)
    assert result.latest_at == NOW - DAY


def test_event_after_now_is_ignored() -> None:
    result = p.event("demo_requested").evaluate(ctx([ev("e1", "demo_requested", NOW + SECOND)]))
    assert not result.matched
    assert result.evidence == ()
    assert result.reason == "no demo_requested"


@pytest.mark.parametrize(
    ("age", "matched"),
    [(timedelta(0), True), (7 * DAY, True), (7 * DAY + SECOND, False)],
)
def test_event_within_window_is_inclusive(age: timedelta, matched: bool) -> None:
    events = [ev("e1", "webinar_attended", NOW - age)]
    assert p.event("webinar_attended", within="7d").evaluate(ctx(events)).matched is matched
    assert p.event("webinar_attended").evaluate(ctx(events)).matched


# --------------------------------------------------------------------------- count()


def test_count_three_views_spanning_exactly_seven_days_match() -> None:
    views = [view("v1", NOW - 7 * DAY), view("v2", NOW - 3 * DAY), view("v3", NOW)]
    result = HOT.evaluate(ctx(views))
    assert result.matched
    assert result.evidence == ("v1", "v2", "v3")
    assert result.latest_at == NOW
    assert "3 page_view(path='/pricing') within 7d" in result.reason


def test_count_seven_days_and_one_second_do_not_match() -> None:
    views = [view("v1", NOW - 7 * DAY - SECOND), view("v2", NOW - 3 * DAY), view("v3", NOW)]
    result = HOT.evaluate(ctx(views))
    assert not result.matched
    assert result.evidence == ()
    assert result.reason.endswith("needs 3")


def test_count_ignores_events_after_now() -> None:
    views = [view("v1", NOW - DAY), view("v2", NOW), view("v3", NOW + SECOND)]
    assert not HOT.evaluate(ctx(views))
    assert HOT.evaluate(ctx(views, now=NOW + SECOND))


def test_count_filters_on_properties() -> None:
    views = [view("v1", NOW - 2 * DAY), view("b1", NOW - DAY, "/blog"), view("v2", NOW)]
    assert not HOT.evaluate(ctx(views))
    any_page = p.count("page_view", at_least=3, within="7d")
    assert any_page.evaluate(ctx(views)).evidence == ("v1", "b1", "v2")


def test_count_orders_same_instant_events_by_id() -> None:
    views = [view("v3", NOW), view("v1", NOW), view("v2", NOW)]
    assert HOT.evaluate(ctx(views)).evidence == ("v1", "v2", "v3")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"at_least": 0, "within": "7d"}, "at_least >= 1"),
        ({"at_least": 3, "within": "0s"}, "at least 1s"),
        ({"at_least": 3, "within": "a week"}, "not understood"),
    ],
)
def test_count_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        p.count("page_view", **kwargs)


def test_empty_event_type_is_rejected() -> None:
    with pytest.raises(ConfigError, match="non-empty string"):
        p.event("  ")


OFFSETS = st.lists(st.integers(min_value=-40 * 86_400, max_value=5 * 86_400), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    offsets=OFFSETS,
    paths=st.lists(st.sampled_from(["/pricing", "/blog"]), min_size=12, max_size=12),
    at_least=st.integers(min_value=1, max_value=5),
    within_s=st.integers(min_value=1, max_value=20 * 86_400),
)
def test_count_agrees_with_brute_force(
    offsets: list[int], paths: list[str], at_least: int, within_s: int
) -> None:
    events = [
        view(f"v{i}", NOW + timedelta(seconds=off), path)
        for i, (off, path) in enumerate(zip(offsets, paths, strict=False))
    ]
    within = timedelta(seconds=within_s)
    cond = p.count("page_view", path="/pricing", at_least=at_least, within=within)
    in_window = [
        e.id
        for e in events
        if NOW - within <= e.timestamp <= NOW and e.properties["path"] == "/pricing"
    ]
    result = cond.evaluate(ctx(events))
    assert result.matched is (len(in_window) >= at_least)
    if result.matched:
        assert sorted(result.evidence) == sorted(in_window)


# --------------------------------------------------------------------------- inactive()


QUIET = p.inactive("email_open", for_="30d")


def test_inactive_when_no_event_in_window_and_known_long_enough() -> None:
    events = [ev("signup", "signed_up", NOW - 90 * DAY), ev("o1", "email_open", NOW - 31 * DAY)]
    result = QUIET.evaluate(ctx(events))
    assert result.matched
    assert result.evidence == ("o1",)
    assert "no email_open for 30d" in result.reason


@pytest.mark.parametrize(
    ("age", "inactive"), [(30 * DAY, False), (30 * DAY + SECOND, True), (timedelta(0), False)]
)
def test_inactive_window_is_inclusive(age: timedelta, inactive: bool) -> None:
    events = [ev("signup", "signed_up", NOW - 90 * DAY), ev("o1", "email_open", NOW - age)]
    assert QUIET.evaluate(ctx(events)).matched is inactive


def test_contact_whose_history_starts_after_window_start_is_not_inactive() -> None:
    events = [ev("signup", "signed_up", NOW - 30 * DAY + SECOND)]
    result = QUIET.evaluate(ctx(events))
    assert not result.matched
    assert "too new" in result.reason


def test_contact_known_since_exactly_the_window_start_can_be_inactive() -> None:
    assert QUIET.evaluate(ctx([ev("signup", "signed_up", NOW - 30 * DAY)]))


def test_never_had_the_event_but_old_history_is_inactive() -> None:
    events = [ev("signup", "signed_up", NOW - 60 * DAY), ev("v1", "page_view", NOW - 40 * DAY)]
    result = QUIET.evaluate(ctx(events))
    assert result.matched
    assert result.evidence == ("signup",)
    assert "never a email_open" in result.reason


def test_no_history_is_not_inactive() -> None:
    result = QUIET.evaluate(ctx([]))
    assert not result.matched
    assert "no history" in result.reason


def test_events_after_now_are_not_activity() -> None:
    events = [ev("signup", "signed_up", NOW - 60 * DAY), ev("o1", "email_open", NOW + SECOND)]
    assert QUIET.evaluate(ctx(events))


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.integers(min_value=-60 * 86_400, max_value=5 * 86_400),
            st.sampled_from(["email_open", "page_view"]),
        ),
        max_size=10,
    ),
    for_s=st.integers(min_value=1, max_value=40 * 86_400),
)
def test_inactive_agrees_with_brute_force(events: list[tuple[int, str]], for_s: int) -> None:
    history = [
        ev(f"e{i}", type_, NOW + timedelta(seconds=off)) for i, (off, type_) in enumerate(events)
    ]
    for_ = timedelta(seconds=for_s)
    start = NOW - for_
    known_long_enough = any(e.timestamp <= start for e in history)
    active = any(e.type == "email_open" and start <= e.timestamp <= NOW for e in history)
    cond = p.inactive("email_open", for_=for_)
    assert cond.evaluate(ctx(history)).matched is (known_long_enough and not active)


# --------------------------------------------------------------------------- attr() and score()


PERSON = Contact(
    id="c1",
    email="Ada@Example.com",
    title="VP of Marketing",
    lifecycle_stage="mql",
    attributes={"employees": 120, "plan": "pro", "revenue": "n/a"},
)


@pytest.mark.parametrize(
    ("cond", "matched"),
    [
        (p.attr("lifecycle_stage", equals="mql"), True),
        (p.attr("lifecycle_stage", equals="sql"), False),
        (p.attr("plan", equals="pro"), True),
        (p.attr("plan", not_equals="pro"), False),
        (p.attr("plan", not_equals="free"), True),
        (p.attr("missing", not_equals="free"), True),
        (p.attr("missing", equals="free"), False),
        (p.attr("employees", at_least=120), True),
        (p.attr("employees", at_least=121), False),
        (p.attr("employees", at_most=120), True),
        (p.attr("employees", at_most=119), False),
        (p.attr("revenue", at_least=0), False),
        (p.attr("missing", at_most=10), False),
        (p.attr("title", contains="vp"), True),
        (p.attr("title", contains="MARKETING"), True),
        (p.attr("title", contains="sales"), False),
        (p.attr("email", contains="example.com"), True),
        (p.attr("lifecycle_stage", in_=["mql", "sql"]), True),
        (p.attr("lifecycle_stage", in_=["customer"]), False),
        (p.attr("plan", in_=("pro", "team")), True),
        (p.attr("employees", exists=True), True),
        (p.attr("missing", exists=True), False),
        (p.attr("missing", exists=False), True),
        (p.attr("company", exists=True), False),
        (p.attr("company", exists=False), True),
        (p.attr("id", equals="c1"), True),
    ],
    ids=repr,
)
def test_attr_comparisons_on_fields_and_attributes(cond: p.Condition, matched: bool) -> None:
    assert cond.evaluate(ctx(contact=PERSON)).matched is matched


def test_attr_reason_shows_the_actual_value() -> None:
    assert p.attr("plan", equals="free").evaluate(ctx(contact=PERSON)).reason == "plan='pro'"


def test_attr_accepts_falsy_comparison_values() -> None:
    contact = Contact(id="c1", attributes={"trial": False, "seats": 0})
    assert p.attr("trial", equals=False).evaluate(ctx(contact=contact))
    assert p.attr("seats", at_most=0).evaluate(ctx(contact=contact))


@pytest.mark.parametrize("kwargs", [{}, {"equals": "a", "contains": "b"}])
def test_attr_needs_exactly_one_comparison(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="exactly one comparison") as info:
        p.attr("title", **kwargs)
    assert "attr('title', contains='VP')" in str(info.value)


@pytest.mark.parametrize(
    ("cond", "value", "matched"),
    [
        (p.score(at_least=50), 50.0, True),
        (p.score(at_least=50), 49.9, False),
        (p.score(at_most=10), 10.0, True),
        (p.score(at_most=10), 10.1, False),
        (p.score(at_least=0), None, False),
    ],
)
def test_score_compares_the_context_score(
    cond: p.Condition, value: float | None, matched: bool
) -> None:
    assert cond.evaluate(ctx(score=value)).matched is matched


@pytest.mark.parametrize("kwargs", [{}, {"at_least": 1, "at_most": 2}])
def test_score_needs_exactly_one_bound(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="exactly one of at_least= or at_most="):
        p.score(**kwargs)


# --------------------------------------------------------------------------- & | ~


A = p.event("demo_requested")
B = p.attr("plan", equals="pro")
C = p.count("page_view", at_least=2, within="7d")
D = p.score(at_least=10)


def test_and_or_flatten_into_one_combinator() -> None:
    assert p.AllOf((A, B, C)) == A & B & C
    assert p.AllOf((A, B, C, D)) == (A & B) & (C & D)
    assert p.AnyOf((A, B, C)) == A | B | C
    assert p.AllOf((p.AnyOf((A, B)), C)) == (A | B) & C
    assert p.AnyOf((A, p.AllOf((B, C)))) == A | (B & C)


def test_invert_wraps_once_and_double_invert_cancels() -> None:
    assert p.Not(A) == ~A
    assert ~~A == A
    assert p.Not(p.AllOf((A, B))) == ~(A & B)


def test_combining_with_a_non_condition_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must be a condition"):
        A & "demo_requested"  # type: ignore[operator]


def test_all_of_evidence_is_the_deduplicated_union() -> None:
    events = [
        ev("v1", "page_view", NOW - 2 * DAY),
        ev("v2", "page_view", NOW - DAY),
        ev("d1", "demo_requested", NOW - 3 * DAY),
    ]
    cond = p.event("page_view") & C & A
    result = cond.evaluate(ctx(events))
    assert result.matched
    assert result.evidence == ("v2", "v1", "d1")
    assert result.latest_at == NOW - DAY
    assert " and " in result.reason


def test_all_of_fails_on_the_first_failing_part() -> None:
    result = (A & C).evaluate(ctx([ev("d1", "demo_requested", NOW)]))
    assert not result.matched
    assert result.evidence == ()
    assert result.reason.startswith(f"not {C!r}: 0 page_view within 7d")


def test_any_of_evidence_comes_only_from_parts_that_held() -> None:
    events = [ev("d1", "demo_requested", NOW - DAY), ev("v1", "page_view", NOW)]
    result = (C | A).evaluate(ctx(events))
    assert result.matched
    assert result.evidence == ("d1",)
    missed = (C | p.event("trial_started")).evaluate(ctx(events))
    assert not missed.matched
    assert "needs 2" in missed.reason and "no trial_started" in missed.reason


def test_not_inverts_and_carries_no_evidence() -> None:
    unsubscribed = p.event("unsubscribed")
    assert (~unsubscribed).evaluate(ctx([ev("v1", "page_view", NOW)])).matched
    result = (~unsubscribed).evaluate(ctx([ev("u1", "unsubscribed", NOW)]))
    assert not result.matched
    assert result.evidence == ()
    assert result.reason.startswith("not (")


# --------------------------------------------------------------------------- conditions as values


@pytest.mark.parametrize(
    ("cond", "text"),
    [
        (HOT, "count('page_view', at_least=3, within='7d', path='/pricing')"),
        (
            p.event("content_download", asset_type="ebook"),
            "event('content_download', asset_type='ebook')",
        ),
        (p.event("demo_requested", within="1w 2d"), "event('demo_requested', within='9d')"),
        (p.event("x", within=timedelta(hours=36)), "event('x', within='36h')"),
        (p.inactive("email_open", for_="30d"), "inactive('email_open', for_='30d')"),
        (
            p.attr("lifecycle_stage", in_=["mql", "sql"]),
            "attr('lifecycle_stage', in_=('mql', 'sql'))",
        ),
        (p.attr("title", contains="VP"), "attr('title', contains='VP')"),
        (p.attr("email", exists=True), "attr('email', exists=True)"),
        (p.score(at_least=50), "score(at_least=50)"),
        (A & B, "event('demo_requested') & attr('plan', equals='pro')"),
        ((A | B) & C, "(event('demo_requested') | attr('plan', equals='pro')) & " + repr(C)),
        ((A & B) | C, "(event('demo_requested') & attr('plan', equals='pro')) | " + repr(C)),
        (~(A | B), "~(event('demo_requested') | attr('plan', equals='pro'))"),
        (~A & B, "~event('demo_requested') & attr('plan', equals='pro')"),
    ],
)
def test_repr_is_the_code_that_builds_the_condition(cond: p.Condition, text: str) -> None:
    assert repr(cond) == text
    rebuilt = eval(text, vars(p))
    assert rebuilt == cond
    assert hash(rebuilt) == hash(cond)


def test_equal_conditions_compare_and_hash_equal() -> None:
    variants = [
        p.count("page_view", path="/pricing", utm="ads", at_least=3, within="7d"),
        p.count("page_view", utm="ads", path="/pricing", at_least=3, within="1w"),
        p.count("page_view", at_least=3, within=timedelta(days=7), path="/pricing", utm="ads"),
    ]
    assert len(set(variants)) == 1
    assert variants[0] == variants[1] == variants[2]
    assert p.count("page_view", at_least=3, within="7d") != p.count(
        "page_view", at_least=4, within="7d"
    )
    assert p.event("x") != p.event("x", within="7d")
    assert A & B != B & A  # order is part of the value: it is the evaluation order
    assert {A & B: "rule"}[p.event("demo_requested") & p.attr("plan", equals="pro")] == "rule"


LEAVES = st.sampled_from(
    [
        HOT,
        p.event("demo_requested", within="3d"),
        p.inactive("email_open", for_="30d"),
        p.attr("plan", in_=["pro", "team"]),
        p.score(at_most=5),
    ]
)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda a, b: a & b, inner, inner),
        st.builds(lambda a, b: a | b, inner, inner),
        st.builds(lambda a: ~a, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=100, deadline=None)
@given(CONDITIONS)
def test_any_combination_round_trips_through_repr(cond: p.Condition) -> None:
    rebuilt = eval(repr(cond), vars(p))
    assert rebuilt == cond
    assert hash(rebuilt) == hash(cond)


# --------------------------------------------------------------------------- actions and rules


def test_action_specs_are_printable_values() -> None:
    assert repr(p.enroll("nurture")) == "enroll('nurture')"
    task = p.action("create_task", priority="high", owner="ae")
    assert repr(task) == "action('create_task', owner='ae', priority='high')"
    assert eval(repr(task), vars(p)) == task
    alert = p.alert_sales("pricing spike", channel="ae-team")
    assert alert.payload_dict() == {"channel": "ae-team", "message": "pricing spike"}
    assert eval(repr(alert), vars(p)) == alert
    with pytest.raises(ConfigError, match="needs a sequence name"):
        p.enroll("")


@pytest.mark.parametrize(
    "name", ["Pricing-Hot", "pricing hot", "", "-pricing", "pricing/hot", "pricing-hot\n"]
)
def test_rule_name_must_be_a_lower_case_slug(name: str) -> None:
    with pytest.raises(ConfigError, match="must be lower-case letters") as info:
        p.Rule(name, when=A, then=p.alert_sales())
    assert f"'{name}'" in str(info.value)
    assert "'pricing-hot'" in str(info.value)


@pytest.mark.parametrize("name", ["pricing-hot", "a", "9lives", "crm.sync:v2_b"])
def test_rule_accepts_slug_names(name: str) -> None:
    assert p.Rule(name, when=A, then=p.alert_sales()).name == name


@pytest.mark.parametrize("uncalled", [p.event, p.inactive, lambda: A])
def test_rule_when_an_uncalled_function_hints_at_the_mistake(uncalled: object) -> None:
    with pytest.raises(ConfigError) as info:
        p.Rule("hot", when=uncalled, then=p.alert_sales())  # type: ignore[arg-type]
    message = str(info.value)
    assert "rule 'hot': when= must be a condition" in message
    assert "did you pass a function without calling it?" in message


def test_rule_when_a_non_condition_names_its_type_without_the_function_hint() -> None:
    with pytest.raises(ConfigError, match="got str") as info:
        p.Rule("hot", when="event('demo')", then=p.alert_sales())  # type: ignore[arg-type]
    assert "without calling it" not in str(info.value)


@pytest.mark.parametrize("then", [[], (), "enroll", [p.alert_sales(), "enroll"], None])
def test_rule_then_must_be_actions(then: Any) -> None:
    with pytest.raises(ConfigError, match="then= must be an action or a list of actions"):
        p.Rule("hot", when=A, then=then)


def test_rule_then_an_uncalled_action_builder_hints_at_the_mistake() -> None:
    with pytest.raises(ConfigError, match="did you pass a function without calling it"):
        p.Rule("hot", when=A, then=p.alert_sales)  # type: ignore[arg-type]


def test_rule_with_a_list_of_actions_is_a_hashable_value() -> None:
    rule = p.Rule("hot", when=HOT, then=[p.alert_sales(), p.action("create_task")])
    assert rule.actions == (p.alert_sales(), p.action("create_task"))
    same = p.Rule("hot", when=HOT, then=(p.alert_sales(), p.action("create_task")))
    assert rule == same
    assert hash(rule) == hash(same)


def test_rule_cooldown_is_parsed_and_must_be_positive() -> None:
    rule = p.Rule("hot", when=HOT, then=p.alert_sales(), cooldown="3d")
    assert rule.cooldown_delta == 3 * DAY
    assert p.Rule("hot", when=HOT, then=p.alert_sales()).cooldown_delta is None
    with pytest.raises(
        ConfigError, match="cooldown='0s' must be a whole number of seconds, at least 1s"
    ):
        p.Rule("hot", when=HOT, then=p.alert_sales(), cooldown="0s")


@pytest.mark.parametrize(
    ("when", "trigger"),
    [
        (HOT, "realtime"),
        (A & B, "realtime"),
        (p.inactive("email_open", for_="30d") & A, "realtime"),
        (p.inactive("email_open", for_="30d"), "inactivity"),
        (p.inactive("email_open", for_="30d") & B, "inactivity"),
        (B, "scheduled"),
        (~A, "scheduled"),
        (D | B, "scheduled"),
    ],
)
def test_rule_trigger_kind(when: p.Condition, trigger: str) -> None:
    assert p.Rule("r", when=when, then=p.enroll("nurture")).trigger == trigger


# --------------------------------------------------------------------------- history needs

NEEDY = [
    p.event("content_download", asset_type="ebook"),
    p.event("demo_requested", within="3d"),
    HOT,
    p.count("page_view", at_least=2, within="2d"),
    p.inactive("email_open", for_="5d"),
    p.followed_by("demo_requested", "meeting_booked", within="2d"),
    p.not_followed_by(p.event("page_view", path="/pricing"), "email_open", within="1d"),
    p.event("demo_requested") & ~p.inactive("email_open", for_="2d"),
    HOT | p.attr("title", contains="VP"),
]
KINDS = [
    ("page_view", {"path": "/pricing"}),
    ("page_view", {"path": "/blog"}),
    ("email_open", {}),
    ("content_download", {"asset_type": "ebook"}),
    ("content_download", {"asset_type": "whitepaper"}),
    ("demo_requested", {}),
    ("meeting_booked", {}),
]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(min_value=-20 * 86_400, max_value=10 * 86_400), st.sampled_from(KINDS)
        ),
        max_size=14,
    ),
    which=st.integers(min_value=0, max_value=len(NEEDY) - 1),
    start_s=st.integers(min_value=-10 * 86_400, max_value=5 * 86_400),
    later_s=st.integers(min_value=0, max_value=8 * 86_400),
)
def test_needed_events_give_the_verdicts_of_the_whole_history(
    rows: list[tuple[int, tuple[str, dict[str, Any]]]], which: int, start_s: int, later_s: int
) -> None:
    """A history cut down to a condition's needs judges every instant from `start` on the same."""
    history = [
        ev(f"e{i}", kind, NOW + timedelta(seconds=off), **props)
        for i, (off, (kind, props)) in enumerate(rows)
    ]
    cond = NEEDY[which]
    needs = cond.history_needs()
    assert needs is not None
    start = NOW + timedelta(seconds=start_s)
    partial = needed_events(history, needs, start=start)
    for now in (start, start + timedelta(seconds=later_s)):
        full, cut = ctx(history, now), ctx(partial, now)
        assert cond.evaluate(cut) == cond.evaluate(full)
        assert cond.earliest(cut) == cond.earliest(full)


def test_a_condition_of_unknown_needs_asks_for_the_whole_history() -> None:
    class Custom(p.Condition):
        def evaluate(self, ctx: p.EvalContext) -> p.Match:
            return p.Match(len(ctx.history.events) > 3)

        def filters(self) -> tuple[p.EventFilter, ...]:
            return ()

    assert Custom().history_needs() is None
    assert (HOT & Custom()).history_needs() is None
    assert p.attr("title", contains="VP").history_needs() == ()


def test_inactive_reads_its_window_and_the_last_event_before_it_not_every_event() -> None:
    """The cut keeps the last open before the window (the verdict cites it), not older ones."""
    opens = [ev(f"o{d}", "email_open", NOW - timedelta(days=d)) for d in (40, 30, 12, 9)]
    history = [ev("first", "page_view", NOW - timedelta(days=50)), *opens]
    cond = p.inactive("email_open", for_="5d")
    needs = cond.history_needs()
    assert needs is not None
    cut = needed_events(history, needs, start=NOW)
    assert [e.id for e in cut] == ["first", "o9"]
    for now in (NOW, NOW + timedelta(days=3)):
        assert cond.evaluate(ctx(cut, now)) == cond.evaluate(ctx(history, now))
        assert cond.earliest(ctx(cut, now)) == cond.earliest(ctx(history, now))
    assert cond.evaluate(ctx(cut)).evidence == ("o9",)
