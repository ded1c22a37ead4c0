"""The stores of a workspace, opened from one setting: SQLite files or a PostgreSQL URL.

Without `[store] url` (and without `GTMFLOW_STORE_URL`) everything lives in the workspace folder:
the event store and every ledger in `.gtmflow/gtmflow.db`, checkpoints in `checkpoints.db`.
With a URL, all of it lives in that PostgreSQL database instead (ledgers share one connection
pool; checkpoints use LangGraph's `PostgresSaver` with a pool of its own), no SQLite file is
created, and any number of workers on any number of machines can share the workspace.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver

from gtmflow.clock import Clock
from gtmflow.config import WorkspaceConfig
from gtmflow.runtime.contact_pass import ContactPass
from gtmflow.runtime.in_flight import RunsInFlight
from gtmflow.runtime.leases import Leases, NoLeases
from gtmflow.runtime.retention import CheckpointRetention, connect_checkpoints
from gtmflow.runtime.run_state import SQLiteRunState
from gtmflow.tools.decisions import DecisionLog
from gtmflow.tools.delivery.approvals import ApprovalBook
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.delivery.owners import TriggerOwners
from gtmflow.tools.delivery.scheduler import Scheduler
from gtmflow.tools.events.event_store import EventStore, SQLiteEventStore

__all__ = ["STORE_URL_ENV", "Stores", "open_stores", "store_url"]

_PHASE_LOCK = 0x67746D70  # "gtmp": runs share it, ticks and deliveries take it alone

STORE_URL_ENV = "GTMFLOW_STORE_URL"
_THREADS_SQL = "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id LIKE ? ESCAPE '\\'"


def store_url(config: WorkspaceConfig) -> str | None:
    """The PostgreSQL URL to use: `GTMFLOW_STORE_URL`, else `[store] url`, else None (SQLite)."""
    return os.environ.get(STORE_URL_ENV) or config.store_url


@dataclass
class Stores:
    """Every store of one workspace, and how to close them."""

    backend: Literal["sqlite", "postgresql"]
    label: str
    """Where the stores are: the SQLite file, or the PostgreSQL URL without its password."""
    events: EventStore
    outbox: Outbox
    decisions: DecisionLog
    scheduler: Scheduler
    approvals: ApprovalBook
    owners: TriggerOwners
    in_flight: RunsInFlight
    run_state: SQLiteRunState
    cursors: ContactPass
    checkpointer: BaseCheckpointSaver[Any]
    retention: CheckpointRetention | None = None
    """Pruning of SQLite checkpoints (None: PostgreSQL vacuums its own tables)."""
    database: Any = None
    """The shared `PostgresDatabase` (None for SQLite)."""
    leases: Leases | NoLeases = field(default_factory=NoLeases)
    """Which worker holds which contact (`NoLeases`: one process, SQLite)."""
    sqlite_connections: list[sqlite3.Connection] = field(default_factory=list)
    """Every SQLite connection of the workspace (empty on PostgreSQL), for erasure's pragmas."""
    _phase_depth: int = 0
    _thread_rows: Callable[[str, str], list[str]] = field(default=lambda sql, pattern: [])
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def threads_of(self, contact_id: str) -> list[str]:
        """Checkpointed thread ids `<graph>:<contact_id>` of a contact, sorted."""
        escaped = contact_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return sorted(self._thread_rows(_THREADS_SQL, "%:" + escaped))

    @contextmanager
    def phase(self, kind: Literal["run", "tick"]) -> Iterator[None]:
        """Order runs before ticks across workers, as one process does (a shared store only).

        Runs hold a shared advisory lock, ticks and delivery passes an exclusive one: a tick
        starts once every run in progress has finished, so what a run decides (who owns a
        trigger, a fresh enrollment) is in place before any worker delivers, and two workers
        never judge the same outbox gate at once. Nested phases reuse the outer lock; a
        killed worker's lock ends with its connection.
        """
        if self.database is None or self._phase_depth:
            self._phase_depth += 1
            try:
                yield
            finally:
                self._phase_depth -= 1
            return
        mode = "_shared" if kind == "run" else ""
        with self.database.connection() as conn:
            conn.execute(f"SELECT pg_advisory_lock{mode}(%s)", (_PHASE_LOCK,))
            self._phase_depth = 1
            try:
                yield
            finally:
                self._phase_depth = 0
                conn.execute(f"SELECT pg_advisory_unlock{mode}(%s)", (_PHASE_LOCK,))

    def close(self) -> None:
        """Close every store, the shared database last."""
        for close in self._closers:
            close()


def open_stores(state_dir: Path, *, config: WorkspaceConfig, clock: Clock) -> Stores:
    """Open a workspace's stores: SQLite files under `state_dir`, or the PostgreSQL store URL."""
    url = store_url(config)
    if url:
        return _postgres_stores(url, config, clock)
    return _sqlite_stores(state_dir, config, clock)


def _sqlite_stores(state_dir: Path, config: WorkspaceConfig, clock: Clock) -> Stores:
    db = state_dir / "gtmflow.db"
    path = state_dir / "checkpoints.db"
    checkpoints, saver = connect_checkpoints(path, keep=config.checkpoints)

    def thread_rows(sql: str, pattern: str) -> list[str]:
        saver.setup()  # its tables may not exist before the first run; cheap when they do
        return [row[0] for row in checkpoints.execute(sql, (pattern,))]

    events = SQLiteEventStore(db)
    run_state = SQLiteRunState(db)
    stores = Stores(
        backend="sqlite", label=str(db), events=events,
        outbox=Outbox(db, clock=clock, retry=config.retry_schedule()), decisions=DecisionLog(db),
        scheduler=Scheduler(db), approvals=ApprovalBook(db), owners=TriggerOwners(db),
        in_flight=RunsInFlight(db),
        run_state=run_state,
        cursors=ContactPass(db, events, run_state), checkpointer=saver,
        retention=CheckpointRetention(saver, path), _thread_rows=thread_rows,
    )  # fmt: skip
    stores._closers = [*_ledger_closers(stores), checkpoints.close]
    ledgers: list[Any] = [
        stores.outbox,
        stores.decisions,
        stores.scheduler,
        stores.approvals,
        run_state,
        stores.owners,
        stores.in_flight,
        stores.cursors,
    ]
    stores.sqlite_connections = [*(x._db.conn for x in ledgers), events._conn, checkpoints]
    return stores


def _postgres_stores(url: str, config: WorkspaceConfig, clock: Clock) -> Stores:
    from gtmflow.tools._postgres import PostgresDatabase, pyformat
    from gtmflow.tools.events.postgres_store import PostgresEventStore
    from gtmflow.tools.migrations import require_current

    db = PostgresDatabase(url)
    try:
        require_current(db)
        saver, pool = _postgres_saver(url, db)
    except BaseException:
        db.close()
        raise

    def thread_rows(sql: str, pattern: str) -> list[str]:
        with db.connection() as conn:
            return [row[0] for row in conn.execute(pyformat(sql), (pattern,))]

    events = PostgresEventStore(db)
    run_state = SQLiteRunState(db)  # portable SQL: the same class on the shared database
    stores = Stores(
        backend="postgresql", label=db.label, events=events,
        outbox=Outbox(
            db, clock=clock, retry=config.retry_schedule(),
            lease=timedelta(seconds=config.lease_seconds),  # an effect being applied, too
            batch_lease=timedelta(seconds=config.lease_seconds),
        ),
        decisions=DecisionLog(db),
        scheduler=Scheduler(db), approvals=ApprovalBook(db), owners=TriggerOwners(db),
        in_flight=RunsInFlight(db),
        run_state=run_state,
        cursors=ContactPass(db, events, run_state), checkpointer=saver, database=db,
        leases=Leases(db, seconds=config.lease_seconds), _thread_rows=thread_rows,
    )  # fmt: skip
    stores._closers = [stores.leases.close, pool.close, db.close]
    return stores


def _postgres_saver(url: str, db: Any) -> tuple[BaseCheckpointSaver[Any], Any]:
    """LangGraph's `PostgresSaver` on a pool of its own, its tables set up."""
    from gtmflow.errors import ConfigError
    from gtmflow.tools.migrations import migration_lock

    try:
        from langgraph.checkpoint.postgres import PostgresSaver
    except ImportError:
        raise ConfigError(
            "a PostgreSQL store keeps checkpoints with langgraph-checkpoint-postgres: "
            "pip install 'gtmflow[postgres]'"
        ) from None
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    # prepare_threshold=None: no server-side prepared statements, so transaction poolers work.
    pool = ConnectionPool(
        url, min_size=1, max_size=4, timeout=10.0, open=True, name="gtmflow-checkpoints",
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
    )  # fmt: skip
    saver = PostgresSaver(pool)  # type: ignore[arg-type]
    try:
        with migration_lock(db):  # workers starting together would race on its migrations
            saver.setup()
    except BaseException:
        pool.close()
        raise
    return saver, pool


def _ledger_closers(stores: Stores) -> list[Callable[[], None]]:
    return [
        store.close
        for store in (
            stores.events, stores.outbox, stores.decisions, stores.scheduler, stores.approvals,
            stores.owners, stores.in_flight, stores.run_state, stores.cursors,
        )
    ]  # fmt: skip
