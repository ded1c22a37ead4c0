"""Markov removal effects: an independent dense solution, known properties, the reference."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow.errors import ConfigError
from gtmflow.tools.attribution.journeys import Journeys, read_paths
from gtmflow.tools.attribution.markov import build_chain, markov_attribution, removal_effects

from .conftest import SHARED

CA_DATA = SHARED / "data" / "external" / "attribution" / "channelattribution_Data.csv"


def windows(path: tuple[str, ...], order: int) -> list[tuple[str, ...]]:
    """ChannelAttribution's states of a path: k-gram windows, consecutive repeats collapsed."""
    grams = (
        [path] if len(path) < order else [path[i : i + order] for i in range(len(path) - order + 1)]
    )
    return [g for i, g in enumerate(grams) if i == 0 or g != grams[i - 1]]


def reference_effects(j: Journeys, order: int) -> dict[str, float]:
    """Removal effects by building the chain in plain Python and solving one system per key."""
    counts: dict[tuple[object, object], float] = defaultdict(float)
    for row, path in enumerate(j.paths()):
        states: list[object] = ["(start)", *windows(path, order)]
        weight = j.conversions[row] + j.nulls[row]
        for a, b in itertools.pairwise(states):
            counts[a, b] += weight
        counts[states[-1], "(conversion)"] += j.conversions[row]
        counts[states[-1], "(null)"] += j.nulls[row]

    def p_conversion(removed: str | None) -> float:
        nodes = sorted({a for a, _ in counts} - {"(start)"}, key=str)
        nodes = [n for n in nodes if removed is None or removed not in n]  # type: ignore[operator]
        index = {n: i for i, n in enumerate(["(start)", *nodes])}
        size = len(index)
        out: dict[object, float] = defaultdict(float)
        for (a, _), c in counts.items():
            out[a] += c
        matrix, rhs = np.eye(size), np.zeros(size)
        for (a, b), c in counts.items():
            if a not in index or out[a] == 0:
                continue
            if b == "(conversion)":
                rhs[index[a]] += c / out[a]
            elif b in index:
                matrix[index[a], index[b]] -= c / out[a]
        return float(np.linalg.solve(matrix, rhs)[0])

    base = p_conversion(None)
    return {key: 1 - p_conversion(key) / base if base else 0.0 for key in j.keys}


SMALL = Journeys.from_paths(
    [["a", "b", "c"], ["a", "a", "c"], ["b"], ["c", "a", "b", "a"], ["d"], ["b", "d", "b"]],
    conversions=[2, 1, 0, 1, 0, 1],
    nulls=[1, 2, 3, 0, 2, 1],
    values=[200, 50, 0, 80, 0, 30],
)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("dense", [True, False])
def test_removal_effects_match_an_independent_dense_solution(order: int, dense: bool) -> None:
    expected = reference_effects(SMALL, order)
    limit = 3000 if dense else 0  # 0 forces the sparse iterative solver
    got = markov_attribution(SMALL, order=order, max_dense_states=limit).by_key()
    for key, effect in expected.items():
        assert got[key].removal_effect == pytest.approx(effect, abs=1e-10)


def test_hand_computed_chain() -> None:
    # start -> a (2 journeys); a -> b (1) and a -> null (1); b -> conversion (1).
    j = Journeys.from_paths([["a", "b"], ["a"]], conversions=[1, 0], nulls=[0, 1])
    effects = removal_effects(j)
    assert effects.p_conversion == pytest.approx(0.5)
    assert effects.conversion.tolist() == pytest.approx([1.0, 1.0])
    # Two independent routes: removing either loses half the conversions.
    j = Journeys.from_paths([["a"], ["b"]], conversions=[1, 1], nulls=[0, 1], values=[10, 30])
    result = markov_attribution(j).by_key()
    assert result["a"].removal_effect == pytest.approx(0.5)
    assert result["b"].removal_effect == pytest.approx(0.5)
    assert result["a"].conversions == pytest.approx(1.0)
    # Value removal effects use each state's value: b carries 3/4 of the expected value.
    assert result["b"].value == pytest.approx(30.0)


def test_consecutive_repeats_collapse_at_order_one() -> None:
    repeated = Journeys.from_paths(
        [["a", "a", "a", "b"], ["b", "b"]], conversions=[1, 0], nulls=[0, 1]
    )
    single = Journeys.from_paths([["a", "b"], ["b"]], conversions=[1, 0], nulls=[0, 1])
    assert removal_effects(repeated).conversion.tolist() == pytest.approx(
        removal_effects(single).conversion.tolist()
    )
    assert len(build_chain(repeated).states) == 2


def test_short_paths_are_one_state_at_higher_orders() -> None:
    chain = build_chain(Journeys.from_paths([["a"], ["a", "b", "c"]]), order=3)
    keys = ("a", "b", "c")
    assert sorted(tuple(keys[c] for c in s) for s in chain.states) == [("a",), ("a", "b", "c")]


def test_a_channel_never_on_a_converting_path_gets_nothing() -> None:
    j = Journeys.from_paths(
        [["a", "b"], ["z"], ["z", "z"], ["b"]], conversions=[3, 0, 0, 1], nulls=[1, 4, 2, 1]
    )
    for order in (1, 2, 3):
        z = markov_attribution(j, order=order).by_key()["z"]
        assert z.removal_effect == 0 and z.conversions == 0 and z.value == 0


def test_no_conversions_gives_zero_credit_not_an_error() -> None:
    j = Journeys.from_paths([["a"], ["b"]], conversions=[0, 0], nulls=[1, 1])
    result = markov_attribution(j)
    assert all(c.conversions == 0 and c.removal_effect == 0 for c in result.credits)


def test_order_outside_one_to_three_is_refused() -> None:
    with pytest.raises(ConfigError, match="order"):
        markov_attribution(SMALL, order=4)


small_paths = st.lists(
    st.tuples(
        st.lists(st.sampled_from("abcd"), min_size=1, max_size=5),
        st.integers(0, 3),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=40, deadline=None)
@given(small_paths, st.integers(1, 3))
def test_property_matches_reference_and_sums_to_totals(rows: list, order: int) -> None:  # type: ignore[type-arg]
    j = Journeys.from_paths(
        [r[0] for r in rows],
        conversions=[r[1] for r in rows],
        nulls=[r[2] for r in rows],
        values=[10.0 * r[1] for r in rows],
    )
    result = markov_attribution(j, order=order)
    got = result.by_key()
    if j.total_conversions:
        for key, effect in reference_effects(j, order).items():
            assert got[key].removal_effect == pytest.approx(effect, abs=1e-9)
    assert math.isclose(
        sum(c.conversions for c in result.credits), j.total_conversions, abs_tol=1e-7
    )
    assert math.isclose(sum(c.value for c in result.credits), j.total_value, abs_tol=1e-6)


def test_conversion_probability_equals_the_observed_rate() -> None:
    # Flow conservation: the fitted chain reproduces the observed conversion rate exactly.
    effects = removal_effects(SMALL, order=2)
    assert effects.p_conversion == pytest.approx(
        SMALL.total_conversions / (SMALL.total_conversions + SMALL.nulls.sum())
    )


# --------------------------------------------------------------- ChannelAttribution


@pytest.mark.skipif(not CA_DATA.exists(), reason="../shared data is absent")
@pytest.mark.parametrize("order", [1, 2])
def test_cross_check_with_channelattribution(order: int) -> None:
    """Our exact effects sit within the simulation noise of the reference library."""
    pd = pytest.importorskip("pandas")
    with contextlib.redirect_stdout(io.StringIO()):
        ca = pytest.importorskip("ChannelAttribution")
        frame = pd.read_csv(CA_DATA, sep=";")
        reference = ca.markov_model(
            frame,
            "path",
            "total_conversions",
            var_value="total_conversion_value",
            var_null="total_null",
            order=order,
            out_more=True,
            verbose=False,
            flg_pro=False,
            nsim_start=300_000,
            seed=1,
        )
    journeys = read_paths(CA_DATA)
    ours = markov_attribution(journeys, order=order).by_key()
    effects = reference["removal_effects"].set_index("channel_name")
    result = reference["result"].set_index("channel_name")
    assert set(effects.index) == set(ours)
    for key in effects.index:
        assert ours[key].removal_effect == pytest.approx(
            effects.loc[key, "removal_effects_conversion"], abs=0.015
        )
        assert ours[key].conversions == pytest.approx(
            result.loc[key, "total_conversions"], abs=0.008 * journeys.total_conversions
        )
        assert ours[key].value == pytest.approx(
            result.loc[key, "total_conversion_value"], abs=0.01 * journeys.total_value
        )


@pytest.mark.skipif(not CA_DATA.exists(), reason="../shared data is absent")
def test_heuristics_equal_channelattribution_exactly() -> None:
    pd = pytest.importorskip("pandas")
    with contextlib.redirect_stdout(io.StringIO()):
        ca = pytest.importorskip("ChannelAttribution")
        frame = pd.read_csv(CA_DATA, sep=";")
        reference = ca.heuristic_models(
            frame, "path", "total_conversions", var_value="total_conversion_value", flg_pro=False
        ).set_index("channel_name")
    from gtmflow.tools.attribution.heuristics import attribute

    journeys = read_paths(CA_DATA)
    for ours_name, theirs in (
        ("first", "first_touch"),
        ("last", "last_touch"),
        ("linear", "linear_touch"),
    ):
        got = attribute(journeys, model=ours_name).by_key()  # type: ignore[arg-type]
        for key in reference.index:
            assert got[key].conversions == pytest.approx(
                reference.loc[key, f"{theirs}_conversions"]
            )
            assert got[key].value == pytest.approx(reference.loc[key, f"{theirs}_value"])
