"""The per-contact run loop: invoke a graph once for every contact that needs it.

Graphs that are not judged in bulk (`gtmflow.runtime.rules_pass`) run here: the follow-up graph,
your own graphs, and any graph under `Workspace.run(..., mode="per_contact")`. A contact needs a
run when a new event is one the graph's trigger sources care about (their `trigger_filters` run
in SQL; a source without them is asked about each decoded event), when such an event deferred
past an earlier as-of is now due, when a source sweeps and the contact is new or its next sweep
time (kept from its last state) has come, or when a wait is due: the same contacts the bulk
loop judges, so the two modes can be compared run for run.

Its store cursors live in `RunState` under `per_contact:<graph>`; it keeps two tables of its own
in the workspace database (or the shared PostgreSQL store): `runs` (the tick loop's cursor
`__tick__`: where its last scan of the event store stopped) and `sweeps` (per graph and contact:
the next instant a sweep could act).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gtmflow._progress import progress_bar, wants_progress
from gtmflow.models import Event
from gtmflow.runtime._threads import ThreadRunner
from gtmflow.runtime.run_state import RuleCursor, RunState
from gtmflow.tools._database import StoreTarget, ledger_database
from gtmflow.tools.delivery.scheduler import Scheduler
from gtmflow.tools.deps import Deps
from gtmflow.tools.events.event_store import EventStore
from gtmflow.tools.events.portable_scans import scan_changes
from gtmflow.tools.events.scans import Deferred, NewEvents
from gtmflow.triggers import TriggerSource, scan_filters, triggers_of

__all__ = ["ContactPass"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs (graph TEXT PRIMARY KEY, resume_seq INTEGER NOT "
    "NULL, as_of TEXT);"
    "CREATE TABLE IF NOT EXISTS sweeps (graph TEXT NOT NULL, contact_id TEXT NOT NULL, "
    "next_at TEXT NOT NULL, PRIMARY KEY (graph, contact_id));"
    "CREATE INDEX IF NOT EXISTS sweeps_due ON sweeps (graph, next_at);"
)
PER_CONTACT = "per_contact:"
"""Prefix of this loop's cursor names in `RunState` (kept apart from the bulk loop's)."""


class ContactPass:
    """Store cursors and sweep times, and the loop that invokes a graph per contact."""

    def __init__(self, path: StoreTarget, events: EventStore, state: RunState) -> None:
        self._db = ledger_database(path, _SCHEMA)
        self._events = events
        self._state = state

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def run(
        self,
        graph: Any,
        *,
        as_of: datetime,
        runner: ThreadRunner,
        scheduler: Scheduler,
        deps: Deps,
        progress: bool | None,
        failures: dict[str, str],
    ) -> tuple[list[str], Counter[str]]:
        """Invoke `graph` for each contact that needs it; return them and new actions per rule.

        A contact whose run fails is recorded in `failures` (and warned about) and the others go
        on; its due wait stays due, so it runs again.
        """
        key = f"{PER_CONTACT}{graph.name}"
        contacts, cursor, deferred = self._due_contacts(graph, key, as_of)
        woken = scheduler.due(as_of, graph=graph.name)
        contacts = sorted({*contacts, *(w.contact_id for w in woken)})
        by_rule: Counter[str] = Counter()
        with progress_bar(
            f"run {graph.name}", len(contacts), enabled=wants_progress(progress)
        ) as advance:
            for contact_id in contacts:
                payload = {"contact_id": contact_id, "as_of": as_of.isoformat()}
                guarded = runner.run_guarded(
                    graph, contact_id, payload, failures=failures, deps=deps
                )
                by_rule.update(guarded)
                self._save_sweep(graph.name, contact_id, runner.last_state, as_of)
                advance(1)
        for wait in (w for w in woken if w.contact_id not in failures):  # a failed one stays due
            scheduler.complete(
                wait.id
            )  # the graph saw its due wait (a node may have set a new one)
        self._state.finish(key, cursor, deferred)
        return contacts, by_rule

    def scan(self, cursor: str, as_of: datetime, visit: Callable[[Event], None]) -> int:
        """Visit events stored since `cursor` up to `as_of`; return where to resume next time.

        Events after `as_of` are deferred: the cursor stops before the first of them, so a
        later scan sees them again. Events stored during the scan wait for the next one.
        """
        last = self._events.last_seq()
        deferred: list[int] = []
        for seq, item in self._events.changes(after_seq=self.cursor(cursor)):
            if seq > last:
                break
            if item.timestamp > as_of:
                deferred.append(seq)
            else:
                visit(item)
        return min(deferred) - 1 if deferred else last

    def cursor(self, name: str) -> int:
        """Where the last scan under `name` stopped reading the event store."""
        rows = self._db.query("SELECT resume_seq FROM runs WHERE graph = ?", (name,))
        return int(rows[0][0]) if rows else 0

    def save(self, name: str, resume_seq: int, as_of: datetime) -> None:
        """Record where the scan under `name` stopped."""
        self._write(
            "INSERT INTO runs VALUES (?, ?, ?) ON CONFLICT (graph) DO UPDATE SET "
            "resume_seq = excluded.resume_seq, as_of = excluded.as_of",
            (name, resume_seq, as_of.isoformat()),
        )

    def forget(self, contact_id: str) -> None:
        """Drop a contact's sweep times."""
        self._write("DELETE FROM sweeps WHERE contact_id = ?", (contact_id,))

    def reset(self) -> None:
        """Forget every cursor and sweep time (the next runs read the store from the start)."""
        self._write("DELETE FROM runs")
        self._write("DELETE FROM sweeps")

    def _due_contacts(
        self, graph: Any, key: str, as_of: datetime
    ) -> tuple[list[str], RuleCursor, list[Deferred]]:
        """Contacts to invoke, where the next run starts, and events deferred until later."""
        sources = triggers_of(graph)
        before = self._state.cursor(key)
        last = self._events.last_seq()
        filters = scan_filters(sources) if sources else None  # no sources: every event
        if sources and filters is None:
            scan = self._scan_decoded(sources, before.resume_seq, last, as_of)
        else:
            scan = self._events.scan_new(
                filters, after_seq=before.resume_seq, upto_seq=last, as_of=as_of
            )
        due = scan.due | set(self._state.deferred_due(key, as_of))
        mark = before.contacts_mark
        if any(source.has_sweep for source in sources):
            due |= self._swept_now(graph.name, as_of)
            fresh, mark = self._events.new_contacts(after=mark)
            due |= set(fresh)
        as_of_seen = as_of if before.as_of is None else max(before.as_of, as_of)
        return sorted(due), RuleCursor(last, mark, as_of_seen), scan.deferred

    def _scan_decoded(
        self, sources: list[TriggerSource], after_seq: int, upto_seq: int, as_of: datetime
    ) -> NewEvents:
        """The scan for sources that only answer `cares_about`: every new event is decoded."""

        def wanted(item: Event) -> bool:
            return any(source.cares_about(item) for source in sources)

        return scan_changes(
            self._events, wanted, after_seq=after_seq, upto_seq=upto_seq, as_of=as_of
        )

    def _swept_now(self, graph: str, as_of: datetime) -> set[str]:
        """Contacts whose next possible sweep is at or before `as_of`."""
        rows = self._db.query(
            "SELECT contact_id FROM sweeps WHERE graph = ? AND next_at <= ?",
            (graph, _utc(as_of)),
        )
        return {row[0] for row in rows}

    def _save_sweep(
        self, graph: str, contact_id: str, state: dict[str, Any], as_of: datetime
    ) -> None:
        """Keep when the contact's next sweep is due; a state that does not say: every run."""
        if not state:
            return  # not invoked (paused on an approval): still due
        next_at = state.get("next_sweep_at")
        when = datetime.fromisoformat(next_at) if next_at else as_of
        self._write(
            "INSERT INTO sweeps VALUES (?, ?, ?) ON CONFLICT (graph, contact_id) DO UPDATE SET "
            "next_at = excluded.next_at",
            (graph, contact_id, _utc(when)),
        )

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with self._db.transaction() as conn:
            conn.execute(sql, args)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
