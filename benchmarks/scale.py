"""Issue 15 figures: ingest and run at scale, incremental runs, checkpoint size, the simulator.

Run from the repository root:

    python benchmarks/scale.py --contacts 10000                 # one size, table to stdout
    python benchmarks/scale.py --contacts 10000 30000 --simulate 2000 --append benchmarks/RESULTS.md

Each size runs in a child process (this script with `--child`), so its peak RSS is that size's
own: generation of the sample world (~100 events per contact, not timed), `Workspace.ingest` of
its events, the first `Workspace.run` of the inbound router, a run with nothing new, then nine
runs each after a 1% spread append (1% of the stored events, one each on random contacts).
The checkpoint database is measured after the first run and after the tenth (WAL copied in).
The simulator child replays the simulator's loop (`gtmflow.runtime.simulator`) hour by hour and
times each day's arrivals + run + tick.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MARK = "<!-- scale.py -->"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _append(ws: Any, folder: Path, *, share: float, at: datetime, seed: int) -> int:
    """Write and ingest `share` of the stored events as new events on random contacts."""
    from gtmflow.models import Event

    rng = random.Random(seed)
    contacts = list(ws.events.contact_ids())
    total = ws.events.stats().events
    count = max(1, int(total * share))
    paths = ["/pricing", "/blog/pipeline", "/docs/start", "/case-studies"]
    path = folder / f"append-{seed}.jsonl"
    with path.open("w") as out:
        for n in range(count):
            item = Event(
                id=f"append-{seed}-{n}", type="page_view", contact_id=rng.choice(contacts),
                timestamp=at + timedelta(seconds=n % 3000),
                properties={"path": rng.choice(paths)},
            )  # fmt: skip
            out.write(item.model_dump_json() + "\n")
    ws.ingest(path, progress=False)
    return count


def child_run(contacts: int) -> dict[str, Any]:
    """One size: ingest, first run, nothing new, nine 1% appends; figures as JSON."""
    from gtmflow import Workspace
    from gtmflow.examples.sample_world import generate_sample_world
    from gtmflow.runtime.scaffold import scaffold

    with tempfile.TemporaryDirectory(prefix="gtmflow-scale-") as tmp:
        root = Path(tmp)
        world = generate_sample_world(root / "data", contacts=contacts)
        scaffold(root / "ws")
        ws = Workspace.open(root / "ws")
        ws.ingest(world.contacts_csv, kind="contacts", progress=False)
        started = time.perf_counter()
        ingest = ws.ingest(world.events_jsonl, progress=False)
        ingest_s = time.perf_counter() - started
        events = ws.events.stats().events
        as_of = world.end
        started = time.perf_counter()
        first = ws.run(as_of=as_of, progress=False)
        first_s = time.perf_counter() - started
        ws.retention.settle()
        size_first = ws.retention.size()
        threads_first = len(ws.retention.threads())
        started = time.perf_counter()
        idle = ws.run(as_of=as_of, progress=False)
        idle_s = time.perf_counter() - started
        appends = []
        for n in range(9):
            at = as_of + timedelta(hours=n + 1)
            added = _append(ws, root, share=0.01, at=at, seed=n)
            started = time.perf_counter()
            report = ws.run(as_of=at + timedelta(hours=1), progress=False)
            appends.append((added, time.perf_counter() - started, report.invoked))
        ws.retention.settle()
        size_last = ws.retention.size()
        threads_last = len(ws.retention.threads())
        ws.close()
        del ingest
        return {
            "contacts": contacts, "events": events, "ingest_s": ingest_s,
            "first_s": first_s, "first_contacts": first.contacts, "first_invoked": first.invoked,
            "idle_s": idle_s, "idle_contacts": idle.contacts, "appends": appends,
            "checkpoints_first": size_first, "checkpoints_last": size_last, "rss_mb": _rss_mb(),
            "threads_first": threads_first, "threads_last": threads_last,
        }  # fmt: skip


def child_simulate(contacts: int, days: int) -> dict[str, Any]:
    """The simulator's loop, timed per day (arrivals, run, tick)."""
    from gtmflow import VirtualClock, Workspace
    from gtmflow.examples.sample_transcripts import SELLER
    from gtmflow.examples.sample_webinar import SAMPLE_ATTENDEES
    from gtmflow.examples.sample_world import generate_sample_world
    from gtmflow.runtime.scaffold import scaffold
    from gtmflow.runtime.simulator import STEP, _Arrivals, _arrivals
    from gtmflow.tools.delivery.transports import RecordingTransport

    with tempfile.TemporaryDirectory(prefix="gtmflow-sim-") as tmp:
        root = Path(tmp)
        world = generate_sample_world(root / "data", contacts=contacts, days=days)
        scaffold(root, seller_company=SELLER)
        transport = RecordingTransport()
        per_day: list[float] = []
        with Workspace.open(root, clock=VirtualClock(world.start)) as ws:
            ws.ingest(world.contacts_csv, kind="contacts", progress=False)
            ws.events.write_contacts([a.contact for a in SAMPLE_ATTENDEES])
            qa_at = world.start + (world.end - world.start) / 2
            with _arrivals(world.events_jsonl, ws.state_dir / "arrivals.db", qa_at) as staging:
                arrivals = _Arrivals(staging)
                hours = int((world.end - world.start) / STEP)
                started = time.perf_counter()
                for hour in range(1, hours + 1):
                    moment = world.start + hour * STEP
                    ws.events.write_events(arrivals.until(moment))
                    ws.run(as_of=moment, progress=False)
                    ws.tick(moment, transport=transport, progress=False)
                    if hour % 24 == 0:
                        per_day.append(time.perf_counter() - started)
                        started = time.perf_counter()
        return {
            "contacts": contacts, "days": days, "events": world.events, "per_day": per_day,
            "delivered": len(transport.sent), "rss_mb": _rss_mb(),
        }  # fmt: skip


def cli_startup() -> tuple[str, str, str]:
    """User CPU of `gtmflow --help` (median of 5), as `/usr/bin/time -f %U` reports it."""
    script = Path(sys.executable).with_name("gtmflow")
    times = []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        subprocess.run([str(script), "--help"], capture_output=True, check=True)
        times.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before)
    value = f"{sorted(times)[2]:.2f} s user CPU (median of 5)"
    return ("`gtmflow --help` start-up", value, "well under 0.5 s")


def _child(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *args]
    print("running", shlex.join(command[1:]), file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def rows_for_run(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    n, events = r["contacts"], r["events"]
    append_s = [a[1] for a in r["appends"]]
    mean_append = sum(append_s) / len(append_s)
    invoked = sum(a[2] for a in r["appends"]) / len(r["appends"])
    whole = r["ingest_s"] + r["first_s"]
    ratio = r["checkpoints_last"] / r["checkpoints_first"]
    tag = f"{n:,} contacts, {events:,} events"
    return [
        (f"{tag}: ingest", f"{events / r['ingest_s']:,.0f} events/s ({r['ingest_s']:.1f} s)",
         ">= 50,000 events/s"),
        (f"{tag}: first run", f"{r['first_contacts'] / r['first_s']:,.0f} contacts/s "
         f"({r['first_s']:.1f} s, {r['first_invoked']:,} graphs invoked)", ">= 500 contacts/s"),
        (f"{tag}: ingest + first run", f"{whole:.1f} s", "< 600 s at 100k"),
        (f"{tag}: run with nothing new", f"{r['idle_s'] * 1000:.1f} ms "
         f"({r['idle_contacts']} contacts)", "O(1)"),
        (f"{tag}: run after a 1% spread append (mean of 9)",
         f"{mean_append:.2f} s = {mean_append / r['first_s']:.1%} of the first run "
         f"({invoked:,.0f} graphs invoked)", "<= 5%"),
        (f"{tag}: checkpoints.db after 10 runs / after the first",
         f"{ratio:.2f} ({r['checkpoints_last'] / 1e6:.1f} / {r['checkpoints_first'] / 1e6:.1f} MB; "
         f"threads {r['threads_last']:,} / {r['threads_first']:,})",
         "<= 1.2"),
        (f"{tag}: peak RSS (generation, ingest, 11 runs)", f"{r['rss_mb']:.0f} MB", "< 1 GB"),
    ]  # fmt: skip


def rows_for_simulate(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    days = r["per_day"]
    first, last = sum(days[:10]), sum(days[-10:])
    tag = f"simulate {r['days']} days x {r['contacts']:,} contacts ({r['events']:,} events)"
    return [
        (f"{tag}: whole loop", f"{sum(days):.1f} s ({r['delivered']:,} delivered)", "—"),
        (f"{tag}: last 10 days / first 10", f"{last / first:.2f} ({last:.1f} s / {first:.1f} s)",
         "<= 1.5"),
        (f"{tag}: peak RSS", f"{r['rss_mb']:.0f} MB", "< 1 GB at 20k"),
    ]  # fmt: skip


def markdown(rows: list[tuple[str, str, str]], command: str) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor())  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    lines = [
        MARK, "",
        "## Scale: bulk run loop, incremental runs, checkpoints, simulator (issue 15)", "",
        f"Machine: {cpu}, 2 cores shared with other work; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC;"
        f" code {commit}; command `{command}`.", "",
        "| metric | value | target |", "| --- | ---: | ---: |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows), "",
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, nargs="*", default=[10_000])
    parser.add_argument("--simulate", type=int, default=0, help="contacts for the simulator")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--append", type=Path, help="replace this script's section in a file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        result = child_run(int(rest[0])) if kind == "run" else child_simulate(
            int(rest[0]), int(rest[1]))  # fmt: skip
        print(json.dumps(result))
        return 0
    rows: list[tuple[str, str, str]] = [cli_startup()]
    for size in args.contacts:
        rows += rows_for_run(_child(["run", str(size)]))
    if args.simulate:
        rows += rows_for_simulate(_child(["simulate", str(args.simulate), str(args.days)]))
    text = markdown(rows, "python " + shlex.join(sys.argv))
    print(text)
    if args.append:
        old = args.append.read_text() if args.append.exists() else ""
        kept = old.split(MARK)[0].rstrip("\n")
        args.append.write_text(f"{kept}\n\n{text}" if kept else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
