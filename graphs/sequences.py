"""Sequences: timed multi-step series (send, wait, branch, exit) run as LangGraph threads.

Define a sequence in Python; each enrollment of a contact runs as one thread
(`thread_id = "sequence:<name>:<contact_id>"`) whose state is a program counter, not a history:

    >>> from gtmflow import pipes as p
    >>> nurture = Sequence(
    ...     "nurture",
    ...     steps=[
    ...         send("nurture-1", subject="The guide you downloaded", body="Hi {first_name}, ..."),
    ...         wait("3d"),
    ...         branch(p.event("email_open", within="3d"),
    ...                then=[send("nurture-2a", subject="Next: pricing", body="...")],
    ...                otherwise=[send("nurture-2b", subject="In case you missed it", body="...")]),
    ...         wait_for("demo_requested", timeout="7d",
    ...                  on_timeout=[send("nurture-3", subject="Still exploring?", body="...")]),
    ...     ],
    ...     exit_when=p.event("meeting_booked") | p.event("email_replied"),
    ... )
    >>> [op.op for op in nurture.program][:4]
    ['send', 'wait', 'branch', 'send']

A wait writes a row in the scheduler (through the injected `Deps.scheduler`) and ends the run;
`gtmflow tick` resumes the thread when the row falls due, or at once when an awaited or exit event
arrives. Sends become `Action`s with stable idempotency keys (sequence, enrollment, step), so a
resumed or replayed thread never sends twice.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NotRequired, Required, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError
from gtmflow.governor import payload_digest
from gtmflow.models import Action, Contact, idempotency_key
from gtmflow.pipes import Condition, EvalContext, EventFilter, History
from gtmflow.tools.deps import Deps

__all__ = [
    "Branch",
    "Send",
    "Sequence",
    "SequenceState",
    "Wait",
    "WaitFor",
    "branch",
    "build_sequence_graph",
    "send",
    "wait",
    "wait_for",
]

SEQUENCE_PREFIX = "sequence:"
"""Graph names of sequences start with this (`sequence:<name>`)."""

ReEnroll = Literal["never", "after_cooldown", "after_exit"]


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Send:
    """Send a message: a template filled from the contact, or a draft the graph is given."""

    template: str
    subject: str
    body: str
    kind: str = "send_email"
    author: Literal["template", "ai"] = "template"


@dataclass(frozen=True)
class Wait:
    """Pause for a duration, or until an instant."""

    duration: timedelta | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class WaitFor:
    """Pause until an event arrives; after `timeout`, run `on_timeout` instead."""

    event: str
    timeout: timedelta
    on_timeout: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Branch:
    """Run `then` when the condition holds for the contact now, else `otherwise`."""

    when: Condition
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...] = ()


Step = Send | Wait | WaitFor | Branch


def send(
    template: str, /, *, subject: str, body: str, kind: str = "send_email", author: str = "template"
) -> Send:
    """A send step; `{first_name}`, `{name}`, `{company}`, `{title}` fill from the contact."""
    if author not in ("template", "ai"):
        raise ConfigError(f"send('{template}'): author must be 'template' or 'ai'")
    return Send(template, subject, body, kind, author)  # type: ignore[arg-type]


def wait(duration: str | timedelta | None = None, /, *, until: datetime | None = None) -> Wait:
    """A wait step: `wait("3d")` or `wait(until=datetime(...))`."""
    if (duration is None) == (until is None):
        raise ConfigError("wait() needs a duration such as wait('3d') or until=, not both")
    return Wait(None if duration is None else parse_duration(duration), until)


def wait_for(
    event: str, /, *, timeout: str | timedelta, on_timeout: Iterable[Step] = ()
) -> WaitFor:
    """Wait until an event of this type arrives, at most `timeout`."""
    return WaitFor(event, parse_duration(timeout), tuple(on_timeout))


def branch(when: Condition, /, *, then: Iterable[Step], otherwise: Iterable[Step] = ()) -> Branch:
    """Branch on a pipes condition evaluated at the moment the step runs."""
    if not isinstance(when, Condition):
        raise ConfigError(f"branch() needs a condition such as event('email_open'), got {when!r}")
    return Branch(when, tuple(then), tuple(otherwise))


# --------------------------------------------------------------------------- program


@dataclass(frozen=True)
class Op:
    """One instruction of a compiled sequence."""

    op: Literal["send", "wait", "wait_for", "branch", "jump", "end"]
    step: Send | Wait | WaitFor | Branch | None = None
    target: int = -1
    """Where `branch` goes when false, `wait_for` on timeout, `jump` always."""


def _compile(steps: Seq[Step]) -> list[Op]:
    program: list[Op] = []
    _emit(steps, program)
    program.append(Op("end"))
    return program


def _emit(steps: Seq[Step], program: list[Op]) -> None:
    for step in steps:
        if isinstance(step, Send):
            program.append(Op("send", step))
        elif isinstance(step, Wait):
            program.append(Op("wait", step))
        elif isinstance(step, WaitFor):
            _emit_around(program, Op("wait_for", step), (), step.on_timeout)
        elif isinstance(step, Branch):
            _emit_around(program, Op("branch", step), step.then, step.otherwise)
        else:
            raise ConfigError(f"unknown sequence step {step!r}; use send, wait, wait_for, branch")


def _emit_around(program: list[Op], head: Op, yes: Seq[Step], no: Seq[Step]) -> None:
    """`head` falls through to `yes`, jumps to `no` otherwise; both continue after."""
    at = len(program)
    program.append(head)
    _emit(yes, program)
    skip = len(program)
    program.append(Op("jump"))
    program[at] = Op(head.op, head.step, target=len(program))
    _emit(no, program)
    program[skip] = Op("jump", target=len(program))


@dataclass(frozen=True)
class Sequence:
    """A named sequence: ordered steps, exit conditions and a re-enrollment policy.

    Attributes:
        name: Used in `enroll(name)`, thread ids and idempotency keys.
        steps: `send`, `wait`, `wait_for`, `branch` steps.
        exit_when: Leave at once when this holds on events since enrollment (goals, replies,
            unsubscribes).
        reenroll: `never`, `after_cooldown` (once `cooldown` has passed since the end), or
            `after_exit` (any time after the last enrollment ended).
        cooldown: For `after_cooldown`.
    """

    name: str
    steps: Seq[Step]
    exit_when: Condition | None = None
    reenroll: ReEnroll = "never"
    cooldown: str | timedelta | None = None
    program: list[Op] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ConfigError(f"sequence name '{self.name}' must be non-empty and have no ':'")
        if self.reenroll == "after_cooldown" and self.cooldown is None:
            raise ConfigError(f"sequence '{self.name}': reenroll='after_cooldown' needs cooldown=")
        object.__setattr__(self, "program", _compile(list(self.steps)))

    @property
    def graph_name(self) -> str:
        """The graph (and thread-id prefix) of this sequence."""
        return f"{SEQUENCE_PREFIX}{self.name}"

    def listens_to(self) -> tuple[EventFilter, ...]:
        """Events that should resume a waiting enrollment at once (exits and awaited events)."""
        exits = self.exit_when.filters() if self.exit_when else ()
        awaited = tuple(
            EventFilter(op.step.event)
            for op in self.program
            if op.op == "wait_for" and isinstance(op.step, WaitFor)
        )
        return (*exits, *awaited)

    def cooldown_delta(self) -> timedelta:
        """The re-enrollment cooldown (zero when none)."""
        return parse_duration(self.cooldown) if self.cooldown is not None else timedelta(0)


# --------------------------------------------------------------------------- graph


class SequenceState(TypedDict, total=False):
    """JSON-native state of one enrollment."""

    contact_id: Required[str]
    as_of: NotRequired[str | None]
    enrollment: int
    pc: int
    status: Literal["active", "waiting", "completed", "exited"]
    wait: dict[str, Any] | None
    started_at: str
    ended_at: str | None
    exit_reason: str | None
    enrolled_by: str
    """Idempotency key of the enroll action that started this enrollment."""
    actions: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


class Advance:
    """Node: run the program from the counter until it waits, ends or exits."""

    def __init__(self, sequence: Sequence) -> None:
        self.sequence = sequence

    def __call__(self, state: SequenceState, runtime: Runtime[Deps]) -> dict[str, Any]:
        deps = runtime.context
        run = _Run(self.sequence, state, deps)
        if state.get("status") in ("completed", "exited"):
            return {"actions": [], "decisions": []}
        if run.exited():
            return run.result()
        if state.get("status") == "waiting" and not run.resume_wait():
            return {"actions": [], "decisions": []}
        run.execute()
        return run.result()


class _Run:
    """One invocation's walk through the program."""

    def __init__(self, sequence: Sequence, state: SequenceState, deps: Deps) -> None:
        self.seq, self.state, self.deps = sequence, state, deps
        self.contact_id = state["contact_id"]
        raw = state.get("as_of")
        self.now = datetime.fromisoformat(raw) if raw else deps.clock.now()
        self.pc = state.get("pc", 0)
        self.updates: dict[str, Any] = {"actions": [], "decisions": []}
        self.thread_id = f"{sequence.graph_name}:{self.contact_id}"

    def result(self) -> dict[str, Any]:
        return self.updates | {"pc": self.pc}

    def context(self) -> EvalContext:
        contact = self.deps.events.contact(self.contact_id) or Contact(id=self.contact_id)
        return EvalContext(
            contact, History(self.deps.events.events(self.contact_id, until=self.now)), self.now
        )

    def exited(self) -> bool:
        condition = self.seq.exit_when
        if condition is None:
            return False
        since = datetime.fromisoformat(self.state["started_at"])
        contact = self.deps.events.contact(self.contact_id) or Contact(id=self.contact_id)
        recent = self.deps.events.events(self.contact_id, since=since, until=self.now)
        match = condition.evaluate(EvalContext(contact, History(recent), self.now))
        if not match:
            return False
        self._finish("exited", f"exit: {match.reason}", match.evidence)
        return True

    def resume_wait(self) -> bool:
        """Whether the pending wait is over; moves the counter past it (or to its timeout)."""
        waiting = self.state.get("wait") or {}
        since = datetime.fromisoformat(waiting["since"])
        if waiting.get("event"):
            arrived = self.deps.events.events(
                self.contact_id, types=[waiting["event"]], since=since, until=self.now
            )
            if [e for e in arrived if e.timestamp > since]:
                self.pc += 1
                return True
        if self.now < datetime.fromisoformat(waiting["until"]):
            return False
        self.pc = waiting["timeout_pc"] if waiting.get("event") else self.pc + 1
        return True

    def execute(self) -> None:
        self.updates |= {"status": "active", "wait": None}
        program = self.seq.program
        while True:
            op = program[self.pc]
            if op.op == "end":
                self._finish("completed", "completed", ())
                return
            if op.op in ("wait", "wait_for"):
                self._wait(op)
                return
            self._step(op)

    def _step(self, op: Op) -> None:
        if op.op == "jump":
            self.pc = op.target
        elif op.op == "branch":
            assert isinstance(op.step, Branch)
            self.pc = self.pc + 1 if op.step.when.evaluate(self.context()) else op.target
        else:
            assert isinstance(op.step, Send)
            action = self._send(op.step)
            if action is not None:
                self.updates["actions"].append(action.model_dump(mode="json"))
            self.pc += 1

    def _send(self, step: Send) -> Action | None:
        contact = self.deps.events.contact(self.contact_id) or Contact(id=self.contact_id)
        payload = {
            "template": step.template,
            "subject": _fill(step.subject, contact),
            "body": _fill(step.body, contact),
            "sequence": self.seq.name,
            "author": step.author,
        }
        if step.author == "ai":
            approved = _approve(payload, self.thread_id, self.pc)
            if approved is None:
                return None
            payload = approved
        enrollment = self.state.get("enrollment", 1)
        source = f"{self.seq.name}#{enrollment}"
        return Action(
            kind=step.kind, contact_id=self.contact_id, payload=payload,
            graph=self.seq.graph_name, source=source, step=self.pc + 1, created_at=self.now,
            idempotency_key=idempotency_key(self.seq.graph_name, self.contact_id, source,
                                            self.pc + 1, step.kind),
        )  # fmt: skip

    def _wait(self, op: Op) -> None:
        step = op.step
        if isinstance(step, WaitFor):
            until, event, reason = self.now + step.timeout, step.event, f"wait for {step.event}"
        else:
            assert isinstance(step, Wait)
            until = step.until or self.now + (step.duration or timedelta(0))
            event, reason = None, "wait"
        waiting = {
            "until": until.isoformat(),
            "event": event,
            "since": self.now.isoformat(),
            "timeout_pc": op.target,
        }
        self.updates |= {"status": "waiting", "wait": waiting}
        if self.deps.scheduler is not None:
            self.deps.scheduler.schedule(
                graph=self.seq.graph_name, contact_id=self.contact_id, thread_id=self.thread_id,
                due_at=until, reason=f"{reason} (step {self.pc + 1})",
            )  # fmt: skip

    def _finish(self, status: str, reason: str, evidence: Seq[str]) -> None:
        self.updates |= {
            "status": status,
            "wait": None,
            "ended_at": self.now.isoformat(),
            "exit_reason": reason,
        }
        self.updates["decisions"].append({
            "step": 0, "rule": f"{self.seq.name}:{status}", "fired": status == "exited",
            "at": self.now.isoformat(), "evidence": list(evidence), "reason": reason,
        })  # fmt: skip
        if self.deps.scheduler is not None:
            self.deps.scheduler.cancel(thread_id=self.thread_id, note=reason)


def _approve(payload: dict[str, Any], thread_id: str, pc: int) -> dict[str, Any] | None:
    """Pause for a person's approval of this exact payload (LangGraph `interrupt`).

    Returns the payload stamped with the approved digest (an edited payload if the approver
    edited it), or None when it was rejected or superseded: then nothing is sent.
    """
    digest = payload_digest(payload)
    answer = interrupt(
        {
            "kind": "approval",
            "thread_id": thread_id,
            "step": pc + 1,
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


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, contact: Contact) -> str:
    first = contact.attributes.get("first_name") or (contact.name or "").split(" ")[0] or "there"
    values = _Blank(
        first_name=str(first),
        name=contact.name or "",
        company=contact.company or "",
        title=contact.title or "",
    )
    return string.Formatter().vformat(template, (), values)


def build_sequence_graph(
    sequence: Sequence, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> CompiledStateGraph[SequenceState, Deps, SequenceState, SequenceState]:
    """Build the graph that runs enrollments of one sequence (one thread per contact)."""
    builder = StateGraph(SequenceState, context_schema=Deps)
    builder.add_node("advance", Advance(sequence))
    builder.add_edge(START, "advance")
    builder.add_edge("advance", END)
    return builder.compile(checkpointer=checkpointer, name=sequence.graph_name)
