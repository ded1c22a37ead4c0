"""CSV records from the physical lines of a file, where a bad quote costs one line only.

A quoted value may span lines, so one stray quote can swallow the rest of a file into a single
value: Python's `csv` reads on to the end of the file (or its 131,072-character field limit)
and reports nothing. `csv_rows` checks every record that spans lines or ends the file: when
its quote never closes, closes in the middle of a value, or the record has the wrong number
of cells, only the line that opened it is rejected, and reading resumes at the next line.

The header is the first non-blank record. A header of one column that splits on another
delimiter (`;`, tab, `|`, `,`) is an `InputError` that names the delimiter to pass.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

from gtmflow.errors import ConfigError, InputError
from gtmflow.tools.events.reasons import Rejected

__all__ = ["DELIMITERS", "check_delimiter", "csv_rows"]

DELIMITERS: Final = (",", ";", "\t", "|")
"""Delimiters a one-column header is checked against, to name the one a file uses."""

Row = dict[str, Any]
RowItem = tuple[int, str, "Row | Rejected | None"]


class _Line(NamedTuple):
    """One physical line (a tuple: a frozen dataclass took 1 us a line just to build)."""

    number: int
    text: str
    bad_utf8: str | None


def check_delimiter(delimiter: str) -> str:
    """A delimiter option as one character (`"tab"` and `"\\t"` mean a tab)."""
    value = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter)
    if len(value) != 1 or value in '"\r\n':
        raise ConfigError(
            f"delimiter {value!r} must be one character other than a quote or a newline, "
            "e.g. ',' or ';' (or 'tab')"
        )
    return value


def csv_rows(
    lines: Iterator[tuple[int, bytes]], *, path: Path, delimiter: str = ","
) -> Iterator[RowItem]:
    """`(first line number, raw text, row | rejection | None for blank)` per CSV record.

    Raises:
        InputError: The header looks like it uses another delimiter.
    """
    source = _Lines(lines)
    header: list[str] = []
    for cells in csv.reader(source, delimiter=delimiter):  # the first non-blank record
        record = source.take()
        if any(cell.strip() for cell in cells):
            header = _header(cells, record, path, delimiter)
            break
        yield record[0].number, _raw(record), None
    if header:
        yield from _records(source, header, delimiter)


class _Lines:
    """Decoded lines for `csv.reader`, keeping the lines of the current record; rewindable."""

    def __init__(self, lines: Iterator[tuple[int, bytes]]) -> None:
        self._lines = lines
        self._again: deque[_Line] = deque()
        self._record: list[_Line] = []
        self.exhausted = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._again.popleft() if self._again else self._read()
        self._record.append(line)
        return line.text

    def _read(self) -> _Line:
        try:
            number, data = next(self._lines)
        except StopIteration:
            self.exhausted = True
            raise
        try:
            return _Line(number, data.decode("utf-8"), None)
        except UnicodeDecodeError as exc:
            reason = f"line {number} is not valid UTF-8 (byte {exc.start + 1}); save it as UTF-8"
            return _Line(number, data.decode("utf-8", errors="replace"), reason)

    def take(self) -> list[_Line]:
        """The lines of the record just read (a record always has at least one)."""
        record, self._record = self._record, []
        return record

    def again(self, lines: list[_Line]) -> None:
        """Read these lines again, before any new one."""
        self._again.extendleft(reversed(lines))
        self.exhausted = False


def _records(source: _Lines, header: list[str], delimiter: str) -> Iterator[RowItem]:
    reader = csv.reader(source, delimiter=delimiter)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            record = source.take() or [_Line(0, "", None)]
            problem = _unclosed() if "field limit" in str(exc) else f"line is not valid CSV: {exc}"
            yield record[0].number, record[0].text, Rejected(problem)
            if len(record) > 1:
                source.again(record[1:])
            reader = csv.reader(source, delimiter=delimiter)
            continue
        record = source.take()
        why = _record_problem(record, cells, header, delimiter, at_end=source.exhausted)
        if why is None:
            yield record[0].number, _raw(record), _row(header, cells, record)
            continue
        yield record[0].number, record[0].text, Rejected(why)
        if len(record) > 1:  # the other lines were never this value: read them again
            source.again(record[1:])
            reader = csv.reader(source, delimiter=delimiter)


def _record_problem(
    record: list[_Line], cells: list[str], header: list[str], delimiter: str, *, at_end: bool
) -> str | None:
    """Why a record that spans lines (or ends the file) is not one row, else None."""
    if len(record) == 1 and not at_end:
        return None
    quotes = _quote_state("".join(line.text for line in record), delimiter)
    if quotes == "unclosed":
        return _unclosed()
    if len(record) == 1:
        return None
    if quotes == "malformed":
        return (
            f"a quote opened on this line closes {len(record) - 1} line(s) later inside a "
            'value; close it on this line, or double it ("") to write a quote'
        )
    if len(cells) != len(header) and any(cell.strip() for cell in cells):
        return (
            f"a quoted value starting on this line runs over {len(record)} lines and leaves "
            f"{len(cells)} cells for {len(header)} columns; close the quote on this line"
        )
    return None


def _unclosed() -> str:
    return (
        "a quote opened on this line never closes (the file or the 131,072-character field "
        'limit ends first); close it, or double it ("") to write a quote'
    )


def _quote_state(text: str, delimiter: str) -> Literal["ok", "unclosed", "malformed"]:
    """How the quotes of a record end, read as `csv` does with `strict=True`."""
    state, malformed = "start", False
    for char in text:
        if state == "quoted":
            state = "quote" if char == '"' else "quoted"
        elif state == "quote":  # just after a quote inside a quoted value
            if char == '"':
                state = "quoted"
            elif char == delimiter or char in "\r\n":
                state = "start"
            else:
                state, malformed = "field", True
        elif char == delimiter or char in "\r\n":
            state = "start"
        elif state == "start" and char == '"':
            state = "quoted"
        else:
            state = "field"
    if state == "quoted":
        return "unclosed"
    return "malformed" if malformed else "ok"


def _header(cells: list[str], record: list[_Line], path: Path, delimiter: str) -> list[str]:
    if len(cells) == 1:
        text = _raw(record)
        for other in DELIMITERS:
            if other != delimiter and len(next(csv.reader([text], delimiter=other))) > 1:
                shown = "\\t" if other == "\t" else other
                raise InputError(
                    f"'{path}' looks like '{shown}'-separated: pass --delimiter '{shown}' "
                    f"(delimiter='{shown}' in Python); its header is one column, {text.strip()!r}"
                )
    header: list[str] = []
    for index, cell in enumerate(cells, 1):
        name = cell.strip() or f"column_{index}"
        header.append(name if name not in header else f"{name}_{index}")
    return header


def _row(header: list[str], cells: list[str], record: list[_Line]) -> Row | Rejected | None:
    for line in record:
        if line.bad_utf8:
            return Rejected(line.bad_utf8)
    if not any(map(str.strip, cells)):
        return None
    if len(cells) != len(header):
        return Rejected(
            f"row has {len(cells)} cells but the header has {len(header)} columns; "
            "quote values that contain commas"
        )
    return dict(zip(header, cells, strict=True))


def _raw(record: list[_Line]) -> str:
    if len(record) == 1:
        return record[0].text
    return "".join(line.text for line in record)
