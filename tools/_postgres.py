"""The PostgreSQL backend of the ledgers: a connection pool with the `SQLDatabase` interface.

`PostgresDatabase(url)` checks the server first, so the mistakes people make (a wrong URL, a
database that does not exist, a wrong password) are `ConfigError`s that name the store and the
fix, never a pool timing out half a minute later. Afterwards a server that goes away is a
`StoreUnavailable`: the open transaction rolled back on the server, nothing was half-written,
and the caller may retry the batch once it is back.

Prepared statements are off (`prepare_threshold=None`) so transaction poolers (PgBouncer) work.
psycopg is imported here only: SQLite workspaces never load it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from gtmflow.errors import ConfigError, StoreError, StoreUnavailable

__all__ = [
    "PostgresDatabase",
    "ServerNotAnswering",
    "is_outage",
    "redacted",
    "require_postgres",
]


class ServerNotAnswering(ConfigError):
    """No PostgreSQL server answers at the store's address: a wrong host or port, or a server
    that is down or restarting. A one-off command stops (exit 2); `gtmflow serve` waits a while
    at start, as it waits out an outage mid-run."""


_SCHEMES = ("postgresql", "postgres")


def require_postgres() -> None:
    """Raise a ConfigError naming the extra to install when psycopg is missing."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise ConfigError(
            "a PostgreSQL store needs psycopg 3 and its pool: pip install 'gtmflow[postgres]' "
            "(add 'psycopg[binary]' where no libpq is installed)"
        ) from None


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
    except ValueError:
        return "<unparsable URL>"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_url(url: str) -> None:
    """Refuse what is not a PostgreSQL URL, saying what one looks like."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        raise ConfigError(
            f"store URL '{redacted(url)}' cannot be read ({exc}); write it as "
            "postgresql://user@host:5432/database"
        ) from None
    if parts.scheme not in _SCHEMES or not parts.path.strip("/"):
        raise ConfigError(
            f"store URL '{redacted(url)}' is not a PostgreSQL URL with a database; write it as "
            "postgresql://user@host:5432/database (or leave [store] url out for SQLite)"
        )


def is_outage(exc: BaseException) -> bool:
    """True for errors meaning "the server is not reachable now" (retrying may work)."""
    if isinstance(exc, StoreUnavailable):
        return True
    psycopg = sys.modules.get("psycopg")  # not loaded: the error cannot be one of its own
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, shared by a workspace's ledgers.

    Args:
        url: `postgresql://user@host:port/database`; the password comes from the environment
            (`PGPASSWORD`, `~/.pgpass`, or the URL in `GTMFLOW_STORE_URL`).
        max_size: At most this many connections (graph nodes read from several threads).
        timeout: Seconds to wait for a connection before calling the store unavailable.
    """

    dialect: Literal["sqlite", "postgresql"] = "postgresql"

    def __init__(self, url: str, *, max_size: int = 4, timeout: float = 10.0) -> None:
        require_postgres()
        from psycopg_pool import ConnectionPool

        check_url(url)
        self.url = url
        self.label = redacted(url)
        probe(url)
        self.pool = ConnectionPool(
            url, min_size=1, max_size=max_size, timeout=timeout, open=True,
            kwargs={"autocommit": True, "prepare_threshold": None}, name="gtmflow-store",
        )  # fmt: skip
        self._closed = threading.Event()

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.label!r})"

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        """One transaction on a pooled connection; rolled back if the block raises."""
        with self.errors("write"), self.pool.connection() as conn, conn.transaction():
            yield _Connection(conn)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """All rows of a read query."""
        with self.errors("read"), self.pool.connection() as conn:
            return conn.execute(pyformat(sql), tuple(args)).fetchall()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A raw psycopg connection (autocommit) for backend-specific work (COPY, locks)."""
        with self.errors("use"), self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        """Close the pool (idempotent: every ledger of a workspace may call it)."""
        if not self._closed.is_set():
            self._closed.set()
            self.pool.close()

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """psycopg errors as gtmflow's: outages are `StoreUnavailable`, the rest `StoreError`."""
        import psycopg

        try:
            yield
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"PostgreSQL store '{self.label}' went away during a {what} ({_first_line(exc)}); "
                "the open transaction was rolled back: retry when the server is back "
                "(`gtmflow serve` retries with backoff)"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"PostgreSQL store '{self.label}' refused a {what}: {_first_line(exc)}"
            ) from exc


class _Connection:
    """A psycopg connection that speaks the ledgers' `?` placeholders."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        return self._conn.execute(pyformat(sql), tuple(parameters))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        cursor = self._conn.cursor()
        cursor.executemany(pyformat(sql), [tuple(row) for row in rows])
        return cursor


@lru_cache(maxsize=1024)
def pyformat(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def probe(url: str) -> None:
    """Connect once, turning the usual mistakes into ConfigErrors that say how to fix them."""
    import psycopg

    label = redacted(url)
    try:
        psycopg.connect(url, connect_timeout=10, prepare_threshold=None).close()
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"store URL '{label}' cannot be read ({_first_line(exc)}); write it as "
            "postgresql://user@host:5432/database"
        ) from None
    except psycopg.OperationalError as exc:
        raise _diagnosis(label, url, _first_line(exc)) from None


def _diagnosis(label: str, url: str, message: str) -> ConfigError:
    parts = urlsplit(url)
    database = parts.path.strip("/")
    if "does not exist" in message and "database" in message:
        return ConfigError(
            f"PostgreSQL store '{label}': database '{database}' does not exist; create it "
            f'(createdb {database}, or CREATE DATABASE "{database}") and run `gtmflow migrate`'
        )
    if "password" in message or "authentication" in message:
        return ConfigError(
            f"PostgreSQL store '{label}' refused the credentials ({message}); set PGPASSWORD "
            "(or put the password in GTMFLOW_STORE_URL, never in gtmflow.toml) and check the user"
        )
    return ServerNotAnswering(
        f"no PostgreSQL server answers for store '{label}' ({message}); check the host and port "
        "in [store] url or GTMFLOW_STORE_URL, and that the server is running"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
