"""Backtests of lead scores against outcomes: AUC, lift by decile, calibration.

`backtest(scores, labels)` answers "does a higher score mean a likelier conversion, and how
much likelier?" for any score (points or probabilities):

- AUC: the probability that a random converter outscores a random non-converter (ties count
  half), from ranks (Mann-Whitney), exact.
- Lift by decile: contacts sorted by score (ties in input order) and cut into ten equal groups;
  each decile's conversion rate divided by the overall rate, with the cumulative share of all
  conversions captured down to it.
- Calibration: points are not probabilities, so a logistic curve (Platt scaling) maps score to
  probability. Its probabilities are cross-fitted (each fold predicted by a curve fitted on the
  others, folds drawn with `seed`), then binned by predicted probability: mean predicted vs
  observed rate per bin, the Brier score and the expected calibration error (ECE). The curve fitted
  on all the data is returned too, to turn a score into a probability.

`suggest_points` proposes fit rules from labelled history: points proportional to each
attribute value's smoothed log-odds of converting (weight of evidence), rounded, for values seen
often enough. A starting point to review, not a model to trust blindly.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gtmflow import pipes as p
from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError
from gtmflow.models import Contact, Deal
from gtmflow.tools.attribution.scoring import FitRule, fit

__all__ = [
    "Backtest",
    "CalibrationBin",
    "DecileLift",
    "auc",
    "backtest",
    "deal_labels",
    "suggest_points",
]


class DecileLift(BaseModel):
    """One score decile (1 = highest scores)."""

    model_config = ConfigDict(frozen=True)

    decile: int
    contacts: int
    converted: int
    rate: float
    lift: float = Field(description="Rate over the overall conversion rate.")
    captured: float = Field(description="Share of all conversions in deciles 1..this one.")


class CalibrationBin(BaseModel):
    """Predicted vs observed conversion in one bin of predicted probability."""

    model_config = ConfigDict(frozen=True)

    contacts: int
    predicted: float
    observed: float


class Backtest(BaseModel):
    """How well scores rank and predict conversions."""

    model_config = ConfigDict(frozen=True)

    contacts: int
    converted: int
    base_rate: float
    auc: float
    lift: tuple[DecileLift, ...]
    calibration: tuple[CalibrationBin, ...]
    brier: float
    ece: float = Field(description="Expected calibration error of the cross-fitted curve.")
    intercept: float = Field(description="Platt curve: p = 1 / (1 + exp(-(a + b * score))).")
    slope: float

    def probability(self, score: float) -> float:
        """The calibrated conversion probability of a score."""
        return 1.0 / (1.0 + math.exp(-(self.intercept + self.slope * score)))


def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve from average ranks (ties count half).

    Example:
        >>> auc([3, 2, 2, 1], [1, 1, 0, 0])
        0.875
    """
    s, y = _arrays(scores, labels)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        raise ConfigError("AUC needs both converted and unconverted contacts")
    ranks = _average_ranks(s)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def backtest(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[bool] | np.ndarray,
    *,
    bins: int = 10,
    folds: int = 5,
    seed: int = 0,
) -> Backtest:
    """AUC, lift by decile and calibration of `scores` against converted `labels`."""
    s, y = _arrays(scores, labels)
    if len(s) < max(bins, folds):
        raise ConfigError(f"a backtest needs at least {max(bins, folds)} contacts, got {len(s)}")
    base = float(y.mean())
    predicted = _cross_fitted(s, y, folds, seed)
    intercept, slope = _platt(s, y)
    return Backtest(
        contacts=len(s),
        converted=int(y.sum()),
        base_rate=base,
        auc=auc(s, y),
        lift=_lift(s, y, bins),
        calibration=_calibration(predicted, y, bins),
        brier=float(np.mean((predicted - y) ** 2)),
        ece=_ece(predicted, y, bins),
        intercept=intercept,
        slope=slope,
    )


def deal_labels(
    contact_ids: Sequence[str],
    deals: Sequence[Deal],
    *,
    after: datetime,
    within: str | timedelta = "30d",
    won_only: bool = False,
) -> tuple[list[str], list[bool]]:
    """Labels for a forward-looking backtest: did a contact get a deal in `(after, after+within]`?

    Contacts already on a deal created at or before `after` are left out (they had converted
    when they were scored). Returns the kept contact ids and their labels, in input order.
    """
    horizon = after + parse_duration(within)
    earlier: set[str] = set()
    later: set[str] = set()
    for deal in deals:
        if won_only and deal.stage.lower() not in ("won", "closed_won", "closedwon"):
            continue
        if deal.created_at <= after:
            earlier.update(deal.contact_ids)
        elif deal.created_at <= horizon:
            later.update(deal.contact_ids)
    kept = [c for c in contact_ids if c not in earlier]
    return kept, [c in later for c in kept]


def suggest_points(
    contacts: Sequence[Contact],
    labels: Sequence[bool],
    *,
    attributes: Sequence[str],
    scale: float = 10.0,
    min_contacts: int = 30,
    smoothing: float = 5.0,
) -> list[FitRule]:
    """Fit rules worth `scale * log-odds ratio` points for each frequent attribute value.

    Args:
        contacts: Labelled history.
        labels: Whether each contact converted.
        attributes: Contact fields or attributes to consider.
        scale: Points per unit of log-odds (10: a value that triples the odds gets ~11).
        min_contacts: Ignore values seen fewer times.
        smoothing: Pseudo-counts pulling rare values towards the base rate.
    """
    y = np.asarray(labels, dtype=bool)
    if len(contacts) != len(y):
        raise ConfigError("suggest_points needs one label per contact")
    base = (y.sum() + 1) / (len(y) - y.sum() + 1)
    rules = []
    for name in attributes:
        values = [_value(c, name) for c in contacts]
        seen, wins = Counter(values), Counter(v for v, hit in zip(values, y, strict=True) if hit)
        frequent = [v for v in seen if v is not None and seen[v] >= min_contacts]
        for value in sorted(frequent, key=str):
            odds = (wins[value] + smoothing * base / (1 + base)) / (
                seen[value] - wins[value] + smoothing / (1 + base)
            )
            points = round(scale * math.log(odds / base))
            if points:
                rules.append(fit(f"{name}={value}", p.attr(name, equals=value), points))
    return rules


# ---------------------------------------------------------------------- internals


def _arrays(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ConfigError(f"scores {s.shape} and labels {y.shape} must be 1-D of equal length")
    if not np.isfinite(s).all():
        raise ConfigError("scores must be finite numbers")
    return s, y


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2  # 1-based average rank of each tie group
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _lift(s: np.ndarray, y: np.ndarray, bins: int) -> tuple[DecileLift, ...]:
    order = np.argsort(-s, kind="stable")
    base = y.mean() if y.any() else 1.0
    total, captured, rows = max(int(y.sum()), 1), 0, []
    for number, group in enumerate(np.array_split(order, bins), 1):
        converted = int(y[group].sum())
        captured += converted
        rate = converted / len(group) if len(group) else 0.0
        rows.append(
            DecileLift(
                decile=number,
                contacts=len(group),
                converted=converted,
                rate=rate,
                lift=rate / base,
                captured=captured / total,
            )
        )
    return tuple(rows)


def _platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic regression of y on s (Newton's method, a whisper of ridge for separation)."""
    mean, std = s.mean(), s.std() or 1.0
    x = np.stack([np.ones(len(s)), (s - mean) / std], axis=1)
    w = np.zeros(2)
    for _ in range(50):
        prob = 1 / (1 + np.exp(-(x @ w)))
        gradient = x.T @ (prob - y) + 1e-6 * w
        hessian = (x.T * (prob * (1 - prob))) @ x + 1e-6 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0] - w[1] * mean / std), float(w[1] / std)


def _cross_fitted(s: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    fold = np.random.default_rng(seed).permutation(len(s)) % folds
    predicted = np.empty(len(s))
    for k in range(folds):
        held = fold == k
        a, b = _platt(s[~held], y[~held])
        predicted[held] = 1 / (1 + np.exp(-(a + b * s[held])))
    return predicted


def _calibration(predicted: np.ndarray, y: np.ndarray, bins: int) -> tuple[CalibrationBin, ...]:
    order = np.argsort(predicted, kind="stable")
    return tuple(
        CalibrationBin(
            contacts=len(group),
            predicted=float(predicted[group].mean()),
            observed=float(y[group].mean()),
        )
        for group in np.array_split(order, bins)
        if len(group)
    )


def _ece(predicted: np.ndarray, y: np.ndarray, bins: int) -> float:
    rows = _calibration(predicted, y, bins)
    return float(sum(r.contacts * abs(r.predicted - r.observed) for r in rows) / len(y))


def _value(contact: Contact, name: str) -> object:
    if name in Contact.model_fields and name != "attributes":
        return getattr(contact, name)
    return contact.attributes.get(name)
