"""Touchpoints from events and the outbox, deals, journeys, and the path file format."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gtmflow import Workspace
from gtmflow.errors import ConfigError, InputError
from gtmflow.examples.sample_deals import generate_sample_deals
from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.models import Action, Deal, Event
from gtmflow.tools.attribution.heuristics import attribute
from gtmflow.tools.attribution.journeys import Journeys, read_paths, write_paths
from gtmflow.tools.attribution.touchpoints import (
    TouchData,
    TouchpointConfig,
    build_journeys,
    collect_touches,
    load_deals,
    touches_from_events,
    touches_from_outbox,
)
from gtmflow.tools.delivery.outbox import Outbox

from .conftest import SHARED, at

CA_DATA = SHARED / "data" / "external" / "attribution" / "channelattribution_Data.csv"


def event(n: int, type_: str, when: float, contact: str = "c1", **props: object) -> Event:
    return Event(id=f"e{n}", type=type_, contact_id=contact, timestamp=at(when), properties=props)


def test_sessions_carry_their_source_to_every_page() -> None:
    events = [
        event(1, "page_view", 0, path="/", utm_source="google", utm_medium="cpc"),
        event(2, "page_view", 0.001, path="/blog/abm"),  # same session: paid search
        event(3, "page_view", 0.002, path="/pricing"),  # not content, not a session start
        event(4, "page_view", 2, path="/blog/intent", referrer="https://www.google.com/"),
        event(5, "page_view", 5, path="/docs/sso"),  # 3 days later: a new direct session
        event(6, "email_click", 6, campaign="newsletter-1", email_id="em-1"),
        event(7, "content_download", 5.001, asset_id="eb-1", title="Playbook"),
    ]
    touches = touches_from_events(events)
    assert [(t.channel, t.content_id, t.first_in_session) for t in touches] == [
        ("paid_search", None, True),
        ("paid_search", "/blog/abm", False),
        ("organic_search", "/blog/intent", True),
        ("direct", "/docs/sso", True),
        ("direct", "eb-1", False),
        ("email", "newsletter-1", True),
    ]
    assert [t.key("channel") for t in touches] == [
        "paid_search",
        None,
        "organic_search",
        "direct",
        None,
        "email",
    ]
    assert [t.key("content") for t in touches] == [
        "(paid_search)",
        "/blog/abm",
        "/blog/intent",
        "/docs/sso",
        "eb-1",
        "newsletter-1",
    ]


def test_touch_rules_are_configurable() -> None:
    config = TouchpointConfig(
        types=("page_view", "email_open"), content_paths=("/pricing",), session_gap="1d"
    )
    events = [
        event(1, "page_view", 0, path="/pricing", utm_medium="newsletter"),
        event(2, "page_view", 0.5, path="/pricing"),
        event(3, "email_open", 0.6, email_id="em-9"),
        event(4, "email_click", 0.7, email_id="em-9"),  # not a touch type here
    ]
    touches = touches_from_events(events, config)
    assert [(t.channel, t.content_id) for t in touches] == [
        ("newsletter", "/pricing"),
        ("newsletter", "/pricing"),
        ("email", "em-9"),
    ]


def test_sent_outbox_actions_are_touches_keyed_by_agent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    sent = Action(
        kind="send_followup",
        contact_id="c1",
        graph="followup",
        source="writer",
        created_at=at(1),
        payload={"prompt_version": "v3", "content_id": "cs-1"},
    )
    held = Action(
        kind="send_followup",
        contact_id="c1",
        graph="followup",
        source="writer",
        step=2,
        created_at=at(2),
    )
    alert = Action(kind="alert_sales", contact_id="c1", graph="g", source="r", created_at=at(3))
    box.put([sent, held, alert])
    box.set_status(sent.idempotency_key, "sent")
    box.set_status(alert.idempotency_key, "sent")
    touches = touches_from_outbox(box.records())
    assert len(touches) == 1
    touch = touches[0]
    assert (touch.channel, touch.content_id, touch.agent) == ("email", "cs-1", "followup/writer@v3")
    assert touch.key("agent") == "followup/writer@v3" and touch.key("channel") == "email"
    assert touch.touchpoint().event_id == f"outbox:{sent.idempotency_key}"
    box.close()


def _data() -> TouchData:
    events = {
        "c1": [
            event(1, "page_view", 0, "c1", path="/", utm_medium="cpc"),
            event(2, "form_submit", 1, "c1", form="demo"),
            event(3, "page_view", 5, "c1", path="/blog/x", referrer="https://news.site/"),
            event(4, "email_click", 20, "c1", campaign="nl"),
        ],
        "c2": [event(5, "page_view", 10, "c2", path="/blog/y")],
        "c3": [event(6, "page_view", 3, "c3", path="/", utm_medium="paid_social")],
    }
    data = TouchData()
    for contact, evs in events.items():
        data.touches[contact] = touches_from_events(evs)
    data.lead_times["c1"] = at(1)
    data.latest = at(20)
    return data


def test_deals_join_touches_of_all_their_contacts_within_the_lookback() -> None:
    deal = Deal(
        id="d1",
        amount=1000,
        stage="won",
        created_at=at(6),
        closed_at=at(21),
        contact_ids=("c1", "c2"),
    )
    pipeline = build_journeys(_data(), [deal], outcome="pipeline", lookback="30d")
    assert pipeline.ids == ("d1", "contact:c3")
    assert pipeline.path(0) == ("paid_search", "referral")  # touches up to creation only
    assert pipeline.conversions.tolist() == [1, 0] and pipeline.nulls.tolist() == [0, 1]
    assert pipeline.lead_at.tolist()[0] == 0  # the touch before the demo form
    revenue = build_journeys(_data(), [deal], outcome="revenue", lookback="30d")
    assert revenue.path(0) == ("paid_search", "referral", "direct", "email")
    assert revenue.opportunity_at.tolist()[0] == 1  # last touch at or before creation
    assert revenue.ages.tolist()[:4] == pytest.approx([21, 16, 11, 1])
    short = build_journeys(_data(), [deal], outcome="pipeline", lookback="2d")
    assert short.path(0) == ("referral",)


def test_deals_without_touches_are_reported_as_unattributed() -> None:
    lonely = Deal(id="d9", amount=500, stage="open", created_at=at(6), contact_ids=("nobody",))
    journeys = build_journeys(_data(), [lonely])
    assert journeys.unattributed_conversions == 1 and journeys.unattributed_value == 500
    assert journeys.total_conversions == 0
    assert attribute(journeys, model="linear").total_conversions == 0


def test_lost_and_open_deals_do_not_count_as_revenue() -> None:
    deals = [
        Deal(
            id="d1",
            amount=1000,
            stage="lost",
            created_at=at(6),
            closed_at=at(9),
            contact_ids=("c1",),
        )
    ]
    revenue = build_journeys(_data(), deals, outcome="revenue")
    assert revenue.total_conversions == 0 and "contact:c1" in (revenue.ids or ())
    assert build_journeys(_data(), deals, outcome="pipeline").total_value == 1000


def test_mixed_currencies_need_a_choice() -> None:
    deals = [
        Deal(id="a", amount=1, stage="won", created_at=at(6), contact_ids=("c1",)),
        Deal(id="b", amount=1, currency="EUR", stage="won", created_at=at(6), contact_ids=("c2",)),
    ]
    with pytest.raises(ConfigError, match="currency='EUR'"):
        build_journeys(_data(), deals)
    assert build_journeys(_data(), deals, currency="usd").total_conversions == 1


def test_load_deals_reads_jsonl_and_csv_and_names_bad_lines(tmp_path: Path) -> None:
    jsonl = tmp_path / "deals.jsonl"
    jsonl.write_text(
        '{"id":"d1","amount":10,"stage":"won","created_at":"2026-03-01T00:00:00Z",'
        '"contact_ids":["c1"]}\n\n'
    )
    assert load_deals(jsonl)[0].contact_ids == ("c1",)
    table = tmp_path / "deals.csv"
    table.write_text(
        "id,amount,currency,stage,created_at,closed_at,contact_ids\n"
        "d2,20,USD,open,2026-03-02T00:00:00Z,,c1;c2\n"
    )
    assert load_deals(table)[0].contact_ids == ("c1", "c2")
    table.write_text("id,amount,stage,created_at\nd3,-5,open,2026-03-02T00:00:00Z\n")
    with pytest.raises(InputError, match="line 2: amount"):
        load_deals(table)


# ------------------------------------------------------------------ path files


def test_paths_round_trip_and_merge_identical_rows(tmp_path: Path) -> None:
    j = Journeys.from_paths(
        [["a", "b"], ["a", "b"], ["c"]], conversions=[1, 0, 2], values=[1.5, 0, 4], nulls=[0, 1, 3]
    )
    target = tmp_path / "paths.csv"
    assert write_paths(j, target) == 2
    assert target.read_text().splitlines() == [
        "path;total_conversions;total_conversion_value;total_null",
        "a > b;1;1.5;1",
        "c;2;4;3",
    ]
    back = read_paths(target)
    assert list(back.paths()) == [("a", "b"), ("c",)]
    assert back.conversions.tolist() == [1, 2] and back.nulls.tolist() == [1, 3]


def test_paths_with_other_separators_and_missing_columns(tmp_path: Path) -> None:
    source = tmp_path / "p.csv"
    source.write_text("route,conv\n a | b |c ,3\n| x ||,1\n")
    j = read_paths(source, delimiter=",", sep="|", columns=("route", "conv", "value", "null"))
    assert list(j.paths()) == [("a", "b", "c"), ("x",)]
    assert j.total_value == 0 and j.nulls.tolist() == [0, 0]
    buffer = io.StringIO()
    write_paths(j, buffer, delimiter=",", sep="|")
    assert buffer.getvalue().splitlines()[1] == "a|b|c,3,0,0"
    source.write_text("route,conv\n||,3\n")
    with pytest.raises(InputError, match="no channel"):
        read_paths(source, delimiter=",", sep="|", columns=("route", "conv", "v", "n"))
    with pytest.raises(InputError, match="no column 'path'"):
        read_paths(source)


@pytest.mark.skipif(not CA_DATA.exists(), reason="../shared data is absent")
def test_reads_the_reference_example_data() -> None:
    j = read_paths(CA_DATA)
    assert len(j) == 10_000 and len(j.keys) == 12
    assert j.total_conversions == 19_785 and j.nulls.sum() == 68_602
    assert j.total_value == pytest.approx(74_802.97, abs=0.01)


# ------------------------------------------------------------------ the demo world


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TouchData, list[Deal]]]:
    folder = tmp_path_factory.mktemp("world")
    world = generate_sample_world(folder, contacts=500)
    deals = generate_sample_deals(folder)
    with Workspace.open(folder) as ws:
        ws.ingest(world.events_jsonl, progress=False)
        yield collect_touches(ws.events, outbox=ws.outbox), list(deals.deals)


def test_sample_deals_are_deterministic(tmp_path: Path) -> None:
    generate_sample_world(tmp_path / "a", contacts=60)
    generate_sample_world(tmp_path / "b", contacts=60)
    first = generate_sample_deals(tmp_path / "a")
    assert first.path.read_bytes() == generate_sample_deals(tmp_path / "b").path.read_bytes()
    assert first.deals and all(d.created_at < d.closed_at for d in first.deals if d.closed_at)
    with pytest.raises(ConfigError, match="write a world first"):
        generate_sample_deals(tmp_path / "missing")


def test_demo_journeys_cover_every_deal_and_find_the_planted_content(
    demo: tuple[TouchData, list[Deal]],
) -> None:
    data, deals = demo
    journeys = build_journeys(data, deals, level="content")
    assert journeys.total_conversions + journeys.unattributed_conversions == len(deals)
    assert journeys.total_value == pytest.approx(sum(d.amount for d in deals))
    assert data.titles["cs-northwind"] == "How Northwind Analytics Doubled SQLs"
    # Reading the Northwind case study doubles the odds of a deal in the sample world.
    for model in ("markov", "shapley"):
        top = [c.key for c in attribute(journeys, model=model).top(8)]  # type: ignore[arg-type]
        assert "/customers/northwind-analytics" in top[:5], (model, top)


def test_demo_revenue_and_channel_levels(demo: tuple[TouchData, list[Deal]]) -> None:
    data, deals = demo
    won = [d for d in deals if d.stage == "won"]
    revenue = build_journeys(data, deals, outcome="revenue", level="channel")
    assert revenue.total_conversions + revenue.unattributed_conversions == len(won)
    assert set(revenue.keys) <= {
        "direct",
        "paid_search",
        "paid_social",
        "organic_search",
        "referral",
        "email",
        "webinar",
    }
    assert (revenue.ages >= 0).all() and (revenue.ages <= 90).all()
    assert max(revenue.ages) > timedelta(days=30).days


def test_agent_level_credits_the_agents_whose_sent_actions_touched_deals(tmp_path: Path) -> None:
    with Workspace.open(tmp_path) as ws:
        ws.events.write_events([event(1, "page_view", 0, "c1", path="/", utm_medium="cpc")])
        actions = [
            Action(kind="send_followup", contact_id="c1", graph="followup", source="writer",
                   created_at=at(1), payload={"prompt_version": 2}),
            Action(kind="enroll", contact_id="c1", graph="inbound_router", source="nurture",
                   created_at=at(2), payload={"sequence": "nurture"}),
        ]  # fmt: skip
        ws.outbox.put(actions)
        for action in actions:
            ws.outbox.set_status(action.idempotency_key, "sent")
        data = collect_touches(ws.events, outbox=ws.outbox)
    deal = Deal(id="d1", amount=900, stage="open", created_at=at(3), contact_ids=("c1",))
    journeys = build_journeys(data, [deal], level="agent")
    assert journeys.path(0) == ("(paid_search)", "followup/writer@2", "inbound_router/nurture")
    credit = attribute(journeys, model="linear").by_key()
    assert credit["followup/writer@2"].value == pytest.approx(300)
    content = build_journeys(data, [deal], level="content")
    assert content.path(0) == ("(paid_search)", "(email)", "nurture")
