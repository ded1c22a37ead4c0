"""Streaming ingestion of events and contacts from JSON Lines and CSV files into an `EventStore`.

Files are read line by line and written in batches, so memory stays flat however big the file.
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
    snake_case key. HubSpot and Salesforce export headers are recognised (`CONTACT_HEADERS`);
    their lifecycle stage values are translated (`LIFECYCLE_STAGES`). Contacts merge into what
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
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gtmflow.errors import ConfigError, InputError, RunError
from gtmflow.models import Contact, Event
from gtmflow.tools.events import EventStore, WriteResult, derived_event_id
from gtmflow.tools.segment import from_segment, is_segment_payload, snake_case

__all__ = [
    "CONTACT_HEADERS",
    "LIFECYCLE_STAGES",
    "IngestFormat",
    "IngestReport",
    "explain_validation_error",
    "ingest_contacts",
    "ingest_events",
]

IngestFormat = Literal["jsonl", "csv"]
Progress = Callable[[int], object]
_Row = dict[str, Any]

CONTACT_HEADERS: Final[Mapping[str, str]] = {
    # gtmflow's own names
    "id": "id",
    "email": "email",
    "name": "name",
    "first_name": "first_name",
    "last_name": "last_name",
    "company": "company",
    "title": "title",
    "timezone": "timezone",
    "lifecycle_stage": "lifecycle_stage",
    "subscription": "subscription",
    # HubSpot contact exports
    "Record ID": "id",
    "Contact ID": "id",
    "Email Address": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Company Name": "company",
    "Job Title": "title",
    "Lifecycle Stage": "lifecycle_stage",
    "Time Zone": "timezone",
    "Unsubscribed from all email": "unsubscribed",
    # Salesforce contact and lead exports (report labels and API names)
    "Contact Id": "id",
    "Lead ID": "id",
    "Account Name": "company",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Email Opt Out": "unsubscribed",
    "HasOptedOutOfEmail": "unsubscribed",
}
"""Contact column headers and the field each fills; matching ignores case, spaces and `_`.

`first_name`/`last_name` make up `name` (when there is no name column) and are kept as
attributes; a true `unsubscribed` flag sets `subscription="unsubscribed"`. Any other header
(e.g. HubSpot's `Marketing contact status`) becomes a snake_case attribute.
"""

LIFECYCLE_STAGES: Final[Mapping[str, str]] = {
    "subscriber": "subscriber",
    "lead": "lead",
    "marketingqualifiedlead": "mql",
    "mql": "mql",
    "salesqualifiedlead": "sql",
    "sql": "sql",
    "opportunity": "opportunity",
    "customer": "customer",
    "evangelist": "evangelist",
    "other": "other",
}
"""CRM lifecycle values (lowercased, letters only) → gtmflow stages; others become "other"
and keep their original value in the `lifecycle_stage_raw` attribute."""

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
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_HEADER_LOOKUP: Final = {_NOT_ALNUM.sub("", k.lower()): v for k, v in CONTACT_HEADERS.items()}
_IANA_ZONE = re.compile(r"[A-Za-z]+(?:/[A-Za-z0-9_+\-]+)+")
_TRUE: Final = frozenset({"true", "1", "yes", "y", "t", "x"})
_PROGRESS_STEP = 1 << 20
_PENDING_ID = "pending"


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
    batch_size: int = 5000,
    progress: Progress | None = None,
    fallback_dir: str | Path | None = None,
) -> IngestReport:
    """Stream events (and Segment identify calls) from a JSON Lines or CSV file into `store`.

    Args:
        store: Where to write.
        path: The input file.
        format: `"jsonl"` or `"csv"`; by default taken from the file suffix.
        dead_letter: Where rejected rows go: a file, or a folder to put
            `<input>.dead-letter.jsonl` in. By default beside the input.
        batch_size: Rows per store transaction.
        progress: Called now and then, and at the end, with the bytes read so far.
        fallback_dir: Folder for the dead-letter file when the input's folder is not
            writable (default: the system temp folder). Ignored when `dead_letter` is given.

    Raises:
        InputError: The file is missing, unreadable, or of an unknown format.
    """
    options = _Options.of(path, format, dead_letter, batch_size, progress, fallback_dir)
    convert = _event_from_csv if options.format == "csv" else _event_from_json
    return _ingest(store, options, convert, what="events")


def ingest_contacts(
    store: EventStore,
    path: str | Path,
    *,
    format: IngestFormat | None = None,
    dead_letter: str | Path | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    fallback_dir: str | Path | None = None,
) -> IngestReport:
    """Stream contacts from a CSV or JSON Lines file (e.g. a HubSpot or Salesforce export).

    Arguments, dead-lettering and errors are those of `ingest_events`.
    """
    options = _Options.of(path, format, dead_letter, batch_size, progress, fallback_dir)
    return _ingest(store, options, _contact_from_row, what="contacts")


def explain_validation_error(error: ValidationError) -> str:
    """Turn a pydantic `ValidationError` into one short sentence a person can act on.

    Example: `timestamp '2026-01-01 10:00' has no timezone; use ISO-8601 with Z or an offset`.
    """
    details = error.errors(include_url=False)
    reasons = [_explain(detail) for detail in details[:3]]
    if len(details) > 3:
        reasons.append(f"and {len(details) - 3} more problems")
    return "; ".join(reasons)


class _Rejected(Exception):
    """A row that cannot be stored; the message is the dead-letter reason."""


_REJECTIONS = (_Rejected, InputError, ValidationError, TypeError, ValueError)


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
    convert: Callable[[_Row], Event | Contact],
    *,
    what: str,
) -> IngestReport:
    batch = _Batch(store, options.batch_size)
    blank = 0
    with _open_input(options.path, what) as handle, _DeadLetter(options) as dead:
        for line_no, raw, row in _rows(handle, options):
            if row is None:
                blank += 1
                continue
            try:
                if isinstance(row, _Rejected):
                    raise row
                batch.add(convert(row))
            except _REJECTIONS as exc:
                dead.write(line_no, _reason(exc), raw)
        batch.flush()
    return IngestReport(batch.accepted, batch.duplicates, dead.count, blank, dead.path)


class _Batch:
    """Rows waiting to be written, flushed to the store every `size` rows."""

    def __init__(self, store: EventStore, size: int) -> None:
        self._store = store
        self._size = size
        self._events: list[Event] = []
        self._contacts: list[Contact] = []
        self.accepted = 0
        self.duplicates = 0

    def add(self, item: Event | Contact) -> None:
        if isinstance(item, Event):
            self._events.append(item)
        else:
            self._contacts.append(item)
        if len(self._events) + len(self._contacts) >= self._size:
            self.flush()

    def flush(self) -> None:
        if self._contacts:
            self._count(self._store.write_contacts(self._contacts))
            self._contacts = []
        if self._events:
            self._count(self._store.write_events(self._events))
            self._events = []

    def _count(self, result: WriteResult) -> None:
        self.accepted += result.accepted
        self.duplicates += result.duplicates


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

_RowItem = tuple[int, str | bytes, _Row | _Rejected | None]


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
        row = json.loads(line)
    except UnicodeDecodeError as exc:
        return _Rejected(f"line is not valid UTF-8 (byte {exc.start + 1}); save the file as UTF-8")
    except json.JSONDecodeError as exc:
        return _Rejected(f"line is not valid JSON: {exc.msg} at column {exc.colno}")
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
    header = _csv_header(next(reader, None))
    source.take()
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


def _csv_header(cells: list[str] | None) -> list[str]:
    header: list[str] = []
    for index, cell in enumerate(cells or [], 1):
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


def _event_from_json(row: _Row) -> Event | Contact:
    if is_segment_payload(row):
        return from_segment(row)
    if not _EVENT_KEYS.issuperset(row):
        row = _fold_extras(row)
    return _event(row)


def _event_from_csv(row: _Row) -> Event:
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
    if "properties" in fields:
        properties = {**properties, **_json_object(fields["properties"], "properties")}
    fields["properties"] = properties
    return _event(fields)


def _event(row: _Row) -> Event:
    event_id = row.get("id")
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        event = Event.model_validate({**row, "id": _PENDING_ID})
        return event.model_copy(update={"id": derived_event_id(event)})
    return Event.model_validate(row)


def _fold_extras(row: _Row) -> _Row:
    properties = row.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise _Rejected(f"'properties' must be a JSON object, got {_short(properties)}")
    extras = {key: value for key, value in row.items() if key not in _EVENT_KEYS}
    folded = {key: row[key] for key in _EVENT_KEYS if key in row}
    folded["properties"] = {**extras, **(properties or {})}
    return folded


def _json_object(value: Any, name: str) -> _Row:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise _Rejected(f"'{name}' is not a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise _Rejected(f"'{name}' must be a JSON object, got {_short(parsed)}")
    return parsed


# Contacts --------------------------------------------------------------------------------------


def _contact_from_row(row: _Row) -> Contact:
    if row.get("type") == "identify" and is_segment_payload(row):
        contact = from_segment(row)
        if isinstance(contact, Contact):
            return contact
    fields: _Row = {}
    attributes: _Row = {}
    for key, value in row.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        target = _HEADER_LOOKUP.get(_NOT_ALNUM.sub("", key.lower()))
        if key == "attributes":
            attributes.update(_json_object(value, "attributes"))
        elif target is None or target in fields:
            attributes[snake_case(key) or key] = value
        else:
            fields[target] = value
    return _contact(fields, attributes)


def _contact(fields: _Row, attributes: _Row) -> Contact:
    if "id" not in fields:
        raise _Rejected(
            "missing contact 'id'; add an 'id' column (HubSpot 'Record ID' and Salesforce "
            "'Id' or 'Contact ID' columns also work)"
        )
    fields["id"] = str(fields["id"])
    _split_name(fields, attributes)
    if "lifecycle_stage" in fields:
        fields["lifecycle_stage"] = _lifecycle_stage(fields["lifecycle_stage"], attributes)
    if "timezone" in fields:
        fields["timezone"] = _timezone(str(fields["timezone"]))
    if _truthy(fields.pop("unsubscribed", False)):
        fields["subscription"] = "unsubscribed"  # an opt-out always wins: consent first
    return Contact.model_validate({**fields, "attributes": attributes})


def _split_name(fields: _Row, attributes: _Row) -> None:
    parts = [fields.pop(key, None) for key in ("first_name", "last_name")]
    for key, part in zip(("first_name", "last_name"), parts, strict=True):
        if part is not None:
            attributes[key] = part
    if "name" not in fields and any(parts):
        fields["name"] = " ".join(str(part).strip() for part in parts if part)


def _lifecycle_stage(value: Any, attributes: _Row) -> str:
    stage = LIFECYCLE_STAGES.get(_NOT_ALNUM.sub("", str(value).lower()))
    if stage is None:
        attributes["lifecycle_stage_raw"] = value
        return "other"
    return stage


def _timezone(value: str) -> str:
    """Best IANA reading of a CRM timezone: 'america_slash_new_york', '(GMT-05:00) America/…'."""
    text = value.strip().replace("_slash_", "/")
    match = _IANA_ZONE.search(text)
    candidate = match.group(0) if match else text
    if candidate.islower() and "/" in candidate:
        candidate = "/".join(
            "_".join(word.capitalize() for word in part.split("_")) for part in candidate.split("/")
        )
    return candidate


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


# Reasons ---------------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return explain_validation_error(exc)
    if isinstance(exc, _Rejected | InputError):
        return str(exc)
    return f"row could not be read ({type(exc).__name__}: {exc})"


def _explain(detail: ErrorDetails) -> str:
    field = ".".join(str(part) for part in detail["loc"]) or "row"
    kind, value = detail["type"], detail.get("input")
    ctx = detail.get("ctx", {})
    if kind == "missing":
        return f"missing '{field}'"
    if kind == "timezone_aware":
        return f"{field} {_short(value)} has no timezone; use ISO-8601 with Z or an offset"
    if kind.startswith("datetime"):
        return (
            f"{field} {_short(value)} is not a date-time; use ISO-8601 with Z or an offset, "
            "e.g. '2026-01-01T10:00:00Z'"
        )
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    return _explain_shape(field, kind, value, ctx) or f"{field}: {detail['msg']}"


def _explain_shape(field: str, kind: str, value: Any, ctx: Mapping[str, Any]) -> str | None:
    if kind == "string_too_short":
        return f"'{field}' is empty"
    if kind == "string_too_long":
        return f"'{field}' is longer than {ctx.get('max_length')} characters"
    if kind == "string_type":
        return f"'{field}' must be text, got {_short(value)}"
    if kind == "dict_type":
        return f"'{field}' must be a JSON object, got {_short(value)}"
    if kind == "literal_error":
        return f"'{field}' is {_short(value)}; expected {ctx.get('expected')}"
    if kind == "extra_forbidden":
        return f"unknown field '{field}'"
    return None


def _short(value: Any) -> str:
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
