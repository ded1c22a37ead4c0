"""What checking every row at the database write costs the ingest rate (issue 11).

Since issue 11 the SQLite event store inserts events one statement at a time, so a row the
database refuses (a lone surrogate) or an id already stored with other content (a conflict) is
dead-lettered on its own instead of failing or hiding in the batch. This script ingests the same
sample-world file into that store and into `BulkStore`, a copy of the store's earlier write
path (one `executemany` of `INSERT OR IGNORE`, which neither isolates a failing row nor sees a
conflict), alternating the two so both meet the same machine load, then re-ingests each (all
duplicates: the new path reads back every duplicate to compare it).

    python benchmarks/ingest_rows.py [--contacts 3000] [--rounds 2] [--write benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from statistics import median
from typing import Any

from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.models import Event
from gtmflow.tools.events.event_store import SQLiteEventStore, WriteResult
from gtmflow.tools.events.ingest import ingest_events
from gtmflow.tools.events.sqlite_rows import dump, micros

HERE = Path(__file__).resolve().parent
_INSERT = (
    "INSERT OR IGNORE INTO events (id, contact_id, type, ts, properties) VALUES (?, ?, ?, ?, ?)"
)


class BulkStore(SQLiteEventStore):
    """The store's write path before issue 11: one `executemany`, conflicts unseen."""

    def write_events(self, events: Iterable[Event], **options: Any) -> WriteResult:
        contact_ids: set[str] = set()
        offered = 0

        def rows() -> Iterable[tuple[str, str, str, int, str]]:
            nonlocal offered
            for event in events:
                offered += 1
                contact_ids.add(event.contact_id)
                yield (
                    event.id,
                    event.contact_id,
                    event.type,
                    micros(event.timestamp),
                    dump(event.properties),
                )

        with self._transaction("write events"):
            accepted = self._conn.executemany(_INSERT, rows()).rowcount
            self._conn.executemany(
                "INSERT OR IGNORE INTO contacts (id) VALUES (?)", ((c,) for c in contact_ids)
            )
        return WriteResult(accepted, offered - accepted)


def _ingest_twice(store_type: type[SQLiteEventStore], events: Path, folder: Path) -> list[float]:
    """CPU seconds of a first ingest and of a re-ingest of the same file."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds = []
    with store_type(folder / "events.db") as store:
        for _ in range(2):
            started = time.process_time()
            ingest_events(store, events, dead_letter=folder)
            seconds.append(time.process_time() - started)
    return seconds


def measure(contacts: int, rounds: int) -> dict[str, Any]:
    """Ingest rates (events per CPU second) of both write paths, `rounds` times each."""
    root = Path(tempfile.mkdtemp(prefix="gtmflow-ingest-rows-"))
    try:
        world = generate_sample_world(root / "world", contacts=contacts)
        runs: dict[str, list[list[float]]] = {"row by row": [], "bulk (before)": []}
        for _ in range(rounds):
            runs["row by row"].append(
                _ingest_twice(SQLiteEventStore, world.events_jsonl, root / "a")
            )
            runs["bulk (before)"].append(_ingest_twice(BulkStore, world.events_jsonl, root / "b"))
        rates = {
            name: [world.events / median(r[i] for r in found) for i in (0, 1)]
            for name, found in runs.items()
        }
        return {"events": world.events, "rates": rates}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _table(figures: dict[str, Any]) -> list[str]:
    new, old = figures["rates"]["row by row"], figures["rates"]["bulk (before)"]
    return [
        "| path | ingest, events/CPU s | re-ingest (all duplicates), events/CPU s |",
        "| --- | ---: | ---: |",
        f"| row by row (now) | {new[0]:,.0f} | {new[1]:,.0f} |",
        f"| one executemany (before) | {old[0]:,.0f} | {old[1]:,.0f} |",
        f"| now / before | {new[0] / old[0]:.2f} | {new[1] / old[1]:.2f} |",
    ]


def _write(path: Path, lines: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    from bench_report import replace_section

    title = "Ingest, row by row (`python benchmarks/ingest_rows.py`)"
    replace_section(path, title, "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """Measure both write paths and print (or write) the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write", type=Path, help="replace this section of a Markdown file")
    args = parser.parse_args(argv)
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    figures = measure(args.contacts, args.rounds)
    table = _table(figures)
    print("\n".join(table))
    if args.write:
        sys.path.insert(0, str(HERE))
        from bench_report import code_state, environment

        facts = environment()
        load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        command = (
            f"python benchmarks/ingest_rows.py --contacts {args.contacts} --rounds {args.rounds}"
        )
        notes = [
            f"`{command}` on {facts['date']}: {facts['cpu']}, {facts['cores']} cores, "
            f"{facts['python']}, SQLite {facts['sqlite']}; load average {load_before} before, "
            f"{load_after} after; code {code_state(HERE.parent)}; "
            f"{time.perf_counter() - started:.0f} s.",
            "",
            f"{figures['events']:,} sample-world events, ingested with `ingest_events` into an "
            "empty store, then re-ingested (every row a duplicate). Rates are events per CPU "
            "second of the ingesting process (median of the rounds, the two paths alternated), "
            "so a loaded machine shifts both alike. *Before* is the earlier write path "
            "(`BulkStore` in the script), with the rest of today's ingest.",
            "",
        ]
        _write(args.write, notes + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
