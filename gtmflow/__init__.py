"""gtmflow: agentic go-to-market orchestration. Deterministic pipes, intelligent flow.

The curated public API. Build rules with `gtmflow.pipes`, graphs with `gtmflow.graphs`, and run
them in a `Workspace`:

    from gtmflow import Workspace, pipes as p

    rules = [p.Rule("pricing-hot", when=p.count("page_view", path="/pricing", at_least=3,
                                                within="7d"), then=p.alert_sales())]
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below load on first use, so `gtmflow --help` stays light
    from gtmflow import pipes
    from gtmflow.clock import Clock, SystemClock, VirtualClock, parse_duration
    from gtmflow.errors import ConfigError, GtmflowError, InputError, RunError, StoreError
    from gtmflow.models import (
        Action,
        Contact,
        ContentItem,
        Deal,
        Event,
        RouteDecision,
        Touchpoint,
        Transcript,
        Utterance,
        json_schemas,
    )
    from gtmflow.pipes import Rule
    from gtmflow.runtime import RunReport, Workspace
    from gtmflow.state import GtmflowState
    from gtmflow.tools.deps import Deps
    from gtmflow.triggers import RuleSet

_HOMES = {
    "pipes": "gtmflow.pipes",
    "Rule": "gtmflow.pipes",
    "RuleSet": "gtmflow.triggers",
    "Workspace": "gtmflow.runtime",
    "RunReport": "gtmflow.runtime",
    "Deps": "gtmflow.tools.deps",
    "GtmflowState": "gtmflow.state",
    **dict.fromkeys(("Clock", "SystemClock", "VirtualClock", "parse_duration"), "gtmflow.clock"),
    **dict.fromkeys(
        ("GtmflowError", "ConfigError", "InputError", "RunError", "StoreError"), "gtmflow.errors"
    ),
    **dict.fromkeys(
        (
            "Action",
            "Contact",
            "ContentItem",
            "Deal",
            "Event",
            "RouteDecision",
            "Touchpoint",
            "Transcript",
            "Utterance",
            "json_schemas",
        ),
        "gtmflow.models",
    ),
}


def __getattr__(name: str) -> Any:
    """Load a public name from its home module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gtmflow' has no attribute '{name}'")
    module = import_module(home)
    value = module if home.endswith(f".{name}") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    # running
    "Workspace",
    "RunReport",
    "Deps",
    "GtmflowState",
    # pipes
    "pipes",
    "Rule",
    "RuleSet",
    # domain model
    "Action",
    "Contact",
    "ContentItem",
    "Deal",
    "Event",
    "RouteDecision",
    "Touchpoint",
    "Transcript",
    "Utterance",
    "json_schemas",
    # time
    "Clock",
    "SystemClock",
    "VirtualClock",
    "parse_duration",
    # errors
    "GtmflowError",
    "ConfigError",
    "InputError",
    "RunError",
    "StoreError",
    "__version__",
]
