"""The simulator: weeks of sequences in seconds on a virtual clock, with invariants checked.

`simulate` builds the demo world (synthetic contacts and their events), then lets time pass
hour by hour: events arrive at their timestamps (read page by page, in time order, from a staging
store: memory stays flat in world size), the rules run, sequences send and wait, the
governor holds and releases, and the outbox delivers to a recording transport. At the end it
checks what must always be true and reports every violation it finds:

- no message reached a suppressed contact (unsubscribed, bounced, complained) after the fact;
- the per-contact frequency cap was never exceeded in any window;
- nothing was delivered in a recipient's quiet hours;
- no message was delivered twice (unique idempotency keys = Message-IDs);
- every wait that fell due was resumed;
- no sequence message was delivered after its enrollment's exit condition held (a reply, a
  booked meeting, an opt-out);
- no journey repeated itself: no email of an enrollment reuses a quote, pain or library piece an
  earlier email of it used.

Halfway through, three attendees of one webinar ask questions in its Q&A
(`gtmflow.examples.sample_webinar`), so the `webinar-followup` journey writes from what people
said, not only from the title of a webinar they attended.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gtmflow._progress import progress_bar, wants_progress
from gtmflow.clock import VirtualClock, parse_duration
from gtmflow.examples.sample_transcripts import SELLER
from gtmflow.examples.sample_webinar import SAMPLE_ATTENDEES, add_sample_webinar
from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.governor import GovernorPolicy
from gtmflow.models import SUPPRESSION_TYPES, Contact, Event
from gtmflow.pipes import EvalContext, History
from gtmflow.runtime.scaffold import scaffold
from gtmflow.runtime.workspace import STATE_DIR, Workspace
from gtmflow.tools.delivery.outbox import OutboxRecord
from gtmflow.tools.delivery.transports import RecordingTransport
from gtmflow.tools.events.event_store import SQLiteEventStore
from gtmflow.tools.events.ingest import ingest_events

__all__ = ["check_invariants", "simulate"]

STEP = timedelta(hours=1)


def simulate(
    directory: str | Path,
    *,
    days: int = 90,
    contacts: int = 1000,
    seed: int = 7,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Run the demo world for `days` on a virtual clock and check the invariants.

    Returns:
        A JSON-ready report: sizes, what happened (actions by kind and status), the
        invariants with their violations, and the wall-clock seconds it took.
    """
    started = time.perf_counter()
    root = Path(directory)
    shutil.rmtree(root / STATE_DIR, ignore_errors=True)
    world = generate_sample_world(root / "data", contacts=contacts, days=days, seed=seed)
    scaffold(root, seller_company=SELLER)
    clock = VirtualClock(world.start)
    transport = RecordingTransport()
    with Workspace.open(root, clock=clock) as ws:
        ws.ingest(world.contacts_csv, kind="contacts", progress=False)
        ws.events.write_contacts([a.contact for a in SAMPLE_ATTENDEES])
        qa_at = world.start + (world.end - world.start) / 2
        staging = _arrivals(world.events_jsonl, ws.state_dir / "arrivals.db", qa_at)
        arrivals = _Arrivals(staging)
        hours = int((world.end - world.start) / STEP)
        with staging, progress_bar("simulate", hours, enabled=wants_progress(progress)) as advance:
            for hour in range(1, hours + 1):
                moment = world.start + hour * STEP
                ws.events.write_events(arrivals.until(moment))
                ws.run(as_of=moment, progress=False)
                ws.tick(moment, transport=transport, progress=False)
                advance(1)
        return {
            "days": days,
            "contacts": world.contacts,
            "events": world.events,
            "start": world.start.isoformat(),
            "end": world.end.isoformat(),
            "actions": _by_kind(ws.outbox.records()),
            "delivered": len(transport.sent),
            "invariants": check_invariants(ws, transport.sent, end=world.end),
            "seconds": round(time.perf_counter() - started, 1),
        }


class _Arrivals:
    """Events in time order, read page by page from a store as the virtual clock reaches them.

    Only one page is held at a time, so memory stays flat however big the world is.
    """

    def __init__(self, store: SQLiteEventStore, *, page: int = 5000) -> None:
        self._store = store
        self._page = page
        self._mark: tuple[datetime, str] | None = None

    def until(self, moment: datetime) -> list[Event]:
        """Events with timestamps before `moment` not handed out yet."""
        found: list[Event] = []
        while page := self._store.events_by_time(after=self._mark, before=moment, limit=self._page):
            found += page
            self._mark = (page[-1].timestamp, page[-1].id)
            if len(page) < self._page:
                break
        return found


def _arrivals(path: Path, staging: Path, qa_at: datetime) -> SQLiteEventStore:
    """The world's valid events, read by the ordinary ingest (bad lines are dead-lettered),
    and a webinar Q&A's attendees at `qa_at`, in a staging store `_Arrivals` reads."""
    store = SQLiteEventStore(staging)
    try:
        ingest_events(store, path, fallback_dir=staging.parent)
        add_sample_webinar(store, at=qa_at)
    except BaseException:
        store.close()
        raise
    return store


def check_invariants(
    ws: Workspace, delivered: Iterable[OutboxRecord], *, end: datetime
) -> dict[str, dict[str, Any]]:
    """Check the simulator's invariants; each maps to `{"ok", "violations", "examples"}`."""
    policy = ws.governor.policy
    sent = [r for r in ws.outbox.records(status="sent") if r.action.kind in policy.message_kinds]
    keys = [r.action.idempotency_key for r in delivered]
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    overdue = [f"{w.thread_id} due {w.due_at:%Y-%m-%d %H:%M}" for w in ws.scheduler.due(end)]
    return {
        "no_message_to_suppressed": _verdict(_suppressed(ws, sent)),
        "frequency_cap_respected": _verdict(_over_cap(sent, policy)),
        "no_delivery_in_quiet_hours": _verdict(_in_quiet_hours(ws, sent, policy)),
        "no_duplicate_message_ids": _verdict(duplicates),
        "every_due_wait_resumed": _verdict(overdue),
        "no_send_after_exit": _verdict(_after_exit(ws, sent)),
        "no_repeats_in_a_journey": _verdict(_repeats(sent)),
    }


def _suppressed(ws: Workspace, sent: list[OutboxRecord]) -> list[str]:
    found = []
    for record in sent:
        when = record.delivered_at
        contact_id = record.action.contact_id
        stops = ws.events.events(contact_id, types=SUPPRESSION_TYPES, until=when)
        if stops:
            found.append(
                f"{contact_id} got '{record.action.payload.get('template')}' at "
                f"{when:%Y-%m-%d %H:%M} after {stops[0].type}"
            )
    return found


def _over_cap(sent: list[OutboxRecord], policy: GovernorPolicy) -> list[str]:
    if policy.frequency_cap is None:
        return []
    limit, window = policy.frequency_cap[0], parse_duration(policy.frequency_cap[1])
    by_contact: dict[str, list[datetime]] = defaultdict(list)
    for record in sent:
        assert record.delivered_at is not None
        by_contact[record.action.contact_id].append(record.delivered_at)
    found = []
    for contact_id, times in by_contact.items():
        times.sort()
        for i, moment in enumerate(times):
            inside = [t for t in times[: i + 1] if t > moment - window]
            if len(inside) > limit:
                found.append(
                    f"{contact_id}: {len(inside)} messages in the window ending "
                    f"{moment:%Y-%m-%d %H:%M}"
                )
    return found


def _in_quiet_hours(ws: Workspace, sent: list[OutboxRecord], policy: GovernorPolicy) -> list[str]:
    hours = policy.quiet_hours
    if hours is None:
        return []
    found = []
    for record in sent:
        contact = ws.events.contact(record.action.contact_id)
        zone = ZoneInfo(contact.timezone if contact else "UTC")
        assert record.delivered_at is not None
        local = record.delivered_at.astimezone(zone)
        if hours.opens_at(local) is not None:
            found.append(f"{record.action.contact_id} at {local:%a %H:%M} {zone.key}")
    return found


def _journeys(sent: list[OutboxRecord]) -> dict[tuple[str, str], list[OutboxRecord]]:
    """Sent sequence messages by (contact, enrollment), in delivery order."""
    found: dict[tuple[str, str], list[OutboxRecord]] = defaultdict(list)
    for record in sorted(sent, key=lambda r: r.delivered_at or r.action.created_at):
        if record.action.payload.get("sequence"):
            found[(record.action.contact_id, record.action.source)].append(record)
    return found


def _after_exit(ws: Workspace, sent: list[OutboxRecord]) -> list[str]:
    """Messages delivered once the enrollment's exit condition held (it started at its first)."""
    sequences = ws.enrollments.sequences
    found = []
    for (contact_id, source), records in _journeys(sent).items():
        sequence = sequences.get(source.partition("#")[0])
        if sequence is None or sequence.exit_when is None:
            continue
        start = records[0].action.created_at
        contact = ws.events.contact(contact_id) or Contact(id=contact_id)
        for record in records:
            now = record.delivered_at
            assert now is not None
            history = ws.events.events(contact_id, since=start, until=now)
            before = [e for e in history if e.timestamp < now]
            match = sequence.exit_when.evaluate(EvalContext(contact, History(before), now))
            if match:
                found.append(f"{contact_id} got '{record.action.payload.get('template')}' at "
                             f"{now:%Y-%m-%d %H:%M} after {match.reason}")  # fmt: skip
    return found


def _repeats(sent: list[OutboxRecord]) -> list[str]:
    """Quotes, pains and pieces an email reuses from an earlier email of its enrollment."""
    found = []
    for (contact_id, source), records in _journeys(sent).items():
        used: dict[str, str] = {}
        for record in records:
            template = str(record.action.payload.get("template"))
            for ref in sorted(_used(record)):
                if ref in used:
                    found.append(f"{contact_id} {source}: '{template}' repeats {ref} of "
                                 f"'{used[ref]}'")  # fmt: skip
                used.setdefault(ref, template)
    return found


def _used(record: OutboxRecord) -> set[str]:
    refs = set()
    for claim in record.action.payload.get("claims") or ():
        ref, source = claim.get("ref"), claim.get("source")
        if ref and claim.get("supported") and source in ("transcript", "content"):
            key = " ".join(str(ref).lower().split()) if source == "transcript" else ref
            refs.add(f"{source} {key.split('#')[0] if source == 'content' else key}")
    return refs


def _verdict(violations: list[str]) -> dict[str, Any]:
    return {"ok": not violations, "violations": len(violations), "examples": violations[:5]}


def _by_kind(records: Iterable[OutboxRecord]) -> dict[str, dict[str, int]]:
    summary: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        summary[record.action.kind][record.status] += 1
    return {kind: dict(sorted(c.items())) for kind, c in sorted(summary.items())}
