"""Workers: `gtmflow serve` (the loop, retries through store outages, N local workers), `migrate`.

Each worker opens the workspace folder (its rules, sequences, graphs) on the shared store and
loops: run every graph, tick, sleep. Workers share the work through leases
(`gtmflow.runtime.leases`). A store outage (`StoreUnavailable`, or psycopg's own connection
errors from the checkpointer's pool) rolls back what was open; the worker waits with backoff
and does the same step again, which the idempotency keys make harmless.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time as wallclock
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from gtmflow.cli._common import console, styled
from gtmflow.errors import ConfigError

__all__ = ["BACKOFF", "START_WAIT", "migrate_store", "serve_loop", "start_workers"]

BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds to wait after each failed attempt while the store is unavailable (then 30 s)."""
START_WAIT = 60.0
"""How long `serve` waits at start for a store whose server does not answer, then exits 2."""
T = TypeVar("T")


def serve_loop(
    workspace: Path,
    *,
    interval: float,
    ticks: int | None,
    as_of: datetime | None,
    until: datetime | None,
) -> None:
    """Run and tick until `ticks` are done (forever when None) or Ctrl-C."""
    from gtmflow.runtime.workspace import Workspace

    done = 0
    with _with_retries(lambda: Workspace.open(workspace), starting=True) as ws:
        try:
            while ticks is None or done < ticks:
                line = _with_retries(lambda: _one_tick(ws, as_of, until))
                console().print(line)
                done += 1
                if ticks is None or done < ticks:
                    wallclock.sleep(interval)
        except KeyboardInterrupt:
            console().print("stopped")


def _one_tick(ws: Any, as_of: datetime | None, until: datetime | None) -> str:
    actions = sum(r.actions for r in ws.run_all(as_of=as_of, progress=False).values())
    report = ws.tick(until, progress=False)
    return f"{report['until']}: {actions} new actions, tick {report}"


def _with_retries(step: Callable[[], T], *, starting: bool = False) -> T:
    """Do `step`; while the store is unavailable, wait (backoff) and do it again.

    `starting` (opening the workspace): a server that does not answer is waited for too, for
    at most `START_WAIT` seconds in all (a worker restarted while the database restarts);
    then the error stands.
    """
    from gtmflow.tools._postgres import ServerNotAnswering, is_outage

    failures, waited = 0, 0.0
    while True:
        try:
            return step()
        except Exception as exc:
            wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
            down = is_outage(exc) or (starting and isinstance(exc, ServerNotAnswering))
            if not down or (starting and waited + wait > START_WAIT):
                raise
            failures, waited = failures + 1, waited + wait
            notice = (
                styled("[yellow]store not answering:[/] {}; retrying in {} s (up to {} s at "
                       "start)", _first(exc), wait, START_WAIT)
                if starting
                else styled("[yellow]store unavailable:[/] {}; retrying in {} s", _first(exc), wait)
            )  # fmt: skip
            console(stderr=True).print(notice)
            wallclock.sleep(wait)


def start_workers(workspace: Path, count: int, args: list[str]) -> int:
    """Start `count` worker processes on this workspace; wait for them; return the worst code."""
    _require_shared_store(workspace)
    command = [sys.executable, "-m", "gtmflow", "serve", "-w", str(workspace), *args]
    children = [subprocess.Popen(command) for _ in range(count)]
    console().print(f"started {count} workers: pids {', '.join(str(c.pid) for c in children)}")
    try:
        codes = [child.wait() for child in children]
    except KeyboardInterrupt:
        for child in children:
            child.send_signal(signal.SIGINT)
        codes = [child.wait() for child in children]
    return max(codes, default=0)


def migrate_store(workspace: Path) -> dict[str, Any]:
    """Apply the missing schema steps to the workspace's PostgreSQL store; say what was done."""
    from gtmflow.tools._postgres import PostgresDatabase
    from gtmflow.tools.migrations import SCHEMA_VERSION, migrate

    db = PostgresDatabase(_require_shared_store(workspace, "migrate"))
    try:
        applied = migrate(db)
    finally:
        db.close()
    return {
        "store": db.label,
        "version": SCHEMA_VERSION,
        "applied": [f"{m.version}: {m.name}" for m in applied],
    }


def _require_shared_store(workspace: Path, what: str = "serve --workers N") -> str:
    from gtmflow.config import WorkspaceConfig
    from gtmflow.runtime.stores import STORE_URL_ENV

    url = os.environ.get(STORE_URL_ENV) or WorkspaceConfig.load(workspace).store_url
    if not url:
        raise ConfigError(
            f"{what} works on a PostgreSQL store ([store] url = 'postgresql://user@host/db' in "
            f"gtmflow.toml, or {STORE_URL_ENV}); a SQLite workspace upgrades itself when opened "
            "and has one worker"
        )
    return url


def _first(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
