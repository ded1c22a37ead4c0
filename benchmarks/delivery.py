"""Benchmarks of delivery: SMTP and webhook throughput through the outbox, and failure timing.

Run standalone from the repository root (prints a rich table; `--write FILE` appends Markdown):

    python benchmarks/delivery.py
    python benchmarks/delivery.py --emails 2000 --webhooks 1000 --write benchmarks/RESULTS.md

Every figure uses real servers on 127.0.0.1 (the test suite's aiosmtpd server and HTTP
receiver, `tests/local_servers.py`), real outbox records in a temporary SQLite file and the
transports' default settings unless named. Loopback has no network latency, so throughput here
is gtmflow's own overhead per message (outbox claim + mark, MIME building, protocol round
trips), an upper bound for real servers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_report import Result, Target, results_table
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gtmflow.models import Action  # noqa: E402
from gtmflow.tools.delivery.outbox import Outbox  # noqa: E402
from gtmflow.tools.delivery.smtp import SMTPTransport  # noqa: E402
from gtmflow.tools.delivery.transports import RetryPolicy, Transport  # noqa: E402
from gtmflow.tools.delivery.webhook import WebhookTransport  # noqa: E402
from tests.local_servers import HTTPReceiver, SMTPServer, closed_port  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _actions(kind: str, n: int) -> list[Action]:
    payload = {"subject": "Following up", "body": "Hello,\n" + "A line of text.\n" * 20}
    if kind == "alert_sales":
        payload = {"channel": "sales", "message": "3 pricing views in 7 days"}
    return [
        Action(kind=kind, contact_id=f"c-{i}", payload=payload, graph="bench", source="r",
               created_at=NOW)
        for i in range(n)
    ]  # fmt: skip


def _rate(folder: Path, actions: list[Action], transport: Transport) -> tuple[float, int]:
    """Deliver `actions` through a fresh outbox; (messages per second, number sent)."""
    outbox = Outbox(folder / f"outbox-{time.monotonic_ns()}.db")
    outbox.put(actions)
    started = time.perf_counter()
    with transport:
        report = outbox.deliver(transport)
    elapsed = time.perf_counter() - started
    outbox.close()
    return report.sent / elapsed, report.sent


def smtp_rate(folder: Path, n: int) -> Result:
    with SMTPServer() as server:
        transport = SMTPTransport(
            host="127.0.0.1", port=server.port, security="none",
            sender="Acme <sales@acme.example>", recipient=lambda c: f"{c}@example.com",
        )  # fmt: skip
        rate, sent = _rate(folder, _actions("send_email", n), transport)
        assert sent == n == len(server.mailbox.mail), "every email must arrive exactly once"
    return Result(f"SMTP emails/s ({n}, one kept connection)", rate, "emails/s", Target(">=", 100))


def webhook_rate(folder: Path, n: int) -> Result:
    with HTTPReceiver() as receiver:
        transport = WebhookTransport(receiver.url(), format="slack")
        rate, sent = _rate(folder, _actions("alert_sales", n), transport)
        assert sent == n == len(receiver.requests), "every POST must arrive exactly once"
    return Result(f"webhook POSTs/s ({n}, a connection each)", rate, "POSTs/s", Target(">=", 100))


def _seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def give_up_time(folder: Path) -> Result:
    """Connection refused with the default RetryPolicy (3 attempts, 0.5 s backoff, jitter)."""
    outbox = Outbox(folder / "refused.db")
    outbox.put(_actions("alert_sales", 1))
    transport = WebhookTransport(f"http://127.0.0.1:{closed_port()}/x")
    seconds = _seconds(lambda: outbox.deliver(transport))
    assert outbox.counts() == {"failed": 1}
    return Result("refused: time to 'failed' (default policy)", seconds, "s", Target("<=", 3.0))


def unknown_time(folder: Path) -> Result:
    """A receiver that reads the request and never answers, with `timeout=0.5`."""
    outbox = Outbox(folder / "hang.db")
    outbox.put(_actions("alert_sales", 1))
    with HTTPReceiver(["hang"]) as receiver:
        transport = WebhookTransport(receiver.url(), timeout=0.5, retry=RetryPolicy())
        seconds = _seconds(lambda: outbox.deliver(transport))
        receiver.release.set()
    assert outbox.counts() == {"unknown": 1}
    return Result("hang: time to 'unknown' (timeout 0.5 s)", seconds, "s", Target("<", 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=500)
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--write", type=Path, help="append a Markdown section to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = [
            smtp_rate(folder, args.emails),
            webhook_rate(folder, args.webhooks),
            give_up_time(folder),
            unknown_time(folder),
        ]
    Console().print(results_table(results, title="gtmflow delivery"))
    if args.write:
        rows = [f"| {r.metric} | {r.shown_value()} | {r.shown_target()} | {r.verdict} |"
                for r in results]  # fmt: skip
        section = [
            "", "## Delivery (`benchmarks/delivery.py`)", "",
            f"`python benchmarks/delivery.py --emails {args.emails} --webhooks {args.webhooks}`, "
            f"{datetime.now(UTC):%Y-%m-%d}. Loopback servers: gtmflow's own cost per message.",
            "", "| metric | value | target | result |", "| --- | --- | --- | --- |", *rows, "",
        ]  # fmt: skip
        with args.write.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(section))
    if any(r.verdict == "FAIL" for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
