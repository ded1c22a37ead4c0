"""Shapley value attribution: each key's average marginal contribution over all coalitions.

The players are the keys (channels, content ids); a coalition `S` is a set of them; `v(S)` is
what the coalition is worth. Two coalition values are offered:

- `coalition="markov"` (default): `v(S)` is the conversions (value) the journeys' order-k Markov
  chain (`gtmflow.tools.attribution.markov`) predicts when only the keys in `S` exist, i.e. every
  state that contains a key outside `S` leads to `(null)`, exactly as a removal effect removes one
  key. `v(all keys)` is the observed total and `v({})` is 0, so the values sum to the totals. This
  is the counterfactual-adjusted Shapley value of Singal et al. (2019): unlike removal effects,
  which remove one key at a time and are then rescaled, it accounts for every coalition. -
  `coalition="journeys"`: `v(S)` is the conversions (value) of the converting journeys whose keys
  all lie in `S`. Each journey is then a unanimity game of its distinct keys, so the Shapley value
  has a closed form, exact for any number of keys: every converting journey splits its conversions
  equally among its distinct keys (the "simplified Shapley" of Zhao et al., 2018).

With `markov`, the values are exact by subset enumeration (every `v(S)` solved, batched, then
the Shapley sum) for up to `max_exact` keys (default 15: 32,768 coalitions). Beyond that they
are estimated by permutation sampling: `samples` random orderings drawn with `seed`, each paired
with its reverse (antithetic sampling), averaging each key's marginal contribution. Every
sampled ordering's contributions telescope to `v(all) - v({})`, so the estimates still sum
exactly to the totals; `options["max_stderr"]` reports the largest standard error.
"""

from __future__ import annotations

from math import factorial
from typing import Literal

import numpy as np

from gtmflow.errors import ConfigError
from gtmflow.tools.attribution.heuristics import Attribution, make_attribution
from gtmflow.tools.attribution.journeys import FloatArray, Journeys, sum_by
from gtmflow.tools.attribution.markov import build_chain, one_blas_thread

__all__ = ["Coalition", "coalition_values", "shapley_attribution"]

Coalition = Literal["markov", "journeys"]
_BATCH_ELEMENTS = 10_000_000  # floats per batch of stacked matrices (80 MB)
_WORK_LIMIT = 4e10  # floating-point operations we allow the batched solves


def shapley_attribution(
    journeys: Journeys,
    *,
    coalition: Coalition = "markov",
    order: int = 1,
    max_exact: int = 15,
    samples: int = 256,
    seed: int = 0,
) -> Attribution:
    """Credit keys with their Shapley values (see the module docstring for `v(S)`).

    Args:
        journeys: Paths and outcomes.
        coalition: What a coalition is worth: `markov` or `journeys`.
        order: Markov chain order for `coalition="markov"`.
        max_exact: Enumerate every coalition up to this many keys (at most 20).
        samples: Orderings sampled beyond `max_exact` (rounded up to an even number).
        seed: Seed of the sampled orderings.

    Example:
        >>> from gtmflow.tools.attribution.journeys import Journeys
        >>> j = Journeys.from_paths([["a", "b", "a"]], values=[90.0])
        >>> [(c.key, c.value) for c in shapley_attribution(j, coalition="journeys").credits]
        [('a', 45.0), ('b', 45.0)]
    """
    if coalition == "journeys":
        conversions, value = _journey_split(journeys)
        options: dict[str, object] = {"coalition": coalition, "method": "closed form"}
        return make_attribution(journeys, "shapley", conversions, value, options=options)
    if coalition != "markov":
        raise ConfigError(f"coalition '{coalition}' is not known; use 'markov' or 'journeys'")
    if not 1 <= max_exact <= 20:
        raise ConfigError(f"'max_exact' must be 1 to 20 (2**20 coalitions), got {max_exact}")
    game = _MarkovGame(journeys, order)
    k = len(journeys.keys)
    if k <= max_exact:
        conversions, value = _exact(game, k)
        options = {"coalition": coalition, "method": "exact", "coalitions": 2**k}
    else:
        conversions, value, stderr = _sampled(game, k, samples, seed)
        options = {
            "coalition": coalition,
            "method": "sampled",
            "samples": samples + samples % 2,
            "seed": seed,
            "max_stderr": stderr,
        }
    return make_attribution(journeys, "shapley", conversions, value, order=order, options=options)


def coalition_values(
    journeys: Journeys, coalitions: np.ndarray, *, order: int = 1
) -> tuple[FloatArray, FloatArray]:
    """`v(S)` under `coalition="markov"` for boolean coalitions (rows) over the keys.

    Returns:
        (conversions, value) the chain predicts for each coalition.
    """
    return _MarkovGame(journeys, order).values(np.asarray(coalitions, dtype=bool))


class _MarkovGame:
    """Batched `v(S)`: absorption of the order-k chain restricted to states inside `S`."""

    def __init__(self, journeys: Journeys, order: int) -> None:
        chain = build_chain(journeys, order=order)
        n = len(chain.states)
        out = chain.outflow
        safe = np.where(out > 0, out, 1.0)
        self.q = np.zeros((n, n))
        np.add.at(self.q, (chain.rows, chain.cols), chain.counts / safe[chain.rows])
        total = chain.start.sum()
        self.start = chain.start / total if total else chain.start
        self.rewards = np.stack([chain.to_conversion / safe, chain.to_value / safe], axis=1)
        self.weight = float(total)
        self.member = chain.members(len(journeys.keys))

    def values(self, coalitions: np.ndarray) -> tuple[FloatArray, FloatArray]:
        n = len(self.start)
        _check_work(len(coalitions), n)
        batch = max(1, min(2048, _BATCH_ELEMENTS // max(n * n, 1)))
        with one_blas_thread():
            return self._solve(coalitions, batch)

    def _solve(self, coalitions: np.ndarray, batch: int) -> tuple[FloatArray, FloatArray]:
        n = len(self.start)
        out = np.zeros((len(coalitions), 2))
        eye = np.eye(n)
        for lo in range(0, len(coalitions), batch):
            block = coalitions[lo : lo + batch]
            alive = ~(self.member[None, :, :] & ~block[:, None, :]).any(axis=2)  # (b, n)
            live = alive.astype(float)
            a = eye - self.q[None] * live[:, :, None] * live[:, None, :]
            h = np.linalg.solve(a, self.rewards[None] * live[:, :, None])
            out[lo : lo + len(block)] = np.einsum("s,bsr->br", self.start, h)
        out *= self.weight
        return out[:, 0], out[:, 1]


def _check_work(coalitions: int, states: int) -> None:
    work = coalitions * states**3 / 3
    if work > _WORK_LIMIT:
        raise ConfigError(
            f"Shapley with coalition='markov' would solve {coalitions:,} chains of {states:,} "
            "states, too many to finish quickly; use order=1, fewer samples, the channel level, "
            "or coalition='journeys' (closed form)"
        )


def _exact(game: _MarkovGame, k: int) -> tuple[FloatArray, FloatArray]:
    masks = np.arange(2**k, dtype=np.int64)
    bits = ((masks[:, None] >> np.arange(k)) & 1).astype(bool)
    conv, value = game.values(bits)
    sizes = bits.sum(axis=1)
    weight = np.array([factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)])
    result = np.zeros((2, k))
    for i in range(k):
        without = masks[~bits[:, i]]
        w = weight[sizes[without]]
        result[0, i] = w @ (conv[without | (1 << i)] - conv[without])
        result[1, i] = w @ (value[without | (1 << i)] - value[without])
    return result[0], result[1]


def _sampled(
    game: _MarkovGame, k: int, samples: int, seed: int
) -> tuple[FloatArray, FloatArray, float]:
    if samples < 1:
        raise ConfigError(f"'samples' must be at least 1, got {samples}")
    rng = np.random.default_rng(seed)
    half = rng.permuted(np.tile(np.arange(k), ((samples + 1) // 2, 1)), axis=1)
    orders = np.concatenate([half, half[:, ::-1]])  # antithetic pairs
    rank = np.argsort(orders, axis=1)  # rank[p, key] = position of key in ordering p
    prefixes = rank[:, None, :] < np.arange(k + 1)[None, :, None]  # (p, k + 1, k)
    flat = prefixes.reshape(-1, k)
    unique, inverse = np.unique(flat, axis=0, return_inverse=True)
    conv, value = game.values(unique)
    curves = np.stack([conv, value], axis=1)[inverse.reshape(-1)].reshape(len(orders), k + 1, 2)
    gains = np.diff(curves, axis=1)  # (p, k, 2): gain at each position of the ordering
    marginal = np.take_along_axis(gains, rank[:, :, None].repeat(2, axis=2), axis=1)
    paired = (marginal[: len(half)] + marginal[len(half) :]) / 2
    stderr = paired[:, :, 0].std(axis=0, ddof=1) / np.sqrt(len(half)) if len(half) > 1 else None
    mean = marginal.mean(axis=0)
    return mean[:, 0], mean[:, 1], float(stderr.max()) if stderr is not None else float("nan")


def _journey_split(journeys: Journeys) -> tuple[FloatArray, FloatArray]:
    k = len(journeys.keys)
    pairs = np.unique(journeys.owner * k + journeys.steps)
    path, key = pairs // k, pairs % k
    distinct = np.bincount(path, minlength=len(journeys))
    share = 1.0 / distinct[path]
    conversions = sum_by(key, journeys.conversions[path] * share, k)
    value = sum_by(key, journeys.values[path] * share, k)
    return conversions, value
