"""Erasure: `Workspace.forget` removes a person from every file under `.gtmflow`.

The steps run in an order that makes a second call finish what an interrupted one left: the
person's email is read from the contact row first and files are scrubbed with it (JSON lines
files such as `delivered.jsonl` and dead-letter files), then the ledgers, checkpoints and the
context store, and the contact row and events go last, only once every file was scrubbed. A
marker named by a one-way hash of the contact id (never the id itself) records an erasure that
has not finished; the next `forget` of that contact reports `resumed`.

Every SQLite connection involved gets `PRAGMA secure_delete=ON` first, so freed pages are zeroed,
and the write-ahead logs are truncated at the end, so no old page keeps the person's data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from gtmflow.errors import GtmflowError
from gtmflow.graphs.inbound_router import GRAPH_NAME

if TYPE_CHECKING:
    from gtmflow.runtime.workspace import Workspace

__all__ = ["Erasure", "exact_threads"]

REDACTED_FILES = ("*.jsonl", "dead-letter/*")
"""Files under `.gtmflow` whose lines are scrubbed: JSON lines logs and dead-letter files."""


def exact_threads(
    checkpointer: BaseCheckpointSaver[Any],
    candidates: Iterable[str],
    contact_id: str,
    graphs: Callable[[], set[str]],
) -> list[str]:
    """The candidate checkpoint thread ids that are exactly `<graph>:<contact_id>`.

    A thread's graph is the `gtmflow_graph` its latest checkpoint recorded (or, for a
    checkpoint written without it, one of the names `graphs()` returns), so `c-1` never
    matches the threads of `x:c-1`. Works on any LangGraph saver (SQLite or PostgreSQL).
    """
    suffix = ":" + contact_id
    found, unnamed = set(), []
    for thread_id in (t for t in candidates if t.endswith(suffix)):
        latest = checkpointer.get_tuple({"configurable": {"thread_id": thread_id}})
        graph = (latest.metadata or {}).get("gtmflow_graph") if latest is not None else None
        if isinstance(graph, str):
            if thread_id == graph + suffix:
                found.add(thread_id)
        else:
            unnamed.append(thread_id)
    if unnamed:
        known = graphs()
        found.update(t for t in unnamed if t[: -len(suffix)] in known)
    return sorted(found)


@dataclass
class Erasure:
    """One `forget` of one contact: its steps, what each removed and what is left to do."""

    ws: Workspace
    contact_id: str
    report: dict[str, Any] = field(default_factory=dict)
    remaining: list[str] = field(default_factory=list)

    @property
    def marker(self) -> Path:
        """The unfinished-erasure marker: a hash of the id, so it never names the person."""
        digest = hashlib.sha256(self.contact_id.encode()).hexdigest()[:24]
        return self.ws.state_dir / "erasures" / f"{digest}.pending"

    def run(self) -> dict[str, Any]:
        """Erase the contact; the report says what was removed and what (if anything) remains."""
        resumed = self.marker.exists()
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text("erasure started; run forget again to finish\n")
        connections = self._connections()
        for conn in connections:
            conn.execute("PRAGMA secure_delete=ON")
        needles = self._needles()
        self.report = {"contact_id": self.contact_id}
        files_ok = self._step("files", "files under .gtmflow", lambda: self._scrub_files(needles))
        ws, cid = self.ws, self.contact_id
        ledgers: list[tuple[str, str, Callable[[], int]]] = [
            ("decisions", "decision log", lambda: ws.decisions.forget(cid)),
            ("outbox_redacted", "outbox", lambda: ws.outbox.redact_contact(cid)),
            ("checkpoint_threads", "checkpoints", self._forget_threads),
            ("waits", "scheduled waits", lambda: ws.scheduler.forget(cid)),
            ("approvals", "approvals", lambda: ws.approvals.forget(cid)),
            ("trigger_owners", "trigger owners", lambda: ws.owners.forget(cid)),
            ("context_records", "context store", lambda: ws.context.forget(cid)),
        ]
        for key, what, action in ledgers:
            self._step(key, what, action)
        if files_ok:
            self._step("events", "events and contact", self._forget_events)
        else:
            self.report["events"] = 0
            self.remaining.append("events and contact: kept until the files are scrubbed")
        for conn in connections:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        complete = not self.remaining
        if complete:
            self.marker.unlink(missing_ok=True)
        self.report.update(complete=complete, resumed=resumed, remaining=list(self.remaining))
        return self.report

    def _step(self, key: str, what: str, action: Callable[[], int]) -> bool:
        try:
            self.report[key] = action()
        except (GtmflowError, OSError, sqlite3.Error) as exc:
            self.report[key] = 0
            self.remaining.append(f"{what}: {exc}")
            return False
        return True

    def _connections(self) -> list[sqlite3.Connection]:
        """The SQLite connections to zero freed pages on (none on PostgreSQL: see the README)."""
        return self.ws.stores.sqlite_connections

    def _needles(self) -> tuple[str, ...]:
        """What marks a line as the person's: her email (read while the contact row exists)."""
        contact = self.ws.events.contact(self.contact_id)
        email = getattr(contact, "email", None)
        return (email.lower(),) if email else ()

    def _forget_threads(self) -> int:
        candidates = self.ws.stores.threads_of(self.contact_id)
        threads = exact_threads(
            self.ws.checkpointer, candidates, self.contact_id, self._graph_names
        )
        for thread_id in threads:
            self.ws.checkpointer.delete_thread(thread_id)
        self.ws.stores.in_flight.forget(self.contact_id)  # runs of those threads: gone with them
        return len(threads)

    def _graph_names(self) -> set[str]:
        """Every graph name this workspace runs: the router, its sequences and `graphs.py`."""
        ws = self.ws
        names = {GRAPH_NAME, *(s.graph_name for s in ws.enrollments.sequences.values())}
        return names | {str(g.name) for g in ws.graphs() if getattr(g, "name", None)}

    def _forget_events(self) -> int:
        self.ws.cursors.forget(self.contact_id)
        self.ws.run_state.forget(self.contact_id)
        return self.ws.events.delete_contact(self.contact_id)

    def _scrub_files(self, needles: tuple[str, ...]) -> int:
        """Drop her lines: by id or email everywhere, also by full name in dead-letter files.

        A rejected row may name her without an id or an address (the row was bad); a log line
        of a send always carries the contact id, so names are matched only in dead letters.
        """
        removed, name = 0, self._name_pattern()
        dead_letters = self.ws.state_dir / "dead-letter"
        for path in self._files():
            by_name = name if name is not None and path.is_relative_to(dead_letters) else None
            removed += _scrub_file(path, self.contact_id, needles, by_name)
        return removed

    def _name_pattern(self) -> re.Pattern[str] | None:
        """Her full name as a whole phrase (any case or spacing); None for a one-word name."""
        contact = self.ws.events.contact(self.contact_id)
        words = str(getattr(contact, "name", None) or "").split()
        if len(words) < 2:
            return None  # one word ("Ada") would match other people's rows
        return re.compile(
            r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE
        )

    def _files(self) -> Iterator[Path]:
        seen: set[Path] = set()
        for pattern in REDACTED_FILES:
            for path in sorted(self.ws.state_dir.rglob(pattern)):
                if path.is_file() and path not in seen:
                    seen.add(path)
                    yield path


def _scrub_file(
    path: Path, contact_id: str, needles: tuple[str, ...], name: re.Pattern[str] | None = None
) -> int:
    """Drop the person's lines from a JSON lines file, rewriting it atomically; return lines."""
    with path.open("rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    kept = [line for line in lines if not _mentions(line, contact_id, needles, name)]
    if len(kept) == len(lines):
        return 0
    scratch = path.with_name(path.name + ".erasing")
    with scratch.open("wb") as handle:
        handle.writelines(kept)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, path)
    return len(lines) - len(kept)


def _mentions(
    line: bytes, contact_id: str, needles: tuple[str, ...], name: re.Pattern[str] | None
) -> bool:
    text = line.decode("utf-8", errors="replace")
    if any(needle in text.lower() for needle in needles):
        return True
    if name is not None and name.search(text):
        return True
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return json.dumps(contact_id) in text
    strings = list(_strings(data))  # decoded: escaped characters match as written
    if name is not None and any(name.search(value) for value in strings):
        return True
    return any(value == contact_id for value in strings)


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
