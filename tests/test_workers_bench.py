"""The workers benchmark's report: what a RESULTS.md reader needs to judge its figures."""

from __future__ import annotations

from .benchmark_modules import load_benchmark


def _rows(same: bool) -> list[dict[str, object]]:
    rows = []
    for setup, cpu, n in (("SQLite, 1 process", 10.0, 1), ("PostgreSQL, 1 worker(s)", 20.0, 1),
                          ("PostgreSQL, 2 worker(s)", 30.0, 2)):  # fmt: skip
        rows.append({"setup": setup, "wall": 10.0, "cpu": cpu, "same": same,
                     "per_contact_ms": cpu * 10, "net_ms": (cpu - 2.0 * n) * 10,
                     "start_cpu": 2.0, "contacts_per_s": 10.0})  # fmt: skip
        if setup.startswith("PostgreSQL"):  # database work: 2 workers ask 10% / 50% more
            rows[-1].update(xacts=10.0 * (1 + (n - 1) / 10), reads=200.0 * (1 + (n - 1) / 2))
    return rows


FAULT = {"kills": 20, "restarted_server": True, "wall": 60.0, "duplicates": 0, "lost": 0,
         "extra_keys": 0, "sent": 300, "unknown": 1, "pickups_with_leases": 3,
         "pickups": [2.5, 3.1, 4.0], "pickups_others": [2.5, 3.1],
         "pickups_alone": [4.0]}  # fmt: skip


def test_the_report_names_load_commit_and_command_and_growth() -> None:
    workers = load_benchmark("workers")
    text = workers._markdown(_rows(True), FAULT, 100, "python benchmarks/workers.py --x", [
        "1.00, 2.00, 3.00", "4.00, 5.00, 6.00"])  # fmt: skip
    assert "load average (1, 5, 15 min) 1.00, 2.00, 3.00 at the start, 4.00, 5.00, 6.00" in text
    assert "gtmflow code " in text and "`python benchmarks/workers.py --x`" in text
    # net per contact 180 ms (1 worker) vs 260 ms (2 workers): +44%
    assert (
        "| PostgreSQL, 2 worker(s) | 10.0 s | 10.0 | 30.0 | 300.0 | 260.0 | +44% | 11.0 | 300 "
        "| yes |" in text
    )
    assert "| SQLite, 1 process | 10.0 s | 10.0 | 10.0 | 100.0 | 80.0 | — | — | — | yes |" in text
    assert "(transactions / rows read): 2 worker(s) +10% / +50%." in text
    assert "| 0 | 0 | 0 | 300 | 1 | 3 | 3.1 s | 4.0 s |" in text
    assert "still running: 2, median 3.1 s, max 3.1 s;" in text
    assert "take over: 1, median 4.0 s, max 4.0 s." in text


def test_an_outbox_that_differs_from_sqlite_says_no() -> None:
    workers = load_benchmark("workers")
    text = workers._markdown(_rows(False), FAULT, 100, "cmd", ["0", "0"])
    assert "| NO |" in text and "| yes |" not in text
