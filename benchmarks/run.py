"""gtmflow benchmarks: ingest, rule evaluation and graph runs against this machine's targets.

Run from the repository root:

    python benchmarks/run.py                               # full run (a few minutes)
    python benchmarks/run.py --quick                       # smoke run, under a minute
    python benchmarks/run.py --write benchmarks/RESULTS.md # full run, then the Markdown report
    python benchmarks/run.py --quick --profile build/prof  # cProfile each stage, print hotspots

Progress goes to stderr, the results table to stdout. Sample data comes from
`generate_sample_world` and is written to a temporary folder that is removed afterwards; its
generation is never timed. The ingest runs in a child process (this script with
`--ingest-child`) so its peak RSS is the ingest's own, not the parent's.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from time import perf_counter, process_time
from typing import Any, Literal, TypeVar

from bench_report import Result, Target, code_state, load_average, markdown, results_table
from rich.console import Console

import gtmflow
from gtmflow import Contact, Deps, RuleSet, Workspace
from gtmflow import pipes as p
from gtmflow._progress import Advance, progress_bar
from gtmflow.examples.sample_world import SampleWorld, generate_sample_world
from gtmflow.graphs.inbound_router import build_inbound_router
from gtmflow.pipes import History
from gtmflow.runtime.scaffold import RULES_PY
from gtmflow.runtime.simulator import simulate
from gtmflow.tools.events.event_store import SQLiteEventStore

T = TypeVar("T")

STORE_FILE = Path(".gtmflow") / "gtmflow.db"

err = Console(stderr=True)
out = Console() if sys.stdout.isatty() else Console(width=110)  # piped: room for one-line rows


# --------------------------------------------------------------------------- sizes and timing


@dataclass(frozen=True, slots=True)
class Scale:
    """How big a run is: contacts in the ingest world (~100 events each) and in the graph world."""

    name: Literal["full", "quick"]
    ingest_contacts: int
    graph_contacts: int
    simulate_contacts: int
    days: int = 90


FULL = Scale("full", ingest_contacts=10_000, graph_contacts=500, simulate_contacts=1_000)
QUICK = Scale("quick", ingest_contacts=1_000, graph_contacts=100, simulate_contacts=100)


@dataclass(slots=True)
class Report:
    """Everything a run measured, plus facts the method notes quote."""

    scale: Scale
    results: list[Result] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


class Stopwatch:
    """Adds up the time spent inside `with watch:` blocks, optionally under a profiler."""

    def __init__(self, profiler: cProfile.Profile | None = None) -> None:
        self.laps: list[float] = []
        self._profiler = profiler
        self._started = 0.0

    @property
    def seconds(self) -> float:
        """Total time inside the blocks."""
        return sum(self.laps)

    def __enter__(self) -> Stopwatch:
        if self._profiler is not None:
            self._profiler.enable()
        self._started = perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.laps.append(perf_counter() - self._started)
        if self._profiler is not None:
            self._profiler.disable()


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """Run `work` and return its result and wall-clock seconds."""
    started = perf_counter()
    value = work()
    return value, perf_counter() - started


def new_profiler(profile_dir: Path | None) -> cProfile.Profile | None:
    """A profiler when `--profile` was given, else None."""
    return cProfile.Profile() if profile_dir is not None else None


def save_profile(profiler: cProfile.Profile | None, profile_dir: Path | None, name: str) -> None:
    """Write `<name>.prof` and print the top functions by own time to stderr."""
    if profiler is None or profile_dir is None:
        return
    profile_dir.mkdir(parents=True, exist_ok=True)
    path = profile_dir / f"{name}.prof"
    profiler.dump_stats(path)
    err.rule(f"profile: {name} ({path})")
    stats = pstats.Stats(str(path), stream=sys.stderr).strip_dirs()
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(18)


def progress(description: str, total: int) -> AbstractContextManager[Advance]:
    """A progress bar on stderr (only when a person is watching); yields `advance(n)`."""
    return progress_bar(description, total, enabled=err.is_terminal)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (`ru_maxrss`: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


# --------------------------------------------------------------------------- the rules


def classic_rules() -> list[p.Rule]:
    """The three classic rules, exactly as `gtmflow init` scaffolds them."""
    namespace: dict[str, Any] = {}
    exec(RULES_PY, namespace)
    return list(namespace["RULES"])


# --------------------------------------------------------------------------- 1. ingest


def ingest_child(events: Path, workspace: Path, profile_dir: Path | None) -> dict[str, Any]:
    """The child's work: ingest `events` twice into a fresh workspace; return the figures."""
    profiler = new_profiler(profile_dir)
    with Workspace.open(workspace) as ws:
        rss_before = peak_rss_mb()
        cpu = process_time()
        with Stopwatch(profiler) as first_watch:
            first = ws.ingest(events, progress=False)
        cpu_seconds = process_time() - cpu
        rss_peak = peak_rss_mb()
        cpu = process_time()
        again, again_seconds = timed(lambda: ws.ingest(events, progress=False))
        again_cpu = process_time() - cpu
    save_profile(profiler, profile_dir, "ingest")
    return {
        "accepted": first.accepted,
        "rejected": first.rejected,
        "seconds": first_watch.seconds,
        "cpu_seconds": cpu_seconds,
        "reingest_cpu_seconds": again_cpu,
        "reingest_duplicates": again.duplicates,
        "reingest_accepted": again.accepted,
        "reingest_seconds": again_seconds,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "store_mb": (workspace / STORE_FILE).stat().st_size / 1e6,
    }


def run_ingest_child(events: Path, workspace: Path, profile_dir: Path | None) -> dict[str, Any]:
    """Run `ingest_child` in a fresh interpreter and read the JSON line it prints."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--ingest-child",
        str(events),
        str(workspace),
    ]
    if profile_dir is not None:
        command += ["--profile", str(profile_dir)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def bench_ingest(world: SampleWorld, workspace: Path, report: Report, profile: Path | None) -> None:
    """Ingest the world's events in a child process; add rates and peak RSS to `report`."""
    with err.status(f"ingesting {world.events:,} events in a child process"):
        figures = run_ingest_child(world.events_jsonl, workspace, profile)
    if figures["accepted"] != world.events or figures["reingest_accepted"] != 0:
        raise SystemExit(f"ingest stored the wrong number of events: {figures}")
    report.facts["ingest"] = figures
    what = f"ingest {world.events:,} events"
    report.results += [
        Result(
            f"{what}: rate", world.events / figures["seconds"], "events/s", Target(">=", 50_000)
        ),
        Result(f"{what}: events per CPU second", world.events / figures["cpu_seconds"], "events/s"),
        Result(f"{what}: peak RSS", figures["rss_peak_mb"], "MB", Target("<", 300)),
        Result("ingest: RSS before the first row (imports, open)", figures["rss_before_mb"], "MB"),
        Result(
            f"re-{what}, all duplicates: rate",
            world.events / figures["reingest_seconds"],
            "events/s",
        ),
        Result(
            f"re-{what}: events per CPU second",
            world.events / figures["reingest_cpu_seconds"],
            "events/s",
        ),
    ]


# --------------------------------------------------------------------------- 2. rule evaluation


@dataclass(slots=True)
class RuleTally:
    """Running totals of the rule benchmark."""

    events: int = 0
    contacts: int = 0
    fired: Counter[str] = field(default_factory=Counter)


def bench_rules(store_path: Path, as_of: datetime, report: Report, profile: Path | None) -> None:
    """Evaluate the classic rules over every contact's full history; time History + evaluate."""
    ruleset, tally = RuleSet(classic_rules()), RuleTally()
    profiler = new_profiler(profile)
    evaluating, reading = Stopwatch(profiler), Stopwatch()
    with SQLiteEventStore(store_path) as store:
        contact_ids = list(store.contact_ids())
        with progress("rules: evaluate", len(contact_ids)) as advance:
            for contact_id in contact_ids:
                with reading:
                    events = store.events(contact_id)
                    contact = store.contact(contact_id) or Contact(id=contact_id)
                with evaluating:
                    history = History(events)
                    result = ruleset.evaluate(contact, history, new_events=events, as_of=as_of)
                tally.events += len(events)
                tally.contacts += 1
                tally.fired.update(f.rule.name for f in result.firings)
                advance(1)
    save_profile(profiler, profile, "rules")
    report.facts["rules"] = tally
    report.results += [
        Result(
            f"rules over {tally.events:,} events, {tally.contacts:,} contacts: History + evaluate",
            tally.events / evaluating.seconds,
            "events/s",
            Target(">=", 20_000),
        ),
        Result(
            "rules: store reads (not in the rate above)", tally.events / reading.seconds, "events/s"
        ),
    ]


# --------------------------------------------------------------------------- 3. graph runs


def ingested_workspace(folder: Path, world: SampleWorld) -> Workspace:
    """A fresh workspace holding the world's contacts and events (not timed)."""
    ws = Workspace.open(folder)
    ws.ingest(world.contacts_csv, kind="contacts", progress=False)
    ws.ingest(world.events_jsonl, progress=False)
    return ws


def invoke_all(
    graph: Any, contacts: Sequence[str], as_of: datetime, deps: Deps, watch: Stopwatch, label: str
) -> None:
    """Invoke the graph once per contact (one thread each), timing every call into `watch`."""
    stamp = as_of.isoformat()
    with progress(label, len(contacts)) as advance:
        for contact_id in contacts:
            config = {"configurable": {"thread_id": f"{graph.name}:{contact_id}"}}
            with watch:
                graph.invoke({"contact_id": contact_id, "as_of": stamp}, config, context=deps)
            advance(1)


def latency_results(label: str, watch: Stopwatch) -> list[Result]:
    """Median, p95 and throughput rows for one pass of invocations."""
    laps = sorted(watch.laps)
    p95 = statistics.quantiles(laps, n=20, method="inclusive")[18]
    return [
        Result(
            f"graph invoke, {label}: median", statistics.median(laps) * 1e3, "ms", Target("<=", 10)
        ),
        Result(f"graph invoke, {label}: p95", p95 * 1e3, "ms"),
        Result(f"graph invoke, {label}: throughput", len(laps) / watch.seconds, "runs/s"),
    ]


def bench_invoke(world: SampleWorld, folder: Path, report: Report, profile: Path | None) -> None:
    """Invoke the compiled inbound router per contact: a first run, then one with nothing new."""
    profiler = new_profiler(profile)
    with ingested_workspace(folder, world) as ws:
        graph = build_inbound_router(rules=classic_rules(), checkpointer=ws.checkpointer)
        deps = Deps(events=ws.events, clock=ws.clock)
        contacts = list(ws.events.contact_ids())
        first, second = Stopwatch(profiler), Stopwatch()
        invoke_all(graph, contacts, world.end, deps, first, "graph: first run")
        invoke_all(graph, contacts, world.end, deps, second, "graph: nothing new")
    save_profile(profiler, profile, "graph")
    report.results += latency_results(f"{len(contacts)} contacts, first run", first)
    report.results += latency_results(f"{len(contacts)} contacts, nothing new", second)


def bench_workspace_run(world: SampleWorld, folder: Path, report: Report) -> None:
    """Time `Workspace.run` end to end (due contacts, get_state, invoke, outbox, decision log)."""
    with ingested_workspace(folder, world) as ws:
        for label in ("first run", "nothing new"):
            graph = build_inbound_router(rules=classic_rules())
            with err.status(f"Workspace.run, {label}"):
                run, seconds = timed(partial(ws.run, graph, as_of=world.end, progress=False))
            report.facts[f"workspace run, {label}"] = run.to_json()
            report.results.append(
                Result(f"Workspace.run, {label}: {run.contacts} contacts invoked", seconds, "s")
            )
            if run.contacts:
                per_contact = seconds / run.contacts * 1e3
                report.results.append(
                    Result(f"Workspace.run, {label}: per contact", per_contact, "ms")
                )


def bench_simulate(folder: Path, report: Report) -> None:
    """`gtmflow simulate`: the demo world hour by hour on a virtual clock, invariants checked."""
    contacts, days = report.scale.simulate_contacts, report.scale.days
    with err.status(f"simulating {days} days x {contacts:,} contacts"):
        sim, seconds = timed(lambda: simulate(folder, days=days, contacts=contacts, progress=False))
    failed = [name for name, check in sim["invariants"].items() if not check["ok"]]
    report.facts["simulation"] = {k: sim[k] for k in ("actions", "delivered", "events")}
    target = Target("<", 60.0) if report.scale.name == "full" else None
    report.results += [
        Result(f"simulate {days} days x {contacts:,} contacts", seconds, "s", target),
        Result("simulate: invariants violated", float(len(failed)), "", Target("<=", 0)),
    ]


# --------------------------------------------------------------------------- the suite


def run_suite(scale: Scale, profile: Path | None) -> Report:
    """Generate the sample worlds, run every benchmark and collect the results."""
    report = Report(scale)
    report.facts["load before"] = load_average()
    report.facts["code"] = code_state(Path(gtmflow.__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="gtmflow-bench-") as tmp:
        root = Path(tmp)
        world = generate(root / "ingest-world", scale.ingest_contacts, scale.days)
        bench_ingest(world, root / "ingest-ws", report, profile)
        bench_rules(root / "ingest-ws" / STORE_FILE, world.end, report, profile)
        small = generate(root / "graph-world", scale.graph_contacts, scale.days)
        bench_invoke(small, root / "invoke-ws", report, profile)
        bench_workspace_run(small, root / "run-ws", report)
        bench_simulate(root / "sim", report)
        report.facts["worlds"] = {"ingest": world, "graph": small}
    report.facts["load after"] = load_average()
    return report


def generate(folder: Path, contacts: int, days: int) -> SampleWorld:
    """Generate a sample world (not timed)."""
    with err.status(f"generating a sample world of {contacts:,} contacts"):
        world, seconds = timed(lambda: generate_sample_world(folder, contacts=contacts, days=days))
    err.log(f"generated {world.events:,} events for {contacts:,} contacts in {seconds:.1f} s")
    return world


def method_notes(report: Report) -> list[str]:
    """Short bullet points on how each figure was taken, quoting this run's sizes."""
    worlds, ingest = report.facts["worlds"], report.facts["ingest"]
    big, small = worlds["ingest"], worlds["graph"]
    tally: RuleTally = report.facts["rules"]
    fired = ", ".join(f"{name} {n:,}" for name, n in sorted(tally.fired.items()))
    run = report.facts["workspace run, first run"]
    return [
        f"- **Data.** `generate_sample_world(tmp, contacts={big.contacts:,}, days="
        f"{report.scale.days})`: {big.events:,} valid event lines (~2% Segment payloads) plus "
        f"{big.malformed_rows} bad rows and a blank line. Generation is not timed.",
        "- **Ingest.** A fresh interpreter (`run.py --ingest-child`) opens an empty `Workspace` "
        "and times `Workspace.ingest(events.jsonl)` (rate = valid lines / wall seconds, and per "
        "CPU second of the child, which a loaded machine stretches less; "
        f"{ingest['accepted']:,} stored, {ingest['rejected']} dead-lettered). Peak RSS is that "
        f"child's `ru_maxrss` right after it, interpreter and imports included "
        f"({ingest['rss_before_mb']:.0f} MB before the first row). The re-ingest reads the same "
        f"file again into the same store: {ingest['reingest_duplicates']:,} duplicates, nothing "
        f"stored. SQLite file afterwards: {ingest['store_mb']:,.0f} MB.",
        f"- **Rules.** The three classic rules (ebook-nurture, pricing-hot, re-engage) over all "
        f"{tally.contacts:,} contacts of that store: per contact, the events are read from the "
        "store (not timed), then `History(events)` and `RuleSet.evaluate(contact, history, "
        "new_events=<all events>, as_of=<window end>)` are timed; rate = events / timed seconds. "
        f"Firings: {fired}.",
        f"- **Graph invoke.** A fresh workspace with a {small.contacts:,}-contact world "
        f"({small.events:,} events, contacts and events ingested, not timed); "
        "`build_inbound_router(rules=..., checkpointer=ws.checkpointer)` (SQLite checkpointer), "
        "one thread per contact, `Deps(events=ws.events)`; each `invoke` is timed. The second "
        "pass invokes every thread again with the same as-of: no new events, the sweep re-checks.",
        f"- **Workspace.run.** A second fresh workspace with the same data; `Workspace.run(graph, "
        f"as_of=<window end>)` timed end to end (due contacts, `get_state`, `invoke`, outbox, "
        f"decision log) for {run['contacts']:,} contacts ({run['actions']:,} actions), then "
        "again with nothing new.",
        "- **Timing.** `time.perf_counter`, one pass per figure, no warm-up runs; SQLite files in "
        "a temporary folder on the local disk. Other work on the machine skews every figure: "
        "compare the load averages above with the core count.",
    ]


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description="Measure gtmflow against its targets.")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller smoke run (1k-contact ingest, 100-contact graph)",
    )
    parser.add_argument(
        "--write",
        type=Path,
        metavar="PATH",
        help="write the results as Markdown to PATH (e.g. benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile each stage into DIR/*.prof and print the hotspots",
    )
    parser.add_argument(
        "--ingest-child",
        nargs=2,
        type=Path,
        metavar=("EVENTS", "WORKSPACE"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.profile and args.write:
        parser.error("--profile slows every figure down; run it without --write")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or, with `--ingest-child`, the ingest child) and print the results."""
    args = parse_args(argv)
    if args.ingest_child:
        events, workspace = args.ingest_child
        print(json.dumps(ingest_child(events, workspace, args.profile)))
        return 0
    report = run_suite(QUICK if args.quick else FULL, args.profile)
    out.print(results_table(report.results, title=f"gtmflow benchmarks ({report.scale.name})"))
    if args.write:
        write_markdown(report, args.write)
    return 0


def write_markdown(report: Report, path: Path) -> None:
    """Write the Markdown report, quoting the exact command that produced it."""
    text = markdown(
        report.results,
        run_name=report.scale.name,
        command=exact_command(),
        notes=method_notes(report),
        extra={
            "gtmflow code measured": report.facts["code"],
            "load average (1/5/15 min), before → after": (
                f"{report.facts['load before']} → {report.facts['load after']}"
            ),
        },
    )
    path.write_text(text, encoding="utf-8")
    err.log(f"wrote {path}")


def exact_command() -> str:
    """This run's command line, with `PYTHONPATH` when it was set (it picks the code measured)."""
    command = shlex.join(["python", *sys.argv])
    python_path = os.environ.get("PYTHONPATH")
    return f"PYTHONPATH={shlex.quote(python_path)} {command}" if python_path else command


if __name__ == "__main__":
    sys.exit(main())
