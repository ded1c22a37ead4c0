"""Running one graph thread safely: recover, invoke, commit what it returned.

Every runtime path (rules runs, sequence enrollments, resumed waits, approvals) invokes threads
the same way: finish a run a crash interrupted, invoke, then write the run's actions to the
outbox and its decisions to the log, and record any approval the graph paused on. All of it is
idempotent, so running the same thread twice is harmless. On a shared store the runner holds
the contact's lease while it runs a thread (`gtmflow.runtime.leases`), so two workers never run
one contact's thread at the same time.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StateSnapshot

from gtmflow.errors import ConfigError, GtmflowWarning, StoreError
from gtmflow.models import Action, RouteDecision
from gtmflow.runtime.in_flight import InFlight, RunsInFlight
from gtmflow.runtime.leases import Leases, NoLeases
from gtmflow.state import GRAPH_KEY
from gtmflow.tools._postgres import is_outage
from gtmflow.tools.decisions import DecisionLog
from gtmflow.tools.delivery.approvals import ApprovalBook
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.deps import Deps
from gtmflow.tools.events.event_store import UnreadableRow

__all__ = ["ThreadRunner", "thread_config", "unfinished"]


def unfinished(snapshot: StateSnapshot) -> bool:
    """Whether a crash stopped the thread's run part way (and no person is asked anything).

    Not `snapshot.next`: LangGraph saves each task's writes before the step's checkpoint and
    leaves a task that has them out of `next`, so a crash between the two shows `next == ()`
    on a run that is not over. A run that is over has no tasks left at all.
    """
    return bool(snapshot.tasks) and not snapshot.interrupts


def thread_config(thread_id: str, graph: str | None = None) -> RunnableConfig:
    """The LangGraph config that addresses one thread (and names its graph for `graph_name`)."""
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if graph is not None:
        configurable[GRAPH_KEY] = graph
    return {"configurable": configurable}


@dataclass
class ThreadRunner:
    """Invokes threads and commits their results to the workspace's ledgers."""

    outbox: Outbox
    decisions: DecisionLog
    approvals: ApprovalBook
    deps: Deps
    last_state: dict[str, Any] = field(default_factory=dict)
    """The state the latest `run` ended with (empty when the thread was not invoked)."""
    leases: Leases | NoLeases = field(default_factory=NoLeases)
    """Who holds which contact (a shared store); held around every thread run."""
    in_flight: RunsInFlight | None = None
    """Runs started and not committed (`gtmflow.runtime.in_flight`): finished after a crash."""
    _committing: bool = field(default=False, repr=False)

    def run(
        self,
        graph: Any,
        contact_id: str,
        payload: dict[str, Any] | Command[Any],
        *,
        deps: Deps | None = None,
        durability: Literal["sync", "async", "exit"] | None = None,
    ) -> Counter[str]:
        """Invoke `graph` on the contact's thread; return new outbox actions per source.

        A thread paused on an approval is not started again by new input (only a `Command`
        answering it resumes it); a thread a crash stopped mid-run is finished first.
        `durability="sync"` writes each step (and each model call a node made) to the
        checkpoint before the next begins, so a crash never repeats one.
        """
        with self.leases.hold(contact_id), self._journal(graph.name, contact_id):
            return self._run(graph, contact_id, payload, deps or self.deps, durability)

    @contextmanager
    def _journal(self, graph: str, contact_id: str) -> Iterator[None]:
        """A row in `in_flight` from before the thread is invoked until its results are
        committed; a run that raised keeps it, so the next pass tries it again."""
        if self.in_flight is None:
            yield
            return
        thread_id = f"{graph}:{contact_id}"
        self.in_flight.start(InFlight(thread_id, graph, contact_id))
        yield
        self.in_flight.finish(thread_id)

    def _run(
        self, graph: Any, contact_id: str, payload: dict[str, Any] | Command[Any], deps: Deps,
        durability: Literal["sync", "async", "exit"] | None,
    ) -> Counter[str]:  # fmt: skip
        thread_id = f"{graph.name}:{contact_id}"
        config = thread_config(thread_id, graph.name)
        snapshot = graph.get_state(config)
        added = self.commit(graph.name, contact_id, snapshot.values)
        self.last_state = {}
        if snapshot.interrupts and not isinstance(payload, Command):
            self._requests(graph.name, thread_id, contact_id, snapshot.interrupts)
            return added
        if unfinished(snapshot):
            finished = graph.invoke(None, config, context=deps, durability=durability)
            added += self.commit(graph.name, contact_id, finished)
            paused = finished.get("__interrupt__", ())
            if paused:  # the finished run paused for a person: new input must wait too
                self._requests(graph.name, thread_id, contact_id, paused)
                return added
        state = graph.invoke(payload, config, context=deps, durability=durability)
        self._requests(graph.name, thread_id, contact_id, state.get("__interrupt__", ()))
        self.last_state = state
        return added + self.commit(graph.name, contact_id, state)

    def run_guarded(
        self,
        graph: Any,
        contact_id: str,
        payload: dict[str, Any] | Command[Any],
        *,
        failures: dict[str, str],
        deps: Deps | None = None,
        durability: Literal["sync", "async", "exit"] | None = None,
    ) -> Counter[str]:
        """`run` for one contact of many: a failure is recorded in `failures` and warned about.

        One contact's bad data (a row the store cannot read, a value a node chokes on) must not
        stop the others; the contact runs again when it is next due. What fails for everyone
        still stops the run: a `ConfigError` (the developer's mistake), a store that cannot be
        read or written, and any failure writing the outbox or the decision log.
        """
        try:
            return self.run(graph, contact_id, payload, deps=deps, durability=durability)
        except Exception as exc:
            self.note_failure(graph.name, contact_id, exc, failures)
            return Counter()

    def note_failure(
        self, graph: str, contact_id: str, exc: Exception, failures: dict[str, str]
    ) -> None:
        """Record one contact's failure in `failures` and warn; re-raise what fails for all.

        Raises:
            Exception: `exc` itself when it is not one contact's (see `run_guarded`).
        """
        if self._committing or _everyones(exc):
            self._committing = False
            raise exc
        reason = f"{type(exc).__name__}: {exc}"
        failures[contact_id] = reason
        self.last_state = {}
        warnings.warn(
            GtmflowWarning(
                f"graph '{graph}' failed for contact '{contact_id}' ({reason}); the other "
                "contacts went on, and this one runs again when it is next due"
            ),
            stacklevel=3,
        )

    def recover(
        self,
        graph: Any,
        contact_id: str,
        *,
        deps: Deps | None = None,
        durability: Literal["sync", "async", "exit"] | None = None,
    ) -> Counter[str]:
        """Commit what the thread holds and finish a run a crash interrupted; start nothing new.

        Returns new outbox actions per source, like `run`.
        """
        with self.leases.hold(contact_id), self._journal(graph.name, contact_id):
            return self._recover(graph, contact_id, deps or self.deps, durability)

    def recover_in_flight(
        self,
        graph_named: Callable[[str], Any | None],
        *,
        failures: dict[str, str],
        only: str | None = None,
    ) -> Counter[str]:
        """Finish every run a crash interrupted (`in_flight` rows), committing what it holds.

        `graph_named` gives the compiled graph of a name (None: the workspace no longer has
        it; its row stays and is warned about); `only` limits it to one graph's runs. A
        failing run is recorded in `failures`.
        """
        added: Counter[str] = Counter()
        for run in self.in_flight.pending() if self.in_flight is not None else []:
            if only is not None and run.graph != only:
                continue
            graph = graph_named(run.graph)
            if graph is None:
                warnings.warn(
                    GtmflowWarning(
                        f"thread '{run.thread_id}' stopped part way (a crash) but this workspace "
                        f"has no graph '{run.graph}' to finish it with; restore the graph"
                    ),
                    stacklevel=2,
                )
                continue
            try:
                added += self.recover(graph, run.contact_id, durability="sync")
            except Exception as exc:
                self.note_failure(run.graph, run.contact_id, exc, failures)
        return added

    def _recover(
        self, graph: Any, contact_id: str, deps: Deps,
        durability: Literal["sync", "async", "exit"] | None,
    ) -> Counter[str]:  # fmt: skip
        thread_id = f"{graph.name}:{contact_id}"
        config = thread_config(thread_id, graph.name)
        snapshot = graph.get_state(config)
        added = self.commit(graph.name, contact_id, snapshot.values)
        if unfinished(snapshot):
            finished = graph.invoke(None, config, context=deps, durability=durability)
            added += self.commit(graph.name, contact_id, finished)
            snapshot = graph.get_state(config)
        if snapshot.interrupts:
            self._requests(graph.name, thread_id, contact_id, snapshot.interrupts)
        return added

    def commit(self, graph: str, contact_id: str, state: dict[str, Any]) -> Counter[str]:
        """Write a run's actions to the outbox and its decisions to the log (idempotent)."""
        self._committing = True  # stays set if a write fails: `run_guarded` re-raises that
        actions = [Action.model_validate(a) for a in state.get("actions", [])]
        new = set(self.outbox.put(actions).keys)
        self.decisions.record(
            graph,
            contact_id,
            (
                (d.get("step", 0), RouteDecision.model_validate(_without(d, "step")))
                for d in state.get("decisions", [])
            ),
        )
        self._committing = False
        return Counter(a.source for a in actions if a.idempotency_key in new)

    def _requests(self, graph: str, thread_id: str, contact_id: str, interrupts: Any) -> None:
        now = self.deps.clock.now()
        for item in interrupts:
            value = getattr(item, "value", None)
            if isinstance(value, dict) and value.get("kind") == "approval":
                self.approvals.request(
                    thread_id=thread_id, graph=graph, contact_id=contact_id,
                    step=int(value.get("step", 0)), digest=str(value["digest"]),
                    payload=dict(value["payload"]), now=now,
                )  # fmt: skip


def _everyones(exc: Exception) -> bool:
    """Whether a failure is not one contact's: a mistake in the setup, or the store itself.

    A PostgreSQL outage is the store's whatever raised it (our ledgers, or LangGraph's
    `PostgresSaver` writing a checkpoint): the run stops, so `serve` retries it once the server
    is back, instead of deferring the contact it happened on to a run that may never come.
    """
    if isinstance(exc, ConfigError) or is_outage(exc):
        return True
    return isinstance(exc, StoreError) and not isinstance(exc, UnreadableRow)


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}
