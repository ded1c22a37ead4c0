"""Attribution speed: gtmflow vs ChannelAttribution on the same synthetic journeys, same run.

Run from the repository root:

    python benchmarks/attribution.py                          # 1M journeys
    python benchmarks/attribution.py --journeys 100000        # smoke run
    python benchmarks/attribution.py --append benchmarks/RESULTS.md

The journeys are generated (seeded) as ChannelAttribution path strings, one row per journey
(`"c03 > c11 > c03"`, conversions 0/1, a value when converting, nulls 1 - conversions), and
both libraries start from those strings: gtmflow's times include parsing them. Heuristics are
timed as ChannelAttribution's `heuristic_models` computes them (first, last and linear in one
call) and, for gtmflow, also all six. Markov is order 1 with value and nulls: gtmflow solves the
chain exactly, ChannelAttribution simulates it with its defaults (`nsim_start=1e5`, one core).
When ChannelAttribution is not installed, its rows are skipped and the targets read "n/a"; the
script installs it (`pip install channelattribution matplotlib`: it imports matplotlib without
declaring it) only with `--install`.
"""

from __future__ import annotations

import argparse
import importlib
import io
import itertools
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
from bench_report import Result, Target, code_state, environment, load_average, results_table
from rich.console import Console

from gtmflow.tools.attribution.heuristics import HEURISTIC_MODELS, attribute
from gtmflow.tools.attribution.journeys import Journeys
from gtmflow.tools.attribution.markov import markov_attribution
from gtmflow.tools.attribution.shapley import shapley_attribution

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


def theirs(data: dict[str, Any]) -> dict[str, float] | None:
    """ChannelAttribution's timings, or None when it is not installed."""
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
    with redirect_stdout(quiet):
        heuristic, _ = timed(
            lambda: heuristic_models(frame, "path", "conv", var_value="value", flg_pro=False)
        )
        markov, _ = timed(
            lambda: markov_model(
                frame,
                "path",
                "conv",
                var_value="value",
                var_null="null",
                order=1,
                verbose=False,
                flg_pro=False,
            )
        )
    return {"heuristic_models": heuristic, "markov_model": markov}


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


def markdown_section(rows: Sequence[Result], *, n: int, command: str) -> str:
    """A Markdown section for RESULTS.md."""
    facts = environment() | {"load average": load_average(), "code": code_state(Path.cwd())}
    lines = [
        "## Attribution: gtmflow vs ChannelAttribution",
        "",
        f"`{command}`; {n:,} synthetic journeys (12 channels), both from the same path strings.",
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
    ref = theirs(data)
    rows = results(args.journeys, mine, ref)
    out.print(results_table(rows, title=f"attribution, {args.journeys:,} journeys"))
    if args.append:
        command = "python benchmarks/attribution.py " + " ".join(argv or sys.argv[1:])
        with args.append.open("a", encoding="utf-8") as handle:
            handle.write("\n" + markdown_section(rows, n=args.journeys, command=command.strip()))
    return 0 if all(r.verdict != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
