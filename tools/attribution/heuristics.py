"""Attribution: which channels and content drove conversions, pipeline and revenue.

`attribute(journeys, model=...)` credits each key (a channel, a content id, an agent) with a
share of the journeys' conversions and conversion value. Credits always sum to the totals of
the journeys (touchless conversions are reported apart, in `Journeys.unattributed_*`).

| model | credit of a converting journey |
| --- | --- |
| `first` | all to the first touch |
| `last` | all to the last touch |
| `linear` | split evenly per touch occurrence (a key touched twice gets two shares) |
| `time_decay` | weight `2 ** (-age / half_life)` per touch, normalised per journey |
| `position` | U-shaped: 40% first, 40% last, 20% split over the touches between |
| `w_shaped` | 30% first, 30% lead creation, 30% opportunity creation, 10% over the rest |
| `markov` | exact removal effects of an order-k Markov chain (`gtmflow.tools.attribution.markov`) |
| `shapley` | Shapley values of a coalition game (`gtmflow.tools.attribution.shapley`) |

Conventions follow ChannelAttribution where it has one: heuristics keep repeated touches,
linear credit splits per occurrence, Markov collapses consecutive repeats and normalises removal
effects so credit sums to the totals.

Position-based with one touch gives it everything; with two, the first and last shares are
rescaled to sum to 1 (50/50 by default). W-shaped tie rule: milestones that fall on the same
touch stack their shares on it (first touch = lead creation gets 60%); the rest share goes to
the touches that are no milestone, and when there are none it is spread over the milestone
touches in proportion to their shares (so one touch gets 100%, two get 2/3 and 1/3 when the
first is also the lead creation). A journey without a known lead-creation touch uses its first
touch; without a known opportunity-creation touch, its last.

Example:
    >>> from gtmflow.tools.attribution.journeys import Journeys
    >>> j = Journeys.from_paths([["ads", "blog", "email"]], values=[300.0])
    >>> [(c.key, round(c.value, 2)) for c in attribute(j, model="position").credits]
    [('ads', 120.0), ('email', 120.0), ('blog', 60.0)]
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError
from gtmflow.tools.attribution.journeys import FloatArray, Journeys

__all__ = [
    "HEURISTIC_MODELS",
    "MODELS",
    "Attribution",
    "Credit",
    "ModelName",
    "attribute",
    "credit_from_weights",
    "touch_weights",
]

ModelName = Literal[
    "first", "last", "linear", "time_decay", "position", "w_shaped", "markov", "shapley"
]
MODELS: tuple[ModelName, ...] = get_args(ModelName)
HEURISTIC_MODELS: tuple[ModelName, ...] = MODELS[:6]


class Credit(BaseModel):
    """The share of conversions and value one key earned under a model."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Channel, content id or agent the credit goes to.")
    conversions: float = Field(description="Attributed conversions (deals).")
    value: float = Field(description="Attributed conversion value (pipeline or revenue).")
    removal_effect: float | None = Field(
        default=None, description="Markov only: share of conversions lost without this key."
    )


class Attribution(BaseModel):
    """The result of one model on one set of journeys; credits sum to the totals."""

    model_config = ConfigDict(frozen=True)

    model: ModelName
    order: int | None = Field(default=None, description="Markov/Shapley chain order.")
    total_conversions: float
    total_value: float
    credits: tuple[Credit, ...] = Field(description="Sorted by value, then conversions, then key.")
    options: dict[str, Any] = Field(default_factory=dict, description="Model settings used.")

    def to_json(self) -> dict[str, Any]:
        """The shape printed by `gtmflow attribution --json`."""
        return {
            "model": self.model,
            "order": self.order,
            "total_conversions": self.total_conversions,
            "total_value": self.total_value,
            "credits": [c.model_dump(exclude_none=True) for c in self.credits],
        }

    def by_key(self) -> dict[str, Credit]:
        """Credits keyed by key."""
        return {c.key: c for c in self.credits}

    def top(self, n: int, *, by: Literal["value", "conversions"] = "value") -> list[Credit]:
        """The `n` keys with the most credit."""
        return sorted(self.credits, key=lambda c: (-getattr(c, by), c.key))[:n]


def attribute(
    journeys: Journeys,
    *,
    model: ModelName = "linear",
    order: int = 1,
    half_life: str | timedelta | float = "7d",
    first_share: float = 0.4,
    last_share: float = 0.4,
    milestone_share: float = 0.3,
    **options: Any,
) -> Attribution:
    """Credit keys with the journeys' conversions and value under one model.

    Args:
        journeys: Paths and outcomes (see `gtmflow.tools.attribution.journeys`).
        model: One of `MODELS`.
        order: Markov chain order (1 to 3) for `markov` and `shapley`.
        half_life: `time_decay`: a duration (`"7d"`) for journeys with touch ages, or a number
            of touches for paths without timestamps (a touch `n` steps before the end weighs
            `2 ** (-n / half_life)`).
        first_share: `position`: share of the first touch.
        last_share: `position`: share of the last touch.
        milestone_share: `w_shaped`: share of each of the three milestones.
        **options: Passed to the Markov or Shapley model (e.g. `coalition=`, `samples=`).

    Raises:
        ConfigError: An unknown model or an invalid setting, with what to change.
    """
    if model not in MODELS:
        raise ConfigError(f"model '{model}' is not known; use one of {', '.join(MODELS)}")
    if model in ("markov", "shapley"):
        return _data_driven(journeys, model, order, options)
    if options:
        raise ConfigError(f"model '{model}' takes no options {sorted(options)}")
    weights = touch_weights(
        journeys,
        model,
        half_life=half_life,
        first_share=first_share,
        last_share=last_share,
        milestone_share=milestone_share,
    )
    conversions, value = credit_from_weights(journeys, weights)
    settings = _settings(model, half_life, first_share, last_share, milestone_share)
    return make_attribution(journeys, model, conversions, value, options=settings)


def touch_weights(
    journeys: Journeys,
    model: ModelName,
    *,
    half_life: str | timedelta | float = "7d",
    first_share: float = 0.4,
    last_share: float = 0.4,
    milestone_share: float = 0.3,
) -> FloatArray:
    """Per touch, the share of its journey's credit under a heuristic model (sums to 1)."""
    rules: dict[str, Callable[[], FloatArray]] = {
        "first": lambda: (journeys.position == 0).astype(float),
        "last": lambda: (journeys.position == journeys.lengths[journeys.owner] - 1).astype(float),
        "linear": lambda: 1.0 / journeys.lengths[journeys.owner],
        "time_decay": lambda: _time_decay(journeys, half_life),
        "position": lambda: _position(journeys, first_share, last_share),
        "w_shaped": lambda: _w_shaped(journeys, milestone_share),
    }
    if model not in rules:
        raise ConfigError(f"'{model}' is not a heuristic model; use one of {HEURISTIC_MODELS}")
    return rules[model]()


def credit_from_weights(journeys: Journeys, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Sum per-touch shares into (conversions, value) credited per key."""
    owner = journeys.owner
    size = len(journeys.keys)
    conversions = np.bincount(journeys.steps, weights * journeys.conversions[owner], size)
    value = np.bincount(journeys.steps, weights * journeys.values[owner], size)
    return conversions.astype(np.float64), value.astype(np.float64)


def make_attribution(
    journeys: Journeys,
    model: ModelName,
    conversions: FloatArray,
    value: FloatArray,
    *,
    order: int | None = None,
    removal_effects: FloatArray | None = None,
    options: dict[str, Any] | None = None,
) -> Attribution:
    """Package per-key credit arrays as an `Attribution`, sorted by value."""
    credits = [
        Credit(
            key=key,
            conversions=float(conversions[i]),
            value=float(value[i]),
            removal_effect=None if removal_effects is None else float(removal_effects[i]),
        )
        for i, key in enumerate(journeys.keys)
    ]
    credits.sort(key=lambda c: (-c.value, -c.conversions, c.key))
    return Attribution(
        model=model,
        order=order,
        total_conversions=journeys.total_conversions,
        total_value=journeys.total_value,
        credits=tuple(credits),
        options=options or {},
    )


# ---------------------------------------------------------------------- heuristics


def _time_decay(journeys: Journeys, half_life: str | timedelta | float) -> FloatArray:
    if isinstance(half_life, bool):
        raise ConfigError("'half_life' must be a duration such as '7d' or a number of touches")
    if isinstance(half_life, int | float):
        if half_life <= 0:
            raise ConfigError(f"'half_life' must be positive, got {half_life}")
        ages = (journeys.lengths[journeys.owner] - 1 - journeys.position).astype(float)
        return _normalised(journeys, np.exp2(-ages / float(half_life)))
    days = parse_duration(half_life).total_seconds() / 86_400
    if days <= 0:
        raise ConfigError(f"'half_life' must be positive, got '{half_life}'")
    if journeys.ages is None:
        raise ConfigError(
            f"time_decay with half_life='{half_life}' needs touch timestamps, and these "
            "journeys have none (paths read from a file); pass half_life as a number of "
            "touches instead, e.g. half_life=2"
        )
    # Decay relative to the youngest touch of each journey: the same weights after
    # normalisation, without underflow on old journeys.
    ages = journeys.ages - np.minimum.reduceat(journeys.ages, journeys.offsets[:-1])[journeys.owner]
    return _normalised(journeys, np.exp2(-ages / days))


def _position(journeys: Journeys, first: float, last: float) -> FloatArray:
    if first < 0 or last < 0 or first + last > 1 or first + last == 0:
        raise ConfigError(
            f"position shares first={first}, last={last} must be >= 0 with 0 < sum <= 1, "
            "e.g. 0.4 and 0.4"
        )
    n = journeys.lengths[journeys.owner]
    pos = journeys.position
    middle = (1.0 - first - last) / np.maximum(n - 2, 1)
    weights = np.where(pos == 0, first, np.where(pos == n - 1, last, middle))
    weights = np.where(n == 1, 1.0, weights)
    two = n == 2  # no middle: first and last shares rescaled to sum to 1
    return np.where(two, np.where(pos == 0, first, last) / (first + last), weights)


def _w_shaped(journeys: Journeys, share: float) -> FloatArray:
    if not 0 < share <= 1 / 3:
        raise ConfigError(f"'milestone_share' must be in (0, 1/3], got {share}")
    pos = journeys.position
    lead = _milestone(journeys.lead_at, journeys.lengths, default="first")[journeys.owner]
    opportunity = _milestone(journeys.opportunity_at, journeys.lengths, default="last")
    opportunity = opportunity[journeys.owner]
    weights = share * ((pos == 0).astype(float) + (pos == lead) + (pos == opportunity))
    milestone = weights > 0
    others = np.bincount(journeys.owner, ~milestone, len(journeys))[journeys.owner]
    weights = np.where(milestone, weights, (1.0 - 3 * share) / np.maximum(others, 1))
    return _normalised(journeys, weights)  # rescales milestones when there are no others


def _milestone(at: Any, lengths: Any, *, default: Literal["first", "last"]) -> Any:
    fallback = np.zeros_like(lengths) if default == "first" else lengths - 1
    if at is None:
        return fallback
    valid = (at >= 0) & (at < lengths)
    return np.where(valid, at, fallback)


def _normalised(journeys: Journeys, weights: FloatArray) -> FloatArray:
    sums = np.add.reduceat(weights, journeys.offsets[:-1]) if len(journeys) else weights
    return weights / sums[journeys.owner]


def _settings(
    model: str, half_life: str | timedelta | float, first: float, last: float, share: float
) -> dict[str, Any]:
    if model == "time_decay":
        return {"half_life": str(half_life) if isinstance(half_life, timedelta) else half_life}
    if model == "position":
        return {"first_share": first, "last_share": last}
    if model == "w_shaped":
        return {"milestone_share": share}
    return {}


def _data_driven(
    journeys: Journeys, model: ModelName, order: int, options: dict[str, Any]
) -> Attribution:
    # Imported here: markov and shapley import this module for `make_attribution`.
    if model == "markov":
        from gtmflow.tools.attribution.markov import markov_attribution

        return markov_attribution(journeys, order=order, **options)
    from gtmflow.tools.attribution.shapley import shapley_attribution

    return shapley_attribution(journeys, order=order, **options)
