"""Workers on one PostgreSQL store: leases, migrations, faults, outages, a SIGKILLed worker.

Every test here uses the session's real PostgreSQL server (`tests/database_servers.py`) and
real `gtmflow` processes where processes matter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from gtmflow import Workspace
from gtmflow.cli import app
from gtmflow.errors import GtmflowWarning
from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.graphs.sequences import SEQUENCE_PREFIX
from gtmflow.runtime.leases import Leases
from gtmflow.runtime.rules_pass import SHARED_BATCH, RulesPass, bulk_rules_of
from gtmflow.runtime.scaffold import scaffold
from gtmflow.tools._postgres import PostgresDatabase
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.migrations import MIGRATIONS, SCHEMA_VERSION, migrate

from .database_servers import PostgresServer, free_port


@pytest.fixture
def db(pg_url: str) -> Any:
    database = PostgresDatabase(pg_url)
    migrate(database)
    yield database
    database.close()


# ------------------------------------------------------------------ leases


def test_a_held_contact_is_skipped_and_an_expired_lease_taken_over(db: Any) -> None:
    first, second = Leases(db, seconds=1.0), Leases(db, seconds=1.0)
    assert first.claim(["a", "b"]) == {"a", "b"}
    assert second.claim(["a", "b", "c"]) == {"c"}
    first.release(["a"])
    assert second.claim(["a", "b"]) == {"a"}
    first._stop.set()  # the holder dies: no heartbeat, no release
    time.sleep(1.3)
    assert second.claim(["b"]) == {"b"}
    second.close()


def test_the_heartbeat_keeps_a_lease_alive_past_its_length(db: Any) -> None:
    holder, other = Leases(db, seconds=1.0), Leases(db, seconds=1.0)
    assert holder.claim(["a"]) == {"a"}
    time.sleep(1.6)  # beats every third of a second
    assert other.claim(["a"]) == set()
    holder.close()  # frees its leases
    assert other.claim(["a"]) == {"a"}
    other.close()


# ------------------------------------------------------------------ migrations and faults


def test_an_outage_inside_a_graph_stops_the_run_instead_of_failing_one_contact(
    tmp_path: Path,
) -> None:
    # LangGraph's PostgresSaver raises psycopg's own errors: they were taken for the contact's,
    # which was then deferred to a next run that `serve --ticks 1` never made (actions lost).
    import psycopg

    scaffold(tmp_path)
    failures: dict[str, str] = {}
    with Workspace.open(tmp_path) as ws:
        outage = psycopg.OperationalError("server closed the connection unexpectedly")
        with pytest.raises(psycopg.OperationalError):
            ws.runner.note_failure("inbound_router", "c-1", outage, failures)
        assert failures == {}
        with pytest.warns(GtmflowWarning, match="'c-2'"):
            ws.runner.note_failure("inbound_router", "c-2", ValueError("bad data"), failures)
        assert list(failures) == ["c-2"]


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_an_old_schema_is_refused_until_gtmflow_migrate(tmp_path: Path, pg_url: str) -> None:
    old = PostgresDatabase(pg_url)
    with old.connection() as conn, conn.transaction():  # a store written by gtmflow at v1
        conn.execute(
            "CREATE TABLE gtmflow_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        conn.execute(MIGRATIONS[0].sql)
        conn.execute("INSERT INTO gtmflow_schema (version, name) VALUES (1, 'v1')")
    old.close()
    scaffold(tmp_path)
    env = {"GTMFLOW_STORE_URL": pg_url}

    refused = _cli("run", "-w", str(tmp_path), env=env)
    assert refused.exit_code == 2
    assert f"schema version 1, this gtmflow needs {SCHEMA_VERSION}" in refused.output
    assert "run `gtmflow migrate`" in refused.output

    done = _cli("migrate", "-w", str(tmp_path), "--json", env=env)
    assert done.exit_code == 0, done.output
    applied = json.loads(done.stdout)["applied"]
    assert [int(step.split(":")[0]) for step in applied] == list(range(2, SCHEMA_VERSION + 1))
    assert (
        json.loads(_cli("migrate", "-w", str(tmp_path), "--json", env=env).stdout)["applied"] == []
    )
    assert _cli("run", "-w", str(tmp_path), env=env).exit_code == 0


def _with(url: str, *, password: str | None = None, port: int | None = None, db: str = "") -> str:
    parts = urlsplit(url)
    secret = parts.password if password is None else password
    where = f"{parts.hostname}:{port or parts.port}"
    return f"postgresql://{parts.username}:{secret}@{where}/{db or parts.path.strip('/')}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda url: _with(url, db="no_such_db"), "database 'no_such_db' does not exist"),
        (lambda url: _with(url, password="wrong"), "refused the credentials"),
        (lambda url: _with(url, port=free_port()), "no PostgreSQL server answers"),
        (lambda url: "mysql://u@h/db", "is not a PostgreSQL URL"),
    ],
    ids=["missing-database", "bad-password", "no-server", "not-postgresql"],
)
def test_store_mistakes_exit_2_naming_the_store_and_the_fix(
    tmp_path: Path, pg_url: str, change: Any, expected: str
) -> None:
    scaffold(tmp_path)
    result = _cli("run", "-w", str(tmp_path), env={"GTMFLOW_STORE_URL": change(pg_url)})
    assert result.exit_code == 2
    assert expected in result.output
    assert "wrong" not in result.output.split("refused")[0]  # the password is never printed


def test_serve_workers_needs_a_shared_store(tmp_path: Path) -> None:
    scaffold(tmp_path)
    result = _cli("serve", "-w", str(tmp_path), "--workers", "2", env={"GTMFLOW_STORE_URL": ""})
    assert result.exit_code == 2
    assert "PostgreSQL store" in result.output


# ------------------------------------------------------------------ worker processes

WORLD_CONTACTS = 120


def _world(folder: Path) -> Any:
    """A scaffolded workspace with the sample world's contacts and events ingested."""
    scaffold(folder)
    world = generate_sample_world(folder / "data", contacts=WORLD_CONTACTS, seed=11)
    with Workspace.open(folder) as ws:
        ws.ingest(world.contacts_csv, kind="contacts", progress=False)
        ws.ingest(world.events_jsonl, progress=False)
    return world


def test_a_shared_pass_is_claimed_in_small_batches_so_two_workers_share_it(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 500-contact claim gave a whole pass of a few hundred contacts to the first worker.
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    with _two_workers(tmp_path) as passes:
        plan = passes[0].plan()
        assert len(plan.contacts) > 2 * SHARED_BATCH
        mine = passes[0].claim(plan)
        held = next(mine)  # the first worker holds its first batch while it processes it ...
        assert len(held) == SHARED_BATCH
        theirs = next(passes[1].claim(passes[1].plan()))  # ... and the second takes the next
        assert theirs == plan.contacts[SHARED_BATCH : 2 * SHARED_BATCH]
        mine.close()


def test_a_contact_another_worker_judged_and_released_is_not_judged_again(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only contacts skipped once were checked: a worker that planned the whole pass judged
    # again every contact another worker had judged and released before it got there.
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    with _two_workers(tmp_path) as passes:
        plan = passes[0].plan()
        mine = passes[0].claim(plan)
        judged = next(mine)
        passes[0].process(judged)
        held = next(mine)  # the first batch is released, the second held
        theirs = next(passes[1].claim(passes[1].plan()))
        assert theirs == plan.contacts[len(judged) + len(held) :]
        mine.close()


@contextmanager
def _two_workers(folder: Path) -> Iterator[list[RulesPass]]:
    """Two workers' bulk passes of the router over the sample world, on one shared store."""
    world = _world(folder)
    with Workspace.open(folder) as first, Workspace.open(folder) as second:
        graph = first._attach(first.code.router())
        rules = bulk_rules_of(graph)
        assert rules is not None
        yield [_rules_pass(ws, graph, rules, world.end) for ws in (first, second)]


def _rules_pass(ws: Workspace, graph: Any, rules: Any, as_of: Any) -> RulesPass:
    """The bulk pass `Workspace.run` would make, on this workspace's stores and leases."""
    return RulesPass(
        graph, rules, as_of=as_of, deps=ws.deps, state=ws.run_state, outbox=ws.outbox,
        decisions=ws.decisions, runner=ws.runner, scheduler=ws.scheduler,
        leases=ws.stores.leases,
    )  # fmt: skip


def _worker(folder: Path, world: Any, env: dict[str, str]) -> subprocess.Popen[str]:
    until = world.end.replace(microsecond=0).isoformat()
    return subprocess.Popen(
        [sys.executable, "-m", "gtmflow", "serve", "-w", str(folder), "--ticks", "1",
         "--interval", "0", "--as-of", until, "--until", _plus_days(world.end, 30)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _plus_days(moment: Any, days: int) -> str:
    return (moment + timedelta(days=days)).replace(microsecond=0).isoformat()


def _sqlite_reference(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Counter[tuple[str, str]]]:
    """The sample world, and the outbox one `serve` on SQLite makes of it (kind, status)."""
    monkeypatch.delenv("GTMFLOW_STORE_URL", raising=False)
    world = _world(folder)
    assert _worker(folder, world, {"GTMFLOW_STORE_URL": ""}).wait(timeout=300) == 0
    return world, _summary(folder)[0]


def _summary(folder: Path) -> tuple[Counter[tuple[str, str]], set[str]]:
    with Workspace.open(folder) as ws:
        records = ws.outbox.records()
    by_kind = Counter((r.action.kind, r.status) for r in records)
    return by_kind, {r.action.idempotency_key for r in records}


def _wait_for_work(url: str, *, timeout: float = 120.0) -> None:
    """Return once the store's outbox has a row (a worker is mid-run)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            if conn.execute("SELECT count(*) FROM outbox").fetchone() != (0,):
                return
        time.sleep(0.1)
    raise AssertionError("no worker wrote to the outbox in time")


def _records(folder: Path, keys: set[str]) -> list[dict[str, Any]]:
    """The records of these keys (for a failure message)."""
    with Workspace.open(folder) as ws:
        return [r.to_json() for r in ws.outbox.records() if r.action.idempotency_key in keys]


def _delivered_keys(*folders: Path) -> list[str]:
    keys: list[str] = []
    for folder in folders:
        path = folder / ".gtmflow" / "delivered.jsonl"
        if path.exists():
            keys += [json.loads(line)["idempotency_key"] for line in path.read_text().splitlines()]
    return keys


@pytest.mark.slow
def test_two_workers_one_sigkilled_give_the_outbox_of_one_sqlite_process(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GTMFLOW_STORE_URL", raising=False)
    alone = tmp_path / "sqlite"
    world = _world(alone)
    single = _worker(alone, world, {"GTMFLOW_STORE_URL": ""})
    assert single.wait(timeout=300) == 0, single.stderr.read() if single.stderr else ""
    expected, expected_keys = _summary(alone)
    assert sum(n for (kind, status), n in expected.items() if status == "sent") > 10

    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    env = {"GTMFLOW_STORE_URL": pg_url}
    first, second = tmp_path / "w1", tmp_path / "w2"
    _world(first)  # ingests into the shared store; w2 is only a folder of rules
    scaffold(second)
    for folder in (first, second):
        (folder / "gtmflow.toml").write_text(
            (folder / "gtmflow.toml").read_text() + "\n[store]\nlease_seconds = 3\n"
        )
    victim, other = _worker(first, world, env), _worker(second, world, env)
    _wait_for_work(pg_url)  # mid-run: past their imports, judging, invoking, delivering
    assert victim.poll() is None, "the worker finished before it could be killed: grow the world"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    restarted = _worker(first, world, env)
    for proc in (other, restarted):
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""

    got, keys = _summary(first)
    assert keys == expected_keys, _records(first, keys ^ expected_keys)
    sent = Counter(kind for (kind, status), n in got.items() for _ in range(n) if status == "sent")
    unknown = Counter(
        kind for (kind, status), n in got.items() for _ in range(n) if status == "unknown"
    )
    want = Counter(
        kind for (kind, status), n in expected.items() for _ in range(n) if status == "sent"
    )
    assert sent + unknown == want  # a send the kill interrupted stays `unknown`, never resent
    delivered = _delivered_keys(first, second)
    assert len(delivered) == len(set(delivered))  # no key delivered twice


@pytest.mark.slow
def test_serve_waits_out_a_postgresql_restart_and_finishes(
    tmp_path: Path, pg_url: str, postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    world, expected = _sqlite_reference(tmp_path / "sqlite", monkeypatch)
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    shared = tmp_path / "pg"
    _world(shared)
    worker = _worker(shared, world, {"GTMFLOW_STORE_URL": pg_url})
    _wait_for_work(pg_url)  # the worker is past its imports and writing
    assert worker.poll() is None, "the worker finished before the restart: grow the world"
    postgres_server.restart(down_for=3.0)
    assert worker.wait(timeout=300) == 0, worker.stderr.read() if worker.stderr else ""
    got, _ = _summary(shared)
    assert got == expected
    err = worker.stderr.read() if worker.stderr else ""
    assert "store unavailable" in err


def test_a_dead_workers_contacts_are_taken_over_a_lease_later_not_at_the_end_of_the_pass(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Skipped contacts came back only once a worker had been through its whole plan, so a
    # killed worker's waited for all of it (pickup median 11 s with 3 s leases).
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    with _two_workers(tmp_path) as (dead, alive):
        dead.leases.seconds = alive.leases.seconds = 1.0
        plan = dead.plan()
        claims = dead.claim(plan)
        held = set(next(claims))  # it dies holding its first batch: no heartbeat, no release
        dead.leases._stop.set()
        batches = -(-(len(plan.contacts) - len(held)) // SHARED_BATCH)
        assert batches >= 2
        order = []
        for batch in alive.claim(alive.plan()):
            order.append(set(batch))
            time.sleep(3.0 / batches)  # its own processing: 3 s for the rest of the plan
        assert order[0].isdisjoint(held)
        taken = [n for n, batch in enumerate(order) if batch & held]
        assert taken and taken[-1] < len(order) - 1  # ahead of the plan's last batch
        assert set().union(*order) == set(plan.contacts)
        claims.close()


def test_a_tick_resumes_the_due_wait_of_a_contact_a_dead_worker_held(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tick skipped a due wait whose contact another worker held ("it resumes this wait"):
    # when that worker had died, the wait was left until some later tick, and a pass of
    # `serve --ticks 1` workers ended with its sends undone (fault run: lost effects).
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    world = _world(tmp_path)
    later = world.end + timedelta(days=30)
    with Workspace.open(tmp_path) as ws:
        ws.run_all(as_of=world.end, progress=False)
        ws.tick(world.end, progress=False)
        due = ws.scheduler.due(later, graph=SEQUENCE_PREFIX)
        assert due, "the sample world left no sequence waiting: grow it"
        dead = Leases(ws.stores.leases._db, seconds=1.0)
        assert dead.claim([due[0].contact_id]) == {due[0].contact_id}
        dead._stop.set()  # it dies holding the contact: no heartbeat, no release
        report = ws.tick(later, progress=False)
        left = {w.id for w in ws.scheduler.due(later, graph=SEQUENCE_PREFIX)}
    assert due[0].id not in left
    assert report["resumed"] >= len(due)


def test_serve_started_while_postgresql_is_down_waits_for_it_and_finishes(
    tmp_path: Path, pg_url: str, postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # A worker (re)started while the database restarted exited 2 at once ("no PostgreSQL
    # server answers"), leaving its share of the work undone (fault run: lost effects).
    world, expected = _sqlite_reference(tmp_path / "sqlite", monkeypatch)
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    shared = tmp_path / "pg"
    _world(shared)
    postgres_server.stop()
    said: list[str] = []
    try:
        worker = _worker(shared, world, {"GTMFLOW_STORE_URL": pg_url})
        assert worker.stderr is not None
        for line in worker.stderr:  # until it says it waits (or ends: then the test fails)
            said.append(line)
            if "store not answering" in line:
                break
    finally:
        postgres_server.start()
    assert worker.wait(timeout=300) == 0, "".join(said) + worker.stderr.read()
    assert any("store not answering" in line for line in said)
    assert _summary(shared)[0] == expected


def test_a_tick_delivers_the_rows_a_dead_delivery_pass_had_leased(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tick's delivery skipped the rows another pass had leased, so when that pass had died
    # they waited for some later tick: the last `serve --ticks 1` ended with enrolls undone.
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    world = _world(tmp_path)
    with Workspace.open(tmp_path) as ws:
        ws.run_all(as_of=world.end, progress=False)
        dead = Outbox(ws.outbox._db, batch_lease=timedelta(seconds=4))
        leased = [r.action.idempotency_key for _, r in dead._lease_batch(world.end, 50, (0, 10**9))]
        assert len(leased) == 50  # then it died
        ws.tick(world.end, progress=False)
        left = [k for k in leased if (r := ws.outbox.record(k)) and r.status == "pending"]
    assert left == []


def test_an_effect_a_dead_worker_was_applying_is_free_after_lease_seconds(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An internal effect (an enroll) being applied was leased for a fixed 60 s, not for
    # `[store] lease_seconds`: a worker killed while applying one held it for a minute.
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    world = _world(tmp_path)
    with (tmp_path / "gtmflow.toml").open("a") as handle:
        handle.write("\n[store]\nlease_seconds = 1\n")
    with Workspace.open(tmp_path) as dead, Workspace.open(tmp_path) as alive:
        dead.run_all(as_of=world.end, progress=False)
        enroll = next(r for r in dead.outbox.records() if r.action.kind == "enroll")
        key = enroll.action.idempotency_key
        assert dead.outbox._claim(key, world.end, internal=True)  # then it dies applying it
        assert alive.outbox.leased_elsewhere(world.end) > 0
        time.sleep(1.3)
        assert alive.outbox.leased_elsewhere(world.end) == 0
        alive.tick(world.end, progress=False)
        applied = alive.outbox.record(key)
    assert applied is not None and applied.status == "sent"
