"""Shared test fixtures: small workspaces with the three classic rules."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow import Workspace
from gtmflow.runtime.scaffold import scaffold

from .database_servers import (
    POSTGRES_SKIPPED,
    ChromaServer,
    PostgresServer,
    postgres_bin,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(days: float = 0, **kwargs: float) -> datetime:
    """T0 plus an offset; `at(7)` is seven days after the start of March 2026."""
    return T0 + timedelta(days=days, **kwargs)


def write_events(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write event dicts as JSONL, turning datetimes into ISO strings."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            data = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            handle.write(json.dumps(data) + "\n")
    return path


def ev(id: str, type: str, contact: str, when: datetime, **props: Any) -> dict[str, Any]:
    """One event row."""
    return {"id": id, "type": type, "contact_id": contact, "timestamp": when, "properties": props}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each backend in turn; for PostgreSQL, `GTMFLOW_STORE_URL` names a fresh database.

    A test taking this fixture (or `workspace`, `ledger_target`) runs once per backend, so one
    suite checks both.
    """
    if request.param == "postgresql":
        monkeypatch.setenv("GTMFLOW_STORE_URL", request.getfixturevalue("pg_url"))
    else:
        monkeypatch.delenv("GTMFLOW_STORE_URL", raising=False)
    return str(request.param)


@pytest.fixture
def ledger_target(store_backend: str, tmp_path: Path) -> Iterator[Any]:
    """What a ledger (Outbox, Scheduler, ...) opens: a SQLite file, or a migrated PostgreSQL."""
    if store_backend == "sqlite":
        yield tmp_path / "db.sqlite"
        return
    from gtmflow.tools._postgres import PostgresDatabase
    from gtmflow.tools.migrations import migrate

    db = PostgresDatabase(os.environ["GTMFLOW_STORE_URL"])
    migrate(db)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def workspace(tmp_path: Path, store_backend: str) -> Iterator[Workspace]:
    """A scaffolded workspace (the three classic rules) in a temp folder, on each backend."""
    scaffold(tmp_path)
    with Workspace.open(tmp_path) as ws:
        yield ws


# ------------------------------------------------------------------ real database servers


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of this test session (skips, loudly, only without the binaries)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        reason = (
            "no PostgreSQL binaries (initdb, pg_ctl, postgres) found: the PostgreSQL store tests "
            "did NOT run; install the `postgresql` package or set GTMFLOW_PG_BIN"
        )
        POSTGRES_SKIPPED[:] = [reason]
        pytest.skip(reason)
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty database for this test (password included)."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
    name = f"{name}_{next(_DATABASE_NUMBERS)}"
    return postgres_server.create_database(name)


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ChromaServer]:
    """A Chroma server (`chroma run`) of this test session, on a free loopback port."""
    server = ChromaServer().start()
    try:
        yield server
    finally:
        server.remove()


_DATABASE_NUMBERS = itertools.count(1)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly at the end when the PostgreSQL tests could not run."""
    for reason in POSTGRES_SKIPPED:
        terminalreporter.section("PostgreSQL tests SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.line(reason, red=True, bold=True)
