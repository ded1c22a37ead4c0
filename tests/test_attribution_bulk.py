"""The bulk attribution path (one read, numpy sessions and windows) equals the per-contact one.

`tests/attribution_reference.py` is the code as it stood before: one query per contact, a
`Touch` at a time, bisect windows. Every comparison here is exact (same keys, codes, ages,
milestones, credits), on a random world built to hit the corner cases (ties, gaps of exactly
the session gap, falsy and non-string properties) and on the sample world with an outbox.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gtmflow import Workspace
from gtmflow.errors import InputError
from gtmflow.examples.sample_deals import generate_sample_deals
from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.models import Action, Deal, Event
from gtmflow.tools.attribution.heuristics import MODELS, attribute
from gtmflow.tools.attribution.journeys import Journeys, read_paths
from gtmflow.tools.attribution.touchpoints import (
    TouchData,
    TouchpointConfig,
    build_journeys,
    collect_touches,
    touches_from_events,
)
from gtmflow.tools.events.event_store import EventStore, SQLiteEventStore

from .attribution_reference import (
    reference_build_journeys,
    reference_collect_touches,
    reference_read_paths,
    reference_touches_from_events,
)
from .conftest import at

TYPES = (
    "page_view", "page_view", "page_view", "page_view", "email_click", "email_open",
    "content_download", "form_submit", "webinar_attended", "webinar_registered",
    "demo_requested", "meeting_booked",
)  # fmt: skip
PATHS = ("/", "/pricing", "/blog/a", "/blog/b", "/customers/x", "/docs/y", "", 5, None)
SOURCES: tuple[dict[str, Any], ...] = (
    {},
    {},
    {"utm_medium": "cpc"},
    {"utm_medium": " Paid_Social "},
    {"utm_medium": "", "utm_source": "partner"},
    {"utm_medium": 0, "referrer": "https://www.google.com/search"},
    {"utm_source": None, "referrer": "https://t.co/x"},
    {"referrer": ""},
    {"utm_medium": "newsletter"},
)
CONTENT: tuple[dict[str, Any], ...] = (
    {},
    {"asset_id": "eb-1", "title": "Ebook one"},
    {"asset_id": "", "campaign": "nl-1"},
    {"webinar_id": "wb-1", "title": "Webinar"},
    {"email_id": 7},
    {"content_id": 0, "campaign": "nl-2", "title": ""},
    {"asset_id": "eb-1", "title": "Ebook one, second title"},
)


def random_events(seed: int, contacts: int = 40, per_contact: int = 30) -> list[Event]:
    """Events with many ties, gaps at exactly 30 minutes and awkward property values."""
    rng = random.Random(seed)
    events = []
    for c in range(contacts):
        minute = rng.randrange(0, 60 * 24 * 20)
        for n in range(rng.randrange(0, per_contact)):
            minute += rng.choice((0, 0, 1, 5, 29, 30, 31, 60 * 24, 60 * 24 * 10))
            type_ = rng.choice(TYPES)
            props: dict[str, Any] = {}
            if type_ == "page_view":
                props = {**rng.choice(SOURCES), "path": rng.choice(PATHS)}
                if props["path"] is None and rng.random() < 0.5:
                    del props["path"]
            else:
                props = dict(rng.choice(CONTENT))
            events.append(
                Event(
                    id=f"e{rng.randrange(10**6):06d}-{c}-{n}",
                    type=type_,
                    contact_id=f"c{c:03d}",
                    timestamp=at(minutes=minute),
                    properties=props,
                )
            )
    return events


def random_deals(seed: int, contacts: int = 40) -> list[Deal]:
    rng = random.Random(seed)
    deals = []
    for d in range(contacts // 3):
        members = rng.sample([f"c{c:03d}" for c in range(contacts + 3)], rng.randrange(0, 4))
        created = at(minutes=rng.randrange(0, 60 * 24 * 40))
        deals.append(
            Deal(
                id=f"d{d:02d}",
                amount=rng.randrange(1, 50) * 100.0,
                stage=rng.choice(("won", "lost", "open")),
                created_at=created,
                closed_at=created + timedelta(days=rng.randrange(1, 30)),
                contact_ids=(*members, *members[:1]),  # a repeated contact counts once
            )
        )
    return deals


def same_touch_data(new: TouchData, old: TouchData) -> None:
    assert new.touches == old.touches
    assert new.lead_times == old.lead_times
    assert new.titles == old.titles and list(new.titles) == list(old.titles)
    assert new.latest == old.latest


def same_journeys(new: Journeys, old: Journeys) -> None:
    assert new.keys == old.keys
    for name in ("steps", "offsets", "conversions", "values", "nulls", "lead_at"):
        assert np.array_equal(getattr(new, name), getattr(old, name)), name
    assert np.array_equal(new.opportunity_at, old.opportunity_at)
    assert new.ages is not None and old.ages is not None
    assert new.ages.tobytes() == old.ages.tobytes()  # bit for bit
    assert new.ids == old.ids
    assert new.unattributed_conversions == old.unattributed_conversions
    assert new.unattributed_value == old.unattributed_value


@pytest.fixture(scope="module")
def random_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteEventStore]:
    store = SQLiteEventStore(tmp_path_factory.mktemp("bulk") / "events.db")
    store.write_events(random_events(1))
    yield store
    store.close()


@pytest.mark.parametrize("seed", range(6))
def test_sessions_match_the_event_at_a_time_rules(seed: int) -> None:
    events = [e for e in random_events(seed, contacts=1, per_contact=80)]
    config = TouchpointConfig() if seed % 2 else TouchpointConfig(session_gap="1h")
    assert touches_from_events(events, config) == reference_touches_from_events(events, config)


def test_event_columns_hold_what_events_returns(random_store: SQLiteEventStore) -> None:
    types = ["page_view", "email_click", "form_submit"]
    until = at(days=40)
    columns = random_store.event_columns(types=types, until=until)
    expected = [
        e
        for c in random_store.contact_ids()
        for e in random_store.events(c, types=types, until=until)
    ]
    assert len(columns) == len(expected) > 150
    for i, event in enumerate(expected):
        assert columns.ids[i] == event.id
        assert columns.contacts[columns.contact[i]] == event.contact_id
        assert columns.timestamp(i) == event.timestamp
        assert columns.types[columns.type[i]] == event.type
        assert columns.properties[columns.prop[i]] == event.properties
    ties = sum(columns.ts[1:] == columns.ts[:-1])
    assert ties > 10  # the world has ties, ordered by id like `events`
    assert len(random_store.event_columns(types=[])) == 0


def test_the_generic_event_columns_match_the_sqlite_ones(random_store: SQLiteEventStore) -> None:
    types = ["page_view", "webinar_attended"]
    bulk = random_store.event_columns(types=types)
    generic = EventStore.event_columns(random_store, types=types)
    assert list(bulk.ids) == list(generic.ids) and bulk.contacts == generic.contacts
    assert [bulk.properties[p] for p in bulk.prop] == [generic.properties[p] for p in generic.prop]


def test_a_separator_inside_an_id_falls_back_to_reading_rows(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    store.write_events(
        [
            Event(id="a\x1fb", type="page_view", contact_id="c\x1f1", timestamp=at(1)),
            Event(id="z", type="page_view", contact_id="c2", timestamp=at(0)),
        ]
    )
    columns = store.event_columns(types=["page_view"])
    assert list(columns.ids) == ["a\x1fb", "z"] and columns.contacts == ("c\x1f1", "c2")
    store.close()


def test_random_world_touches_and_journeys_match(random_store: SQLiteEventStore) -> None:
    config = TouchpointConfig()
    new, old = collect_touches(random_store), reference_collect_touches(random_store)
    same_touch_data(new, old)
    deals = random_deals(1)
    for outcome in ("pipeline", "revenue"):
        for level in ("channel", "content", "agent"):
            for lookback in ("90d", "3d"):
                args: dict[str, Any] = {
                    "outcome": outcome, "level": level, "lookback": lookback, "config": config
                }  # fmt: skip
                same_journeys(
                    build_journeys(new, deals, **args), reference_build_journeys(old, deals, **args)
                )


def test_hand_made_touch_data_still_works(random_store: SQLiteEventStore) -> None:
    old = reference_collect_touches(random_store)
    deals = random_deals(2)
    rebuilt = TouchData(
        touches=dict(old.touches), lead_times=dict(old.lead_times), latest=old.latest
    )
    same_journeys(
        build_journeys(rebuilt, deals, level="content"),
        reference_build_journeys(old, deals, level="content"),
    )


# ------------------------------------------------------------------ the sample world


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, list[Deal]]]:
    folder = tmp_path_factory.mktemp("sample")
    world = generate_sample_world(folder, contacts=300)
    deals = list(generate_sample_deals(folder).deals)
    with Workspace.open(folder) as ws:
        ws.ingest(world.events_jsonl, progress=False)
        actions = [
            Action(
                kind=("send_followup", "enroll", "alert_sales")[n % 3],
                contact_id=f"c-{n:04d}",
                graph="followup",
                source=f"writer-{n % 2}",
                created_at=at(days=n % 40),
                payload={"prompt_version": n % 3, "content_id": f"cs-{n % 4}"} if n % 2 else {},
            )
            for n in range(1, 120)
        ]
        ws.outbox.put(actions)
        for action in actions[::2]:
            ws.outbox.set_status(action.idempotency_key, "sent")
        yield ws, deals


@pytest.mark.parametrize("until", [None, at(days=20)])
def test_sample_world_with_outbox_matches_for_every_model(
    sample: tuple[Workspace, list[Deal]], until: Any
) -> None:
    ws, deals = sample
    new = collect_touches(ws.events, outbox=ws.outbox, until=until)
    old = reference_collect_touches(ws.events, outbox=ws.outbox, until=until)
    same_touch_data(new, old)
    for level in ("channel", "content", "agent"):
        journeys = build_journeys(new, deals, level=level, outcome="revenue")
        reference = reference_build_journeys(old, deals, level=level, outcome="revenue")
        same_journeys(journeys, reference)
        assert len(journeys) > 100
    channel = build_journeys(new, deals)
    reference = reference_build_journeys(old, deals)
    for model in MODELS:
        assert attribute(channel, model=model) == attribute(reference, model=model), model


# ------------------------------------------------------------------ path files


def random_path_file(seed: int) -> str:
    """A path file with the awkward bits a reader must get right now and then."""
    rng = random.Random(seed)
    channels = ["a", " b ", "c c", "", "dé", "e"]
    lines = ["path;total_conversions;total_conversion_value;total_null"]
    for _ in range(rng.randrange(0, 60)):
        keys = [rng.choice(channels) for _ in range(rng.randrange(1, 6))]
        if not any(k.strip() for k in keys):
            keys.append("a")
        cells = [">".join(keys), str(rng.randrange(0, 3)), rng.choice(["0", "1.5", " 2 ", "1e3"])]
        cells.append(str(rng.randrange(0, 4)))
        lines.append(";".join(cells))
        if rng.random() < 0.05:
            lines.append(rng.choice(["", " ; ;", "\t"]))
    text = "\n".join(lines) + rng.choice(["", "\n", "\n\n"])
    if seed % 5 == 1:
        text = text.replace("\n", "\r\n")
    if seed % 5 == 2 and len(lines) > 1:
        text = text.replace("c c", '"c c"')  # quoted: read by the csv module
    return text


@pytest.mark.parametrize("seed", range(25))
def test_path_files_read_as_the_csv_reader_read_them(tmp_path: Path, seed: int) -> None:
    source = tmp_path / "paths.csv"
    source.write_text(random_path_file(seed), encoding="utf-8")
    new, old = read_paths(source), reference_read_paths(source)
    assert new.keys == old.keys and list(new.paths()) == list(old.paths())
    for name in ("steps", "offsets", "conversions", "values", "nulls"):
        assert np.array_equal(getattr(new, name), getattr(old, name)), name


def test_repeated_paths_are_split_once_and_keep_their_rows() -> None:
    paths = ["a > b", "c", "a > b", " > c > ", "c"]
    journeys = Journeys.parse(paths, conversions=[1, 0, 2, 0, 1])
    assert list(journeys.paths()) == [("a", "b"), ("c",), ("a", "b"), ("c",), ("c",)]
    assert journeys.keys == ("a", "b", "c") and journeys.conversions.tolist() == [1, 0, 2, 0, 1]
    with pytest.raises(InputError, match="path 2"):
        Journeys.parse(["a", " > ", "a"])


def test_the_path_file_models_load_no_workspace_runtime() -> None:
    # The package root is stubbed: keeping `gtmflow` and `gtmflow.cli` light is the lazy CLI's
    # part. Checked here: what `attribution --paths` needs from the attribution room.
    script = """
import importlib.util, sys, types
spec = importlib.util.find_spec("gtmflow")
stub = types.ModuleType("gtmflow")
stub.__path__, stub.__spec__ = list(spec.submodule_search_locations), spec
sys.modules["gtmflow"] = stub
from gtmflow.tools.attribution import heuristics, journeys, markov, shapley
heavy = ("langgraph", "langchain_core", "chromadb", "gtmflow.runtime", "gtmflow.pipes")
print(",".join(m for m in heavy if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
