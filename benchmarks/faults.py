"""Fault run: random SIGKILLs across `gtmflow run`/`tick`/`deliver` against a real SMTP server.

Run standalone from the repository root (about 5 minutes on a busy 2-core box; `--write FILE`
appends Markdown):

    python benchmarks/faults.py
    python benchmarks/faults.py --kills 30 --contacts 40 --down 45 --write benchmarks/RESULTS.md

A temporary workspace enrolls `--contacts` contacts in a two-email sequence (welcome, a wait,
a second email) and sends through SMTP to a real aiosmtpd server on 127.0.0.1. The server is
down (nothing listens on its port) for the first `--down` seconds: the issue's "down for the
first minutes", scaled down to seconds (and the retry schedule with it: `first = "3s"`,
`longest = "15s"`, `max_age = "10m"`) so the whole run stays within ~5 minutes on a 2-core box.
Meanwhile CLI processes run one or two at a time and a random one is SIGKILLed after a random
0.5-8 s, until `--kills` processes were killed; then `gtmflow run` and `tick` run unkilled until
every email is settled.

Reported: duplicates (messages the server received more than once, by `Message-ID`, which is
built from the idempotency key), lost effects (an expected email neither received nor left
`unknown` for a person), effects still `unknown` (killed between handing a message to the server
and recording it: gtmflow cannot know, so it never retries them by itself) and enroll effects
`unknown` (internal, so this must be 0), plus exit codes of processes that were not killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gtmflow import Workspace  # noqa: E402
from gtmflow.models import Contact, Event  # noqa: E402

GTMFLOW = str(Path(sys.executable).with_name("gtmflow"))
COMMANDS = (["run"], ["tick"], ["deliver"])
KILL_WINDOW = (0.5, 8.0)
"""Seconds after launch a process is killed: a CLI call takes ~2.5 s of CPU, ~8 s wall on a busy
2-core box, so kills land in start-up, in the run loop and in delivery."""


class Receiver:
    """aiosmtpd handler: every accepted message's `Message-ID` and recipient."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            self.received.append((str(message["Message-ID"]), ",".join(envelope.rcpt_tos)))
        await asyncio.sleep(0)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_workspace(root: Path, port: int, contacts: int) -> None:
    files = {
        "gtmflow.toml": f"""
            [gtmflow]
            rules = "rules:RULES"
            sequences = "sequences:SEQUENCES"
            [governor]
            frequency_cap = false
            quiet_hours = false
            [outbox.retry]
            first = "3s"
            longest = "15s"
            max_age = "10m"
            [transports.smtp]
            host = "127.0.0.1"
            port = {port}
            security = "none"
            from = "Acme <sales@acme.example>"
            attempts = 2
            backoff = 0.2
            timeout = 5
            [transports.routes]
            send_email = "smtp"
        """,
        "rules.py": """
            from gtmflow import pipes as p
            RULES = [p.Rule("start", when=p.event("signup"), then=p.enroll("nurture"))]
        """,
        "sequences.py": """
            from gtmflow.graphs.sequences import Sequence, send, wait
            SEQUENCES = [Sequence("nurture", steps=[
                send("welcome", subject="Welcome {first_name}", body="Hello {first_name}"),
                wait("10s"),
                send("second", subject="Next steps, {first_name}", body="More."),
            ])]
        """,
    }
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    now = datetime.now(UTC)
    with Workspace.open(root) as ws:
        ws.events.write_contacts(
            [
                Contact(id=f"c-{i}", email=f"p{i}@example.test", name=f"Person {i}",
                        subscription="subscribed")
                for i in range(contacts)
            ]
        )  # fmt: skip
        ws.events.write_events(
            [Event(id=f"s-{i}", type="signup", contact_id=f"c-{i}", timestamp=now)
             for i in range(contacts)]
        )  # fmt: skip


@dataclass
class Chaos:
    """Launch CLI processes and SIGKILL random ones; count kills and exit codes."""

    root: Path
    rng: random.Random
    kills: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [GTMFLOW, *command, "-w", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def round(self) -> None:
        """One or two processes; kill one at a random moment, let the other finish."""
        batch = [self.rng.choice(COMMANDS) for _ in range(self.rng.choice((1, 1, 2)))]
        procs = [(c, self.spawn(c)) for c in batch]
        time.sleep(self.rng.uniform(*KILL_WINDOW))
        victim = self.rng.randrange(len(procs))
        for index, (command, proc) in enumerate(procs):
            if index == victim and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                self.kills += 1
                continue
            self.settle(command, proc)

    def settle(self, command: list[str], proc: subprocess.Popen[bytes]) -> None:
        _, err = proc.communicate(timeout=120)
        self.exits[f"{command[0]} exit {proc.returncode}"] += 1
        if proc.returncode != 0:
            self.failures.append(f"{command[0]}: {err.decode(errors='replace').strip()[-300:]}")


def outbox_state(root: Path) -> tuple[Counter[str], dict[str, str]]:
    """Status counts per kind, and each email's idempotency key → status."""
    with Workspace.open(root) as ws:
        records = ws.outbox.records()
    counts = Counter(f"{r.action.kind} {r.status}" for r in records)
    emails = {r.action.idempotency_key: r.status for r in records if r.action.kind == "send_email"}
    return counts, emails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--contacts", type=int, default=40)
    parser.add_argument("--down", type=float, default=45.0, help="Seconds the server is down.")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--write", type=Path, help="Append a Markdown section to this file.")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gtmflow-faults-") as tmp:
        root, port = Path(tmp), free_port()
        make_workspace(root, port, args.contacts)
        receiver = Receiver()
        controller = Controller(receiver, hostname="127.0.0.1", port=port, ready_timeout=5)
        chaos, up = Chaos(root, random.Random(args.seed)), False
        while chaos.kills < args.kills:
            if not up and time.monotonic() - started >= args.down:
                controller.start()
                up = True
            chaos.round()
        if not up:
            time.sleep(max(0.0, args.down - (time.monotonic() - started)))
            controller.start()
        killed_at = time.monotonic() - started
        expected = 2 * args.contacts
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:  # no more kills: let everything settle
            for command in (["run"], ["tick"]):
                chaos.settle(command, chaos.spawn(command))
            counts, emails = outbox_state(root)
            open_ = sum(1 for s in emails.values() if s in ("pending", "held"))
            if len(emails) == expected and not open_:
                break
            time.sleep(2)
        controller.stop()
        counts, emails = outbox_state(root)
    ids = Counter(message_id for message_id, _ in receiver.received)
    keys = {key: status for key, status in emails.items()}
    received_keys = {mid.strip("<>").split("@")[0] for mid in ids}
    unknown = [k for k, s in keys.items() if s == "unknown"]
    lost = expected - len(received_keys | set(unknown))
    figures = {
        "kills": chaos.kills,
        "server down for (s)": args.down,
        "emails expected": expected,
        "emails received": len(received_keys),
        "duplicates at the server": sum(n - 1 for n in ids.values()),
        "lost effects": lost,
        "emails unknown (killed mid-send, wait for a person)": len(unknown),
        "unknown received anyway": len(set(unknown) & received_keys),
        "enroll unknown": counts.get("enroll unknown", 0),
        "outbox": dict(sorted(counts.items())),
        "exit codes of unkilled processes": dict(sorted(chaos.exits.items())),
        "kill phase (s)": round(killed_at, 1),
        "total (s)": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures, indent=2))
    for failure in chaos.failures[:5]:
        print("non-zero exit:", failure, file=sys.stderr)
    if args.write:
        write(args.write, figures, args)


def write(path: Path, figures: dict[str, Any], args: argparse.Namespace) -> None:
    machine = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in machine.splitlines()
                  if ln.startswith("Model name")), "unknown")  # fmt: skip
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    command = (
        f"python benchmarks/faults.py --kills {args.kills} --contacts {args.contacts} "
        f"--down {args.down:g} --seed {args.seed} --write {path}"
    )
    lines = [
        "",
        "## Faults (`python benchmarks/faults.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {model}, {os.cpu_count()} cores, gtmflow "
        f"{head.stdout.strip()}; command `{command}`. SIGKILLs land at a random 0.5-8 s into "
        "`gtmflow run`/`tick`/`deliver` (one or two at once) while a real aiosmtpd server on "
        f"127.0.0.1 is down for the first {args.down:g} s (the issue's 'first minutes', scaled to "
        "seconds with the retry schedule: first 3 s, longest 15 s) so the run fits in ~5 minutes.",
        "",
        "| figure | value |",
        "| --- | ---: |",
        *(f"| {k} | {v} |" for k, v in figures.items() if not isinstance(v, dict)),
        f"| outbox at the end | {', '.join(f'{k}: {v}' for k, v in figures['outbox'].items())} |",
        "| exit codes of processes not killed | "
        + ", ".join(f"{k}: {v}" for k, v in figures["exit codes of unkilled processes"].items())
        + " |",
        "",
    ]
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


if __name__ == "__main__":
    main()
