"""The workspace: stores, checkpointer and the run loop, wired together.

`Workspace.open(path)` keeps everything under `path/.gtmflow/`: the event store, outbox and
decision log in `gtmflow.db`, LangGraph checkpoints in `checkpoints.db`; with `[store] url` (or
`GTMFLOW_STORE_URL`) they live in PostgreSQL instead (`gtmflow.runtime.stores`). `run` invokes a
graph once per contact that needs it (one thread per graph and contact), passes the actions each
run returns to the outbox, and logs its decisions so `explain` can answer "why did this contact
get that?".
"""

from __future__ import annotations

import time as wallclock
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property, wraps
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from gtmflow._progress import DeltaProgress, progress_bar, wants_progress
from gtmflow.clock import Clock, SystemClock, VirtualClock, require_aware
from gtmflow.config import WorkspaceConfig, load_sequences
from gtmflow.errors import ConfigError
from gtmflow.governor import Governor
from gtmflow.graphs.inbound_router import GRAPH_NAME
from gtmflow.graphs.sequences import SEQUENCE_PREFIX
from gtmflow.models import Event
from gtmflow.pipes import Rule
from gtmflow.runtime._threads import ThreadRunner
from gtmflow.runtime.contact_pass import ContactPass
from gtmflow.runtime.enrollments import Enrollments, EnrollTransport
from gtmflow.runtime.explain import explanation
from gtmflow.runtime.library import LazyLibrary
from gtmflow.runtime.reloads import WorkspaceCode
from gtmflow.runtime.retention import CompactReport
from gtmflow.runtime.rules_pass import BATCH, RulesPass, bulk_rules_of
from gtmflow.runtime.stores import open_stores
from gtmflow.tools.context.graph_store import ContextGraphStore
from gtmflow.tools.decisions import DecisionLog
from gtmflow.tools.delivery.approvals import Approval, ApprovalBook
from gtmflow.tools.delivery.outbox import DeliveryReport, Outbox, OutboxRecord, Verdict
from gtmflow.tools.delivery.owners import TriggerOwners
from gtmflow.tools.delivery.scheduler import Scheduler
from gtmflow.tools.delivery.transport_config import load_transports
from gtmflow.tools.delivery.transports import Transport
from gtmflow.tools.deps import Deps
from gtmflow.tools.events.dead_letter import dead_letter_name
from gtmflow.tools.events.ingest import IngestReport, ingest_contacts, ingest_events
from gtmflow.tools.events.mapping import EventMapping
from gtmflow.triggers import RuleSet

if TYPE_CHECKING:
    from gtmflow.tools.context.context_store import ContextStore

__all__ = ["RunMode", "RunReport", "Workspace"]

STATE_DIR = ".gtmflow"
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _in_phase(kind: Literal["run", "tick"]) -> Callable[[_Method], _Method]:
    """Run the method inside `Stores.phase(kind)` (runs before ticks across workers)."""

    def wrap(method: _Method) -> _Method:
        @wraps(method)
        def inner(self: Workspace, *args: Any, **kwargs: Any) -> Any:
            with self.stores.phase(kind):
                return method(self, *args, **kwargs)

        return cast(_Method, inner)

    return wrap


RunMode = Literal["bulk", "per_contact"]
"""How `Workspace.run` judges rules: in bulk where the graph allows it, or per contact."""


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a run did: contacts judged, new outbox actions (per rule), invokes, failures."""

    contacts: int
    actions: int
    by_rule: dict[str, int] = field(default_factory=dict)
    as_of: datetime | None = None
    invoked: int = 0
    """Graph invocations: in bulk mode only contacts where a rule fired or a wait fell due."""
    errors: dict[str, str] = field(default_factory=dict)
    """Contacts whose run failed, and why (the others went on; these run again when due)."""

    def to_json(self) -> dict[str, Any]:
        """The shape printed by `gtmflow run --json`."""
        return {
            "contacts": self.contacts,
            "actions": self.actions,
            "by_rule": self.by_rule,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "invoked": self.invoked,
            "errors": self.errors,
        }


class Workspace:
    """A gtmflow workspace on disk: ingest events, run graphs, read the outbox, explain.

    Example:
        >>> import tempfile
        >>> with Workspace.open(tempfile.mkdtemp()) as ws:
        ...     ws.outbox.counts()
        {}
    """

    def __init__(self, root: Path, *, clock: Clock | None = None) -> None:
        self.root = root
        self.state_dir = root / STATE_DIR
        self.config = WorkspaceConfig.load(root)
        self.clock: Clock = clock or SystemClock()
        self.stores = open_stores(self.state_dir, config=self.config, clock=self.clock)
        self.events = self.stores.events
        self.outbox: Outbox = self.stores.outbox
        self.decisions: DecisionLog = self.stores.decisions
        self.scheduler: Scheduler = self.stores.scheduler
        self.approvals: ApprovalBook = self.stores.approvals
        self.owners: TriggerOwners = self.stores.owners  # who follows up each webinar and call
        self.run_state = self.stores.run_state
        self.cursors: ContactPass = self.stores.cursors
        self.checkpointer = self.stores.checkpointer
        self.retention = self.stores.retention  # None on PostgreSQL
        self.deps = Deps(events=self.events, clock=self.clock, scheduler=self.scheduler,
                         memory=self.library, content=self.library, owners=self.owners)  # fmt: skip
        self.runner = ThreadRunner(
            self.outbox,
            self.decisions,
            self.approvals,
            self.deps,
            leases=self.stores.leases,
            in_flight=self.stores.in_flight,
        )
        self.governor = Governor(
            self.config.governor_policy(), events=self.events, outbox=self.outbox
        )
        self._enrollments: Enrollments | None = None
        self._graph_nodes: dict[str, frozenset[str]] = {}
        self.code = WorkspaceCode(root, self.config)  # loaded again when a file changes

    @classmethod
    def open(cls, path: str | Path = ".", *, clock: Clock | None = None) -> Workspace:
        """Open (creating if needed) the workspace at `path`."""
        root = Path(path).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise ConfigError(f"workspace '{root}' is a file; pass a directory")
        (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
        return cls(root, clock=clock)

    @cached_property
    def context(self) -> ContextStore:
        """The Chroma context store (opened on first use: it takes the single-writer lock)."""
        from gtmflow.tools.context.context_store import ContextStore  # chromadb: ~0.3 s

        return ContextStore.for_workspace(self.root)

    @cached_property
    def library(self) -> LazyLibrary:
        """Content retrieval (and contact memory) that opens the context store only if needed.

        What `run` hands graph nodes as `Deps.content` and `Deps.memory`: a workspace that
        never had content ingested answers `content_for` with nothing, without opening Chroma.
        """
        return LazyLibrary(self)

    def close(self) -> None:
        """Close every store."""
        if "context" in self.__dict__:
            self.context.close()
        self.stores.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # ------------------------------------------------------------------ ingest

    def ingest(
        self,
        path: str | Path,
        *,
        kind: Literal["events", "contacts"] = "events",
        mapping: EventMapping | None = None,
        progress: bool | None = None,
        delimiter: str = ",",
    ) -> IngestReport:
        """Ingest a JSONL/CSV file of events (default) or contacts; bad rows are dead-lettered.

        The dead-letter file goes under `.gtmflow/dead-letter/` (`dead_letter_name`: the input's
        name and a hash of its path); the report says where. `mapping` reads event exports
        with other column names or timestamp formats.
        """
        source = Path(path)
        size = source.stat().st_size if source.is_file() else None
        dead = self.state_dir / "dead-letter" / dead_letter_name(source)
        options: dict[str, Any] = {"dead_letter": dead, "delimiter": delimiter}
        with progress_bar(f"ingest {source.name}", size, enabled=wants_progress(progress)) as bar:
            options["progress"] = DeltaProgress(bar)
            if kind == "contacts":
                if mapping is not None:
                    raise ConfigError("mapping= applies to events; contacts map their headers")
                return ingest_contacts(self.events, source, **options)
            return ingest_events(self.events, source, mapping=mapping, **options)

    # ------------------------------------------------------------------ run

    def rules(self) -> list[Rule]:
        """The rules `gtmflow.toml` names (default: `rules.py`'s `RULES`); enrolls must exist.

        Loaded again only when `rules.py` or `sequences.py` changed (`gtmflow.runtime.reloads`).
        """
        return self.code.rules()

    def graphs(self) -> list[Any]:
        """The graphs `gtmflow.toml` names besides the rules (default: `graphs.py`'s `GRAPHS`)."""
        return self.code.graphs()

    @_in_phase("run")
    def run_all(
        self, *, as_of: datetime | None = None, progress: bool | None = None
    ) -> dict[str, RunReport]:
        """Run the rules' router, then every configured graph, all at one as-of time.

        This is what `gtmflow run` and `gtmflow serve` do. Returns each graph's report by name,
        the router (`inbound_router`) first.
        """
        as_of = require_aware(as_of, "as_of") if as_of is not None else self.clock.now()
        graphs = self.graphs()  # load_graphs refuses names used twice or by the router
        reports = {GRAPH_NAME: self.run(as_of=as_of, progress=progress)}
        for graph in graphs:
            reports[graph.name] = self.run(graph, as_of=as_of, progress=progress)
        return reports

    @_in_phase("run")
    def run(
        self,
        graph: Any = None,
        *,
        as_of: datetime | None = None,
        progress: bool | None = None,
        mode: RunMode = "bulk",
        batch: int = BATCH,
    ) -> RunReport:
        """Run a graph for every contact that needs it and write its actions to the outbox.

        A contact needs a run when it has new events some trigger listens to, when a rule
        needs a sweep (inactivity, scheduled), or when a wait the graph set for it (through
        `Deps.scheduler`, e.g. the follow-up graph's `wait:14d`) is due. Replays are harmless:
        actions keep their idempotency keys, so the outbox ignores what it already holds.

        Args:
            graph: A compiled graph taking `{"contact_id", "as_of"}`; default: the inbound
                router over this workspace's rules.
            as_of: The instant to evaluate at; default: the workspace clock's now.
            progress: Show a progress bar (None: when a person is watching).
            mode: `"bulk"` (default): a graph whose only trigger is its rules (the router, or
                your graph around an `EvaluateRules` node) has them judged for many contacts
                per pass, and is invoked only for contacts where a rule fired or a wait fell
                due (`gtmflow.runtime.rules_pass`); other graphs run per contact.
                `"per_contact"`: invoke the graph for every contact that needs it, its own
                node judging the whole history (the reference the bulk pass must agree with;
                pick one mode per workspace, as their rule state is kept apart).
            batch: Contacts per batch in bulk mode: each batch is read in one query per
                question and written in one transaction per ledger; superseded checkpoints are
                pruned after each (so the checkpoint file grows by at most a batch's worth).
                At most 50 on a shared store: each batch is one lease claim, and small claims
                spread a pass over the workers.
        """
        if batch < 1:
            raise ConfigError(f"batch={batch} must be at least 1 (contacts per batch)")
        graph = self._attach(self._named(graph if graph is not None else self.code.router()))
        as_of = require_aware(as_of, "as_of") if as_of is not None else self.clock.now()
        self.runner.recover_in_flight(lambda _: graph, failures={}, only=graph.name)
        scores = self.code.scorer().lookup(self.events, as_of=as_of)
        deps = replace(self.deps, score=scores, memory=self.library, content=self.library)
        rules = bulk_rules_of(graph) if mode == "bulk" else None
        if rules is not None:
            return self._run_bulk(graph, rules, as_of, deps, progress, batch)
        return self._run_per_contact(graph, as_of, deps, progress)

    def _run_per_contact(
        self, graph: Any, as_of: datetime, deps: Deps, progress: bool | None
    ) -> RunReport:
        failed: dict[str, str] = {}  # one contact's failure never stops the others
        contacts, by_rule = self.cursors.run(
            graph, as_of=as_of, runner=self.runner, scheduler=self.scheduler, deps=deps,
            progress=progress, failures=failed,
        )  # fmt: skip
        by = dict(sorted(by_rule.items()))
        return RunReport(
            len(contacts), sum(by_rule.values()), by, as_of, len(contacts), errors=failed
        )

    def _run_bulk(
        self,
        graph: Any,
        rules: RuleSet,
        as_of: datetime,
        deps: Deps,
        progress: bool | None,
        batch: int,
    ) -> RunReport:
        rules_pass = RulesPass(
            graph, rules, as_of=as_of, deps=deps, state=self.run_state, outbox=self.outbox,
            decisions=self.decisions, runner=self.runner, scheduler=self.scheduler,
            batch_size=batch, leases=self.stores.leases,
        )  # fmt: skip
        plan = rules_pass.plan()
        by_rule: Counter[str] = Counter()
        with progress_bar(
            f"run {graph.name}", len(plan.contacts), enabled=wants_progress(progress)
        ) as advance:
            for contacts in rules_pass.claim(plan):
                by_rule.update(rules_pass.process(contacts))
                advance(len(contacts))
        rules_pass.finish(plan)
        actions = sum(by_rule.values())
        return RunReport(
            len(plan.contacts), actions, dict(sorted(by_rule.items())), as_of, rules_pass.invoked,
            errors=rules_pass.failures,
        )  # fmt: skip

    def _named(self, graph: Any) -> Any:
        """The graph, once its name is known to be its own (names key cursors and threads)."""
        name = getattr(graph, "name", None)
        if not name or name == "LangGraph":
            raise ConfigError(
                "this graph has no name of its own (LangGraph calls every unnamed graph "
                "'LangGraph'), so it would share a cursor and threads with other unnamed graphs "
                "and find nothing new to do: compile it with a name, e.g. "
                "builder.compile(name='trial-nudges')"
            )
        nodes = frozenset(getattr(getattr(graph, "builder", None), "nodes", {}))
        known = self._graph_nodes.setdefault(name, nodes)
        if known != nodes:
            raise ConfigError(
                f"graph name '{name}' already names another graph in this workspace (nodes "
                f"{sorted(known)}, now {sorted(nodes)}); two graphs under one name share one "
                "cursor, so the second would do nothing: give each graph its own name= "
                "(a graph you changed on purpose runs in a new Workspace.open)"
            )
        return graph

    def _attach(self, graph: Any) -> Any:
        """The graph with this workspace's checkpointer and store, unless it brought its own."""
        update: dict[str, Any] = {}
        if getattr(graph, "checkpointer", None) is None:
            update["checkpointer"] = self.checkpointer
        if getattr(graph, "store", None) is None:
            update["store"] = self.graph_store
        return graph.copy(update=update) if update else graph

    @cached_property
    def graph_store(self) -> ContextGraphStore:
        """The context store as a LangGraph `BaseStore`, attached to every graph this runs.

        A node reads and writes it as `runtime.store` (namespaces `("contacts", <id>)` and
        `("content",)`); Chroma opens on the first operation, not before.
        """
        return ContextGraphStore(lambda: self.context)

    # ------------------------------------------------------------------ erasure

    def forget(self, contact_id: str) -> dict[str, Any]:
        """Erase a contact from every file under `.gtmflow`, and say what was removed.

        Events, the contact row and decisions are deleted; the checkpoints of the contact's own
        threads (exactly `<graph>:<contact_id>`) too; outbox records are redacted (payload and
        contact id), keeping their idempotency keys so nothing can be sent twice; the contact's
        lines leave `delivered.jsonl` and dead-letter files; Chroma's log forgets the notes.
        `complete` is False (and `remaining` says what) when a part could not be done, e.g. the
        context store was busy: calling `forget` again finishes it (`resumed` is then True).
        See `gtmflow.runtime.erasure`.
        """
        from gtmflow.runtime.erasure import Erasure

        return Erasure(self, contact_id).run()

    # ------------------------------------------------------------------ outbox and explain

    def transport(self) -> Transport:
        """The transports `gtmflow.toml` configures, routed by action kind.

        Default: every action is appended to `.gtmflow/delivered.jsonl`; `[transports]`
        adds SMTP and webhooks (see `gtmflow.tools.delivery.transport_config`).
        """
        return load_transports(
            self.root, state_dir=self.state_dir, contacts=self.events.contact, clock=self.clock
        )

    @_in_phase("tick")
    def deliver(
        self, transport: Transport | None = None, *, now: datetime | None = None
    ) -> DeliveryReport:
        """Deliver pending outbox actions through the governor, each exactly once.

        `enroll` actions start sequence threads; every other action goes to `transport`
        (default: the one `gtmflow.toml` configures) if the governor allows it now.
        """
        now = require_aware(now, "now") if now is not None else self.clock.now()
        if transport is None:
            with self.transport() as configured:
                return self.deliver(configured, now=now)
        enroller = EnrollTransport(self.enrollments, now)

        def route(record: OutboxRecord) -> Transport:
            return enroller if record.action.kind == "enroll" else transport

        def gate(record: OutboxRecord, at: datetime) -> Verdict:
            if record.action.kind == "enroll":
                return self.enrollments.gate(record, at)
            verdict = self.governor(record, at)
            action = record.action
            if verdict.decision == "hold" and (
                self.governor.policy.approval_for(action.kind, action.payload) == "approve"
            ):
                self.enrollments.request_approval(record, at)  # so `gtmflow approvals` lists it
            return verdict

        return self.outbox.deliver(route, gate=gate, now=now)

    # ------------------------------------------------------------------ time

    @property
    def enrollments(self) -> Enrollments:
        """The workspace's sequences (from `sequences.py`), loaded on first use."""
        if self._enrollments is None:
            self._enrollments = Enrollments(
                load_sequences(self.config.sequences, root=self.root), runner=self.runner,
                scheduler=self.scheduler, outbox=self.outbox, approvals=self.approvals,
                checkpointer=self.checkpointer,
                message_kinds=self.governor.policy.message_kinds,
            )  # fmt: skip
        return self._enrollments

    @_in_phase("tick")
    def tick(
        self,
        until: datetime | None = None,
        *,
        transport: Transport | None = None,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """Let time pass up to `until` (default: now): resume due waits, react, deliver.

        Moments are processed in order: each due wait, each hold that ends, each retry of a
        transient failure that falls due, then `until` itself. At each, new events up to that
        moment resume the threads that listen to them, due waits resume, and the outbox
        delivers through the governor.
        """
        if transport is None:
            with self.transport() as configured:
                return self.tick(until, transport=configured, progress=progress)
        end = require_aware(until, "until") if until is not None else self.clock.now()
        totals: Counter[str] = Counter()
        if recovered := sum(self.runner.recover_in_flight(self._graph_named, failures={}).values()):
            totals["recovered"] = recovered  # actions of runs a crash had stopped part way
        reasons: Counter[str] = Counter()
        with progress_bar("tick", None, enabled=wants_progress(progress)) as advance:
            for moment in self._moments(end):
                totals.update(self._tick_at(moment, transport, reasons))
                advance(1)
        return {
            "until": end.isoformat(),
            **dict(sorted(totals.items())),
            "reasons": dict(reasons.most_common()),
        }

    def _graph_named(self, name: str) -> Any | None:
        """The compiled graph a thread of `name` belongs to: a sequence's or a configured one."""
        if name.startswith(SEQUENCE_PREFIX):
            sequence = name.removeprefix(SEQUENCE_PREFIX)
            return (
                self.enrollments.graph(sequence) if sequence in self.enrollments.sequences else None
            )
        found = [g for g in self.graphs() if g.name == name]
        return self._attach(found[0]) if found else None

    def _moments(self, end: datetime) -> Iterable[datetime]:
        """Now (if before `end`), then every due wait, hold release and retry before `end`, then
        `end`."""
        last = min(self.clock.now(), end)
        if last < end:
            yield last
        for _ in range(1_000_000):
            wakes = (
                self.scheduler.next_due(graph=SEQUENCE_PREFIX),
                self.outbox.next_release(),
                self.outbox.next_retry(),
            )
            pending = [t for t in wakes if t is not None and last < t < end]
            if not pending:
                break
            last = min(pending)
            yield last
        yield end

    def _tick_at(
        self, moment: datetime, transport: Transport, reasons: Counter[str]
    ) -> Counter[str]:
        if isinstance(self.clock, VirtualClock) and moment > self.clock.now():
            self.clock.set(moment)
        counts: Counter[str] = Counter()
        fresh: list[Event] = []
        resume_seq = self.cursors.scan("__tick__", moment, fresh.append)
        counts["resumed"] += sum(self.enrollments.on_events(fresh, moment).values())
        self.cursors.save("__tick__", resume_seq, moment)  # after: a crash reads them again
        counts["resumed"] += sum(self.enrollments.resume_due(moment).values())
        counts["errors"] += self.enrollments.take_failures()  # each one warned about
        for attempt in range(4):  # enrollments create first sends; deliver them in this moment
            report = self.deliver(transport, now=moment)
            counts.update({k: v for k, v in report.counts().items() if v})
            reasons.update(report.reasons)
            if not report.sent:
                # No live worker delivers beside a tick: rows leased elsewhere are a dead pass's.
                left = self.outbox.leased_elsewhere(moment)
                if not left or attempt == 3:
                    break
                wallclock.sleep(left + 0.05)
        return counts

    # ------------------------------------------------------------------ approvals

    def approve(
        self, request_id: str, *, by: str = "cli", edit: dict[str, Any] | None = None
    ) -> Approval:
        """Approve a draft a graph paused on (or an edited version); it is then delivered.

        Returns:
            The decided request; its `payload` is what goes out (the edit, when there is one).
        """
        decided = self.enrollments.approve(request_id, by=by, now=self.clock.now(), payload=edit)
        return decided if edit is None else replace(decided, payload=edit)

    def reject(self, request_id: str, *, by: str = "cli") -> Approval:
        """Reject a draft a graph paused on; it is never sent."""
        return self.enrollments.reject(request_id, by=by, now=self.clock.now())

    def compact(self, *, vacuum: bool = True) -> CompactReport:
        """Keep only each thread's latest checkpoint (and its pending writes), then `VACUUM`.

        With `keep = "latest"` runs already do this as they write; compaction cleans databases
        written with `keep = "all"` (or by older versions) and gives the space back to the disk.
        """
        if self.retention is None:
            raise ConfigError(
                f"compact works on SQLite checkpoints; the PostgreSQL store '{self.stores.label}' "
                "is vacuumed by PostgreSQL itself (autovacuum, or VACUUM by its administrator)"
            )
        return self.retention.compact(vacuum=vacuum)

    def explain(self, contact_id: str) -> dict[str, Any]:
        """Why a contact got what it got: rule verdicts with evidence, and its actions."""
        contact = self.events.contact(contact_id)
        if contact is None:
            raise ConfigError(
                f"contact '{contact_id}' is not in this workspace; check the id "
                "(`gtmflow outbox --json` lists contacts with actions)"
            )
        return explanation(
            contact_id,
            self.decisions.for_contact(contact_id),
            self.outbox.records(contact_id=contact_id),
        )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
