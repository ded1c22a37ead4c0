"""The test session's own servers: a real PostgreSQL and a real Chroma server answer."""

from __future__ import annotations

import chromadb
import psycopg
import pytest

from .database_servers import ChromaServer, PostgresServer


def test_postgres_accepts_the_password_and_refuses_a_wrong_one(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() is not None
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_server.url(password="wrong")).close()


def test_each_test_gets_its_own_empty_database(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_chroma_server_answers_an_http_client(chroma_server: ChromaServer) -> None:
    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server.port)
    collection = client.get_or_create_collection("fixture-check")
    collection.add(ids=["a"], documents=["hello"], embeddings=[[0.1, 0.2, 0.3]])
    assert collection.count() == 1
