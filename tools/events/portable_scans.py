"""`EventStore`'s default bulk reads, through its per-contact methods: correct, not fast.

`scans` says what each read answers; a backend overrides them with queries (`SQLiteScans`,
`PostgresScans`), and the tests hold those to these answers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from gtmflow.models import Event
from gtmflow.pipes import EventFilter, HistoryNeed
from gtmflow.pipes.history import needed_events
from gtmflow.tools.events.scans import Deferred, NewEvents

__all__ = ["PortableScans", "ReadsEvents", "scan_changes"]


class ReadsEvents(Protocol):
    """The `EventStore` methods the portable reads go through."""

    def changes(self, *, after_seq: int = 0) -> Iterator[tuple[int, Event]]: ...

    def events(
        self,
        contact_id: str,
        *,
        types: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int | None = None,
    ) -> list[Event]: ...


def scan_changes(
    store: ReadsEvents,
    wanted: Callable[[Event], bool],
    *,
    after_seq: int,
    upto_seq: int,
    as_of: datetime,
) -> NewEvents:
    """`scan_new` over decoded events: contacts with a `wanted` event in `(after_seq, upto_seq]`.

    An event after `as_of` is deferred to the run whose as-of reaches it.
    """
    found = NewEvents()
    for seq, item in store.changes(after_seq=after_seq):
        if seq > upto_seq:
            break
        if not wanted(item):
            continue
        if item.timestamp > as_of:
            found.deferred.append(Deferred(seq, item.contact_id, item.timestamp))
        else:
            found.due.add(item.contact_id)
    return found


class PortableScans:
    """`scan_new`, `unseen_starts` and `read_histories` through `changes` and `events`."""

    def scan_new(
        self: ReadsEvents,
        filters: Sequence[EventFilter] | None,
        *,
        after_seq: int,
        upto_seq: int,
        as_of: datetime,
    ) -> NewEvents:
        """Contacts with events in `(after_seq, upto_seq]` a filter accepts (None: any).

        Decodes every new event.
        """

        def wanted(item: Event) -> bool:
            return filters is None or any(f.accepts(item) for f in filters)

        return scan_changes(self, wanted, after_seq=after_seq, upto_seq=upto_seq, as_of=as_of)

    def unseen_starts(
        self: ReadsEvents, cursors: Mapping[str, tuple[int, datetime | None]], *, as_of: datetime
    ) -> dict[str, datetime]:
        """Per contact `(seq, horizon)`, the earliest event it has not been judged on.

        Two reads per contact.
        """
        found: dict[str, datetime] = {}
        for contact_id, (seq, horizon) in cursors.items():
            fresh = {e.id for e in self.events(contact_id, after_seq=seq)}
            unseen = [
                e.timestamp
                for e in self.events(contact_id)
                if e.id in fresh or (horizon is not None and horizon < e.timestamp <= as_of)
            ]
            if unseen:
                found[contact_id] = min(unseen)
        return found

    def read_histories(
        self: ReadsEvents,
        starts: Mapping[str, datetime | None],
        needs: Sequence[HistoryNeed] | None,
    ) -> dict[str, list[Event]]:
        """The events each contact's rules read, judged from its start on (None: all).

        Whole histories, cut in Python.
        """
        found: dict[str, list[Event]] = {}
        for contact_id, start in starts.items():
            history = self.events(contact_id)
            found[contact_id] = (
                history if needs is None else needed_events(history, needs, start=start)
            )
        return found
