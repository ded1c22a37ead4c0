"""Markov chain attribution: exact removal effects of an order-k chain over journeys.

The chain's transient states are the k-grams of consecutive keys on a path (order 1: the keys
themselves); it starts in `(start)` and is absorbed in `(conversion)` or `(null)`. Built as
ChannelAttribution builds it: a path's states are its sliding windows of k keys (a path shorter
than k is one state), consecutive identical states collapse (so repeated touches of one channel
collapse at order 1), transitions between states and from `(start)` count every journey of the
path row (conversions + nulls), the last state moves to `(conversion)` for the conversions and to
`(null)` for the nulls. Transition probabilities are those counts normalised per state.

The removal effect of a key is the share of conversions the chain loses when every state that
contains the key leads to `(null)` instead: `1 - P(conversion without visiting it) / P(conversion)`.
ChannelAttribution estimates these by simulating paths; here they are solved exactly. With
`N = (I - Q)^-1` the fundamental matrix of the transient part (start included) and `h = N r` the
absorption probabilities into `(conversion)`, the probability of converting from the start while
avoiding a state set `S` is `h[start] - N[start, S] N[S, S]^-1 h[S]` (first-entry decomposition),
so one inverse serves every key. The value version uses the mean conversion value of the journeys
ending in each state as the reward of absorption, which is the expectation of the simulated value
removal effects. Credits are removal effects normalised to sum to the total conversions (value).

Chains with more states than `max_dense_states` are solved iteratively on a sparse matrix
(`x <- Q x + r` until no entry moves by more than `tol`): the same linear systems, solved to
floating-point precision, never sampled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from gtmflow.errors import ConfigError, RunError
from gtmflow.tools.attribution.heuristics import Attribution, make_attribution
from gtmflow.tools.attribution.journeys import FloatArray, IntArray, Journeys, sum_by

__all__ = [
    "MarkovChain",
    "RemovalEffects",
    "build_chain",
    "markov_attribution",
    "one_blas_thread",
    "removal_effects",
]

MAX_ORDER = 3
_MAX_ITERATIONS = 100_000


@dataclass(frozen=True, eq=False)
class MarkovChain:
    """Transition counts of an order-k chain built from journeys.

    Attributes:
        order: The chain order k.
        states: Per transient state, the key codes of its k-gram (shorter for short paths).
        start: Journeys entering each state from `(start)`.
        rows, cols, counts: Sparse transitions between states (`rows[e] -> cols[e]`, counted).
        to_conversion: Conversions absorbed from each state.
        to_value: Conversion value absorbed from each state.
        to_null: Non-converting journeys absorbed from each state.
    """

    order: int
    states: tuple[tuple[int, ...], ...]
    start: FloatArray
    rows: IntArray
    cols: IntArray
    counts: FloatArray
    to_conversion: FloatArray
    to_value: FloatArray
    to_null: FloatArray

    @property
    def outflow(self) -> FloatArray:
        """Journeys leaving each state (to states and absorbers)."""
        out = np.bincount(self.rows, self.counts, len(self.states))
        return out + self.to_conversion + self.to_null

    def members(self, n_keys: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Boolean matrix (states x keys): which keys each state contains."""
        member = np.zeros((len(self.states), n_keys), dtype=bool)
        for i, gram in enumerate(self.states):
            member[i, list(gram)] = True
        return member


@dataclass(frozen=True)
class RemovalEffects:
    """Removal effects per key and the chain's conversion probability from the start."""

    conversion: FloatArray
    value: FloatArray
    p_conversion: float
    states: int


def markov_attribution(
    journeys: Journeys,
    *,
    order: int = 1,
    max_dense_states: int = 3000,
    tol: float = 1e-13,
) -> Attribution:
    """Credit keys by the exact removal effects of an order-k Markov chain.

    Args:
        journeys: Paths with conversions, values and nulls (nulls matter: without them every
            path converts and only the path structure drives the removal effects).
        order: Chain order, 1 to 3.
        max_dense_states: Above this many states, solve iteratively on a sparse matrix.
        tol: Convergence bound of the iterative solver (absolute, on probabilities).

    Example:
        >>> from gtmflow.tools.attribution.journeys import Journeys
        >>> j = Journeys.from_paths([["a", "b"], ["b"]], conversions=[1, 0], nulls=[1, 1])
        >>> [(c.key, round(c.conversions, 2), round(c.removal_effect, 2))
        ...  for c in markov_attribution(j).credits]
        [('b', 0.6, 1.0), ('a', 0.4, 0.67)]
    """
    effects = removal_effects(journeys, order=order, max_dense_states=max_dense_states, tol=tol)
    conversions = _normalise(effects.conversion, journeys.total_conversions)
    value = _normalise(effects.value, journeys.total_value)
    return make_attribution(
        journeys,
        "markov",
        conversions,
        value,
        order=order,
        removal_effects=effects.conversion,
        options={"states": effects.states, "p_conversion": effects.p_conversion},
    )


def removal_effects(
    journeys: Journeys, *, order: int = 1, max_dense_states: int = 3000, tol: float = 1e-13
) -> RemovalEffects:
    """Exact removal effects (conversions and value) of every key."""
    chain = build_chain(journeys, order=order)
    n_keys = len(journeys.keys)
    if not chain.states or chain.start.sum() == 0:
        zeros = np.zeros(n_keys)
        return RemovalEffects(zeros, zeros.copy(), 0.0, len(chain.states))
    solve = _dense_effects if len(chain.states) <= max_dense_states else _sparse_effects
    with one_blas_thread():
        base, without = solve(chain, n_keys, tol)
    with np.errstate(invalid="ignore", divide="ignore"):
        effects = np.where(base > 0, 1.0 - without / base, 0.0)
    effects = np.clip(effects, 0.0, 1.0)  # float noise only; exact values lie in [0, 1]
    return RemovalEffects(effects[0], effects[1], float(base[0, 0]), len(chain.states))


def build_chain(journeys: Journeys, *, order: int = 1) -> MarkovChain:
    """Count the transitions of the order-k chain (see the module docstring)."""
    if not 1 <= order <= MAX_ORDER:
        raise ConfigError(f"Markov 'order' must be 1 to {MAX_ORDER}, got {order}")
    codes, path_of = _state_codes(journeys, order)
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = (codes[1:] != codes[:-1]) | (path_of[1:] != path_of[:-1])
    codes, path_of = codes[keep], path_of[keep]
    unique, state = _unique(codes)
    n = len(unique)
    weight = journeys.conversions + journeys.nulls
    first = np.ones(len(state), dtype=bool)
    first[1:] = path_of[1:] != path_of[:-1]
    last = np.ones(len(state), dtype=bool)
    last[:-1] = path_of[:-1] != path_of[1:]
    inner = ~last
    pairs = state[:-1][inner[:-1]] * n + state[1:][inner[:-1]]
    pair_weight = weight[path_of[:-1][inner[:-1]]]
    merged, pair_index = _unique(pairs)
    counts = sum_by(pair_index, pair_weight, len(merged))
    ends, end_paths = state[last], path_of[last]
    return MarkovChain(
        order=order,
        states=_decode(unique, len(journeys.keys), order),
        start=sum_by(state[first], weight[path_of[first]], n),
        rows=merged // n,
        cols=merged % n,
        counts=counts,
        to_conversion=sum_by(ends, journeys.conversions[end_paths], n),
        to_value=sum_by(ends, journeys.values[end_paths], n),
        to_null=sum_by(ends, journeys.nulls[end_paths], n),
    )


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run BLAS/LAPACK on one thread: the solves here are many and small, and threads contend.

    Measured on 2 shared cores: 4,096 batched 120x120 solves took 37 s with OpenBLAS's
    default threads and 1.5 s on one.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------- states


def _state_codes(journeys: Journeys, order: int) -> tuple[IntArray, IntArray]:
    """Per window (a k-gram starting at a touch), its integer code and its path."""
    base = len(journeys.keys) + 1
    if float(base) ** order >= 2.0**62:
        raise ConfigError(
            f"{len(journeys.keys):,} keys are too many for an order-{order} chain; "
            "use a lower order or attribute at the channel level"
        )
    lengths = journeys.lengths[journeys.owner]
    span = np.minimum(lengths, order)
    starts = np.flatnonzero(journeys.position <= lengths - span)
    codes = np.zeros(len(starts), dtype=np.int64)
    last = len(journeys.steps) - 1
    for m in range(order):
        digit = journeys.steps[np.minimum(starts + m, last)] + 1
        codes += np.where(m < span[starts], digit * base**m, 0)
    return codes, journeys.owner[starts]


def _unique(values: IntArray) -> tuple[IntArray, IntArray]:
    """`np.unique(values, return_inverse=True)` for non-negative codes, by a table when their
    range is small (no sort: the counting pass of a million journeys' states runs 5x faster).
    """
    top = int(values.max()) + 1 if len(values) else 0
    if top > 4 * len(values) + 1024:
        unique, inverse = np.unique(values, return_inverse=True)
        return unique, inverse.reshape(-1)
    present = np.zeros(top, dtype=bool)
    present[values] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(np.int64), rank[values]


def _decode(codes: IntArray, n_keys: int, order: int) -> tuple[tuple[int, ...], ...]:
    base = n_keys + 1
    grams = []
    for code in codes.tolist():
        gram = []
        while code:
            code, digit = divmod(code, base)
            gram.append(digit - 1)
        grams.append(tuple(gram))
    return tuple(grams)


# ---------------------------------------------------------------------- solvers


def _rates(chain: MarkovChain) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Transition probabilities (sparse values), start distribution, absorption rewards."""
    out = chain.outflow
    safe = np.where(out > 0, out, 1.0)
    probs = chain.counts / safe[chain.rows]
    start = chain.start / chain.start.sum()
    return probs, start, chain.to_conversion / safe, chain.to_value / safe


def _dense_effects(chain: MarkovChain, n_keys: int, tol: float) -> tuple[FloatArray, FloatArray]:
    """(base, without): P(conversion) and expected value, whole and with each key removed."""
    n = len(chain.states)
    probs, start, reward, value_reward = _rates(chain)
    a = np.eye(n + 1)  # state n is (start)
    np.subtract.at(a, (chain.rows, chain.cols), probs)
    a[n, :n] -= start
    fundamental = np.linalg.inv(a)
    rewards = np.stack([np.append(reward, 0.0), np.append(value_reward, 0.0)], axis=1)
    h = fundamental @ rewards  # (n + 1, 2): absorption into conversion, expected value
    base = np.repeat(h[n][:, None], n_keys, axis=1)
    without = base.copy()
    if chain.order == 1:
        codes = np.array([gram[0] for gram in chain.states])
        diagonal = np.diag(fundamental)[:n]
        lost = (fundamental[n, :n] / diagonal)[:, None] * h[:n]  # (n, 2)
        without[:, codes] -= lost.T
        return base, without
    member = chain.members(n_keys)
    for key in range(n_keys):
        s = np.flatnonzero(member[:, key])
        if len(s):
            first_entry = np.linalg.solve(fundamental[np.ix_(s, s)], h[s])
            without[:, key] -= fundamental[n, s] @ first_entry
    return base, without


def _sparse_effects(chain: MarkovChain, n_keys: int, tol: float) -> tuple[FloatArray, FloatArray]:
    """The same quantities by fixed-point iteration on the sparse chain, every key at once."""
    n = len(chain.states)
    probs, start, reward, value_reward = _rates(chain)
    order = np.argsort(chain.rows, kind="stable")
    rows, cols, probs = chain.rows[order], chain.cols[order], probs[order]
    owners, first = np.unique(rows, return_index=True)
    member = chain.members(n_keys)
    # Column 0: nothing removed; column 1 + k: key k removed (its states absorb nothing).
    alive = np.concatenate([np.ones((n, 1), dtype=bool), ~member], axis=1).astype(float)
    results = []
    for rewards in (reward, value_reward):
        scale = max(float(rewards.max()), 1e-300)
        r = (rewards / scale)[:, None] * alive
        x = r.copy()
        for _ in range(_MAX_ITERATIONS):
            step = np.zeros_like(x)
            if len(rows):
                step[owners] = np.add.reduceat(probs[:, None] * x[cols], first, axis=0)
            new = step * alive + r
            moved = float(np.abs(new - x).max())
            x = new
            if moved <= tol:
                break
        else:
            raise RunError(
                f"the Markov chain did not converge in {_MAX_ITERATIONS:,} iterations; it has "
                "states that almost never absorb. Use a lower order or the channel level"
            )
        results.append((start @ x) * scale)
    stacked = np.stack(results)  # (2, 1 + n_keys)
    base = np.repeat(stacked[:, :1], n_keys, axis=1)
    return base, stacked[:, 1:]


def _normalise(effects: FloatArray, total: float) -> FloatArray:
    norm = effects.sum()
    return effects * (total / norm) if norm > 0 else np.zeros_like(effects)
