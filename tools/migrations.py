"""The PostgreSQL store's schema, versioned: each migration is a numbered step, applied once.

`gtmflow_schema` records every applied step (version, name, when). `migrate` applies the
missing ones in one transaction under an advisory lock, so workers starting together never
apply a step twice. Opening a store checks the version: an empty database is created at the
current version at once; an older schema is a `ConfigError` saying to run `gtmflow migrate`
(upgrading a store others use is a deliberate act); a newer one says to upgrade gtmflow.

Append steps, never edit one that shipped. Each ledger's SQLite DDL lives beside it; a change to
a ledger's columns needs a step here too (the parametrised store tests catch a missing one).
Text that is compared or sorted (ids, ISO timestamps) uses the "C" collation, so PostgreSQL
orders it byte by byte as SQLite does, whatever the database's locale.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gtmflow.errors import ConfigError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "migrate",
    "migration_lock",
    "require_current",
    "version",
]

_LOCK = 0x67746D66  # "gtmf": the advisory lock key migrations hold
_T = 'TEXT COLLATE "C"'


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema step."""

    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "contacts, events, outbox, waits, approvals, decisions, run cursors",
        f"""
        CREATE TABLE contacts (
            id {_T} PRIMARY KEY,
            email TEXT, name TEXT, company TEXT, title TEXT, timezone TEXT,
            lifecycle_stage TEXT, subscription TEXT,
            attributes TEXT NOT NULL DEFAULT '{{}}'
        );
        CREATE TABLE events (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id {_T} NOT NULL UNIQUE,
            contact_id {_T} NOT NULL,
            type {_T} NOT NULL,
            ts BIGINT NOT NULL,
            properties TEXT NOT NULL DEFAULT '{{}}'
        );
        CREATE INDEX events_contact_ts ON events (contact_id, ts, type);
        CREATE TABLE outbox (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            idempotency_key {_T} NOT NULL UNIQUE,
            graph {_T} NOT NULL,
            contact_id {_T} NOT NULL,
            kind {_T} NOT NULL,
            source TEXT NOT NULL,
            step INTEGER NOT NULL,
            payload TEXT NOT NULL,
            status {_T} NOT NULL CHECK (status IN
                ('pending', 'sent', 'failed', 'unknown', 'held', 'cancelled')),
            created_at {_T} NOT NULL,
            updated_at {_T} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            hold_until {_T},
            delivered_at {_T},
            note TEXT
        );
        CREATE INDEX outbox_contact ON outbox (contact_id, seq);
        CREATE INDEX outbox_status ON outbox (status, seq);
        CREATE INDEX outbox_delivered ON outbox (contact_id, delivered_at);
        -- "rowid" keeps the ledger's SQL portable: SQLite orders history by its implicit rowid.
        CREATE TABLE outbox_history (
            idempotency_key {_T} NOT NULL,
            at {_T} NOT NULL,
            status TEXT NOT NULL,
            note TEXT,
            rowid BIGINT GENERATED ALWAYS AS IDENTITY
        );
        CREATE INDEX outbox_history_key ON outbox_history (idempotency_key, at);
        CREATE TABLE waits (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            graph {_T} NOT NULL,
            contact_id {_T} NOT NULL,
            thread_id {_T} NOT NULL,
            due_at BIGINT NOT NULL,
            reason TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
            note TEXT
        );
        CREATE UNIQUE INDEX waits_one_pending ON waits (thread_id) WHERE status = 'pending';
        CREATE INDEX waits_due ON waits (status, due_at);
        CREATE INDEX waits_contact ON waits (contact_id, status);
        CREATE TABLE approvals (
            id {_T} PRIMARY KEY,
            thread_id {_T} NOT NULL,
            graph {_T} NOT NULL,
            contact_id {_T} NOT NULL,
            step INTEGER NOT NULL,
            digest TEXT NOT NULL,
            payload TEXT NOT NULL,
            status {_T} NOT NULL,
            created_at {_T} NOT NULL,
            decided_at {_T},
            decided_by TEXT
        );
        CREATE INDEX approvals_contact ON approvals (contact_id, status);
        CREATE TABLE decisions (
            graph {_T} NOT NULL,
            contact_id {_T} NOT NULL,
            rule {_T} NOT NULL,
            step INTEGER NOT NULL,
            fired INTEGER NOT NULL,
            at {_T} NOT NULL,
            evidence TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (graph, contact_id, rule, step)
        );
        CREATE TABLE runs (graph {_T} PRIMARY KEY, resume_seq BIGINT NOT NULL, as_of TEXT);
        CREATE TABLE sweeps (
            graph {_T} NOT NULL, contact_id {_T} NOT NULL, next_at {_T} NOT NULL,
            PRIMARY KEY (graph, contact_id)
        );
        """,
    ),
    Migration(
        2,
        "outbox retries and internal-effect leases; bulk run loop state",
        f"""
        ALTER TABLE outbox ADD COLUMN next_attempt_at {_T};
        ALTER TABLE outbox ADD COLUMN first_attempt_at {_T};
        ALTER TABLE outbox ADD COLUMN lease_until {_T};
        CREATE INDEX sweeps_due ON sweeps (graph, next_at);
        CREATE TABLE rule_cursors (
            graph {_T} PRIMARY KEY,
            resume_seq BIGINT NOT NULL,
            contacts_mark BIGINT NOT NULL,
            as_of BIGINT
        );
        CREATE TABLE rule_state (
            graph {_T} NOT NULL,
            contact_id {_T} NOT NULL,
            seq_cursor BIGINT NOT NULL,
            as_of_cursor BIGINT,
            fired TEXT NOT NULL,
            next_sweep_at BIGINT NOT NULL,
            PRIMARY KEY (graph, contact_id)
        );
        CREATE INDEX rule_state_sweep ON rule_state (graph, next_sweep_at);
        CREATE TABLE rule_deferred (
            graph {_T} NOT NULL,
            seq BIGINT NOT NULL,
            contact_id {_T} NOT NULL,
            ts BIGINT NOT NULL,
            PRIMARY KEY (graph, seq)
        );
        CREATE INDEX rule_deferred_ts ON rule_deferred (graph, ts);
        -- contacts numbered as they arrive, so a run asks only for the new ones
        ALTER TABLE contacts ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
        CREATE UNIQUE INDEX contacts_seq ON contacts (seq);
        """,
    ),
    Migration(
        3,
        "leases: which worker holds a contact",
        f"""
        CREATE TABLE leases (
            key {_T} PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX leases_holder ON leases (holder);
        """,
    ),
    Migration(
        4,
        "trigger owners: one follow-up journey per webinar or call",
        f"""
        CREATE TABLE trigger_owners (
            contact_id {_T} NOT NULL,
            trigger {_T} NOT NULL,
            owner TEXT NOT NULL,
            event_id TEXT NOT NULL,
            claimed_at {_T} NOT NULL,
            PRIMARY KEY (contact_id, trigger)
        );
        """,
    ),
    Migration(
        5,
        "runs in flight: thread runs started and not yet committed",
        f"""
        CREATE TABLE runs_in_flight (
            thread_id {_T} PRIMARY KEY,
            graph TEXT NOT NULL,
            contact_id {_T} NOT NULL,
            since TEXT NOT NULL
        );
        """,
    ),
    Migration(
        6,
        "outbox batches: who holds a record's lease",
        """
        ALTER TABLE outbox ADD COLUMN lease_holder TEXT;
        """,
    ),
    Migration(
        7,
        "events by contact and type: a rule's need seeks to its type's rows",
        """
        CREATE INDEX events_contact_type_ts ON events (contact_id, type, ts);
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema version this gtmflow reads and writes."""


def version(conn: Any) -> int:
    """The store's schema version (0: an empty database, no gtmflow tables yet)."""
    exists = conn.execute("SELECT to_regclass('gtmflow_schema')").fetchone()[0]
    if exists is None:
        return 0
    row = conn.execute("SELECT max(version) FROM gtmflow_schema").fetchone()
    return int(row[0] or 0)


def migrate(db: Any) -> list[Migration]:
    """Apply the missing steps to a `PostgresDatabase`; return the ones applied."""
    with db.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS gtmflow_schema (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = version(conn)
        _refuse_newer(db.label, current)
        applied = [m for m in MIGRATIONS if m.version > current]
        for step in applied:
            conn.execute(step.sql)
            conn.execute(
                "INSERT INTO gtmflow_schema (version, name) VALUES (%s, %s)",
                (step.version, step.name),
            )
    return applied


@contextmanager
def migration_lock(db: Any) -> Iterator[None]:
    """Hold the migrations' advisory lock (for schema work that is not ours, e.g. LangGraph's)."""
    with db.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))


def require_current(db: Any) -> None:
    """Check the schema on open: create an empty store, refuse an old or newer one."""
    with db.connection() as conn:
        current = version(conn)
    if current == SCHEMA_VERSION:
        return
    if current == 0:
        migrate(db)
        return
    _refuse_newer(db.label, current)
    raise ConfigError(
        f"PostgreSQL store '{db.label}' has schema version {current}, this gtmflow needs "
        f"{SCHEMA_VERSION}; run `gtmflow migrate` (with the same [store] url) to upgrade it"
    )


def _refuse_newer(label: str, current: int) -> None:
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"PostgreSQL store '{label}' has schema version {current}, newer than this gtmflow "
            f"understands ({SCHEMA_VERSION}); upgrade gtmflow on this machine to use it"
        )
