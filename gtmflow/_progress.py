"""Rich progress bars for long work, off for scripts (`--json`) and when asked."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["Advance", "DeltaProgress", "progress_bar", "wants_progress"]

Advance = Callable[[int], None]


def wants_progress(progress: bool | None) -> bool:
    """Resolve `progress=None` to "show it when a person is watching stderr"."""
    if progress is not None:
        return progress
    return sys.stderr.isatty() or "ipykernel" in sys.modules


@contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool) -> Iterator[Advance]:
    """Show a progress bar while the block runs; yields a function that advances it."""
    if not enabled:
        yield _ignore
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _ignore(_: int) -> None:
    return None


class DeltaProgress:
    """Turns "bytes read so far" callbacks into progress-bar advances."""

    def __init__(self, advance: Advance) -> None:
        self._advance = advance
        self._seen = 0

    def __call__(self, done: int) -> None:
        self._advance(done - self._seen)
        self._seen = done
