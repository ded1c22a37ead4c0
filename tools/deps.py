"""What nodes may use: the dependencies a runtime injects into every graph run.

Nodes read stores through `Runtime[Deps]` (LangGraph's run-scoped context), never through module
globals, so the same graph runs against a test store, a workspace or a simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gtmflow.clock import Clock, SystemClock
from gtmflow.tools.delivery.owners import TriggerOwners
from gtmflow.tools.delivery.scheduler import Scheduler
from gtmflow.tools.events.event_store import EventStore

__all__ = ["ContactMemory", "ContentLibrary", "Deps"]


class ContactMemory(Protocol):
    """Where agents write what they learned about a contact (the context store is one)."""

    def remember_transcript(
        self,
        contact_id: str,
        transcript_id: str,
        insights: Sequence[str],
        *,
        date: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Any:
        """Keep one note per transcript (with `details`, the structured insights); writing
        again replaces it."""
        ...

    def transcript_details(self, contact_id: str, transcript_id: str) -> Mapping[str, Any] | None:
        """The structured insights kept with a transcript's note (None: none kept)."""
        ...


class ContentLibrary(Protocol):
    """Where writers find library content that answers a contact's pains (the context store)."""

    def content_for(self, pains: str | Sequence[str], k: int = 5) -> Sequence[Any]:
        """Chunks with `id`, `source_id`, `text`, `metadata` (title, url) and `score`."""
        ...


@dataclass(frozen=True)
class Deps:
    """Run-scoped dependencies for graph nodes.

    Attributes:
        events: The event store holding contacts and their histories.
        clock: The clock that defines "now" when a run gives no as-of time.
        score: Optional lead-score lookup by contact id, for `score(...)` conditions.
        scheduler: Durable timers, for graphs that wait (sequences).
        memory: Per-contact memory that analyses write insights to (the context store).
        content: Library content retrieval for writers that were given none of their own
            (`Workspace.run` injects its context store).
        owners: Who follows up each webinar or call (one journey per trigger and contact).
    """

    events: EventStore
    clock: Clock = field(default_factory=SystemClock)
    score: Callable[[str], float | None] | None = None
    scheduler: Scheduler | None = None
    memory: ContactMemory | None = None
    content: ContentLibrary | None = None
    owners: TriggerOwners | None = None
