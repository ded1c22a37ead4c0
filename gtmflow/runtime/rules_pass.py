"""The bulk run loop: rules judged for many contacts per pass, graphs invoked only for work.

`Workspace.run` hands a rules graph (one with a single `EvaluateRules` node, such as the inbound
router) to a `RulesPass`, which works in four steps:

1. `plan`: the contacts that need judging: new events a trigger wants (filters run in SQL over
   the new sequence range), deferred events the as-of has now reached, sweeps that fall due
   (an index on `next_sweep_at`), contacts never judged (when a rule sweeps) and due waits. A
   run with nothing new reads a few index entries and stops.
2. `claim`: the plan a batch at a time (500 contacts; 50 on a shared store, so a pass of a few
   hundred contacts spreads over the workers instead of going whole to the first to claim). On a
   shared store each batch is leased to this worker (`gtmflow.runtime.leases`, `FOR UPDATE SKIP
   LOCKED`): contacts another worker holds are skipped and tried again at the end of the pass,
   or sooner once their lease could have expired since (a killed worker's are taken over a
   lease length after it stopped beating, not when this worker has done its whole plan). A
   contact claimed on a shared store is dropped when its stored state shows another worker
   already judged it for this pass (it judged and released it first). So workers share a
   pass, none judges a contact twice, and none finishes it early.
3. `process`: for one batch, one query each reads the contacts, their rule state
   (`gtmflow.runtime.run_state`), the earliest event each has not seen, and only the parts of
   their histories the live rules read (`HistoryNeed`s); the rules are judged in Python
   (`graphs.inbound_router.judge`, as the graph's own node would); then the router is invoked
   only for contacts where a rule fired or a wait fell due, with the verdicts as input, so its
   node does not judge again. A graph with nodes of its own around the rules (they may act on
   every run) is invoked for every contact judged, also with the verdicts as input. The
   batch's actions, decisions and states are each written in one transaction, in that order:
   a crash before the states are written replays the batch, and idempotency keys make the
   replay harmless.
4. `finish`: save the cursor and the deferred events, complete the woken waits.

One contact's failure (a stored row it cannot read, a node that raises on its data) never stops
the others: it is recorded in `failures` (the run report's `errors`) with a warning, its state is
not saved, and it is deferred to the next run. A setup mistake or a store failure still stops.

The router itself (nodes `evaluate_rules` and `emit_actions` only) is invoked with
`durability="exit"`: its nodes are pure, so one checkpoint per invoke is enough. Any other graph
goes through `ThreadRunner` (crash recovery, approvals) with LangGraph's default durability.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gtmflow.graphs.inbound_router import (
    EmitActions,
    EvaluateRules,
    judge,
    replay_from,
    rule_outputs,
)
from gtmflow.models import Action, Contact, Event, RouteDecision
from gtmflow.pipes import History, Rule
from gtmflow.runtime._threads import ThreadRunner, thread_config
from gtmflow.runtime.leases import Leases, NoLeases
from gtmflow.runtime.run_state import ContactRuleState, RuleCursor, RunState
from gtmflow.tools.decisions import DecisionLog
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.delivery.scheduler import Scheduler, Wait
from gtmflow.tools.deps import Deps
from gtmflow.tools.events.event_store import EventStore, UnreadableRow
from gtmflow.tools.events.scans import Deferred
from gtmflow.triggers import Evaluation, RuleSet, triggers_of

__all__ = ["BATCH", "SHARED_BATCH", "RulesPass", "RunPlan", "bulk_rules_of"]

BATCH = 500
"""Contacts per batch: one query per question and one transaction per ledger each."""
SHARED_BATCH = 50
"""At most this many contacts per batch on a shared store, where each batch is one lease claim."""


def bulk_rules_of(graph: Any) -> RuleSet | None:
    """The rule set to judge in bulk, when the graph's only trigger is one `EvaluateRules`."""
    sources = triggers_of(graph)
    if len(sources) == 1 and isinstance(sources[0], EvaluateRules):
        return sources[0].rules
    return None


@dataclass(slots=True)
class RunPlan:
    """The contacts a run judges, the waits it wakes, and where the next run starts."""

    contacts: list[str]
    woken: list[Wait]
    cursor: RuleCursor
    deferred: list[Deferred] = field(default_factory=list)


@dataclass(slots=True)
class _Judged:
    """One contact's verdicts in this run, and the state to save."""

    contact: Contact
    result: Evaluation
    state: ContactRuleState


class RulesPass:
    """One bulk run of a rules graph at one as-of time (see the module docstring)."""

    def __init__(
        self,
        graph: Any,
        rules: RuleSet,
        *,
        as_of: datetime,
        deps: Deps,
        state: RunState,
        outbox: Outbox,
        decisions: DecisionLog,
        runner: ThreadRunner,
        scheduler: Scheduler,
        batch_size: int = BATCH,
        leases: Leases | NoLeases | None = None,
    ) -> None:
        self.graph, self.rules, self.as_of, self.deps = graph, rules, as_of, deps
        self.events: EventStore = deps.events
        self._state, self._outbox, self._decisions = state, outbox, decisions
        self._runner, self._scheduler = runner, scheduler
        self.leases = leases or NoLeases()
        self._shared = not isinstance(self.leases, NoLeases)
        self.batch_size = min(batch_size, SHARED_BATCH) if self._shared else batch_size
        self.invoked = 0
        self.failures: dict[str, str] = {}
        """Contacts whose judging or graph failed, and why: they are retried on the next run."""
        self._pure = _is_pure_router(graph)
        self._woken: set[str] = set()
        self._last_seq = 0

    # ------------------------------------------------------------------ plan and claim

    def plan(self) -> RunPlan:
        """Who needs judging now (cost: new events, due sweeps and waits, new contacts)."""
        name = self.graph.name
        before = self._state.cursor(name)
        self._last_seq = self.events.last_seq()
        scan = self.events.scan_new(
            self.rules.trigger_filters,
            after_seq=before.resume_seq,
            upto_seq=self._last_seq,
            as_of=self.as_of,
        )
        due = scan.due | set(self._state.deferred_due(name, self.as_of))
        mark = before.contacts_mark
        if self.rules.has_sweep:
            due |= set(self._state.sweep_due(name, self.as_of))
            fresh, mark = self.events.new_contacts(after=before.contacts_mark)
            due |= set(fresh)
        woken = self._scheduler.due(self.as_of, graph=name)
        self._woken = {w.contact_id for w in woken}
        cursor = RuleCursor(self._last_seq, mark, _later(before.as_of, self.as_of))
        return RunPlan(sorted(due | self._woken), woken, cursor, scan.deferred)

    def claim(self, plan: RunPlan) -> Iterator[list[str]]:
        """The plan's contacts, a batch at a time, each batch leased while it is processed.

        Contacts another worker holds are tried again once a lease could have run out since
        they were skipped (its length), ahead of the rest: a worker that died is taken over
        then, not when this one has been through its whole plan.
        """
        todo, at = list(plan.contacts), 0
        held: list[str] = []  # skipped: another worker holds them
        since, progress = 0.0, False  # when the first of `held` was skipped; taken since
        while at < len(todo) or held:
            if held and (at == len(todo) or time.monotonic() - since >= self.leases.seconds):
                if at == len(todo) and not progress:
                    time.sleep(0.2)  # every one is held elsewhere: wait for a release or expiry
                todo, at, held, progress = held + todo[at:], 0, [], False
            batch = todo[at : at + self.batch_size]
            at += len(batch)
            taken = self.leases.claim(batch)
            if len(taken) < len(batch) and not held:
                since = time.monotonic()
            held += [c for c in batch if c not in taken]
            progress = progress or bool(taken)
            mine = [c for c in batch if c in taken]
            if self._shared:  # another worker may have judged and released them
                mine = self._not_yet_judged(mine)
            try:
                if mine:
                    yield mine
            finally:
                self.leases.release(taken)

    def _not_yet_judged(self, contacts: list[str]) -> list[str]:
        """Contacts another worker has not judged for this pass (its state would say so)."""
        stored = self._state.load(self.graph.name, contacts)

        def done(c: str) -> bool:
            s = stored.get(c)
            return (
                s is not None
                and s.seq_cursor >= self._last_seq
                and c not in self._woken
                and (s.as_of_cursor is not None and s.as_of_cursor >= self.as_of)
            )

        return [c for c in contacts if not done(c)]

    # ------------------------------------------------------------------ process

    def process(self, batch: Sequence[str]) -> Counter[str]:
        """Judge a batch, invoke the graph where there is work, commit; new actions per rule."""
        judged = self._judge_guarded(batch)
        actions: list[Action] = []
        added: Counter[str] = Counter()  # actions the thread runner already committed
        skip: set[str] = set()
        for contact_id, item in judged.items():
            if not self._pure or item.result.firings or contact_id in self._woken:
                try:
                    invoked = self._invoke(item)
                except Exception as exc:
                    self._runner.note_failure(self.graph.name, contact_id, exc, self.failures)
                    invoked = None
                if invoked is None:
                    skip.add(contact_id)  # paused on an approval: judge again later
                elif isinstance(invoked, Counter):
                    added += invoked
                else:
                    actions += invoked
        new = set(self._outbox.put(actions).keys) if actions else set()
        self._decisions.record_many(
            self.graph.name,
            (
                (contact_id, step, decision)
                for contact_id, item in judged.items()
                if contact_id not in skip
                for step, decision in _decisions(item.result)
            ),
        )
        self._state.save(self.graph.name, (j.state for c, j in judged.items() if c not in skip))
        return added + Counter(a.source for a in actions if a.idempotency_key in new)

    def finish(self, plan: RunPlan) -> None:
        """Save the cursor and deferred events; the woken waits were seen by their graphs.

        A contact that failed is deferred to the next run (as of now), and its wait stays due.
        """
        retry = [Deferred(_retry_seq(c), c, self.as_of) for c in sorted(self.failures)]
        self._state.finish(self.graph.name, plan.cursor, [*plan.deferred, *retry])
        for wait in plan.woken:
            if wait.contact_id not in self.failures:
                self._scheduler.complete(wait.id)

    # ------------------------------------------------------------------ judging

    def _judge_guarded(self, batch: Sequence[str]) -> dict[str, _Judged]:
        """`_judge`, leaving out (and recording) each contact whose stored history is unreadable."""
        todo = list(batch)
        while True:
            try:
                return self._judge(todo)
            except UnreadableRow as exc:
                if exc.contact_id not in todo:
                    raise
                self._runner.note_failure(self.graph.name, exc.contact_id, exc, self.failures)
                todo.remove(exc.contact_id)

    def _judge(self, batch: Sequence[str]) -> dict[str, _Judged]:
        stored = self._state.load(self.graph.name, batch)
        states = {c: stored.get(c) or ContactRuleState(c) for c in batch}
        contacts = self.events.contacts(batch)
        cursors = {c: (s.seq_cursor, s.as_of_cursor) for c, s in states.items() if s.seq_cursor}
        unseen = self.events.unseen_starts(cursors, as_of=self.as_of)
        replay: dict[str, datetime | None] = {
            c: None if not s.seq_cursor else unseen.get(c) for c, s in states.items()
        }
        histories = self._histories(states, replay)
        judged: dict[str, _Judged] = {}
        for contact_id, state in states.items():
            history = histories[contact_id]
            if state.seq_cursor and contact_id not in unseen:
                new: list[Event] = []  # nothing unseen: only the sweep at as-of
            else:
                new = replay_from(history, replay[contact_id])
            contact = contacts.get(contact_id) or Contact(id=contact_id)
            try:
                judged[contact_id] = self._judge_one(contact, state, History(history), new)
            except Exception as exc:  # one contact's data; a setup mistake is re-raised
                self._runner.note_failure(self.graph.name, contact_id, exc, self.failures)
        return judged

    def _histories(
        self, states: dict[str, ContactRuleState], replay: dict[str, datetime | None]
    ) -> dict[str, list[Event]]:
        """Each contact's needed events, one read per group of contacts with the same live rules."""
        groups: dict[tuple[str, ...], tuple[tuple[Rule, ...], dict[str, datetime | None]]] = {}
        for contact_id, state in states.items():
            start = replay[contact_id]
            view_from = None if not state.seq_cursor else min(start or self.as_of, self.as_of)
            live = self.rules.live(state.fired)
            group = groups.setdefault(tuple(r.name for r in live), (live, {}))
            group[1][contact_id] = view_from
        found: dict[str, list[Event]] = {}
        for live, starts in groups.values():
            if not live:
                found.update({c: [] for c in starts})
                continue
            found.update(self.events.read_histories(starts, self.rules.history_needs(live)))
        return found

    def _judge_one(
        self, contact: Contact, state: ContactRuleState, history: History, new: list[Event]
    ) -> _Judged:
        score = None
        if self.deps.score is not None and self.rules.uses_score:
            score = self.deps.score(contact.id)
        result, next_sweep = judge(
            self.rules, contact, history, new, as_of=self.as_of, fired=state.fired, score=score
        )
        after = ContactRuleState(
            contact_id=contact.id,
            seq_cursor=self._last_seq,
            as_of_cursor=_later(state.as_of_cursor, self.as_of),
            fired=dict(result.fired),
            next_sweep_at=next_sweep,
        )
        return _Judged(contact, result, after)

    # ------------------------------------------------------------------ invoking

    def _invoke(self, item: _Judged) -> list[Action] | Counter[str] | None:
        """Run the contact's graph with the verdicts as input; None if it did not run.

        The router's actions come back to be written with the batch; another graph's are
        committed by the thread runner, which returns how many were new per rule.
        """
        contact_id = item.contact.id
        payload = _payload(item, self.as_of)
        self.invoked += 1
        if self._pure:
            thread_id = f"{self.graph.name}:{contact_id}"
            config = thread_config(thread_id, self.graph.name)
            state = self.graph.invoke(payload, config, context=self.deps, durability="exit")
            return [Action.model_validate(a) for a in state.get("actions", [])]
        added = self._runner.run(self.graph, contact_id, payload, deps=self.deps)
        return added if self._runner.last_state else None


def _payload(item: _Judged, as_of: datetime) -> dict[str, Any]:
    """The graph input: the contact, the as-of, and the verdicts the node passes through."""
    state, stamp = item.state, as_of.isoformat()
    return {
        "contact_id": item.contact.id,
        "as_of": stamp,
        "evaluated_at": stamp,
        "seq_cursor": state.seq_cursor,
        "as_of_cursor": state.as_of_cursor.isoformat() if state.as_of_cursor else stamp,
        "next_sweep_at": state.next_sweep_at.isoformat(),
        **rule_outputs(item.result),
    }


def _decisions(result: Evaluation) -> Iterator[tuple[int, RouteDecision]]:
    """What the decision log keeps of an evaluation: each firing, then each other verdict."""
    for firing in result.firings:
        yield firing.step, firing.decision
    for decision in result.all_decisions():
        if not decision.fired:
            yield 0, decision


def _retry_seq(contact_id: str) -> int:
    """A `rule_deferred` key of a failed contact: negative (no event has it), one per contact."""
    digest = hashlib.blake2b(contact_id.encode("utf-8", "surrogatepass"), digest_size=7)
    return -1 - int.from_bytes(digest.digest(), "big")


def _later(previous: datetime | None, as_of: datetime) -> datetime:
    return as_of if previous is None else max(previous, as_of)


def _is_pure_router(graph: Any) -> bool:
    """Whether every node is the router's own (pure: judging and emitting, no effects)."""
    specs = getattr(getattr(graph, "builder", None), "nodes", {}).values()
    nodes = [getattr(spec.runnable, "func", spec.runnable) for spec in specs]
    return bool(nodes) and all(isinstance(n, EvaluateRules | EmitActions) for n in nodes)
