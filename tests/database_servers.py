"""Real database servers on 127.0.0.1 for the store tests: PostgreSQL and a Chroma server.

`PostgresServer` runs `initdb` and `pg_ctl` in a temporary folder (as the `postgres` user when
the tests run as root, because `initdb` refuses root), on a free loopback port, with password
authentication over TCP so bad credentials can be tested. `ChromaServer` runs `chroma run` on a
free port. Both stop when the test session ends (conftest's session fixtures own them).

Without PostgreSQL binaries the PostgreSQL tests skip, and the session says so loudly at the end
(`POSTGRES_SKIPPED` feeds conftest's terminal summary); every other failure to start is an error.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["POSTGRES_SKIPPED", "ChromaServer", "PostgresServer", "free_port", "postgres_bin"]

PASSWORD = "gtmflow-test-secret"
POSTGRES_SKIPPED: list[str] = []
"""Why the PostgreSQL tests skipped (at most one reason), for the loud end-of-session summary."""


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres`, or None when there is none.

    `GTMFLOW_PG_BIN` wins; then the newest Debian layout (`/usr/lib/postgresql/<v>/bin`); then
    `initdb` on the PATH.
    """
    candidates = [os.environ.get("GTMFLOW_PG_BIN", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    for folder in filter(None, candidates):
        if all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster: `start()`, `url(db)`, `create_database`, `stop()`."""

    bin_dir: Path
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gtmflow-pg-")))
    port: int = field(default_factory=free_port)
    user: str = "postgres"
    password: str = PASSWORD
    durable: bool = False
    """False turns fsync off: fast, and safe as long as the machine itself does not crash."""

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A libpq URL with the password in it (tests pass it through the environment)."""
        secret = self.password if password is None else password
        return f"postgresql://{self.user}:{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        """initdb (first time) and start the server; returns once it accepts connections."""
        if not self.data.exists():
            self._init()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = str(self.folder / "server.log")
        self._pg_ctl("start", "-w", "-t", "60", "-l", log, "-o", options)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back open transactions; `immediate`: like a crash)."""
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self, *, down_for: float = 0.0) -> None:
        """Stop, stay down `down_for` seconds, start again (the port stays the same)."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _init(self) -> None:
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        self._give_to_postgres(self.folder, pwfile)
        self._run(
            self.bin_dir / "initdb", "-D", str(self.data), "-U", self.user, "-E", "UTF8",
            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
            "--no-instructions", "--locale=C.UTF-8",
        )  # fmt: skip

    def _pg_ctl(self, *args: str) -> None:
        self._run(self.bin_dir / "pg_ctl", "-D", str(self.data), *args)

    def _run(self, program: Path, *args: str) -> None:
        command = [str(program), *args]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{program.name} {' '.join(args[:1])} failed ({done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}\n{tail}"
            )

    @staticmethod
    def _give_to_postgres(*paths: Path) -> None:
        if os.geteuid() != 0:
            return
        for path in paths:
            shutil.chown(path, user="postgres")


@dataclass
class ChromaServer:
    """`chroma run` on a free loopback port with its data in a temporary folder."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gtmflow-chroma-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> ChromaServer:
        """Start the server; returns once its heartbeat answers."""
        program = Path(sys.executable).parent / "chroma"
        if not program.exists():
            program = Path(shutil.which("chroma") or "chroma")
        log = (self.folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            [str(program), "run", "--path", str(self.folder / "data"), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1).close()
                return self
            time.sleep(0.2)
        self.stop()
        tail = (self.folder / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"`chroma run` did not answer on {self.url} within {timeout} s:\n{tail}")

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
