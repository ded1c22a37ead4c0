"""Streaming ingestion of events and contacts from JSON Lines and CSV files into an `EventStore`.

Files are read line by line and streamed into the store one transaction per batch, so memory
stays flat however big the file.
The format comes from the suffix (`.jsonl`, `.ndjson`, `.json` → JSON Lines; `.csv` → CSV) or
from `format=`. A UTF-8 byte-order mark is tolerated; blank lines are skipped and counted.

Events
    JSON Lines rows look like `{"id", "type", "contact_id", "timestamp", "properties"}`; any
    other top-level key is folded into `properties`. CSV files have the columns `id`, `type`,
    `contact_id`, `timestamp`, optionally a `properties` column holding a JSON object, and any
    other (non-empty) cell becomes a string property under its column name. Segment `track`,
    `page` and `identify` payloads may be mixed in (see `gtmflow.tools.events.segment`). Timestamps
    must carry a timezone (`Z` or an offset). Rows may come in any time order.

    **Idempotency.** A row without an `id` gets a deterministic one (`derived_event_id`: a
    SHA-256 of contact_id, type, UTC timestamp and canonical properties JSON), so re-ingesting
    a file stores nothing new: the second run reports `accepted=0` and every row a duplicate.

Contacts
    Rows need an `id`; `email`, `name`, `company`, `title`, `timezone`, `lifecycle_stage` and
    `subscription` map to `Contact` fields and every other column becomes an attribute under a
    snake_case key. HubSpot and Salesforce export headers are recognised and their lifecycle
    stage values translated (see `gtmflow.tools.events.crm`). Contacts merge into what is
    stored: re-importing enriches, it never blanks a field.

Rejected rows
    A row that fails, whatever raises (decoding, validation, the store refusing it: a lone
    surrogate, a conflicting event id), never stops the run and is never lost: it is appended
    to a dead-letter JSON Lines file as `{"line": N, "reason": "...", "raw": "<the original
    text>"}`, and every other row is stored. A workspace puts the file under
    `.gtmflow/dead-letter/`; called directly, `<input>.dead-letter.jsonl` beside the input, or
    `dead_letter=`. No file is created when no row is rejected. What kept rows lost (a time
    zone not known) is in the report's `warnings`.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gtmflow.errors import ConfigError, InputWarning
from gtmflow.models import Contact, Event
from gtmflow.tools.events.crm import contact_from_row
from gtmflow.tools.events.csv_records import check_delimiter
from gtmflow.tools.events.dead_letter import DeadLetter, IngestNotes
from gtmflow.tools.events.event_store import EventStore, WriteResult
from gtmflow.tools.events.mapping import EventMapping
from gtmflow.tools.events.readers import (
    Convert,
    IngestFormat,
    Progress,
    Rejected,
    Row,
    RowItem,
    event_from_csv,
    event_from_json,
    format_of,
    open_input,
    read_rows,
)
from gtmflow.tools.events.reasons import explain_validation_error, rejection_reason
from gtmflow.tools.events.segment import Warn

__all__ = [
    "IngestFormat",
    "IngestReport",
    "explain_validation_error",
    "ingest_contacts",
    "ingest_events",
]


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingestion did with each row of a file.

    Attributes:
        accepted: Rows that changed the store (new events; new or enriched contacts).
        duplicates: Valid rows the store already held (same event id, or no new contact data).
        rejected: Rows written to the dead-letter file (a conflicting event id among them).
        ignored_blank: Blank lines skipped.
        dead_letter: The dead-letter file, or None when no row was rejected.
        warnings: What kept rows lost, one line per kind with the lines concerned (each is
            also issued as an `InputWarning`).
    """

    accepted: int
    duplicates: int
    rejected: int
    ignored_blank: int
    dead_letter: Path | None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (the CLI's `--json` output)."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "ignored_blank": self.ignored_blank,
            "dead_letter": None if self.dead_letter is None else str(self.dead_letter),
            "warnings": list(self.warnings),
        }


def ingest_events(
    store: EventStore,
    path: str | Path,
    *,
    format: IngestFormat | None = None,
    dead_letter: str | Path | None = None,
    batch_size: int = 100_000,
    progress: Progress | None = None,
    fallback_dir: str | Path | None = None,
    mapping: EventMapping | None = None,
    delimiter: str = ",",
) -> IngestReport:
    """Stream events (and Segment identify calls) from a JSON Lines or CSV file into `store`.

    Args:
        store: Where to write.
        path: The input file.
        format: `"jsonl"` or `"csv"`; by default taken from the file suffix.
        dead_letter: Where rejected rows go: a file, or a folder to put
            `<input>.dead-letter.jsonl` in. By default beside the input.
        batch_size: Rows per store transaction. Rows stream into the transaction, so memory
            does not grow with it, while each commit rewrites every index page it touched:
            big batches are much faster on big stores (measured at a million events: ~20k
            events/s with 5,000-row batches, ~60k with 100,000).
        progress: Called now and then, and at the end, with the bytes read so far.
        fallback_dir: Folder for the dead-letter file when the input's folder is not
            writable (default: the system temp folder). Ignored when `dead_letter` is given.
        mapping: Column renames and timestamp parsing for exports in another shape.
        delimiter: The CSV delimiter (`";"`, `"\\t"` or `"tab"`, ...); a header that looks
            like another one is an error that names it.

    Raises:
        InputError: The file is missing, unreadable, or of an unknown format, or its CSV
            header looks like it uses another delimiter.
    """
    options = _Options.of(
        path, format, dead_letter, batch_size, progress, fallback_dir, delimiter=delimiter
    )
    convert: Convert = event_from_csv if options.format == "csv" else event_from_json
    if mapping is not None:
        convert = _mapped(convert, mapping)
    return _ingest(store, options, convert, what="events")


def _mapped(convert: Convert, mapping: EventMapping) -> Convert:
    """A converter that applies `mapping` to each row first."""

    def read(row: Row, raw_size: int, warn: Warn) -> Event | Contact:
        return convert(mapping.apply(row), raw_size, warn)

    return read


def ingest_contacts(
    store: EventStore,
    path: str | Path,
    *,
    format: IngestFormat | None = None,
    dead_letter: str | Path | None = None,
    batch_size: int = 100_000,
    progress: Progress | None = None,
    fallback_dir: str | Path | None = None,
    delimiter: str = ",",
) -> IngestReport:
    """Stream contacts from a CSV or JSON Lines file (e.g. a HubSpot or Salesforce export).

    Arguments, dead-lettering and errors are those of `ingest_events`.
    """
    options = _Options.of(
        path, format, dead_letter, batch_size, progress, fallback_dir, delimiter=delimiter
    )
    return _ingest(store, options, contact_from_row, what="contacts")


@dataclass(frozen=True, slots=True)
class _Options:
    path: Path
    format: IngestFormat
    dead_letter: Path | None
    fallback_dir: Path
    batch_size: int
    progress: Progress | None
    delimiter: str

    @classmethod
    def of(
        cls,
        path: str | Path,
        format: IngestFormat | None,
        dead_letter: str | Path | None,
        batch_size: int,
        progress: Progress | None,
        fallback_dir: str | Path | None,
        *,
        delimiter: str,
    ) -> _Options:
        if batch_size < 1:
            raise ConfigError(f"batch_size {batch_size} is too small; pass 1 or more (e.g. 5000)")
        source = Path(path).expanduser()
        return cls(
            path=source,
            format=format_of(source, format),
            dead_letter=None if dead_letter is None else Path(dead_letter).expanduser(),
            fallback_dir=Path(fallback_dir or tempfile.gettempdir()).expanduser(),
            batch_size=batch_size,
            progress=progress,
            delimiter=check_delimiter(delimiter),
        )

    def dead_letter_candidates(self) -> list[Path]:
        """Where the dead-letter file may go, best first."""
        name = f"{self.path.name}.dead-letter.jsonl"
        chosen = self.dead_letter
        if chosen is not None:
            return [chosen / name if chosen.is_dir() else chosen]
        return [self.path.with_name(name), self.fallback_dir / name]


def _ingest(
    store: EventStore,
    options: _Options,
    convert: Convert,
    *,
    what: Literal["events", "contacts"],
) -> IngestReport:
    accepted = duplicates = 0
    dead_letter = DeadLetter(options.path, options.dead_letter_candidates())
    with open_input(options.path, what) as handle, dead_letter as dead:
        items = _Items(
            read_rows(
                handle,
                options.format,
                options.path,
                options.progress,
                delimiter=options.delimiter,
            ),
            convert,
            dead,
        )
        with store.bulk_load() if what == "events" else nullcontext():
            while not items.done:
                pulled = items.pulled
                for result in _write_batch(store, items, options.batch_size, what):
                    accepted += result.accepted
                    duplicates += result.duplicates
                if items.pulled == pulled and not items.done:
                    raise ConfigError(
                        f"{type(store).__name__}.write_{what}() returned without reading the "
                        "rows it was given; an EventStore must consume the whole iterable it "
                        "is passed"
                    )
    notes = items.notes.summary()
    for note in notes:
        warnings.warn(InputWarning(f"'{options.path.name}' {note}"), stacklevel=3)
    return IngestReport(accepted, duplicates, dead.count, items.blank, dead.path, notes)


def _write_batch(
    store: EventStore, items: _Items, size: int, what: Literal["events", "contacts"]
) -> list[WriteResult]:
    """Write the next `size` valid rows in one store transaction (plus one for contacts)."""
    if what == "contacts":
        return [store.write_contacts(items.contacts(size), reject=items.reject)]
    results = [store.write_events(items.events(size), reject=items.reject)]
    if items.contacts_aside:
        results.append(store.write_contacts(items.aside(), reject=items.reject))
    return results


class _Items:
    """The valid rows of a file, pulled lazily by the store inside its write transaction.

    Rows are converted as the store consumes them, so memory stays flat whatever the batch
    size; rejected rows go to the dead letter and blank lines are counted on the way. Any
    exception converting a row rejects that row only; a row the store refuses comes back
    through `reject` and is dead-lettered with its own line (looked up among the batch's rows:
    the PostgreSQL store reports conflicts once a chunk is inserted, not before the next pull).

    The lookup keeps each row's line, raw text and id string, not the row itself: holding a
    whole batch of events alive made the garbage collector walk them again and again (29% of
    an ingest's CPU at 100,000-row batches, `benchmarks/RESULTS.md`, "Ingest profile,
    session 5"). A row the store still holds is alive, so no later row can have taken its
    `id()`; the kept id string (`is`, not `==`) tells a stale entry from the row's own.
    """

    def __init__(self, rows: Iterator[RowItem], convert: Convert, dead: DeadLetter) -> None:
        self._rows = rows
        self._convert = convert
        self._dead = dead
        self._current: tuple[int, str | bytes] = (0, "")
        self._batch: dict[int, tuple[str, int, str | bytes]] = {}
        """The rows pulled in the current batch, by `id()` of their item: id, line, raw text."""
        self._line = 0
        self.notes = IngestNotes()
        self.blank = 0
        self.pulled = 0
        self.done = False
        self.contacts_aside: list[tuple[Contact, int, str | bytes]] = []

    def events(self, limit: int) -> Iterator[Event]:
        """Events of the next `limit` valid rows; contacts (Segment identify) are set aside."""
        self._batch.clear()
        for item in self._take(limit):
            if isinstance(item, Event):
                yield item
            else:
                self.contacts_aside.append((item, *self._current))

    def contacts(self, limit: int) -> Iterator[Contact]:
        """Contacts of the next `limit` valid rows."""
        self._batch.clear()
        for item in self._take(limit):
            if isinstance(item, Contact):
                yield item

    def aside(self) -> Iterator[Contact]:
        """The contacts set aside by `events`, each with its own line for `reject`."""
        aside, self.contacts_aside = self.contacts_aside, []
        self._batch.clear()
        for contact, line_no, raw in aside:
            self._current = (line_no, raw)
            self._batch[id(contact)] = (contact.id, line_no, raw)
            yield contact

    def _warn(self, message: str) -> None:
        self.notes.add(self._line, message)

    def reject(self, item: Event | Contact, reason: str) -> None:
        """Dead-letter a row the store refused (by default the last one pulled)."""
        pulled = self._batch.get(id(item))
        line_no, raw = pulled[1:] if pulled and pulled[0] is item.id else self._current
        self._dead.write(line_no, reason, raw)

    def _take(self, limit: int) -> Iterator[Event | Contact]:
        taken = 0
        for line_no, raw, row in self._rows:
            self.pulled += 1
            if row is None:
                self.blank += 1
                continue
            self._line = line_no
            try:
                if isinstance(row, Rejected):
                    raise row
                item = self._convert(row, len(raw), self._warn)
            except Exception as exc:  # any failure on one row costs that row only
                self._dead.write(line_no, rejection_reason(exc), raw)
                continue
            self._current = (line_no, raw)
            self._batch[id(item)] = (item.id, line_no, raw)
            yield item
            taken += 1
            if taken >= limit:
                return
        self.done = True
