"""Where the simulator's hourly loop spends CPU, day by day (issue 15: flat per-day cost).

Runs the loop of `benchmarks/scale.py --simulate` (arrivals, hourly `Workspace.run`, `tick`) and
prints CPU seconds per part for the first and last `--window` days and their ratio, plus the
number of delivered actions (to check a change keeps sends identical on the same seed).
`--profile` adds a cProfile of `tick` in the first and the last window (top functions by
cumulative time), which is where growth shows.

    python benchmarks/sim_profile.py --contacts 300 --days 60 --window 10 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any


def run(contacts: int, days: int, window: int, profile: bool) -> dict[str, Any]:
    """The loop, with CPU seconds per part per day (and cProfiles of tick at both ends)."""
    from gtmflow import VirtualClock, Workspace
    from gtmflow.examples.sample_transcripts import SELLER
    from gtmflow.examples.sample_webinar import SAMPLE_ATTENDEES
    from gtmflow.examples.sample_world import generate_sample_world
    from gtmflow.runtime._threads import ThreadRunner
    from gtmflow.runtime.scaffold import scaffold
    from gtmflow.runtime.simulator import STEP, _Arrivals, _arrivals
    from gtmflow.tools.delivery.transports import RecordingTransport

    parts = ("arrivals", "run", "tick")
    invokes = {"n": 0}
    plain_run = ThreadRunner._run

    def counted(self: ThreadRunner, graph: Any, *args: Any, **kwargs: Any) -> Any:
        if str(graph.name).startswith("sequence:"):
            invokes["n"] += 1
        return plain_run(self, graph, *args, **kwargs)

    ThreadRunner._run = counted  # type: ignore[method-assign]
    per_day: list[dict[str, float]] = []
    per_day_work: list[dict[str, int]] = []
    profiles = {"first": cProfile.Profile(), "last": cProfile.Profile()}
    with tempfile.TemporaryDirectory(prefix="gtmflow-simprof-") as tmp:
        root = Path(tmp)
        world = generate_sample_world(root / "data", contacts=contacts, days=days)
        scaffold(root, seller_company=SELLER)
        transport = RecordingTransport()
        with Workspace.open(root, clock=VirtualClock(world.start)) as ws:
            ws.ingest(world.contacts_csv, kind="contacts", progress=False)
            ws.events.write_contacts([a.contact for a in SAMPLE_ATTENDEES])
            qa_at = world.start + (world.end - world.start) / 2
            with _arrivals(world.events_jsonl, ws.state_dir / "arrivals.db", qa_at) as staging:
                arrivals = _Arrivals(staging)
                hours = int((world.end - world.start) / STEP)
                day, work = dict.fromkeys(parts, 0.0), {}
                for hour in range(1, hours + 1):
                    moment = world.start + hour * STEP
                    which = (hour - 1) // 24
                    prof = None
                    if profile and which < window:
                        prof = profiles["first"]
                    elif profile and which >= hours // 24 - window:
                        prof = profiles["last"]
                    t = time.process_time()
                    ws.events.write_events(arrivals.until(moment))
                    day["arrivals"] += time.process_time() - t
                    t = time.process_time()
                    ws.run(as_of=moment, progress=False)
                    day["run"] += time.process_time() - t
                    t = time.process_time()
                    if prof is not None:
                        prof.enable()
                    ticked = ws.tick(moment, transport=transport, progress=False)
                    if prof is not None:
                        prof.disable()
                    day["tick"] += time.process_time() - t
                    work["sequence_runs"] = work.get("sequence_runs", 0) + invokes["n"]
                    invokes["n"] = 0
                    for key, value in ticked.items():
                        if isinstance(value, int) and key != "until":
                            work[key] = work.get(key, 0) + value
                    if hour % 24 == 0:
                        per_day.append(day)
                        per_day_work.append(work)
                        day, work = dict.fromkeys(parts, 0.0), {}
    first, last = per_day[:window], per_day[-window:]
    summary: dict[str, Any] = {
        "contacts": contacts, "days": days, "events": world.events,
        "delivered": len(transport.sent), "window": window,
    }  # fmt: skip
    for part in (*parts, "all"):
        a = sum(sum(d.values()) if part == "all" else d[part] for d in first)
        b = sum(sum(d.values()) if part == "all" else d[part] for d in last)
        summary[part] = {"first_cpu": round(a, 2), "last_cpu": round(b, 2),
                         "ratio": round(b / a, 2) if a else None}  # fmt: skip
    for name, days_ in (("first", per_day_work[:window]), ("last", per_day_work[-window:])):
        summed: dict[str, int] = {}
        for counts in days_:
            for key, value in counts.items():
                summed[key] = summed.get(key, 0) + value
        summary[f"tick_work_{name}"] = dict(sorted(summed.items()))
    summary["per_day"] = [
        [round(d["tick"], 3), w.get("sequence_runs", 0), w.get("sent", 0)]
        for d, w in zip(per_day, per_day_work, strict=True)
    ]  # tick CPU s, sequence graph runs, records sent: is tick's cost its work?
    summary["total_cpu"] = round(sum(sum(d.values()) for d in per_day), 1)
    if profile:
        for name, prof in profiles.items():
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(35)
            summary[f"profile_{name}"] = out.getvalue()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        before = f.read().split()[:3]
    result = run(args.contacts, args.days, args.window, args.profile)
    with open("/proc/loadavg") as f:
        result["load_before_after"] = [before, f.read().split()[:3]]
    for key in [k for k in result if k.startswith("profile_")]:
        print(f"==== {key}\n{result.pop(key)}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
