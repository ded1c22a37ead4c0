"""Sequences: timed multi-step series (send, write, decide, wait, branch, exit) compiled to graphs.

Define a sequence in Python; it compiles to a LangGraph graph with one node per step, branches as
conditional edges, and one thread per enrollment (`thread_id = "sequence:<name>:<contact_id>"`):

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
    >>> [n for n in build_sequence_graph(nurture).get_graph().nodes][1:6]
    ['enter', 'nurture-1', 'wait-3d', 'if-email_open', 'nurture-2a']

Steps:
- `send(template, subject=, body=)`: a fixed message; `{first_name}`, `{name}`, `{company}`,
  `{title}` fill from the contact, and any other placeholder is refused when the step is built.
- `write(name)`: an agent step. The `ContentWriter` writes the email at send time from what the
  contact said (the enrolling webinar's or call's transcript, analysed once per enrollment, and
  their memory in the context store), what they did since the last step, the library content
  that answers their pains and asks, and what the enrollment's earlier emails already said.
  The draft is kept in the checkpoint under the step's idempotency key: a resume, a replay or a
  crash never writes it again, and an approval binds that exact draft.
- `decide(name, options={action: steps})`: the next-best-action agent picks one of the options
  (action ids such as `send_followup`, `alert_sales`, `no_action`), then the policy check runs;
  the branch it takes is recorded with the reason.
- `node(name, fn)`: your own LangGraph node or Runnable.
- `wait("3d")`, `wait_for(event, timeout=)`, `branch(condition, then=, otherwise=)`.

A wait writes a row in the scheduler (through the injected `Deps.scheduler`) and ends the run;
`gtmflow tick` resumes the thread at that step when the row falls due, or at once when an
awaited or exit event arrives. Sends become `Action`s with stable idempotency keys (sequence,
enrollment, step), so a resumed or replayed thread never sends twice.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Hashable, Iterable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from gtmflow.clock import format_duration, parse_duration
from gtmflow.errors import ConfigError
from gtmflow.pipes import Condition, EventFilter
from gtmflow.state import GtmflowState
from gtmflow.tools.deps import Deps

if TYPE_CHECKING:
    from gtmflow.agents.content_writer import ContentWriter
    from gtmflow.agents.next_action import NextBestAction
    from gtmflow.agents.transcript_analyst import TranscriptAnalyst
    from gtmflow.tools.transcripts import TranscriptSource

__all__ = [
    "Branch",
    "Decide",
    "Node",
    "Send",
    "Sequence",
    "SequenceState",
    "Wait",
    "WaitFor",
    "Write",
    "branch",
    "build_sequence_graph",
    "decide",
    "node",
    "send",
    "wait",
    "wait_for",
    "write",
]

SEQUENCE_PREFIX = "sequence:"
"""Graph names of sequences start with this (`sequence:<name>`)."""
PLACEHOLDERS = ("first_name", "name", "company", "title")
"""What a `send()` template may name; `write()` steps are for text written from what they said."""
RESERVED = frozenset({"enter", "exit", "complete"})

ReEnroll = Literal["never", "after_cooldown", "after_exit"]
ApprovalRule = Literal["ai", "always", "never"]
_NAME = re.compile(r"^[A-Za-z0-9][\w.\- ]*$")


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Send:
    """Send a fixed message: a template filled from the contact."""

    template: str
    subject: str
    body: str
    kind: str = "send_email"
    author: Literal["template", "ai"] = "template"


@dataclass(frozen=True)
class Write:
    """Send an email the `ContentWriter` writes at send time (see the module docstring)."""

    name: str
    kind: str = "send_email"
    approval: ApprovalRule = "ai"
    """Who approves: `ai` (default) a person, when a model wrote it; `always`; `never`."""
    writer: ContentWriter | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Decide:
    """Let the next-best-action agent choose the branch among `options` (action id → steps)."""

    name: str
    options: tuple[tuple[str, tuple[Step, ...]], ...]
    agent: NextBestAction | None = field(default=None, compare=False, repr=False)

    @property
    def allowed(self) -> tuple[str, ...]:
        """The action ids the agent may choose."""
        return tuple(action for action, _ in self.options)


@dataclass(frozen=True)
class Node:
    """Your own LangGraph node (a function of the state) or Runnable, run as one step."""

    name: str
    node: Any = field(compare=False)


@dataclass(frozen=True)
class Wait:
    """Pause for a duration, or until an instant."""

    duration: timedelta | None = None
    until: datetime | None = None
    name: str | None = None


@dataclass(frozen=True)
class WaitFor:
    """Pause until an event arrives; after `timeout`, run `on_timeout` instead."""

    event: str
    timeout: timedelta
    on_timeout: tuple[Step, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class Branch:
    """Run `then` when the condition holds for the contact now, else `otherwise`."""

    when: Condition
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...] = ()
    name: str | None = None


Step = Send | Write | Decide | Node | Wait | WaitFor | Branch
_STEPS = (Send, Write, Decide, Node, Wait, WaitFor, Branch)


def send(
    template: str, /, *, subject: str, body: str, kind: str = "send_email", author: str = "template"
) -> Send:
    """A send step; `{first_name}`, `{name}`, `{company}`, `{title}` fill from the contact.

    Raises:
        ConfigError: An unknown placeholder (it would render empty), or a bad author.
    """
    if author not in ("template", "ai"):
        raise ConfigError(f"send('{template}'): author must be 'template' or 'ai'")
    problems = [p for part, text in (("subject", subject), ("body", body))
                for p in _placeholder_problems(template, part, text)]  # fmt: skip
    if problems:
        raise ConfigError("; ".join(problems))
    return Send(template, subject, body, kind, author)  # type: ignore[arg-type]


def write(
    name: str,
    /,
    *,
    kind: str = "send_email",
    approval: ApprovalRule = "ai",
    writer: ContentWriter | None = None,
) -> Write:
    """An email written at send time by the `ContentWriter` (the sequence's, or `writer`)."""
    if approval not in ("ai", "always", "never"):
        raise ConfigError(f"write('{name}'): approval must be 'ai', 'always' or 'never'")
    return Write(name, kind, approval, writer)


def decide(
    name: str,
    /,
    *,
    options: Mapping[str, Iterable[Step]],
    agent: NextBestAction | None = None,
) -> Decide:
    """The next-best-action agent picks one of `options` (keys are action ids, e.g.
    `"send_followup"`, `"alert_sales"`, `"no_action"`); the policy check runs after it.

    When the policy replaces the choice with one that is not an option (`no_action`), the
    sequence goes on after this step.
    """
    from gtmflow.agents.next_action import parse_action  # agents load only when used

    if len(options) < 2:
        raise ConfigError(f"decide('{name}') needs at least two options, e.g. send_followup, "
                          "no_action")  # fmt: skip
    for action in options:
        parse_action(action)
    if agent is not None and set(agent.allowed) != set(options):
        raise ConfigError(
            f"decide('{name}'): the agent allows {sorted(agent.allowed)} but the options are "
            f"{sorted(options)}; build it with NextBestAction(allowed=...) of the options"
        )
    return Decide(name, tuple((a, tuple(steps)) for a, steps in options.items()), agent)


def node(name: str, fn: Callable[..., Any] | Any, /) -> Node:
    """Your own node as a step: `fn(state)` (or a Runnable) returning a partial state update.

    It may return `actions` (`Action.model_dump(mode="json")`) and `decisions` like any step.
    """
    if not callable(fn) and not hasattr(fn, "invoke"):
        raise ConfigError(f"node('{name}') needs a function or a Runnable, got {fn!r}")
    return Node(name, fn)


def wait(
    duration: str | timedelta | None = None,
    /,
    *,
    until: datetime | None = None,
    name: str | None = None,
) -> Wait:
    """A wait step: `wait("3d")` or `wait(until=datetime(...))`."""
    if (duration is None) == (until is None):
        raise ConfigError("wait() needs a duration such as wait('3d') or until=, not both")
    return Wait(None if duration is None else parse_duration(duration), until, name)


def wait_for(
    event: str,
    /,
    *,
    timeout: str | timedelta,
    on_timeout: Iterable[Step] = (),
    name: str | None = None,
) -> WaitFor:
    """Wait until an event of this type arrives, at most `timeout`."""
    return WaitFor(event, parse_duration(timeout), tuple(on_timeout), name)


def branch(
    when: Condition,
    /,
    *,
    then: Iterable[Step],
    otherwise: Iterable[Step] = (),
    name: str | None = None,
) -> Branch:
    """Branch on a pipes condition evaluated at the moment the step runs."""
    if not isinstance(when, Condition):
        raise ConfigError(f"branch() needs a condition such as event('email_open'), got {when!r}")
    return Branch(when, tuple(then), tuple(otherwise), name)


def _placeholder_problems(template: str, part: str, text: str) -> list[str]:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        return [f"send('{template}'): the {part} is not a valid template ({exc}); "
                "write a literal brace as {{ or }}"]  # fmt: skip
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    return [
        f"send('{template}'): unknown placeholder '{{{f}}}' in the {part} (it would be sent "
        f"empty); known: {known}; for text written from what the contact said, use "
        f"write('{template}')"
        for f in dict.fromkeys(fields)
        if f not in PLACEHOLDERS
    ]


# --------------------------------------------------------------------------- sequence


@dataclass(frozen=True)
class Sequence:
    """A named sequence: ordered steps, exit conditions, a re-enrollment policy, its agents.

    Attributes:
        name: Used in `enroll(name)`, thread ids and idempotency keys.
        steps: `send`, `write`, `decide`, `node`, `wait`, `wait_for`, `branch` steps.
        exit_when: Leave at once when this holds on events since enrollment (goals, replies,
            unsubscribes).
        reenroll: `never`, `after_cooldown` (once `cooldown` has passed since the end), or
            `after_exit` (any time after the last enrollment ended).
        cooldown: For `after_cooldown`.
        writer: The `ContentWriter` of its `write` steps (default: the rules brain).
        analyst: Reads the enrolling trigger's transcript (default: `TranscriptAnalyst()`).
        transcripts: Where a trigger's `transcript_id` is found (a `TranscriptFolder`).
    """

    name: str
    steps: Seq[Step]
    exit_when: Condition | None = None
    reenroll: ReEnroll = "never"
    cooldown: str | timedelta | None = None
    writer: ContentWriter | None = field(default=None, compare=False, repr=False)
    analyst: TranscriptAnalyst | None = field(default=None, compare=False, repr=False)
    transcripts: TranscriptSource | None = field(default=None, compare=False, repr=False)
    plan: tuple[Placed, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ConfigError(f"sequence name '{self.name}' must be non-empty and have no ':'")
        if self.reenroll == "after_cooldown" and self.cooldown is None:
            raise ConfigError(f"sequence '{self.name}': reenroll='after_cooldown' needs cooldown=")
        object.__setattr__(self, "plan", _Planner(self.name).plan(self.steps))

    @property
    def graph_name(self) -> str:
        """The graph (and thread-id prefix) of this sequence."""
        return f"{SEQUENCE_PREFIX}{self.name}"

    def placed(self) -> list[Placed]:
        """Every step with its node name and ordinal, depth first."""
        found: list[Placed] = []

        def visit(items: Seq[Placed]) -> None:
            for item in items:
                found.append(item)
                for _, inner in item.paths:
                    visit(inner)

        visit(self.plan)
        return found

    @property
    def follows_up(self) -> bool:
        """Whether its steps read the enrolling trigger (`write`, `decide`): then an
        enrollment claims that webinar or call, one journey per trigger."""
        return any(isinstance(p.step, Write | Decide) for p in self.placed())

    def listens_to(self) -> tuple[EventFilter, ...]:
        """Events that should resume a waiting enrollment at once (exits and awaited events)."""
        exits = self.exit_when.filters() if self.exit_when else ()
        awaited = tuple(
            EventFilter(p.step.event) for p in self.placed() if isinstance(p.step, WaitFor)
        )
        return (*exits, *awaited)

    def cooldown_delta(self) -> timedelta:
        """The re-enrollment cooldown (zero when none)."""
        return parse_duration(self.cooldown) if self.cooldown is not None else timedelta(0)


@dataclass(frozen=True)
class Placed:
    """A step with its node name, its ordinal (1-based, depth first) and its inner paths."""

    step: Step
    name: str
    ordinal: int
    paths: tuple[tuple[str, tuple[Placed, ...]], ...] = ()


class _Planner:
    """Names every step (unique node names) and numbers it, collecting every problem."""

    def __init__(self, sequence: str) -> None:
        self.sequence = sequence
        self.count = 0
        self.names: set[str] = set()
        self.problems: list[str] = []

    def plan(self, steps: Seq[Step]) -> tuple[Placed, ...]:
        placed = self._steps(steps)
        if not placed and not self.problems:
            self.problems.append("it has no steps")
        if self.problems:
            raise ConfigError(f"sequence '{self.sequence}': " + "; ".join(self.problems))
        return placed

    def _steps(self, steps: Iterable[Step]) -> tuple[Placed, ...]:
        return tuple(p for p in (self._one(s) for s in steps) if p is not None)

    def _one(self, step: Step) -> Placed | None:
        if not isinstance(step, _STEPS):
            hint = " (wrap your function: node('name', fn))" if callable(step) else ""
            self.problems.append(f"unknown step {step!r}; use send, write, decide, node, wait, "
                                 f"wait_for or branch{hint}")  # fmt: skip
            return None
        self.count += 1
        ordinal, name = self.count, self._name(step)
        paths: tuple[tuple[str, tuple[Placed, ...]], ...] = ()
        if isinstance(step, Branch):
            paths = (("then", self._steps(step.then)), ("otherwise", self._steps(step.otherwise)))
        elif isinstance(step, WaitFor):
            paths = (("timeout", self._steps(step.on_timeout)),)
        elif isinstance(step, Decide):
            paths = tuple((action, self._steps(inner)) for action, inner in step.options)
        return Placed(step, name, ordinal, paths)

    def _name(self, step: Step) -> str:
        explicit = _explicit_name(step)
        name = explicit or _default_name(step)
        if explicit is None:
            base, n = name, 1
            while name in self.names or name in RESERVED:
                n += 1
                name = f"{base}-{n}"
        elif name in self.names:
            self.problems.append(f"two steps are named '{name}'; give each step its own name")
        elif name in RESERVED or not _NAME.match(name):
            self.problems.append(
                f"step name '{name}' is reserved or has characters a node name cannot have "
                "(use letters, digits, '-', '_', '.', spaces; not 'enter', 'exit' or 'complete')"
            )
        self.names.add(name)
        return name


def _explicit_name(step: Step) -> str | None:
    if isinstance(step, Send):
        return step.template
    if isinstance(step, Write | Decide | Node):
        return step.name
    return step.name


def _default_name(step: Step) -> str:
    if isinstance(step, Wait):
        return f"wait-{format_duration(step.duration)}" if step.duration else "wait-until"
    if isinstance(step, WaitFor):
        return f"wait-for-{step.event}"
    assert isinstance(step, Branch)
    types = list(dict.fromkeys(f.type for f in step.when.filters()))
    return "if-" + "-or-".join(types) if types else "if"


# --------------------------------------------------------------------------- graph


def _merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Drafts by idempotency key: each write adds one; `None` (a new enrollment) clears."""
    return {} if right is None else {**(left or {}), **right}


class SequenceState(GtmflowState, total=False):
    """JSON-native state of one enrollment (ids, results, the step it waits at).

    A `GtmflowState`: `actions` and `decisions` append (the entry node starts each run afresh),
    so a sequence nests in your own graph as a node and adds to what your nodes decided.
    """

    enrollment: int
    at: str | None
    """The step the enrollment waits at (where a resumed run continues)."""
    status: Literal["active", "waiting", "completed", "exited"]
    wait: dict[str, Any] | None
    started_at: str
    ended_at: str | None
    exit_reason: str | None
    trigger: dict[str, Any] | None
    """The event that started the enrollment (a webinar, a call): id, type, title, transcript id."""
    insights: dict[str, Any] | None
    """What the trigger's transcript revealed, analysed once per enrollment."""
    drafts: Annotated[dict[str, dict[str, Any]], _merge]
    """Written emails by their step's idempotency key: generated once, then only read."""
    route: str | None
    enrolled_by: str | None
    """The idempotency key of the `enroll` action that started this enrollment."""


def build_sequence_graph(
    sequence: Sequence, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> CompiledStateGraph[SequenceState, Deps, SequenceState, SequenceState]:
    """Compile a sequence: one node per step, branches and waits as conditional edges.

    Invoke a thread with `{"contact_id", "as_of"}` (and, to start an enrollment, `enrollment`,
    `status="active"`, `started_at`, `trigger`); with a checkpointer, pass
    `durability="sync"` so a crash between writing and sending loses nothing.
    """
    from gtmflow.graphs import _sequence_steps as steps

    builder = StateGraph(SequenceState, context_schema=Deps)
    layout = steps.Layout(sequence, builder)
    builder.add_node("enter", steps.Enter(sequence, layout.waits))
    layout.add_nodes()
    builder.add_node("exit", steps.Exit(sequence))
    builder.add_node("complete", steps.Complete(sequence))
    first = layout.lay(sequence.plan, "complete")
    builder.add_edge(START, "enter")
    resumes: dict[Hashable, str] = {f"resume {w}": w for w in layout.waits}
    builder.add_conditional_edges(
        "enter", steps.route, {"start": first, **resumes, "exited": "exit", "ended": END}
    )
    builder.add_edge("exit", END)
    builder.add_edge("complete", END)
    return builder.compile(checkpointer=checkpointer, name=sequence.graph_name)
