"""Transports: how the outbox delivers an action to the outside world.

A transport has one method to override, `send`. It raises `DeliveryFailed` when the receiver
definitely did not take the action (safe to retry later); any other exception means the outcome
is unknown, and the outbox will not send that action again on its own.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gtmflow.errors import RunError

if TYPE_CHECKING:
    from gtmflow.tools.outbox import OutboxRecord

__all__ = [
    "ConsoleTransport",
    "DeliveryFailed",
    "FileTransport",
    "RecordingTransport",
    "Transport",
]


class DeliveryFailed(RunError):
    """The receiver definitely did not accept the action; it may be retried."""


class Transport(ABC):
    """Delivers outbox records. Subclasses override `send`."""

    name: str = "transport"

    @abstractmethod
    def send(self, record: OutboxRecord) -> None:
        """Deliver one record or raise; see the module docstring for what exceptions mean."""


class ConsoleTransport(Transport):
    """Prints one line per action; the default while no real channel is configured."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, record: OutboxRecord) -> None:
        a = record.action
        line = f"[{a.kind}] {a.contact_id} ← {a.source} {json.dumps(a.payload, sort_keys=True)}"
        print(line, file=self._stream)


class FileTransport(Transport):
    """Appends each action as one JSON line to a file (an audit trail, or a hand-off)."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, record: OutboxRecord) -> None:
        line = json.dumps(record.to_json(), sort_keys=True, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()


class RecordingTransport(Transport):
    """Keeps delivered records in memory; for tests and the simulator."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[OutboxRecord] = []

    def send(self, record: OutboxRecord) -> None:
        self.sent.append(record)
