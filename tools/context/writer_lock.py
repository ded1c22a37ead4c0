"""One writer process per store: an advisory lock file that says who holds it.

Chroma's embedded `PersistentClient` loses vectors when several processes write one folder, so
`ContextStore.open` takes this lock first. The lock is an OS `flock` on a file holding the
holder's pid and program name (never its arguments: they may name a person, as in
`gtmflow forget <contact>`): it is released when the holder closes it or dies, so a crashed
process never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import IO

from gtmflow.errors import StoreError

__all__ = ["WriterLock"]


class WriterLock:
    """An exclusive, non-blocking lock on a file; `acquire` raises `StoreError` if it is held.

    Example:
        >>> import tempfile, pathlib
        >>> lock = WriterLock(pathlib.Path(tempfile.mkdtemp()) / "writer.lock").acquire()
        >>> lock.held
        True
        >>> lock.release()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._handle is not None

    def acquire(self) -> WriterLock:
        """Take the lock or say who has it; returns self."""
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreError(self._refusal(holder)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}: {_program()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Let go of the lock (idempotent)."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def _refusal(self, holder: str) -> str:
        here = holder.startswith(f"pid {os.getpid()}:")
        who = "this process already has it open" if here else f"it is held by {holder}"
        advice = (
            "close the other ContextStore (or reuse it)"
            if here
            else "wait for that process to finish, or run a Chroma server "
            "(`chroma run --path DIR`) and set [context] mode = 'http' in gtmflow.toml so "
            "several processes can write"
        )
        return (
            f"context store '{self.path.parent}' accepts one writer process at a time and "
            f"{who}; {advice}"
        )


def _program() -> str:
    """The running program's name without its arguments, e.g. `gtmflow` or `pytest`."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if name in ("__main__.py", "-c", ""):
        name = Path(sys.argv[0]).parent.name or "python"
    return "".join(ch for ch in name if ch.isprintable() and not ch.isspace())[:60] or "python"
