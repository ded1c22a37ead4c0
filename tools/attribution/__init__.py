"""Attribution: touchpoints, journeys (touch paths), heuristic/Markov/Shapley models, lead
scoring and backtests (their charts are `gtmflow.tools.charts`).

| module | holds |
| --- | --- |
| `touchpoints` | touches from the event store and the outbox, joined to deals as journeys |
| `touch_columns` | `TouchColumns`: every contact's touches as arrays, sessions resolved in numpy |
| `journey_windows` | journeys cut from touch columns: each conversion's lookback window |
| `journeys` | `Journeys`: many touch paths and their outcomes as flat arrays; path files |
| `heuristics` | `attribute(journeys, model=...)`: first, last, linear, time decay, position, W |
| `markov`, `shapley` | data-driven models: Markov removal effects, Shapley values |
| `scoring`, `backtest` | lead scoring as code, and its backtest against outcomes |
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded on first use: reading a path file needs neither scoring nor stores
    from gtmflow.tools.attribution.heuristics import Attribution, Credit, attribute
    from gtmflow.tools.attribution.journeys import Journeys, read_paths
    from gtmflow.tools.attribution.scoring import LeadScorer, load_scorer
    from gtmflow.tools.attribution.touchpoints import build_journeys, collect_touches

_HOMES = {
    **dict.fromkeys(("Attribution", "Credit", "attribute"), "heuristics"),
    **dict.fromkeys(("Journeys", "read_paths"), "journeys"),
    **dict.fromkeys(("LeadScorer", "load_scorer"), "scoring"),
    **dict.fromkeys(("build_journeys", "collect_touches"), "touchpoints"),
}

__all__ = [
    "Attribution",
    "Credit",
    "Journeys",
    "LeadScorer",
    "attribute",
    "build_journeys",
    "collect_touches",
    "load_scorer",
    "read_paths",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
