"""Heuristic attribution models: hand-computed cases, conventions and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow.errors import ConfigError, InputError
from gtmflow.tools.attribution.heuristics import HEURISTIC_MODELS, MODELS, attribute
from gtmflow.tools.attribution.journeys import Journeys


def credits(journeys: Journeys, model: str, **options: object) -> dict[str, tuple[float, float]]:
    result = attribute(journeys, model=model, **options)  # type: ignore[arg-type]
    return {c.key: (round(c.conversions, 9), round(c.value, 9)) for c in result.credits}


def test_first_and_last_touch_take_everything() -> None:
    j = Journeys.from_paths([["ads", "blog", "email"], ["blog"]], values=[300, 50])
    assert credits(j, "first") == {"ads": (1, 300), "blog": (1, 50), "email": (0, 0)}
    assert credits(j, "last") == {"ads": (0, 0), "blog": (1, 50), "email": (1, 300)}


def test_linear_splits_per_touch_occurrence() -> None:
    j = Journeys.from_paths([["a", "b", "a", "a"]], values=[100])
    assert credits(j, "linear") == {"a": (0.75, 75), "b": (0.25, 25)}


def test_time_decay_halves_weight_per_half_life() -> None:
    # Ages 14, 7 and 0 days before conversion, half-life 7 days: weights 1/4, 1/2, 1.
    j = Journeys.from_paths([["a", "b", "c"]], values=[700], ages=[[14, 7, 0]])
    got = credits(j, "time_decay", half_life="7d")
    assert got == {"a": (0.142857143, 100), "b": (0.285714286, 200), "c": (0.571428571, 400)}


def test_time_decay_by_position_when_paths_have_no_timestamps() -> None:
    j = Journeys.from_paths([["a", "b"]], values=[30])
    assert credits(j, "time_decay", half_life=1) == {"a": (0.333333333, 10), "b": (0.666666667, 20)}
    with pytest.raises(ConfigError, match="number of touches"):
        attribute(j, model="time_decay", half_life="7d")


def test_time_decay_survives_very_old_journeys() -> None:
    j = Journeys.from_paths([["a", "b"]], ages=[[100_000, 99_990]])
    result = credits(j, "time_decay", half_life="1d")
    assert math.isclose(sum(c for c, _ in result.values()), 1.0)
    assert result["b"][0] > 0.99


def test_position_based_is_40_20_40_and_handles_short_paths() -> None:
    j = Journeys.from_paths([["a", "b", "c", "d"], ["x"], ["y", "z"]], values=[100, 10, 10])
    got = credits(j, "position")
    assert got["a"] == (0.4, 40) and got["d"] == (0.4, 40)
    assert got["b"] == (0.1, 10) and got["c"] == (0.1, 10)
    assert got["x"] == (1, 10)
    assert got["y"] == (0.5, 5) and got["z"] == (0.5, 5)


def test_position_shares_are_configurable_and_rescale_for_two_touches() -> None:
    j = Journeys.from_paths([["a", "m", "b"], ["y", "z"]], values=[100, 100])
    got = credits(j, "position", first_share=0.3, last_share=0.6)
    assert got["a"] == (0.3, 30) and got["m"] == (0.1, 10) and got["b"] == (0.6, 60)
    assert got["y"] == (0.333333333, 33.333333333) and got["z"] == (0.666666667, 66.666666667)
    with pytest.raises(ConfigError, match="position shares"):
        attribute(j, model="position", first_share=0.7, last_share=0.7)


def test_w_shaped_gives_milestones_30_each_and_the_rest_10() -> None:
    j = Journeys.from_paths(
        [["a", "b", "c", "d", "e"]], values=[100], lead_at=[2], opportunity_at=[4]
    )
    got = credits(j, "w_shaped")
    assert got == {"a": (0.3, 30), "b": (0.05, 5), "c": (0.3, 30), "d": (0.05, 5), "e": (0.3, 30)}


def test_w_shaped_tie_rule_stacks_coinciding_milestones() -> None:
    # First touch is also the lead creation: it stacks 30 + 30; the 10% goes to the middle.
    j = Journeys.from_paths([["a", "b", "c"]], values=[100], lead_at=[0], opportunity_at=[2])
    assert credits(j, "w_shaped") == {"a": (0.6, 60), "b": (0.1, 10), "c": (0.3, 30)}
    # No touch outside the milestones: the rest share follows the milestone shares.
    j = Journeys.from_paths([["a", "b"], ["x"]], values=[90, 10], lead_at=[0, 0])
    got = credits(j, "w_shaped")
    assert got["a"] == (0.666666667, 60) and got["b"] == (0.333333333, 30)
    assert got["x"] == (1, 10)


def test_w_shaped_defaults_unknown_milestones_to_first_and_last() -> None:
    known = Journeys.from_paths([["a", "b", "c"]], lead_at=[0], opportunity_at=[2])
    unknown = Journeys.from_paths([["a", "b", "c"]], lead_at=[-1], opportunity_at=[-1])
    absent = Journeys.from_paths([["a", "b", "c"]])
    assert credits(known, "w_shaped") == credits(unknown, "w_shaped") == credits(absent, "w_shaped")


def test_non_converting_paths_earn_nothing_under_heuristics() -> None:
    j = Journeys.from_paths([["a"], ["b"]], conversions=[1, 0], nulls=[0, 5], values=[10, 0])
    for model in HEURISTIC_MODELS:
        options = {"half_life": 1} if model == "time_decay" else {}
        assert credits(j, model, **options)["b"] == (0, 0)


def test_json_shape_is_exactly_the_documented_one() -> None:
    j = Journeys.from_paths([["a", "b"]], values=[10])
    data = attribute(j, model="linear").to_json()
    assert list(data) == ["model", "order", "total_conversions", "total_value", "credits"]
    assert data["credits"][0] == {"key": "a", "conversions": 0.5, "value": 5.0}
    markov = attribute(j, model="markov").to_json()
    assert markov["order"] == 1 and set(markov["credits"][0]) == {
        "key",
        "conversions",
        "value",
        "removal_effect",
    }


def test_unknown_model_and_stray_options_are_config_errors() -> None:
    j = Journeys.from_paths([["a"]])
    with pytest.raises(ConfigError, match="'bogus' is not known"):
        attribute(j, model="bogus")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="takes no options"):
        attribute(j, model="first", coalition="markov")


def test_journeys_validate_their_shape() -> None:
    with pytest.raises(ConfigError, match="at least one touch"):
        Journeys.from_paths([["a"], []])
    with pytest.raises(ConfigError, match="one per path"):
        Journeys.from_paths([["a"]], conversions=[1, 2])
    with pytest.raises(InputError, match="negative"):
        Journeys.from_paths([["a"]], nulls=[-1])


# ------------------------------------------------------------------------ properties

keys = st.sampled_from(["a", "b", "c", "d", "e"])
journey_sets = st.lists(
    st.tuples(
        st.lists(keys, min_size=1, max_size=6),
        st.integers(0, 3),
        st.floats(0, 1000, allow_nan=False),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=12,
)


def build(rows: list[tuple[list[str], int, float, int]]) -> Journeys:
    return Journeys.from_paths(
        [r[0] for r in rows],
        conversions=[r[1] for r in rows],
        values=[r[2] * (r[1] > 0) for r in rows],
        nulls=[r[3] for r in rows],
        ages=[[float(len(r[0]) - i) for i in range(len(r[0]))] for r in rows],
    )


@settings(max_examples=60, deadline=None)
@given(journey_sets, st.sampled_from(MODELS))
def test_credits_always_sum_to_the_totals(rows: list, model: str) -> None:  # type: ignore[type-arg]
    j = build(rows)
    result = attribute(j, model=model)  # type: ignore[arg-type]
    assert math.isclose(
        sum(c.conversions for c in result.credits), j.total_conversions, abs_tol=1e-7
    )
    assert math.isclose(sum(c.value for c in result.credits), j.total_value, abs_tol=1e-6)
    assert all(c.conversions >= -1e-9 and c.value >= -1e-9 for c in result.credits)


@settings(max_examples=40, deadline=None)
@given(journey_sets, st.sampled_from(MODELS), st.randoms(use_true_random=False))
def test_credits_do_not_depend_on_row_order_or_key_order(
    rows: list,
    model: str,
    rng: object,  # type: ignore[type-arg]
) -> None:
    shuffled = list(rows)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    a = attribute(build(rows), model=model).by_key()  # type: ignore[arg-type]
    b = attribute(build(shuffled), model=model).by_key()  # type: ignore[arg-type]
    assert set(a) == set(b)
    for key in a:
        assert math.isclose(a[key].conversions, b[key].conversions, abs_tol=1e-7)
        assert math.isclose(a[key].value, b[key].value, rel_tol=1e-9, abs_tol=1e-6)


def test_heuristics_are_vectorised_on_a_hundred_thousand_journeys() -> None:
    rng = np.random.default_rng(0)
    paths = [[f"c{x}" for x in rng.integers(0, 8, rng.integers(1, 8))] for _ in range(100_000)]
    j = Journeys.from_paths(paths, values=rng.random(100_000))
    for model in HEURISTIC_MODELS:
        result = attribute(j, model=model, half_life=2)
        assert math.isclose(sum(c.conversions for c in result.credits), 100_000)
