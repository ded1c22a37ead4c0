"""Results of `benchmarks/run.py`: rows with targets, a rich table, and the Markdown report.

The Markdown report records what a reader needs to trust or reproduce the figures: when and
where they were taken (CPU, cores, RAM, load), with which Python, SQLite and package versions,
by which exact command, and how each figure was measured.
"""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from rich.table import Table

__all__ = [
    "Result",
    "Target",
    "code_state",
    "environment",
    "load_average",
    "markdown",
    "replace_section",
    "results_table",
]

PACKAGES = (
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langchain-core",
    "pydantic",
)
_VERDICT_STYLE = {"pass": "green", "FAIL": "bold red", "info": "dim"}


@dataclass(frozen=True, slots=True)
class Target:
    """A bound a measured value must meet, e.g. `>= 50,000 events/s`."""

    op: Literal[">=", "<=", "<"]
    bound: float

    def met_by(self, value: float) -> bool:
        """Whether `value` meets the bound."""
        if self.op == ">=":
            return value >= self.bound
        return value <= self.bound if self.op == "<=" else value < self.bound


@dataclass(frozen=True, slots=True)
class Result:
    """One row of the results table: a measured value, its unit and, optionally, its target."""

    metric: str
    value: float
    unit: str
    target: Target | None = None

    @property
    def verdict(self) -> Literal["pass", "FAIL", "info"]:
        """`pass`/`FAIL` against the target; `info` for figures without one."""
        if self.target is None:
            return "info"
        return "pass" if self.target.met_by(self.value) else "FAIL"

    def shown_value(self) -> str:
        """The value with its unit, e.g. `52,310 events/s`."""
        return f"{_number(self.value, self.unit)} {self.unit}"

    def shown_target(self) -> str:
        """The target with its unit, or an em dash."""
        if self.target is None:
            return "—"
        return f"{self.target.op} {_number(self.target.bound, self.unit)} {self.unit}"


def _number(value: float, unit: str) -> str:
    return f"{value:,.2f}" if unit in ("ms", "s") else f"{value:,.0f}"


def results_table(results: Sequence[Result], *, title: str) -> Table:
    """The results as a rich table: metric, value, target, pass/FAIL/info."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("result", justify="center")
    for row in results:
        verdict = f"[{_VERDICT_STYLE[row.verdict]}]{row.verdict}[/]"
        table.add_row(row.metric, row.shown_value(), row.shown_target(), verdict)
    return table


def results_markdown(results: Sequence[Result]) -> list[str]:
    """The results as Markdown table lines: metric, value, target, result."""
    return [
        "| metric | value | target | result |",
        "| --- | ---: | ---: | :---: |",
        *(
            f"| {r.metric} | {r.shown_value()} | {r.shown_target()} | {r.verdict} |"
            for r in results
        ),
    ]


def markdown(
    results: Sequence[Result],
    *,
    run_name: str,
    command: str,
    notes: Sequence[str],
    extra: Mapping[str, str],
) -> str:
    """The Markdown report: environment (plus `extra` rows), command, results, method notes."""
    facts = environment() | dict(extra) | {"command": f"`{command}`"}
    lines = [
        "# gtmflow benchmark results",
        "",
        f"Written by `benchmarks/run.py` ({run_name} run); `benchmarks/README.md` says how to "
        "run it.",
        "",
        "| environment | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        "",
        "## Results",
        "",
        *results_markdown(results),
        "",
        "## Method",
        "",
        *notes,
        "",
    ]
    return "\n".join(lines)


def environment() -> dict[str, str]:
    """Date (`date -u`), platform, CPU, cores, RAM, Python, SQLite and key package versions."""
    facts = {
        "date": _date_u(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": str(_cores()),
        "ram": _ram(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
    }
    return facts | {name: _version(name) for name in PACKAGES}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def code_state(root: Path) -> str:
    """The git commit of the checkout at `root` and the files its working tree changes."""
    try:
        head = _git(root, "rev-parse", "--short", "HEAD").strip()
        changed = [line[3:] for line in _git(root, "status", "--porcelain").splitlines()]
    except (OSError, subprocess.CalledProcessError):
        return f"{root} (not a git checkout)"
    if not changed:
        return f"{head}, clean working tree"
    return f"{head} plus uncommitted changes to {', '.join(changed)}"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def _date_u() -> str:
    try:
        done = subprocess.run(["date", "-u"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown"


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _ram() -> str:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return "unknown"
    total = next((line.split()[1] for line in lines if line.startswith("MemTotal:")), None)
    return "unknown" if total is None else f"{int(total) / (1 << 20):.1f} GiB"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def replace_section(path: Path, heading: str, body: str) -> None:
    """Put `## heading` and `body` in `path`, in place of that section if it is there (the
    heading as a whole line), else at the end; the rest of the file is left alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    title = f"## {heading}"
    found = re.search(rf"^{re.escape(title)}$", text, flags=re.MULTILINE)
    if found:  # up to the next heading, or a marker another script keeps (`<!-- ... -->`)
        following = re.search(r"^(?:## |<!--)", text[found.end() :], flags=re.MULTILINE)
        end = found.end() + following.start() if following else len(text)
        text = text[: found.start()] + text[end:]
    before = text.rstrip("\n")
    section = f"{title}\n\n{body.strip()}\n"
    path.write_text(f"{before}\n\n{section}" if before else section, encoding="utf-8")
