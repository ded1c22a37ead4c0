"""Leases: which worker holds a contact now, so no contact's thread runs in two places at once.

On a shared PostgreSQL store any number of workers (`gtmflow serve`, `run`, `tick`, on any
machines) share the work. Each holds the contacts it works on in the `leases` table
(`gtmflow.tools.migrations`): `key` (the contact id), `holder` (host:pid:random) and
`expires_at` (server time). Claiming is the standard work-queue pattern: make sure the rows
exist, then `UPDATE ... WHERE key IN (SELECT ... FOR UPDATE SKIP LOCKED)` takes the free or
expired ones without waiting on rows another worker is claiming. A heartbeat thread extends the
holder's leases every third of their length; a worker killed with SIGKILL stops beating, so its
leases expire and another worker takes its contacts over (whatever it had committed stays:
every step is idempotent by key, and `unknown` deliveries stay `unknown`).

A SQLite workspace has one process: `NoLeases` grants everything at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["LEASE_SECONDS", "Leases", "NoLeases"]

LEASE_SECONDS = 30.0
"""How long a lease lasts without a heartbeat (`[store] lease_seconds`)."""
log = logging.getLogger("gtmflow.leases")

_ENSURE = (
    "INSERT INTO leases (key, holder, expires_at) SELECT k, '', '-infinity' "
    "FROM unnest(?::text[]) AS k ORDER BY k ON CONFLICT (key) DO NOTHING"
)
_CLAIM = (
    "UPDATE leases SET holder = ?, expires_at = now() + make_interval(secs => ?) "
    "WHERE key IN (SELECT key FROM leases WHERE key = ANY(?::text[]) "
    "AND (expires_at < now() OR holder = ?) ORDER BY key FOR UPDATE SKIP LOCKED) RETURNING key"
)


class NoLeases:
    """One process owns the workspace (SQLite): every claim succeeds, nothing is stored."""

    holder = "local"
    seconds = LEASE_SECONDS

    def claim(self, keys: Collection[str]) -> set[str]:
        """All of `keys`."""
        return set(keys)

    def release(self, keys: Collection[str]) -> None:
        """Nothing to release."""

    @contextmanager
    def hold(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """Always held."""
        yield True

    def close(self) -> None:
        """Nothing to stop."""


class Leases:
    """Leases on contacts in a shared PostgreSQL store, with a heartbeat thread.

    Args:
        db: The workspace's `PostgresDatabase`.
        seconds: How long a lease lasts without a heartbeat.
    """

    def __init__(self, db: Any, *, seconds: float = LEASE_SECONDS) -> None:
        self._db = db
        self.seconds = seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._held: dict[str, int] = {}  # key -> nesting depth in this process
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def claim(self, keys: Collection[str]) -> set[str]:
        """Take the keys that are free, expired or already ours; return those taken."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        with self._db.transaction() as conn:
            conn.execute(_ENSURE, (wanted,))
        with self._db.transaction() as conn:
            rows = conn.execute(_CLAIM, (self.holder, self.seconds, wanted, self.holder))
            taken = {row[0] for row in rows.fetchall()}
        with self._lock:
            for key in taken:
                self._held[key] = self._held.get(key, 0) + 1
        self._start_heartbeat()
        return taken

    def release(self, keys: Collection[str]) -> None:
        """Give keys back (each once per claim); the last release frees the row."""
        free: list[str] = []
        with self._lock:
            for key in keys:
                depth = self._held.get(key, 0) - 1
                if depth > 0:
                    self._held[key] = depth
                elif key in self._held:
                    del self._held[key]
                    free.append(key)
        if free:
            with self._db.transaction() as conn:
                conn.execute(
                    "DELETE FROM leases WHERE holder = ? AND key = ANY(?::text[])",
                    (self.holder, sorted(free)),
                )

    @contextmanager
    def hold(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold one key for a block: waits for another worker's lease to end (or expire).

        With `wait=False` it yields False at once when another worker holds the key.
        """
        while not self.claim([key]):
            if not wait:
                yield False
                return
            time.sleep(min(0.2, self.seconds / 10))
        try:
            yield True
        finally:
            self.release([key])

    def heartbeat(self) -> int:
        """Extend every lease this holder has; return how many."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE leases SET expires_at = now() + make_interval(secs => ?) WHERE holder = ?",
                (self.seconds, self.holder),
            )
            return int(cursor.rowcount)

    def close(self) -> None:
        """Stop the heartbeat and free this holder's leases (best effort)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=self.seconds)
        try:
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM leases WHERE holder = ?", (self.holder,))
        except Exception as exc:  # the server may be gone: the leases expire on their own
            log.warning(
                "could not free leases of %s (%s); they expire by themselves", self.holder, exc
            )

    def _start_heartbeat(self) -> None:
        if self._beat is not None:
            return
        self._beat = threading.Thread(target=self._beat_loop, name="gtmflow-leases", daemon=True)
        self._beat.start()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.heartbeat()
            except Exception as exc:  # an outage: leases may lapse; claims re-check them
                log.warning("lease heartbeat of %s failed: %s", self.holder, exc)
