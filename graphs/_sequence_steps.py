"""The nodes a sequence compiles to: entry, sends, waits, branches, your own nodes, completion.

Every node reads what it needs through the injected `Deps` and returns a partial update of
`SequenceState`; conditional edges read the `route` a node set. Agent steps (`write`, `decide`)
live in `gtmflow.graphs._sequence_agents`.
"""

from __future__ import annotations

import inspect
import string
from collections.abc import Hashable
from collections.abc import Sequence as Seq
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from gtmflow.governor import payload_digest
from gtmflow.models import Action, Contact, idempotency_key
from gtmflow.pipes import EvalContext, History, Match
from gtmflow.state import reset_outputs
from gtmflow.tools.deps import Deps

from gtmflow.graphs.sequences import (  # isort: skip
    Branch, Decide, Node, Placed, Send, Sequence, SequenceState, Wait, WaitFor, Write,
)  # fmt: skip

__all__ = ["Complete", "Enter", "Exit", "Layout", "StepContext", "approve", "halted", "route"]

DONE = ("completed", "exited")


def route(state: SequenceState) -> str:
    """The one edge function: the label the node that just ran chose."""
    return state.get("route") or "ended"


def halted(state: SequenceState) -> bool:
    """Whether the enrollment already ended in this run (later steps do nothing)."""
    return state.get("status") in DONE


class StepContext:
    """What a step node knows in one run: the contact, now, keys, exits."""

    def __init__(self, sequence: Sequence, state: SequenceState, deps: Deps) -> None:
        self.seq, self.state, self.deps = sequence, state, deps
        self.contact_id = state["contact_id"]
        raw = state.get("as_of")
        self.now = datetime.fromisoformat(raw) if raw else deps.clock.now()
        self.thread_id = f"{sequence.graph_name}:{self.contact_id}"

    @cached_property
    def contact(self) -> Contact:
        """The contact as the event store knows it now."""
        return self.deps.events.contact(self.contact_id) or Contact(id=self.contact_id)

    def context(self) -> EvalContext:
        """The contact's whole history up to now, for branch conditions."""
        history = self.deps.events.events(self.contact_id, until=self.now)
        return EvalContext(self.contact, History(history), self.now)

    def source(self) -> str:
        """The action source of this enrollment: `<sequence>#<enrollment>`."""
        return f"{self.seq.name}#{self.state.get('enrollment', 1)}"

    def key(self, ordinal: int, kind: str) -> str:
        """The idempotency key of a step's action (sequence, contact, enrollment, step)."""
        return idempotency_key(self.seq.graph_name, self.contact_id, self.source(), ordinal, kind)

    def action(self, kind: str, payload: dict[str, Any], ordinal: int) -> dict[str, Any]:
        """A step's action, JSON-ready."""
        return Action(
            kind=kind, contact_id=self.contact_id, payload=payload, graph=self.seq.graph_name,
            source=self.source(), step=ordinal, created_at=self.now,
            idempotency_key=self.key(ordinal, kind),
        ).model_dump(mode="json")  # fmt: skip

    def exit_match(self) -> Match | None:
        """The exit condition's match on events since the enrollment started, if it holds."""
        condition = self.seq.exit_when
        if condition is None or not self.state.get("started_at"):
            return None
        since = datetime.fromisoformat(self.state["started_at"])
        recent = self.deps.events.events(self.contact_id, since=since, until=self.now)
        match = condition.evaluate(EvalContext(self.contact, History(recent), self.now))
        return match if match else None

    def left(self) -> dict[str, Any] | None:
        """The update that ends the enrollment when an exit condition holds now, else None."""
        match = self.exit_match()
        if match is None:
            return None
        return self.finish("exited", f"exit: {match.reason}", match.evidence)

    def finish(self, status: str, reason: str, evidence: Seq[str]) -> dict[str, Any]:
        """End the enrollment: the status, a recorded decision, no pending wait."""
        if self.deps.scheduler is not None:
            self.deps.scheduler.cancel(thread_id=self.thread_id, note=reason)
        return {
            "status": status, "wait": None, "at": None, "ended_at": self.now.isoformat(),
            "exit_reason": reason,
            "decisions": [{
                "step": 0, "rule": f"{self.seq.name}:{status}", "fired": status == "exited",
                "at": self.now.isoformat(), "evidence": list(evidence), "reason": reason,
            }],
        }  # fmt: skip

    def decision(self, placed: Placed, *, fired: bool, reason: str, evidence: Seq[str] = ()) -> Any:
        """A recorded decision of one step (branch taken, choice made, send refused)."""
        return {
            "step": placed.ordinal, "rule": f"{self.seq.name}:{placed.name}", "fired": fired,
            "at": self.now.isoformat(), "evidence": list(evidence), "reason": reason[:2000],
        }  # fmt: skip


# --------------------------------------------------------------------------- entry and end


class Enter:
    """Node: start or resume an enrollment; hand over to `exit` when an exit condition holds."""

    def __init__(self, sequence: Sequence, waits: Seq[str]) -> None:
        self.seq = sequence
        self.waits = frozenset(waits)

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        reset = reset_outputs()  # this run's actions and decisions, from none
        status = state.get("status")
        if status is None or status in DONE:
            return reset | {"route": "ended"}
        at = state.get("at")
        if status == "active" and state.get("route") is not None:
            return reset | {"route": "ended"}  # mid-run (paused for a person): never restart
        if _exit_condition(self.seq, state, runtime.context) or (
            status == "waiting" and at not in self.waits
        ):
            return reset | {"route": "exited"}
        return reset | {"route": f"resume {at}" if status == "waiting" else "start"}


class Exit:
    """Node: leave the sequence (an exit condition holds, or its wait step was removed)."""

    def __init__(self, sequence: Sequence) -> None:
        self.seq = sequence

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        ctx = StepContext(self.seq, state, runtime.context)
        left = ctx.left()
        if left is not None:
            return left
        gone = f"exit: the step '{state.get('at')}' it waited at is no longer in the sequence"
        return ctx.finish("exited", gone, ())


def _exit_condition(sequence: Sequence, state: SequenceState, deps: Deps) -> bool:
    return StepContext(sequence, state, deps).exit_match() is not None


class Complete:
    """Node: the last step is done."""

    def __init__(self, sequence: Sequence) -> None:
        self.seq = sequence

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        if halted(state):
            return {}
        return StepContext(self.seq, state, runtime.context).finish("completed", "completed", ())


# --------------------------------------------------------------------------- steps


class SendNode:
    """Node: a fixed message from a template (a person approves it first for `author="ai"`)."""

    def __init__(self, sequence: Sequence, placed: Placed) -> None:
        assert isinstance(placed.step, Send)
        self.seq, self.placed, self.step = sequence, placed, placed.step

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        if halted(state):
            return {}
        ctx = StepContext(self.seq, state, runtime.context)
        if (left := ctx.left()) is not None:
            return left
        payload = {
            "template": self.step.template,
            "subject": fill(self.step.subject, ctx.contact),
            "body": fill(self.step.body, ctx.contact),
            "sequence": self.seq.name,
            "author": self.step.author,
        }
        if self.step.author == "ai":
            approved = approve(payload, ctx.thread_id, self.placed.ordinal)
            if approved is None:
                return {}
            payload = approved
        return {"actions": [ctx.action(self.step.kind, payload, self.placed.ordinal)]}


class WaitNode:
    """Node: start waiting (a scheduler row, then the run ends), or check a wait is over."""

    def __init__(self, sequence: Sequence, placed: Placed) -> None:
        assert isinstance(placed.step, Wait | WaitFor)
        self.seq, self.placed, self.step = sequence, placed, placed.step

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        if halted(state):
            return {"route": "waiting"}
        ctx = StepContext(self.seq, state, runtime.context)
        waiting = state.get("wait")
        if state.get("at") != self.placed.name or not waiting:
            return self._start(ctx)
        outcome = self._outcome(ctx, waiting)
        if outcome is None:
            return {"route": "waiting"}
        return {"route": outcome, "status": "active", "wait": None, "at": None}

    def _start(self, ctx: StepContext) -> dict[str, Any]:
        step = self.step
        if isinstance(step, WaitFor):
            until, event, reason = ctx.now + step.timeout, step.event, f"wait for {step.event}"
        else:
            until = step.until or ctx.now + (step.duration or timedelta(0))
            event, reason = None, "wait"
        if ctx.deps.scheduler is not None:
            ctx.deps.scheduler.schedule(
                graph=self.seq.graph_name, contact_id=ctx.contact_id, thread_id=ctx.thread_id,
                due_at=until, reason=f"{reason} (step {self.placed.ordinal})",
            )  # fmt: skip
        waiting = {"until": until.isoformat(), "event": event, "since": ctx.now.isoformat()}
        return {"status": "waiting", "wait": waiting, "at": self.placed.name, "route": "waiting"}

    def _outcome(self, ctx: StepContext, waiting: dict[str, Any]) -> str | None:
        """`arrived`, `over` or `timeout` once the wait is over; None while it holds."""
        since = datetime.fromisoformat(waiting["since"])
        if waiting.get("event"):
            arrived = ctx.deps.events.events(
                ctx.contact_id, types=[waiting["event"]], since=since, until=ctx.now
            )
            if [e for e in arrived if e.timestamp > since]:
                return "arrived"
        if ctx.now < datetime.fromisoformat(waiting["until"]):
            return None
        return "timeout" if waiting.get("event") else "over"


class BranchNode:
    """Node: evaluate the condition now; the edge taken is recorded with its reason."""

    def __init__(self, sequence: Sequence, placed: Placed) -> None:
        assert isinstance(placed.step, Branch)
        self.seq, self.placed, self.step = sequence, placed, placed.step

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        if halted(state):
            return {"route": "otherwise"}
        ctx = StepContext(self.seq, state, runtime.context)
        match = self.step.when.evaluate(ctx.context())
        label = "then" if match else "otherwise"
        why = match.reason if match else f"{self.step.when!r} did not hold"
        decision = ctx.decision(
            self.placed, fired=bool(match), reason=f"{label}: {why}", evidence=match.evidence
        )
        return {"route": label, "decisions": [decision]}


class CustomNode:
    """Node: your own function or Runnable, skipped once the enrollment has ended."""

    def __init__(self, placed: Placed) -> None:
        assert isinstance(placed.step, Node)
        self.fn = placed.step.node
        params = set() if isinstance(self.fn, Runnable) else _parameters(self.fn)
        self.wants = params & {"config", "runtime"}

    def __call__(self, state: SequenceState, config: RunnableConfig, runtime: Runtime[Deps]) -> Any:
        if halted(state):
            return {}
        if isinstance(self.fn, Runnable):
            return self.fn.invoke(state, config)
        given = {"config": config, "runtime": runtime}
        return self.fn(state, **{name: given[name] for name in self.wants})


def _parameters(fn: Any) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # builtins without a signature take the state only
        return set()


# --------------------------------------------------------------------------- layout


class Layout:
    """Adds a sequence's nodes to a builder (in step order) and wires their edges."""

    def __init__(self, sequence: Sequence, builder: StateGraph[Any, Any, Any, Any]) -> None:
        self.seq, self.builder = sequence, builder
        self.waits = [p.name for p in sequence.placed() if isinstance(p.step, Wait | WaitFor)]

    def add_nodes(self) -> None:
        """One node per step, depth first (the order `draw_mermaid()` lists them)."""
        for placed in self.seq.placed():
            self.builder.add_node(placed.name, self._node(placed))

    def lay(self, placed: Seq[Placed], after: str) -> str:
        """Wire the edges of `placed` (continuing at `after`); return its first node."""
        following = after
        for item in reversed(placed):
            self._edges(item, following)
            following = item.name
        return following

    def _node(self, placed: Placed) -> Any:
        step = placed.step
        if isinstance(step, Write | Decide):
            from gtmflow.graphs import _sequence_agents as agents  # agents load only when used

            if isinstance(step, Write):
                return agents.WriteNode(self.seq, placed)
            return agents.DecideNode(self.seq, placed)
        if isinstance(step, Send):
            return SendNode(self.seq, placed)
        if isinstance(step, Wait | WaitFor):
            return WaitNode(self.seq, placed)
        if isinstance(step, Branch):
            return BranchNode(self.seq, placed)
        return CustomNode(placed)

    def _edges(self, placed: Placed, following: str) -> None:
        step, name = placed.step, placed.name
        paths: dict[Hashable, str] = {
            label: self.lay(inner, following) for label, inner in placed.paths
        }
        if isinstance(step, Wait):
            self.builder.add_conditional_edges(name, route, {"waiting": END, "over": following})
        elif isinstance(step, WaitFor):
            self.builder.add_conditional_edges(
                name, route, {"waiting": END, "arrived": following, **paths}
            )
        elif isinstance(step, Branch):
            self.builder.add_conditional_edges(name, route, paths)
        elif isinstance(step, Write):  # written, then (kept in the checkpoint) sent
            self.builder.add_conditional_edges(name, route, {"written": name, "done": following})
        elif isinstance(step, Decide):
            if "no_action" not in paths:
                paths["continue"] = following
            self.builder.add_conditional_edges(name, route, paths)
        else:
            self.builder.add_edge(name, following)


# --------------------------------------------------------------------------- helpers


def approve(payload: dict[str, Any], thread_id: str, ordinal: int) -> dict[str, Any] | None:
    """Pause for a person's approval of this exact payload (LangGraph `interrupt`).

    Returns the payload stamped with the approved digest (an edited payload if the approver
    edited it), or None when it was rejected or superseded: then nothing is sent.
    """
    digest = payload_digest(payload)
    answer = interrupt(
        {
            "kind": "approval",
            "thread_id": thread_id,
            "step": ordinal,
            "digest": digest,
            "payload": payload,
        }
    )
    if not isinstance(answer, dict) or answer.get("decision") != "approve":
        return None
    approved = dict(answer.get("payload") or payload)
    if payload_digest(approved) != answer.get("digest"):
        return None  # the approval is for other words than these: never send them
    return approved | {"approval": {"digest": answer["digest"], "by": answer.get("by", "")}}


def fill(template: str, contact: Contact) -> str:
    """A `send()` template filled from the contact (placeholders were checked at build time)."""
    first = contact.attributes.get("first_name") or (contact.name or "").split(" ")[0] or "there"
    values = {
        "first_name": str(first),
        "name": contact.name or "",
        "company": contact.company or "",
        "title": contact.title or "",
    }
    return string.Formatter().vformat(template, (), values)
