"""Reading ingestion input: JSON Lines and CSV rows, decoded and turned into events or contacts.

Each reader yields `(line number, raw text, row)` where the row is a dict, a `Rejected` reason, or
None for a blank line (CSV records come from `gtmflow.tools.events.csv_records`);
`event_from_json` and `event_from_csv` turn a row into an `Event` (or a Segment `identify` into a
`Contact`), raising an input error the dead letter can quote. The write loop that batches rows
into the store is `gtmflow.tools.events.ingest`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from json.scanner import make_scanner
from pathlib import Path
from typing import IO, Any, Final, Literal, TypeGuard

from gtmflow.errors import ConfigError, InputError
from gtmflow.models import EVENT_TIME_RANGE, MAX_PROPERTIES_BYTES, Contact, Event
from gtmflow.tools.events.crm import json_object
from gtmflow.tools.events.csv_records import csv_rows
from gtmflow.tools.events.event_store import derived_event_id
from gtmflow.tools.events.reasons import Rejected, short
from gtmflow.tools.events.segment import Warn, from_segment, is_segment_payload, warn_input
from gtmflow.tools.events.sqlite_rows import trusted_event

__all__ = [
    "Convert",
    "IngestFormat",
    "Progress",
    "Rejected",
    "Row",
    "RowItem",
    "event_from_csv",
    "event_from_json",
    "format_of",
    "open_input",
    "read_rows",
]

IngestFormat = Literal["jsonl", "csv"]
Progress = Callable[[int], object]
Row = dict[str, Any]

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
_EARLIEST, _END = EVENT_TIME_RANGE
_SCAN: Final = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_LINE_ENDS: Final = ("\n", "\r\n")


RowItem = tuple[int, str | bytes, Row | Rejected | None]
Convert = Callable[[Row, int, Warn], Event | Contact]  # (row, length of its raw text, warn)


def format_of(path: Path, format: IngestFormat | None) -> IngestFormat:
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


def open_input(path: Path, what: str) -> IO[bytes]:
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


def read_rows(
    handle: IO[bytes],
    format: IngestFormat,
    path: Path,
    progress: Progress | None,
    *,
    delimiter: str = ",",
) -> Iterator[RowItem]:
    """The numbered rows of a JSON Lines or CSV input (`path` is for messages)."""
    lines = _numbered_lines(handle, progress)
    if format == "csv":
        return csv_rows(lines, path=path, delimiter=delimiter)
    return _jsonl_rows(lines, path)


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


def _jsonl_rows(lines: Iterator[tuple[int, bytes]], path: Path) -> Iterator[RowItem]:
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


def _parse_json_line(line: bytes) -> Row | Rejected:
    try:
        text = line.decode("utf-8")  # str skips json's encoding sniffing
        row = _scan_line(text)
    except UnicodeDecodeError as exc:
        return Rejected(f"line is not valid UTF-8 (byte {exc.start + 1}); save the file as UTF-8")
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
            return Rejected(
                "line is not valid JSON: it ends before the object is complete (a truncated line?)"
            )
        message = exc.msg.removesuffix(" at")  # "Invalid control character at"
        return Rejected(f"line is not valid JSON: {message} at column {exc.colno}")
    except RecursionError:
        return Rejected(
            "line is JSON nested too deeply to read (over about 1,000 levels); flatten it"
        )
    except ValueError as exc:  # an integer longer than Python's 4,300-digit limit
        if "digits" in str(exc):
            return Rejected("line holds a number with more than 4,300 digits; write it as a string")
        return Rejected(f"line is not valid JSON: {exc}")
    if not isinstance(row, dict):
        kind = "an array" if isinstance(row, list) else f"a {type(row).__name__}"
        return Rejected(f"line is JSON but {kind}, not an object; write one object per line")
    return row


def _scan_line(text: str) -> Any:
    """`json.loads(text)`, with json's scanner called directly when the line is plain.

    `json.loads` reaches the C scanner through three Python calls and two regular
    expressions (1 of 2.2 us a sample-world line). Anything but one value at the start of the
    line and a line break after it (leading or other trailing space, an error) goes through
    `json.loads`, which reads it, or raises what it always raised.
    """
    try:
        row, end = _SCAN(text, 0)
    except Exception:  # StopIteration, JSONDecodeError, RecursionError, digits: said below
        return json.loads(text)
    if end == len(text) or text[end:] in _LINE_ENDS:
        return row
    return json.loads(text)


# Events ----------------------------------------------------------------------------------------


def event_from_json(row: Row, raw_size: int, warn: Warn = warn_input) -> Event | Contact:
    if is_segment_payload(row):
        return from_segment(row, warn=warn)
    if not _EVENT_KEYS.issuperset(row):
        row = _fold_extras(row)
    # JSON-escaping at most sextuples a byte ("é" → "\u00e9", "9e15" → 18 digits), so the
    # properties of a short line cannot exceed the size limit and need no measuring.
    quick = raw_size * 6 <= MAX_PROPERTIES_BYTES
    return (quick and _quick_event(row)) or _event(row)


def event_from_csv(row: Row, raw_size: int, warn: Warn = warn_input) -> Event:
    fields: Row = {}
    properties: Row = {}
    for column, value in row.items():
        if value == "":
            continue
        target = _column_target(column)
        if target is None:
            properties[column] = value
        else:
            fields[target] = value
    # Column names are not in the row's text, so bound the size from the cells: a character
    # escapes to at most 12 bytes (an emoji's surrogate pair), plus quotes, colon and comma.
    # A character of a `properties` cell's JSON text re-encodes to at most 12 bytes too (a
    # number to at most 4.5: "1e15" is 1000000000000000.0), and merging adds no bytes.
    size = 2 + sum(6 + 12 * (len(key) + len(value)) for key, value in properties.items())
    if "properties" in fields:
        cell = fields["properties"]
        size += 12 * len(cell) if type(cell) is str else MAX_PROPERTIES_BYTES  # a mapped dict
        properties = {**properties, **json_object(_parsed_cell(cell), "properties")}
    fields["properties"] = properties
    return (size <= MAX_PROPERTIES_BYTES and _quick_event(fields)) or _event(fields)


@lru_cache(maxsize=1024)
def _column_target(column: str) -> str | None:
    """The event field a CSV column fills, None for a property (cached: names repeat)."""
    return _EVENT_COLUMNS.get(column.strip().lower())


def _parsed_cell(cell: Any) -> Any:
    """A `properties` cell parsed if it holds a JSON object, else as it is (`json_object`
    then reads it, or refuses it with its own message).
    """
    if type(cell) is not str:
        return cell
    try:
        parsed = _scan_line(cell)
    except (TypeError, ValueError):  # json_object reads it again and says what is wrong
        return cell
    return parsed if type(parsed) is dict else cell


def _quick_event(row: Row) -> Event | None:
    """The hot path: build a plainly valid event without pydantic; None means "validate it".

    Only rows that `Event` would accept unchanged take this path (trimmed ids of 1-256
    characters, an ISO-8601 timestamp with an offset within `EVENT_TIME_RANGE`, properties
    with trimmed keys, small enough by line length);
    anything else goes through `Event.model_validate`, which also explains what is wrong.
    """
    kind, contact_id, stamp = row.get("type"), row.get("contact_id"), row.get("timestamp")
    properties = row.get("properties")
    if properties is None:
        properties = {}
    if type(stamp) is not str or type(properties) is not dict:
        return None
    for key in properties:  # `Event` strips the keys (str_strip_whitespace): let it
        if type(key) is not str or key.strip() is not key:
            return None
    if not (_plain_id(kind) and _plain_id(contact_id)):
        return None
    try:
        timestamp = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if timestamp.utcoffset() is None or not _EARLIEST <= timestamp < _END:
        return None
    event_id = row.get("id")
    if event_id is None or event_id == "":
        event_id = derived_event_id(contact_id, kind, timestamp, properties)
    elif not _plain_id(event_id):
        return None
    return trusted_event(event_id, kind, contact_id, timestamp, properties)


def _plain_id(value: Any) -> TypeGuard[str]:
    """A str of 1-256 characters with no space at either end (`strip` returns it unchanged)."""
    return type(value) is str and 0 < len(value) <= _MAX_ID and value.strip() is value


def _event(row: Row) -> Event:
    if "properties" in row and row["properties"] is None:
        row = {**row, "properties": {}}
    event_id = row.get("id")
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        event = Event.model_validate({**row, "id": _PENDING_ID})
        derived = derived_event_id(event.contact_id, event.type, event.timestamp, event.properties)
        return event.model_copy(update={"id": derived})
    return Event.model_validate(row)


def _fold_extras(row: Row) -> Row:
    properties = row.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise Rejected(f"'properties' must be a JSON object, got {short(properties)}")
    extras = {key: value for key, value in row.items() if key not in _EVENT_KEYS}
    folded = {key: row[key] for key in _EVENT_KEYS if key in row}
    folded["properties"] = {**extras, **(properties or {})}
    return folded
