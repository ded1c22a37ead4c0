"""Where an ingest puts what it could not keep whole: rejected rows, and notes on kept ones.

A workspace keeps dead letters under `.gtmflow/dead-letter/` (never beside the input, which may
be a shared or read-only folder), named by `dead_letter_name`.

`DeadLetter` writes each rejected row as one JSON line, `{"line", "reason", "raw"}`, creating
the file on the first rejection only. `IngestNotes` collects what rows were kept without (a
time zone not known), one message per kind with the lines it applies to, for the report.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from gtmflow.errors import RunError

__all__ = ["DeadLetter", "IngestNotes", "dead_letter_name"]

_LINES_SHOWN = 5
_MESSAGES_KEPT = 20


def dead_letter_name(source: Path) -> str:
    """The dead-letter file name for an input, unique per input path.

    Example: `events.jsonl.3f2a9c1b.dead-letter.jsonl`; re-ingesting the same file replaces
    its dead letter, a file of the same name from another folder gets its own.
    """
    digest = hashlib.sha256(str(source.expanduser().resolve()).encode()).hexdigest()[:8]
    return f"{source.name}.{digest}.dead-letter.jsonl"


class DeadLetter:
    """Rejected rows as JSON Lines, in the first of `candidates` that can be written.

    Args:
        source: The input file (for messages).
        candidates: Files to try in order; their folders are created.
    """

    def __init__(self, source: Path, candidates: Sequence[Path]) -> None:
        self._source = source
        self._candidates = list(candidates)
        self._handle: IO[str] | None = None
        self.path: Path | None = None
        self.count = 0

    def __enter__(self) -> DeadLetter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def write(self, line_no: int, reason: str, raw: str | bytes) -> None:
        """Append one rejected row: its first line number, the reason and its raw text."""
        if self._handle is None:
            self._handle, self.path = self._open()
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        text = text.encode("utf-8", errors="replace").decode("utf-8")  # never a lone surrogate
        record = {"line": line_no, "reason": reason, "raw": text.rstrip("\r\n")}
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def _open(self) -> tuple[IO[str], Path]:
        failures = []
        for candidate in self._candidates:
            try:
                candidate.parent.mkdir(parents=True, exist_ok=True)
                return candidate.open("w", encoding="utf-8"), candidate
            except OSError as exc:
                failures.append(f"'{candidate}' ({exc.strerror or exc})")
        raise RunError(
            f"cannot write rejected rows of '{self._source}' to {' or '.join(failures)}; "
            "pass dead_letter= a writable file or folder"
        )


class IngestNotes:
    """Warnings about rows that were kept, grouped by message with the lines they concern."""

    def __init__(self) -> None:
        self._lines: dict[str, list[int]] = {}
        self._counts: Counter[str] = Counter()
        self._others = 0

    def add(self, line_no: int, message: str) -> None:
        """Note `message` about the row starting at `line_no`."""
        if message not in self._lines and len(self._lines) >= _MESSAGES_KEPT:
            self._others += 1
            return
        lines = self._lines.setdefault(message, [])
        if len(lines) < _LINES_SHOWN:
            lines.append(line_no)
        self._counts[message] += 1

    def summary(self) -> tuple[str, ...]:
        """One line per message: `line 3: ...`, `lines 3, 7 and 12 more: ...`."""
        found = []
        for message, lines in self._lines.items():
            shown = ", ".join(map(str, lines))
            more = self._counts[message] - len(lines)
            where = f"line {shown}" if len(lines) == 1 else f"lines {shown}"
            found.append(f"{where}{f' and {more} more' if more else ''}: {message}")
        if self._others:
            found.append(f"{self._others} more rows with other warnings")
        return tuple(found)
