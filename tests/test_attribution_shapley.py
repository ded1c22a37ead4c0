"""Shapley attribution: against brute force over every ordering, closed form, sampling."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow.errors import ConfigError
from gtmflow.tools.attribution.journeys import Journeys
from gtmflow.tools.attribution.markov import build_chain
from gtmflow.tools.attribution.shapley import coalition_values, shapley_attribution


def chain_value(j: Journeys, coalition: frozenset[str], order: int = 1) -> tuple[float, float]:
    """v(S) by a fresh reduced solve: the chain keeping only states made of keys in S."""
    chain = build_chain(j, order=order)
    keep = [i for i, s in enumerate(chain.states) if {j.keys[c] for c in s} <= coalition]
    if not keep:
        return 0.0, 0.0
    out = chain.outflow
    index = {s: i for i, s in enumerate(keep)}
    q = np.zeros((len(keep), len(keep)))
    for r, c, n in zip(chain.rows, chain.cols, chain.counts, strict=True):
        if r in index and c in index:
            q[index[r], index[c]] += n / out[r]
    rewards = np.stack([chain.to_conversion[keep], chain.to_value[keep]], 1) / out[keep, None]
    h = np.linalg.solve(np.eye(len(keep)) - q, rewards)
    total = chain.start.sum()
    conv, value = (chain.start[keep] / total) @ h * total
    return float(conv), float(value)


def brute_force(j: Journeys, value: object) -> dict[str, tuple[float, float]]:
    """Average marginal contribution over all orderings of the keys."""
    players = list(j.keys)
    cache: dict[frozenset[str], tuple[float, float]] = {}

    def v(s: frozenset[str]) -> tuple[float, float]:
        if s not in cache:
            cache[s] = value(s)  # type: ignore[operator]
        return cache[s]

    totals = {p: [0.0, 0.0] for p in players}
    orderings = list(itertools.permutations(players))
    for ordering in orderings:
        before: frozenset[str] = frozenset()
        for player in ordering:
            after = before | {player}
            for i in (0, 1):
                totals[player][i] += v(after)[i] - v(before)[i]
            before = after
    return {p: (t[0] / len(orderings), t[1] / len(orderings)) for p, t in totals.items()}


def journeys_coalition(j: Journeys, s: frozenset[str]) -> tuple[float, float]:
    inside = [set(p) <= s for p in j.paths()]
    return float(j.conversions[inside].sum()), float(j.values[inside].sum())


SEVEN = Journeys.from_paths(
    [
        ["a", "b", "c"],
        ["d", "a"],
        ["e"],
        ["f", "g", "a"],
        ["b", "b", "e"],
        ["g"],
        ["c", "d"],
        ["f"],
        ["a", "g", "e", "b"],
    ],
    conversions=[3, 1, 0, 2, 1, 0, 1, 1, 2],
    nulls=[2, 3, 4, 1, 2, 5, 1, 3, 0],
    values=[300, 90, 0, 150, 40, 0, 70, 25, 220],
)


@pytest.mark.parametrize("order", [1, 2])
def test_markov_shapley_equals_brute_force_over_all_orderings(order: int) -> None:
    expected = brute_force(SEVEN, lambda s: chain_value(SEVEN, s, order))
    got = shapley_attribution(SEVEN, order=order).by_key()
    assert len(SEVEN.keys) == 7
    for key, (conv, value) in expected.items():
        assert got[key].conversions == pytest.approx(conv, abs=1e-9)
        assert got[key].value == pytest.approx(value, abs=1e-7)


def test_journey_coalition_closed_form_equals_brute_force() -> None:
    expected = brute_force(SEVEN, lambda s: journeys_coalition(SEVEN, s))
    got = shapley_attribution(SEVEN, coalition="journeys").by_key()
    for key, (conv, value) in expected.items():
        assert got[key].conversions == pytest.approx(conv, abs=1e-9)
        assert got[key].value == pytest.approx(value, abs=1e-7)


def test_coalition_values_are_the_chain_restricted_to_the_coalition() -> None:
    masks = np.array([[k in s for k in SEVEN.keys] for s in ("abc", "ag", "abcdefg", "")])
    conv, value = coalition_values(SEVEN, masks)
    for row, s in enumerate(("abc", "ag", "abcdefg", "")):
        assert (conv[row], value[row]) == pytest.approx(chain_value(SEVEN, frozenset(s)))
    assert conv[2] == pytest.approx(SEVEN.total_conversions)  # v(all) is the observed total
    assert value[2] == pytest.approx(SEVEN.total_value)


def test_sampling_beyond_max_exact_is_seeded_close_and_still_sums_to_totals() -> None:
    exact = shapley_attribution(SEVEN).by_key()
    sampled = shapley_attribution(SEVEN, max_exact=3, samples=400, seed=7)
    again = shapley_attribution(SEVEN, max_exact=3, samples=400, seed=7)
    assert sampled == again
    assert sampled.options["method"] == "sampled"
    assert sum(c.conversions for c in sampled.credits) == pytest.approx(SEVEN.total_conversions)
    for credit in sampled.credits:
        assert credit.conversions == pytest.approx(exact[credit.key].conversions, abs=0.15)
    assert 0 < sampled.options["max_stderr"] < 0.15


def test_exact_enumeration_handles_fifteen_channels_quickly() -> None:
    rng = np.random.default_rng(3)
    names = [f"k{i}" for i in range(15)]
    paths = [list(rng.choice(names, rng.integers(1, 5))) for _ in range(400)]
    conv = rng.integers(0, 2, 400)
    j = Journeys.from_paths(paths, conversions=conv, nulls=1 - conv)
    result = shapley_attribution(j)
    assert result.options == {"coalition": "markov", "method": "exact", "coalitions": 2**15}
    assert sum(c.conversions for c in result.credits) == pytest.approx(j.total_conversions)


def test_too_much_work_is_refused_with_a_way_out() -> None:
    rng = np.random.default_rng(4)
    names = [f"k{i}" for i in range(14)]
    j = Journeys.from_paths([list(rng.choice(names, 6)) for _ in range(3000)])
    with pytest.raises(ConfigError, match="coalition='journeys'"):
        shapley_attribution(j, order=3)
    with pytest.raises(ConfigError, match="not known"):
        shapley_attribution(j, coalition="bogus")  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from("abcde"), min_size=1, max_size=4),
            st.integers(0, 2),
            st.integers(0, 2),
        ),
        min_size=1,
        max_size=8,
    ),
    st.permutations(list("abcde")),
)
def test_shapley_is_symmetric_under_relabelling(rows: list, relabel: list[str]) -> None:  # type: ignore[type-arg]
    rename = dict(zip("abcde", relabel, strict=True))
    j = Journeys.from_paths(
        [r[0] for r in rows], conversions=[r[1] for r in rows], nulls=[r[2] for r in rows]
    )
    renamed = Journeys.from_paths(
        [[rename[k] for k in r[0]] for r in rows],
        conversions=[r[1] for r in rows],
        nulls=[r[2] for r in rows],
    )
    a, b = shapley_attribution(j).by_key(), shapley_attribution(renamed).by_key()
    for key, credit in a.items():
        assert b[rename[key]].conversions == pytest.approx(credit.conversions, abs=1e-9)
    total = sum(c.conversions for c in a.values())
    assert math.isclose(total, j.total_conversions, abs_tol=1e-8)
