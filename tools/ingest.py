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
    `page` and `identify` payloads may be mixed in (see `gtmflow.tools.segment`). Timestamps
    must carry a timezone (`Z` or an offset). Rows may come in any time order.

    **Idempotency.** A row without an `id` gets a deterministic one (`derived_event_id`: a
    SHA-256 of contact_id, type, UTC timestamp and canonical properties JSON), so re-ingesting
    a file stores nothing new: the second run reports `accepted=0` and every row a duplicate.

Contacts
    Rows need an `id`; `email`, `name`, `company`, `title`, `timezone`, `lifecycle_stage` and
    `subscription` map to `Contact` fields and every other column becomes an attribute under a
    snake_case key. HubSpot and Salesforce export headers are recognised (`gtmflow.tools.crm`);
    their lifecycle stage values are translated (see `gtmflow.tools.crm`). Contacts merge into what
    is stored: re-importing enriches, it never blanks a field.

Rejected rows
    A row that does not validate never stops the run and is never lost: it is appended to a
    dead-letter JSON Lines file, `<input>.dead-letter.jsonl` beside the input by default, as
    `{"line": N, "reason": "...", "raw": "<the original text>"}`. No file is created when no
    row is rejected.
"""

from __future__ import annotations

import codecs
import csv
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final, Literal, TypeGuard

from pydantic import ValidationError

from gtmflow.errors import ConfigError, InputError, RunError
from gtmflow.models import MAX_PROPERTIES_BYTES, Contact, Event
from gtmflow.tools.crm import contact_from_row, json_object
from gtmflow.tools.events import EventStore, WriteResult, derived_event_id
from gtmflow.tools.mapping import EventMapping
from gtmflow.tools.reasons import explain_validation_error, rejection_reason, short
from gtmflow.tools.segment import from_segment, is_segment_payload

__all__ = [
    "IngestFormat",
    "IngestReport",
    "explain_validation_error",
    "ingest_contacts",
    "ingest_events",
]

IngestFormat = Literal["jsonl", "csv"]
Progress = Callable[[int], object]
_Row = dict[str, Any]

_EVENT_KEYS: Final = frozenset({"id", "type", "contact_id", "timestamp", "properties"})
_EVENT_COLUMNS: Final = {
    "id": "id", "event_id": "id",
    "type": "type", "event_type": "type",
    "contact_id": "contact_id", "user_id": "contact_id",
    "timestamp": "timestamp", "occurred_at": "timestamp",
    "properties": "properties",
}  # fmt: skip
_SUFFIXES: Final[Mapping[str, IngestFormat]] = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"
}  # fmt: skip
_PROGRESS_STEP = 1 << 20
_PENDING_ID = "pending"
_MAX_ID = 256  # models.Id's max_length


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingestion did with each row of a file.

    Attributes:
        accepted: Rows that changed the store (new events; new or enriched contacts).
        duplicates: Valid rows the store already held (same event id, or no new contact data).
        rejected: Rows written to the dead-letter file.
        ignored_blank: Blank lines skipped.
        dead_letter: The dead-letter file, or None when no row was rejected.
    """

    accepted: int
    duplicates: int
    rejected: int
    ignored_blank: int
    dead_letter: Path | None

    def to_json(self) -> dict[str, int | str | None]:
        """The report as a JSON-ready dict (the CLI's `--json` output)."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "ignored_blank": self.ignored_blank,
            "dead_letter": None if self.dead_letter is None else str(self.dead_letter),
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

    Raises:
        InputError: The file is missing, unreadable, or of an unknown format.
    """
    options = _Options.of(path, format, dead_letter, batch_size, progress, fallback_dir)
    convert: _Convert = _event_from_csv if options.format == "csv" else _event_from_json
    if mapping is not None:
        convert = _mapped(convert, mapping)
    return _ingest(store, options, convert, what="events")


def _mapped(convert: _Convert, mapping: EventMapping) -> _Convert:
    """A converter that applies `mapping` to each row first."""

    def read(row: _Row, raw_size: int) -> Event | Contact:
        return convert(mapping.apply(row), raw_size)

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
) -> IngestReport:
    """Stream contacts from a CSV or JSON Lines file (e.g. a HubSpot or Salesforce export).

    Arguments, dead-lettering and errors are those of `ingest_events`.
    """
    options = _Options.of(path, format, dead_letter, batch_size, progress, fallback_dir)
    return _ingest(store, options, contact_from_row, what="contacts")


class _Rejected(InputError):
    """A row that cannot be stored; the message is the dead-letter reason."""


_REJECTIONS = (_Rejected, InputError, ValidationError, TypeError, ValueError)
_RowItem = tuple[int, str | bytes, _Row | _Rejected | None]
_Convert = Callable[[_Row, int], Event | Contact]  # (row, length of its raw text)


@dataclass(frozen=True, slots=True)
class _Options:
    path: Path
    format: IngestFormat
    dead_letter: Path | None
    fallback_dir: Path
    batch_size: int
    progress: Progress | None

    @classmethod
    def of(
        cls,
        path: str | Path,
        format: IngestFormat | None,
        dead_letter: str | Path | None,
        batch_size: int,
        progress: Progress | None,
        fallback_dir: str | Path | None,
    ) -> _Options:
        if batch_size < 1:
            raise ConfigError(f"batch_size {batch_size} is too small; pass 1 or more (e.g. 5000)")
        source = Path(path).expanduser()
        return cls(
            path=source,
            format=_format_of(source, format),
            dead_letter=None if dead_letter is None else Path(dead_letter).expanduser(),
            fallback_dir=Path(fallback_dir or tempfile.gettempdir()).expanduser(),
            batch_size=batch_size,
            progress=progress,
        )


def _ingest(
    store: EventStore,
    options: _Options,
    convert: _Convert,
    *,
    what: Literal["events", "contacts"],
) -> IngestReport:
    accepted = duplicates = 0
    with _open_input(options.path, what) as handle, _DeadLetter(options) as dead:
        items = _Items(_rows(handle, options), convert, dead)
        while not items.done:
            pulled = items.pulled
            for result in _write_batch(store, items, options.batch_size, what):
                accepted += result.accepted
                duplicates += result.duplicates
            if items.pulled == pulled and not items.done:
                raise ConfigError(
                    f"{type(store).__name__}.write_{what}() returned without reading the rows "
                    "it was given; an EventStore must consume the whole iterable it is passed"
                )
    return IngestReport(accepted, duplicates, dead.count, items.blank, dead.path)


def _write_batch(
    store: EventStore, items: _Items, size: int, what: Literal["events", "contacts"]
) -> list[WriteResult]:
    """Write the next `size` valid rows in one store transaction (plus one for contacts)."""
    if what == "contacts":
        return [store.write_contacts(items.contacts(size))]
    results = [store.write_events(items.events(size))]
    if items.contacts_aside:
        results.append(store.write_contacts(items.contacts_aside))
        items.contacts_aside = []
    return results


class _Items:
    """The valid rows of a file, pulled lazily by the store inside its write transaction.

    Rows are converted as the store consumes them, so memory stays flat whatever the batch
    size; rejected rows go to the dead letter and blank lines are counted on the way.
    """

    def __init__(self, rows: Iterator[_RowItem], convert: _Convert, dead: _DeadLetter) -> None:
        self._rows = rows
        self._convert = convert
        self._dead = dead
        self.blank = 0
        self.pulled = 0
        self.done = False
        self.contacts_aside: list[Contact] = []

    def events(self, limit: int) -> Iterator[Event]:
        """Events of the next `limit` valid rows; contacts (Segment identify) are set aside."""
        for item in self._take(limit):
            if isinstance(item, Event):
                yield item
            else:
                self.contacts_aside.append(item)

    def contacts(self, limit: int) -> Iterator[Contact]:
        """Contacts of the next `limit` valid rows."""
        for item in self._take(limit):
            if isinstance(item, Contact):
                yield item

    def _take(self, limit: int) -> Iterator[Event | Contact]:
        taken = 0
        for line_no, raw, row in self._rows:
            self.pulled += 1
            if row is None:
                self.blank += 1
                continue
            try:
                if isinstance(row, _Rejected):
                    raise row
                item = self._convert(row, len(raw))
            except _REJECTIONS as exc:
                self._dead.write(line_no, rejection_reason(exc), raw)
                continue
            yield item
            taken += 1
            if taken >= limit:
                return
        self.done = True


class _DeadLetter:
    """Rejected rows as JSON Lines; the file is created on the first rejection only."""

    def __init__(self, options: _Options) -> None:
        self._options = options
        self._handle: IO[str] | None = None
        self.path: Path | None = None
        self.count = 0

    def __enter__(self) -> _DeadLetter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def write(self, line_no: int, reason: str, raw: str | bytes) -> None:
        if self._handle is None:
            self._handle, self.path = self._open()
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        record = {"line": line_no, "reason": reason, "raw": text.rstrip("\r\n")}
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def _open(self) -> tuple[IO[str], Path]:
        failures = []
        for candidate in self._candidates():
            try:
                candidate.parent.mkdir(parents=True, exist_ok=True)
                return candidate.open("w", encoding="utf-8"), candidate
            except OSError as exc:
                failures.append(f"'{candidate}' ({exc.strerror or exc})")
        raise RunError(
            f"cannot write rejected rows of '{self._options.path}' to {' or '.join(failures)}; "
            "pass dead_letter= a writable file or folder"
        )

    def _candidates(self) -> list[Path]:
        name = f"{self._options.path.name}.dead-letter.jsonl"
        chosen = self._options.dead_letter
        if chosen is not None:
            return [chosen / name if chosen.is_dir() else chosen]
        return [self._options.path.with_name(name), self._options.fallback_dir / name]


# Reading ---------------------------------------------------------------------------------------


def _format_of(path: Path, format: IngestFormat | None) -> IngestFormat:
    if format is not None:
        if format not in ("jsonl", "csv"):
            raise ConfigError(f"format '{format}' is not supported; pass 'jsonl' or 'csv'")
        return format
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"cannot tell the format of '{path}' from its suffix '{path.suffix}'; name it "
            ".jsonl, .ndjson, .json or .csv, or pass format='jsonl' or format='csv'"
        )
    return found


def _open_input(path: Path, what: str) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        why, fix = "it does not exist", f"check the path (relative paths start at '{Path.cwd()}')"
    except IsADirectoryError:
        why, fix = "it is a folder", "pass a .jsonl or .csv file inside it"
    except PermissionError:
        why, fix = "permission denied", "make it readable (chmod u+r) or copy it somewhere readable"
    except OSError as exc:
        why, fix = str(exc.strerror or exc), "check the file and the disk it is on"
    raise InputError(f"cannot read {what} file '{path}': {why}; {fix}")


def _rows(handle: IO[bytes], options: _Options) -> Iterator[_RowItem]:
    lines = _numbered_lines(handle, options.progress)
    if options.format == "csv":
        return _csv_rows(lines)
    return _jsonl_rows(lines, options.path)


def _numbered_lines(handle: IO[bytes], progress: Progress | None) -> Iterator[tuple[int, bytes]]:
    consumed = reported = 0
    for line_no, line in enumerate(handle, 1):
        consumed += len(line)
        yield line_no, line[3:] if line_no == 1 and line.startswith(codecs.BOM_UTF8) else line
        if progress is not None and consumed - reported >= _PROGRESS_STEP:
            progress(consumed)
            reported = consumed
    if progress is not None:
        progress(consumed)


def _jsonl_rows(lines: Iterator[tuple[int, bytes]], path: Path) -> Iterator[_RowItem]:
    seen_content = False
    for line_no, line in lines:
        if not line.strip():
            yield line_no, line, None
            continue
        row = _parse_json_line(line)
        if not seen_content and line.lstrip().startswith(b"[") and not isinstance(row, dict):
            raise InputError(
                f"'{path}' holds a JSON array; gtmflow reads JSON Lines, one object per line: "
                f"convert it with `jq -c '.[]' {path.name} > {path.stem}.jsonl`"
            )
        seen_content = True
        yield line_no, line, row


def _parse_json_line(line: bytes) -> _Row | _Rejected:
    try:
        row = json.loads(line.decode("utf-8"))  # str skips json's encoding sniffing
    except UnicodeDecodeError as exc:
        return _Rejected(f"line is not valid UTF-8 (byte {exc.start + 1}); save the file as UTF-8")
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
            return _Rejected(
                "line is not valid JSON: it ends before the object is complete (a truncated line?)"
            )
        message = exc.msg.removesuffix(" at")  # "Invalid control character at"
        return _Rejected(f"line is not valid JSON: {message} at column {exc.colno}")
    if not isinstance(row, dict):
        kind = "an array" if isinstance(row, list) else f"a {type(row).__name__}"
        return _Rejected(f"line is JSON but {kind}, not an object; write one object per line")
    return row


class _CsvLines:
    """Decoded lines fed to `csv.reader`, remembering the raw text of the current record."""

    def __init__(self, lines: Iterator[tuple[int, bytes]]) -> None:
        self._lines = lines
        self._raw: list[str] = []
        self._bad: str | None = None
        self.line_no = 0

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        self.line_no, data = next(self._lines)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = data.decode("utf-8", errors="replace")
            self._bad = (
                f"line {self.line_no} is not valid UTF-8 (byte {exc.start + 1}); "
                "save the file as UTF-8"
            )
        self._raw.append(text)
        return text

    def take(self) -> tuple[int, str, str | None]:
        """First line number, raw text and UTF-8 problem of the record just read."""
        start, raw, bad = self.line_no - len(self._raw) + 1, "".join(self._raw), self._bad
        self._raw, self._bad = [], None
        return start, raw, bad


def _csv_rows(lines: Iterator[tuple[int, bytes]]) -> Iterator[_RowItem]:
    source = _CsvLines(lines)
    reader = csv.reader(source)
    header: list[str] = []
    for cells in reader:  # the first non-blank record is the header
        start, raw, _ = source.take()
        if any(cell.strip() for cell in cells):
            header = _csv_header(cells)
            break
        yield start, raw, None
    while header:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, raw, _ = source.take()
            yield start, raw, _Rejected(f"line is not valid CSV: {exc}")
            continue
        start, raw, bad = source.take()
        yield start, raw, _csv_row(header, cells, bad)


def _csv_header(cells: list[str]) -> list[str]:
    header: list[str] = []
    for index, cell in enumerate(cells, 1):
        name = cell.strip() or f"column_{index}"
        header.append(name if name not in header else f"{name}_{index}")
    return header


def _csv_row(header: list[str], cells: list[str], bad_utf8: str | None) -> _Row | _Rejected | None:
    if bad_utf8:
        return _Rejected(bad_utf8)
    if not any(cell.strip() for cell in cells):
        return None
    if len(cells) != len(header):
        return _Rejected(
            f"row has {len(cells)} cells but the header has {len(header)} columns; "
            "quote values that contain commas"
        )
    return dict(zip(header, cells, strict=True))


# Events ----------------------------------------------------------------------------------------


def _event_from_json(row: _Row, raw_size: int) -> Event | Contact:
    if is_segment_payload(row):
        return from_segment(row)
    if not _EVENT_KEYS.issuperset(row):
        row = _fold_extras(row)
    # JSON-escaping at most sextuples a byte ("é" → "\u00e9", "9e15" → 18 digits), so the
    # properties of a short line cannot exceed the size limit and need no measuring.
    quick = raw_size * 6 <= MAX_PROPERTIES_BYTES
    return (quick and _quick_event(row)) or _event(row)


def _event_from_csv(row: _Row, raw_size: int) -> Event:
    fields: _Row = {}
    properties: _Row = {}
    for column, value in row.items():
        if value == "":
            continue
        target = _EVENT_COLUMNS.get(column.strip().lower())
        if target is None:
            properties[column] = value
        else:
            fields[target] = value
    # Column names are not in the row's text, so bound the size from the cells: a character
    # escapes to at most 12 bytes (an emoji's surrogate pair), plus quotes, colon and comma.
    quick = (
        "properties" not in fields
        and 2 + sum(6 + 12 * (len(key) + len(value)) for key, value in properties.items())
        <= MAX_PROPERTIES_BYTES
    )
    if "properties" in fields:
        properties = {**properties, **json_object(fields["properties"], "properties")}
    fields["properties"] = properties
    return (quick and _quick_event(fields)) or _event(fields)


def _quick_event(row: _Row) -> Event | None:
    """The hot path: build a plainly valid event without pydantic; None means "validate it".

    Only rows that `Event` would accept unchanged take this path (trimmed ids of 1-256
    characters, an ISO-8601 timestamp with an offset, properties small enough by line length);
    anything else goes through `Event.model_validate`, which also explains what is wrong.
    """
    kind, contact_id, stamp = row.get("type"), row.get("contact_id"), row.get("timestamp")
    properties = row.get("properties")
    if properties is None:
        properties = {}
    if type(stamp) is not str or type(properties) is not dict:
        return None
    if not (_plain_id(kind) and _plain_id(contact_id)):
        return None
    try:
        timestamp = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if timestamp.utcoffset() is None:
        return None
    event_id = row.get("id")
    if event_id is None or event_id == "":
        event_id = derived_event_id(contact_id, kind, timestamp, properties)
    elif not _plain_id(event_id):
        return None
    return Event.model_construct(
        id=event_id, type=kind, contact_id=contact_id, timestamp=timestamp, properties=properties
    )


def _plain_id(value: Any) -> TypeGuard[str]:
    return (
        type(value) is str
        and 0 < len(value) <= _MAX_ID
        and not value[0].isspace()
        and not value[-1].isspace()
    )


def _event(row: _Row) -> Event:
    if "properties" in row and row["properties"] is None:
        row = {**row, "properties": {}}
    event_id = row.get("id")
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        event = Event.model_validate({**row, "id": _PENDING_ID})
        derived = derived_event_id(event.contact_id, event.type, event.timestamp, event.properties)
        return event.model_copy(update={"id": derived})
    return Event.model_validate(row)


def _fold_extras(row: _Row) -> _Row:
    properties = row.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise _Rejected(f"'properties' must be a JSON object, got {short(properties)}")
    extras = {key: value for key, value in row.items() if key not in _EVENT_KEYS}
    folded = {key: row[key] for key in _EVENT_KEYS if key in row}
    folded["properties"] = {**extras, **(properties or {})}
    return folded
