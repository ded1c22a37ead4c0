"""What nodes may use: the dependencies a runtime injects into every graph run.

Nodes read stores through `Runtime[Deps]` (LangGraph's run-scoped context), never through module
globals, so the same graph runs against a test store, a workspace or a simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gtmflow.clock import Clock, SystemClock
from gtmflow.tools.events import EventStore
from gtmflow.tools.scheduler import Scheduler

__all__ = ["Deps"]


@dataclass(frozen=True)
class Deps:
    """Run-scoped dependencies for graph nodes.

    Attributes:
        events: The event store holding contacts and their histories.
        clock: The clock that defines "now" when a run gives no as-of time.
        score: Optional lead-score lookup by contact id, for `score(...)` conditions.
        scheduler: Durable timers, for graphs that wait (sequences).
    """

    events: EventStore
    clock: Clock = field(default_factory=SystemClock)
    score: Callable[[str], float | None] | None = None
    scheduler: Scheduler | None = None
