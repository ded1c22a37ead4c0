"""A workspace on PostgreSQL and a Chroma server: same answers, no SQLite file, secrets from env.

Every test here runs against the session's real PostgreSQL (and Chroma server); the store tests
of the other modules run on both backends through the `store_backend` fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from gtmflow import Workspace
from gtmflow.errors import ConfigError
from gtmflow.examples.demo import run_demo
from gtmflow.models import ContentItem, Event
from gtmflow.runtime.scaffold import scaffold

from .conftest import at
from .database_servers import ChromaServer


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    return f"postgresql://{parts.username}@{parts.hostname}:{parts.port}{parts.path}"


def _outbox(ws: Workspace) -> list[tuple[str, str, str, str]]:
    return sorted(
        (r.action.idempotency_key, r.action.kind, r.action.contact_id, r.status)
        for r in ws.outbox.records()
    )


@pytest.mark.slow
def test_the_demo_gives_the_same_outbox_on_both_backends(
    tmp_path: Path, pg_url: str, chroma_server: ChromaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GTMFLOW_STORE_URL", raising=False)
    lite = run_demo(tmp_path / "lite", contacts=40, progress=False)
    # the demo writes its own gtmflow.toml (and refuses a folder with someone else's); its
    # collections keep their default names on the session's Chroma server
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    monkeypatch.setenv("GTMFLOW_CONTEXT_URL", chroma_server.url)
    shared = run_demo(tmp_path / "pg", contacts=40, progress=False)

    assert shared["outbox"] == lite["outbox"] and shared["outbox"]
    assert shared["replay"] == lite["replay"]
    with Workspace.open(tmp_path / "pg") as ws:
        on_postgres = _outbox(ws)
        assert ws.stores.backend == "postgresql"
    monkeypatch.delenv("GTMFLOW_STORE_URL")
    monkeypatch.delenv("GTMFLOW_CONTEXT_URL")
    with Workspace.open(tmp_path / "lite") as ws:
        assert _outbox(ws) == on_postgres
    state = tmp_path / "pg" / ".gtmflow"
    assert not [p.name for p in state.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3")]
    assert not (state / "chroma").exists()  # the context store is the Chroma server


def test_checkpoints_live_in_postgres(workspace_on_postgres: Workspace, pg_url: str) -> None:
    ws = workspace_on_postgres
    ws.events.write_events([_pricing_view(i) for i in range(3)])
    ws.run(as_of=at(3))
    with psycopg.connect(pg_url) as conn:
        threads = conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
    assert threads == [("inbound_router:hot",)]
    assert ws.forget("hot")["checkpoint_threads"] == 1


def test_a_password_in_gtmflow_toml_is_refused(tmp_path: Path, pg_url: str) -> None:
    scaffold(tmp_path)
    _store_table(tmp_path, pg_url)

    with pytest.raises(ConfigError, match="holds a password; secrets come only from the env"):
        Workspace.open(tmp_path)


def test_toml_url_with_the_password_from_pgpassword(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scaffold(tmp_path)
    _store_table(tmp_path, _without_password(pg_url))
    monkeypatch.delenv("GTMFLOW_STORE_URL", raising=False)
    monkeypatch.setenv("PGPASSWORD", urlsplit(pg_url).password or "")

    with Workspace.open(tmp_path) as ws:
        assert ws.stores.backend == "postgresql"
        assert ws.stores.label == _without_password(pg_url)
    assert not (tmp_path / ".gtmflow" / "gtmflow.db").exists()


def test_the_environment_overrides_the_toml_url(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scaffold(tmp_path)
    _store_table(tmp_path, "postgresql://nobody@127.0.0.1:1/nothing")
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)

    with Workspace.open(tmp_path) as ws:
        assert ws.stores.label == _without_password(pg_url)


def test_context_url_uses_the_chroma_server(
    tmp_path: Path, chroma_server: ChromaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GTMFLOW_STORE_URL", raising=False)
    scaffold(tmp_path)
    with (tmp_path / "gtmflow.toml").open("a") as toml:
        toml.write(f'\n[context]\nurl = "{chroma_server.url}"\nprefix = "ctx_url_"\n')
    item = ContentItem(id="soc2", title="Security", body="We hold a SOC 2 Type II report.")

    with Workspace.open(tmp_path) as ws:
        ws.context.upsert_content([item])
        hits = ws.context.content_for("is my data safe?", k=1)
    assert [h.source_id for h in hits] == ["soc2"]
    assert not (tmp_path / ".gtmflow" / "chroma").exists()


def test_a_context_url_that_is_not_http_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text('[context]\nurl = "chroma.example:8000"\n')
    with Workspace.open(tmp_path) as ws, pytest.raises(ConfigError, match="http://host:8000"):
        ws.context  # noqa: B018


# ------------------------------------------------------------------------------------- helpers


@pytest.fixture
def workspace_on_postgres(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    scaffold(tmp_path)
    monkeypatch.setenv("GTMFLOW_STORE_URL", pg_url)
    with Workspace.open(tmp_path) as ws:
        yield ws


def _store_table(root: Path, url: str) -> None:
    with (root / "gtmflow.toml").open("a") as toml:
        toml.write(f"\n[store]\nurl = {json.dumps(url)}\n")


def _pricing_view(i: int) -> Event:
    return Event(
        id=f"p{i}", type="page_view", contact_id="hot", timestamp=at(i),
        properties={"path": "/pricing"},
    )  # fmt: skip
