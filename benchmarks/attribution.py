"""Attribution speed: gtmflow vs ChannelAttribution on the same journeys, and from a workspace.

Run from the repository root:

    python benchmarks/attribution.py                          # everything below, ~4 minutes
    python benchmarks/attribution.py --journeys 100000 --markov-journeys 0 --contacts 2000
    python benchmarks/attribution.py --append benchmarks/RESULTS.md

Three parts, each with its targets (issue 15), all measured in the same run:

- Paths (`--journeys`, 1M): journeys are generated (seeded) as ChannelAttribution path strings,
  one row per journey (`"c03 > c11 > c03"`, conversions 0/1, a value when converting, nulls
  1 - conversions). The library rows start from those strings (their times include parsing);
  ChannelAttribution's `heuristic_models` (first, last, linear in one call) and `markov_model`
  (order 1, value and nulls, its defaults: simulated, one core) are timed on a DataFrame of
  them (model only). The same journeys are written to a path file and the whole
  `gtmflow attribution --paths FILE --model linear|markov --json` command is timed as a child
  process (start-up, imports, reading, model, output): target <= ChannelAttribution's model-only
  time.
- Markov at scale (`--markov-journeys`, 5M): model only on both sides; target gtmflow <= 0.5x.
- Workspace (`--contacts`, 100k, `--events` per contact, 20): a world written straight into a
  workspace's SQLite store by `attribution_world.py` (cached under `build/bench-attribution/`),
  then store -> touches -> journeys -> Markov and linear credits, in this process: target <= 5 s.
  For comparison, the per-contact code it replaced (`tests/attribution_reference.py`, with
  `--old`) on the same world, and the `gtmflow attribution -w WORLD` command.

When ChannelAttribution is not installed, its rows are skipped and the targets read "n/a"; the
script installs it (`pip install channelattribution matplotlib`: it imports matplotlib without
declaring it) only with `--install`.
"""

from __future__ import annotations

import argparse
import importlib
import io
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
from attribution_world import write_world
from bench_report import Result, Target, code_state, environment, load_average, results_table
from rich.console import Console

from gtmflow.tools.attribution.heuristics import HEURISTIC_MODELS, Attribution, attribute
from gtmflow.tools.attribution.journeys import Journeys
from gtmflow.tools.attribution.markov import markov_attribution
from gtmflow.tools.attribution.shapley import shapley_attribution
from gtmflow.tools.attribution.touchpoints import build_journeys, collect_touches, load_deals
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.events.event_store import SQLiteEventStore

BUILD = Path("build/bench-attribution")

err = Console(stderr=True)
out = Console() if sys.stdout.isatty() else Console(width=110)


def synthetic_journeys(n: int, *, channels: int = 12, seed: int = 1) -> dict[str, Any]:
    """`n` journeys as path strings with outcomes; channels differ in reach and in lift."""
    rng = np.random.default_rng(seed)
    names = np.array([f"c{i:02d}" for i in range(channels)])
    reach = rng.dirichlet(np.full(channels, 0.8))
    lift = rng.normal(0.0, 0.5, channels)
    lengths = 1 + rng.geometric(0.25, n).clip(max=30) - 1
    lengths = np.maximum(lengths, 1)
    steps = rng.choice(channels, size=int(lengths.sum()), p=reach)
    owner = np.repeat(np.arange(n), lengths)
    score = np.bincount(owner, lift[steps], n) / np.sqrt(lengths)
    converts = rng.random(n) < 1 / (1 + np.exp(-(score - 1.6)))
    values = np.where(converts, rng.lognormal(8.0, 0.7, n).round(2), 0.0)
    words = names[steps].tolist()
    cuts = np.concatenate(([0], np.cumsum(lengths))).tolist()
    paths = [" > ".join(words[a:b]) for a, b in itertools.pairwise(cuts)]
    conv = converts.astype(np.int64)
    return {"paths": paths, "conv": conv, "value": values, "null": 1 - conv}


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def parse(data: dict[str, Any]) -> Journeys:
    return Journeys.parse(
        data["paths"], conversions=data["conv"], values=data["value"], nulls=data["null"]
    )


def ours(data: dict[str, Any]) -> dict[str, float]:
    """gtmflow's timings (seconds), each from the path strings."""
    times: dict[str, float] = {}
    times["parse"], journeys = timed(lambda: parse(data))
    times["first+last+linear"], _ = timed(lambda: _three(parse(data)))
    times["all six heuristics"], _ = timed(lambda: _six(parse(data)))
    times["markov order 1"], _ = timed(lambda: markov_attribution(parse(data), order=1))
    for order in (2, 3):
        times[f"markov order {order} (model only)"], _ = timed(
            lambda order=order: markov_attribution(journeys, order=order)
        )
    times["shapley markov exact (model only)"], _ = timed(lambda: shapley_attribution(journeys))
    return times


def _three(journeys: Journeys) -> list[Any]:
    return [attribute(journeys, model=m) for m in ("first", "last", "linear")]


def _six(journeys: Journeys) -> list[Any]:
    # Paths carry no timestamps: time decay runs by position (half-life of 2 touches).
    done = [attribute(journeys, model=m) for m in HEURISTIC_MODELS if m != "time_decay"]
    return [*done, attribute(journeys, model="time_decay", half_life=2)]


def theirs(
    data: dict[str, Any], *, heuristics: bool = True, repeat: int = 1
) -> dict[str, float] | None:
    """ChannelAttribution's model-only timings, or None when it is not installed."""
    try:
        import pandas as pd

        with redirect_stdout(io.StringIO()):  # it prints a banner on import
            from ChannelAttribution import heuristic_models, markov_model
    except ImportError as exc:
        err.print(f"ChannelAttribution not available ({exc}); its rows are skipped")
        return None
    frame = pd.DataFrame(
        {"path": data["paths"], "conv": data["conv"], "value": data["value"], "null": data["null"]}
    )
    quiet = io.StringIO()
    times: dict[str, float] = {}
    with redirect_stdout(quiet):
        if heuristics:
            times["heuristic_models"], _ = timed(
                lambda: heuristic_models(frame, "path", "conv", var_value="value", flg_pro=False),
                repeat,
            )
        times["markov_model"], _ = timed(
            lambda: markov_model(
                frame,
                "path",
                "conv",
                var_value="value",
                var_null="null",
                order=1,
                verbose=False,
                flg_pro=False,
            ),
            repeat,
        )
    return times


def results(n: int, mine: dict[str, float], ref: dict[str, float] | None) -> list[Result]:
    """Rows of the results table; targets are ChannelAttribution's times in this run."""
    rows = [Result(f"gtmflow parse {n:,} path strings", mine["parse"], "s")]
    pairs = (
        ("first+last+linear", "heuristic_models"),
        ("all six heuristics", "heuristic_models"),
        ("markov order 1", "markov_model"),
    )
    for key, theirs_key in pairs:
        target = Target("<=", ref[theirs_key]) if ref else None
        rows.append(Result(f"gtmflow {key} (incl. parse)", mine[key], "s", target))
        if ref:
            share = 100 * mine[key] / ref[theirs_key]
            rows.append(Result(f"gtmflow time as % of CA {theirs_key}, {key}", share, "%"))
    if ref:
        rows[1:1] = [Result(f"ChannelAttribution {k}", v, "s") for k, v in ref.items()]
    for key in (
        "markov order 2 (model only)",
        "markov order 3 (model only)",
        "shapley markov exact (model only)",
    ):
        rows.append(Result(f"gtmflow {key}", mine[key], "s"))
    return rows


def write_path_file(data: dict[str, Any], path: Path) -> Path:
    """The journeys as a ChannelAttribution path file, one row per journey."""
    columns = (data["conv"].tolist(), data["value"].tolist(), data["null"].tolist())
    rows = zip(data["paths"], *columns, strict=True)
    lines = [";".join(map(str, row)) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "path;total_conversions;total_conversion_value;total_null\n"
    path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def command_time(args: Sequence[str], repeat: int = 2) -> float:
    """Best wall time of a `gtmflow` command run as a child process (output discarded)."""
    gtmflow = str(Path(sys.executable).with_name("gtmflow"))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([gtmflow, *args], check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def cli(data: dict[str, Any]) -> dict[str, float]:
    """The whole `gtmflow attribution --paths` command, and `gtmflow --help` for scale."""
    source = write_path_file(data, BUILD / f"paths-{len(data['paths'])}.csv")
    times = {"help": command_time(["--help"])}
    for model in ("linear", "markov"):
        times[model] = command_time(
            ["attribution", "--paths", str(source), "--model", model, "--json"]
        )
    return times


def markov_at_scale(n: int) -> tuple[float, float | None]:
    """Markov order 1, model only: gtmflow's and ChannelAttribution's seconds at `n` journeys."""
    data = synthetic_journeys(n, seed=2)
    journeys = parse(data)
    mine, _ = timed(lambda: markov_attribution(journeys, order=1), repeat=2)
    ref = theirs(data, heuristics=False)
    return mine, None if ref is None else ref["markov_model"]


def end_to_end(root: Path, collect: Any = collect_touches, build: Any = build_journeys) -> Any:
    """Store -> touches -> journeys -> Markov and linear credits, as `gtmflow attribution`."""
    database = root / ".gtmflow" / "gtmflow.db"
    store, outbox = SQLiteEventStore(database), Outbox(database)
    try:
        touches = collect(store, outbox=outbox)
        journeys = build(touches, load_deals(root / "deals.jsonl"), level="channel")
        return [attribute(journeys, model=m) for m in ("markov", "linear")], len(journeys)
    finally:
        store.close()
        outbox.close()


def workspace(contacts: int, events: int, *, old: bool) -> dict[str, Any]:
    """Times from a generated workspace (seconds), and whether old and new credits agree."""
    err.print(f"writing (or reusing) a world of {contacts:,} contacts x {events} events ...")
    root, count = write_world(BUILD, contacts=contacts, events=events)
    found: dict[str, Any] = {"events": count}
    found["new"], (credits, found["journeys"]) = timed(lambda: end_to_end(root), repeat=2)
    found["command"] = command_time(
        ["attribution", "-w", str(root), "--model", "markov", "--json"], 1
    )
    if old:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.attribution_reference import reference_build_journeys, reference_collect_touches

        err.print("timing the per-contact code it replaced ...")
        found["old"], (before, _) = timed(
            lambda: end_to_end(root, reference_collect_touches, reference_build_journeys)
        )
        found["same"] = _credits(credits) == _credits(before)
    return found


def _credits(results: Sequence[Attribution]) -> list[Any]:
    return [json.dumps(r.to_json(), sort_keys=True) for r in results]


def all_rows(
    args: argparse.Namespace,
    library: list[Result],
    commands: dict[str, float],
    ref: dict[str, float] | None,
    scale: tuple[float, float | None] | None,
    world: dict[str, Any] | None,
) -> list[Result]:
    """Every row of the report, targets set from ChannelAttribution's times in this run."""
    rows = list(library)
    n = f"{args.journeys:,}"
    rows.append(Result("`gtmflow --help` (start-up alone)", commands["help"], "s"))
    for model, theirs_key in (("linear", "heuristic_models"), ("markov", "markov_model")):
        target = Target("<=", ref[theirs_key]) if ref else None
        rows.append(
            Result(
                f"`gtmflow attribution --paths` {n} journeys, {model} (whole command)",
                commands[model],
                "s",
                target,
            )
        )
        if ref:
            share = 100 * commands[model] / ref[theirs_key]
            rows.append(Result(f"  as % of CA {theirs_key} (model only)", share, "%"))
    if scale is not None:
        mine, theirs_time = scale
        big = f"{args.markov_journeys:,}"
        if theirs_time is not None:
            rows.append(
                Result(f"ChannelAttribution markov_model, {big} journeys", theirs_time, "s")
            )
        target = Target("<=", 0.5 * theirs_time) if theirs_time is not None else None
        rows.append(
            Result(f"gtmflow markov order 1, {big} journeys (model only)", mine, "s", target)
        )
        if theirs_time is not None:
            rows.append(Result("  as % of CA markov_model", 100 * mine / theirs_time, "%"))
    if world is not None:
        rows += _world_rows(args, world)
    return rows


def _world_rows(args: argparse.Namespace, world: dict[str, Any]) -> list[Result]:
    what = f"{args.contacts:,} contacts, {world['events']:,} events"
    rows = [
        Result(
            f"attribution end to end from a workspace ({what})",
            world["new"],
            "s",
            Target("<=", 5.0),
        ),
        Result("  journeys built", world["journeys"], "journeys"),
        Result(
            "  `gtmflow attribution -w WORLD --model markov` (whole command)", world["command"], "s"
        ),
    ]
    if "old" in world:
        rows.append(Result("  the per-contact code it replaced, same world", world["old"], "s"))
        rows.append(Result("  speed-up", world["old"] / world["new"], "x"))
        rows.append(Result("  same credits as the per-contact code (1 = yes)", world["same"], ""))
    return rows


def markdown_section(rows: Sequence[Result], *, args: argparse.Namespace, command: str) -> str:
    """A Markdown section for RESULTS.md."""
    facts = environment() | {"load average": load_average(), "code": code_state(Path.cwd())}
    lines = [
        "## Attribution: gtmflow vs ChannelAttribution, and from a workspace",
        "",
        f"`{command}`; {args.journeys:,} synthetic journeys (12 channels), both libraries from "
        "the same path strings; the command from a path file of them. Workspace: "
        f"{args.contacts:,} contacts x about {args.events} events (`attribution_world.py`).",
        "",
        "| environment | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        "",
        "| metric | value | target | result |",
        "| --- | ---: | ---: | :---: |",
        *(
            f"| {r.metric} | {r.value:,.3f} {r.unit} | {r.shown_target()} | {r.verdict} |"
            for r in rows
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--markov-journeys", type=int, default=5_000_000, help="0: skip")
    parser.add_argument("--contacts", type=int, default=100_000, help="0: skip the workspace")
    parser.add_argument("--events", type=int, default=20, help="Events per contact.")
    parser.add_argument("--old", action="store_true", help="Also time the per-contact code.")
    parser.add_argument("--append", type=Path, help="Append a Markdown section to this file.")
    parser.add_argument("--install", action="store_true", help="pip install channelattribution")
    args = parser.parse_args(argv)
    if args.install and importlib.util.find_spec("ChannelAttribution") is None:
        # ChannelAttribution imports matplotlib without declaring it.
        pip = [sys.executable, "-m", "pip", "install", "channelattribution", "matplotlib"]
        subprocess.run(pip, check=False)
    err.print(f"generating {args.journeys:,} journeys ...")
    data = synthetic_journeys(args.journeys)
    err.print("timing gtmflow ...")
    mine = ours(data)
    err.print("timing ChannelAttribution ...")
    ref = theirs(data, repeat=2)
    err.print("timing the gtmflow command ...")
    commands = cli(data)
    del data
    scale = None
    if args.markov_journeys:
        err.print(f"Markov at {args.markov_journeys:,} journeys ...")
        scale = markov_at_scale(args.markov_journeys)
    world = workspace(args.contacts, args.events, old=args.old) if args.contacts else None
    rows = all_rows(args, results(args.journeys, mine, ref), commands, ref, scale, world)
    out.print(results_table(rows, title="attribution"))
    if args.append:
        command = "python benchmarks/attribution.py " + " ".join(argv or sys.argv[1:])
        with args.append.open("a", encoding="utf-8") as handle:
            handle.write("\n" + markdown_section(rows, args=args, command=command.strip()))
    return 0 if all(r.verdict != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
