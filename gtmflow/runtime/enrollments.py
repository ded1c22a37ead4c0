"""Enrollments: sequences running in a workspace, driven by enroll actions, time and events.

`enroll` actions in the outbox are delivered here (exactly once, like any other action): each
starts a sequence thread, subject to the sequence's re-enrollment policy and, for sequences
with agent steps (`write`, `decide`), to trigger ownership: a webinar or call the enrollment
would follow up that someone else already follows up (the follow-up graph, or an earlier
enrollment for the same webinar) is refused with the owner's name. Due waits resume their
threads; events a sequence listens to (exits, awaited events; found by event type, not by asking
every sequence) resume them at once. A reply from
a contact supersedes their drafts awaiting approval and cancels queued follow-ups.
"""

from __future__ import annotations

import time as wallclock
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from gtmflow.errors import ConfigError
from gtmflow.governor import payload_digest
from gtmflow.graphs.sequences import SEQUENCE_PREFIX, Sequence, build_sequence_graph
from gtmflow.models import REPLY_EVENTS, Event
from gtmflow.pipes import EventFilter
from gtmflow.runtime._threads import ThreadRunner, thread_config
from gtmflow.tools.delivery.approvals import Approval, ApprovalBook
from gtmflow.tools.delivery.outbox import Outbox, OutboxRecord, Verdict
from gtmflow.tools.delivery.owners import TRIGGER_EVENTS, trigger_key
from gtmflow.tools.delivery.scheduler import Scheduler
from gtmflow.tools.delivery.transports import Transport

OUTBOX_THREAD = "outbox:"
"""Thread id prefix of approval requests for held outbox records (`outbox:<idempotency key>`)."""

__all__ = ["REPLY_EVENTS", "EnrollTransport", "Enrollments"]  # REPLY_EVENTS: from gtmflow.models


class Enrollments:
    """The sequences of a workspace and the threads that run them."""

    def __init__(
        self,
        sequences: Iterable[Sequence],
        *,
        runner: ThreadRunner,
        scheduler: Scheduler,
        outbox: Outbox,
        approvals: ApprovalBook,
        checkpointer: BaseCheckpointSaver[Any],
        message_kinds: frozenset[str] = frozenset({"send_email"}),
    ) -> None:
        self.sequences = _by_name(sequences)
        self._runner, self._scheduler, self._outbox = runner, scheduler, outbox
        self._approvals = approvals
        self._message_kinds = message_kinds
        self.failures: dict[str, str] = {}
        """Contacts whose thread failed to resume (by event or wait), and why; see `run_guarded`."""
        self._graphs = {
            name: build_sequence_graph(seq, checkpointer=checkpointer)
            for name, seq in self.sequences.items()
        }
        self._listeners: dict[str, list[tuple[str, EventFilter]]] = defaultdict(list)
        """Event type -> (sequence, filter) pairs listening for it: an event meets only these."""
        for name, seq in self.sequences.items():
            for wanted in seq.listens_to():
                self._listeners[wanted.type].append((name, wanted))

    def take_failures(self) -> int:
        """How many resumes failed since the last call (each was warned about); clears them."""
        count = len(self.failures)
        self.failures.clear()
        return count

    def graph(self, name: str) -> Any:
        """The compiled graph of a sequence."""
        if name not in self._graphs:
            known = ", ".join(sorted(self._graphs)) or "none defined"
            raise ConfigError(
                f"no sequence named '{name}' (known: {known}); define it in "
                "sequences.py or fix the enroll('…') name"
            )
        return self._graphs[name]

    # ------------------------------------------------------------------ enrollment

    def gate(self, record: OutboxRecord, now: datetime) -> Verdict:
        """Outbox gate for `enroll` actions: unknown sequences and refused re-enrollments.

        An enrollment this very record already started (a crash came before the outbox heard)
        is allowed, so `enroll` can finish it.
        """
        name = str(record.action.payload.get("sequence", ""))
        if name not in self.sequences:
            return Verdict.cancel(f"no sequence named '{name}'")
        state = self._state(name, record.action.contact_id)
        if state.get("enrolled_by") == record.action.idempotency_key:
            return Verdict.allow()
        refusal = _reenroll_refusal(self.sequences[name], state, now)
        refusal = refusal or self._claim(record, name, int(state.get("enrollment", 0)) + 1, now)
        return Verdict.cancel(refusal) if refusal else Verdict.allow()

    def _claim(self, record: OutboxRecord, name: str, enrollment: int, now: datetime) -> str | None:
        """Claim the webinar or call the enrollment follows up; why not, when another owns it."""
        owners, event = self._runner.deps.owners, self._trigger_event(record)
        if owners is None or event is None or not self.sequences[name].follows_up:
            return None  # only journeys that read their trigger (write, decide) own it
        owner = f"{SEQUENCE_PREFIX}{name}#{enrollment}"
        claim = owners.claim(event, owner, at=now)
        if claim is None or claim.owner in (owner, record.action.graph):
            return None  # ours, or handed over by the graph that followed it up (enroll:...)
        return (
            f"{event.type} '{claim.trigger.partition(':')[2]}' is already followed up by "
            f"{claim.owner} (event {claim.event_id}): one journey per trigger"
        )

    def _trigger_event(self, record: OutboxRecord) -> Event | None:
        """The event the enroll answers: the latest webinar or call among its evidence, else
        the latest evidence event (None when it names none)."""
        payload = record.action.payload
        ids = {*payload.get("evidence", ()), payload.get("trigger")} - {None}
        if not ids:
            return None
        found = [e for e in self._runner.deps.events.events(record.action.contact_id)
                 if e.id in ids]  # fmt: skip
        triggers = [e for e in found if e.type in TRIGGER_EVENTS]
        return (triggers or found)[-1] if found else None

    def enroll(self, record: OutboxRecord, now: datetime) -> Counter[str]:
        """Start the contact's next enrollment in the record's sequence, once per record.

        The enrollment carries the record's idempotency key (`enrolled_by`); delivering the
        same record again (a crash between starting it and the outbox marking it sent) only
        finishes and commits that enrollment, never starts another.
        """
        name = str(record.action.payload["sequence"])
        contact_id = record.action.contact_id
        graph = self.graph(name)
        added = self._runner.recover(graph, contact_id, durability="sync")
        state = self._state(name, contact_id)
        if state.get("enrolled_by") == record.action.idempotency_key:
            return added  # started before a crash: recovered above, never started twice
        event = self._trigger_event(record)
        start = {
            "contact_id": contact_id, "as_of": now.isoformat(),
            "enrollment": int(state.get("enrollment", 0)) + 1, "at": None, "status": "active",
            "wait": None, "started_at": now.isoformat(), "ended_at": None, "exit_reason": None,
            "trigger": _trigger(event) if event else None, "insights": None, "drafts": None,
            "route": None, "enrolled_by": record.action.idempotency_key,
        }  # fmt: skip
        return added + self._runner.run(graph, contact_id, start, durability="sync")

    # ------------------------------------------------------------------ time and events

    def resume_due(self, now: datetime) -> Counter[str]:
        """Resume every thread whose wait is due at `now`.

        On a shared store a wait whose contact another worker holds is tried again until that
        worker has resumed it or let the contact go, or its lease has run out (a worker that
        died): for at most three lease lengths, after which it is left to the next tick.
        """
        added: Counter[str] = Counter()
        leases = self._runner.leases
        waiting, deadline = self._scheduler.due(now, graph=SEQUENCE_PREFIX), None
        while waiting:
            held_elsewhere: set[int] = set()  # wait ids
            for due in waiting:
                with leases.hold(due.contact_id, wait=False) as held:
                    if not held:
                        held_elsewhere.add(due.id)
                        continue
                    name = due.graph.removeprefix(SEQUENCE_PREFIX)
                    if name in self.sequences:
                        added += self._resume(name, due.contact_id, now)
                    if due.contact_id not in self.failures:  # a failed resume stays due
                        self._scheduler.complete(due.id)
            deadline = deadline or wallclock.monotonic() + 3 * leases.seconds
            if not held_elsewhere or wallclock.monotonic() > deadline:
                break
            wallclock.sleep(0.2)
            waiting = [
                d for d in self._scheduler.due(now, graph=SEQUENCE_PREFIX) if d.id in held_elsewhere
            ]
        return added

    def on_events(self, events: Iterable[Event], now: datetime) -> Counter[str]:
        """React to new events: supersede on replies, resume listening enrollments at once."""
        added: Counter[str] = Counter()
        seen: set[tuple[str, str]] = set()
        for item in events:
            if item.type in REPLY_EVENTS:
                self.supersede(
                    item.contact_id, now, reason=f"{item.type} at {item.timestamp:%Y-%m-%d %H:%M}"
                )
            for name, wanted in self._listeners.get(item.type, ()):
                key = (name, item.contact_id)
                if key not in seen and wanted.accepts(item):
                    seen.add(key)
                    added += self._resume(name, item.contact_id, now)
        return added

    def supersede(self, contact_id: str, now: datetime, *, reason: str) -> int:
        """A reply: pending drafts are superseded (never sent), queued follow-ups cancelled."""
        pending = self._approvals.list(contact_id=contact_id)
        for request in pending:
            self._approvals.decide(request.id, "superseded", by=reason, now=now)
            self._answer(request, {"decision": "superseded"}, now)
        cancelled = self._outbox.cancel_pending(
            contact_id, kinds=self._message_kinds, note=f"superseded: {reason}"
        )
        return len(pending) + cancelled

    # ------------------------------------------------------------------ approvals

    def approve(
        self, request_id: str, *, by: str, now: datetime, payload: dict[str, Any] | None = None
    ) -> Approval:
        """Approve a draft (or an edited version of it); the thread resumes and sends it."""
        request = self._pending(request_id)
        final = request.payload if payload is None else payload
        answer = {
            "decision": "approve",
            "digest": payload_digest(final),
            "payload": final,
            "by": by,
        }
        self._approvals.decide(request.id, "approved", by=by, now=now)
        self._answer(request, answer, now)
        return self._pending_or_final(request.id)

    def reject(self, request_id: str, *, by: str, now: datetime) -> Approval:
        """Reject a draft: it is never sent, and the sequence moves on."""
        request = self._pending(request_id)
        self._approvals.decide(request.id, "rejected", by=by, now=now)
        self._answer(request, {"decision": "reject"}, now)
        return self._pending_or_final(request.id)

    # ------------------------------------------------------------------ plumbing

    def request_approval(self, record: OutboxRecord, now: datetime) -> None:
        """An approval request for an outbox record held until a person approves its payload.

        Graphs that pause (sequences) ask through an interrupt; an action another graph wrote
        (an LLM follow-up) is held by the governor instead, and this makes it approvable. It is
        idempotent per record and payload, and an approved payload asks nothing.
        """
        payload = record.action.payload
        stamp = payload.get("approval")
        if isinstance(stamp, dict) and stamp.get("digest") == payload_digest(payload):
            return
        self._approvals.request(
            thread_id=OUTBOX_THREAD + record.action.idempotency_key, graph=record.action.graph,
            contact_id=record.action.contact_id, step=0, digest=payload_digest(payload),
            payload=dict(payload), now=now,
        )  # fmt: skip

    def _answer(self, request: Approval, answer: dict[str, Any], now: datetime) -> None:
        if request.thread_id.startswith(OUTBOX_THREAD):
            self._answer_held(request.thread_id.removeprefix(OUTBOX_THREAD), answer)
            return
        name = request.graph.removeprefix(SEQUENCE_PREFIX)
        if name in self.sequences:
            self._runner.run(
                self.graph(name), request.contact_id, Command(resume=answer), durability="sync"
            )

    def _answer_held(self, key: str, answer: dict[str, Any]) -> None:
        by = answer.get("by", "")
        if answer["decision"] != "approve":
            self._outbox.set_status(key, "cancelled", error="rejected by a person")
            return
        stamp = {"digest": answer["digest"], "by": by}
        if not self._outbox.approve_held(
            key, answer["payload"] | {"approval": stamp}, note=f"approved by {by}"
        ):
            raise ConfigError(f"outbox record '{key[:12]}' is no longer held; nothing to approve")

    def _resume(self, name: str, contact_id: str, now: datetime) -> Counter[str]:
        state = self._state(name, contact_id)
        if state.get("status") not in ("active", "waiting"):
            return Counter()
        payload = {"contact_id": contact_id, "as_of": now.isoformat()}
        return self._runner.run_guarded(
            self.graph(name), contact_id, payload, failures=self.failures, durability="sync"
        )

    def _state(self, name: str, contact_id: str) -> Mapping[str, Any]:
        graph = self.graph(name)
        return dict(graph.get_state(thread_config(f"{graph.name}:{contact_id}")).values)

    def _pending(self, request_id: str) -> Approval:
        request = self._approvals.get(request_id)
        if request is None:
            raise ConfigError(f"no approval request '{request_id}'; `gtmflow approvals` lists them")
        if request.status != "pending":
            raise ConfigError(f"approval '{request_id}' is already {request.status}")
        return request

    def _pending_or_final(self, request_id: str) -> Approval:
        request = self._approvals.get(request_id)
        assert request is not None
        return request


class EnrollTransport(Transport):
    """Delivers `enroll` actions by starting sequence threads: an internal effect.

    It has no outside receiver and is idempotent by the record's key (see `Enrollments.enroll`),
    so the outbox never leaves an enroll `unknown`.
    """

    name = "enroll"
    internal = True

    def __init__(self, enrollments: Enrollments, now: datetime) -> None:
        self._enrollments = enrollments
        self._now = now
        self.added: Counter[str] = Counter()

    def send(self, record: OutboxRecord) -> None:
        self.added += self._enrollments.enroll(record, self._now)


def _by_name(sequences: Iterable[Sequence]) -> dict[str, Sequence]:
    found: dict[str, Sequence] = {}
    for seq in sequences:
        if not isinstance(seq, Sequence):
            raise ConfigError(f"sequences must be gtmflow Sequence objects, got {seq!r}")
        if seq.name in found:
            raise ConfigError(f"sequence name '{seq.name}' is defined twice")
        found[seq.name] = seq
    return found


def _trigger(event: Event) -> dict[str, Any]:
    """What an enrollment keeps of its trigger (small: the transcript stays in the store)."""
    props = event.properties
    topic = props.get("webinar") or props.get("title") or props.get("topic")
    return {
        "event_id": event.id, "type": event.type, "at": event.timestamp.isoformat(),
        "topic": topic if isinstance(topic, str) else None,
        "transcript_id": props.get("transcript_id"),
        "inline": isinstance(props.get("transcript"), str), "key": trigger_key(event),
    }  # fmt: skip


def _reenroll_refusal(seq: Sequence, state: Mapping[str, Any], now: datetime) -> str | None:
    status = state.get("status")
    if status is None:
        return None
    if status in ("active", "waiting"):
        return f"already enrolled in '{seq.name}'"
    if seq.reenroll == "never":
        return f"'{seq.name}' does not re-enroll (reenroll='never')"
    if seq.reenroll == "after_cooldown":
        ended = datetime.fromisoformat(str(state.get("ended_at")))
        if now - ended < seq.cooldown_delta():
            return f"'{seq.name}' cooldown has not passed since {ended:%Y-%m-%d}"
    return None
