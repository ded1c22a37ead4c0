"""Charts people look at, drawn with matplotlib: attribution by model, score spreads, activity.

Each function returns a `Chart`: a notebook shows it (`_repr_svg_`) and the HTML report inlines
`chart.svg()`, self-contained SVG with the text kept as text, so reports open anywhere, offline.
No pyplot: figures are built with `matplotlib.figure.Figure`, so there is no global state and no
display is needed.

Example:
    >>> chart = grouped_bars(["email", "ads"], {"linear": [2.0, 1.0], "markov": [1.5, 1.5]})
    >>> svg = chart.svg()
    >>> svg.startswith("<svg") and "linear" in svg
    True
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PALETTE", "Chart", "bars", "grouped_bars", "histogram", "timeline"]

PALETTE = (
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2",
    "#B279A2", "#EECA3B", "#9D755D", "#FF9DA6", "#BAB0AC",
)  # fmt: skip
_WIDTH = 7.6  # inches at 100 dpi: 760 px, the report's column
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}  # no RDF block


class Chart:
    """A drawn chart: `figure` is the matplotlib `Figure`; `svg()` renders it."""

    def __init__(self, figure: Figure) -> None:
        self.figure = figure

    def svg(self) -> str:
        """Self-contained SVG markup (no XML prolog, text as text)."""
        import matplotlib

        buffer = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gtmflow"}):
            self.figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
        text = buffer.getvalue()
        return text[text.index("<svg") :]

    def _repr_svg_(self) -> str:
        return self.svg()


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> Chart:
    """Horizontal bars, one group per category and one bar per series (e.g. per model)."""
    names = list(series)
    figure, axes = _canvas(max(2.0, 0.9 + 0.18 * max(len(names), 1) * max(len(categories), 1)))
    height = 0.8 / max(len(names), 1)
    rows = np.arange(len(categories))
    for i, name in enumerate(names):
        values = np.asarray(series[name], dtype=float)
        drawn = axes.barh(rows + i * height, values, height=height, color=_color(i), label=_t(name))
        axes.bar_label(drawn, labels=[fmt(v) for v in values], fontsize=6, padding=2)
    axes.set_yticks(rows + height * (len(names) - 1) / 2, [_t(_clip(c)) for c in categories])
    axes.invert_yaxis()
    axes.legend(fontsize=7, ncols=min(len(names), 5), loc="lower right", frameon=False)
    return _finish(figure, axes, title)


def histogram(
    values: Sequence[float],
    *,
    bins: int = 20,
    markers: Mapping[str, float] | None = None,
    title: str = "",
) -> Chart:
    """A histogram with optional labelled vertical markers (e.g. score thresholds)."""
    data = np.asarray(values, dtype=float)
    points = [*data.tolist(), *(markers or {}).values()]
    lo, hi = (min(points), max(points)) if points else (0.0, 1.0)
    figure, axes = _canvas(2.6)
    axes.hist(data, bins=bins, range=(lo, hi if hi > lo else lo + 1), color=PALETTE[0])
    for i, (name, value) in enumerate((markers or {}).items()):
        axes.axvline(value, color=_color(i + 3), linestyle="--", label=_t(f"{name} ({value:g})"))
    if markers:
        axes.legend(fontsize=7, frameon=False)
    return _finish(figure, axes, title)


def bars(counts: Mapping[str, float], *, title: str = "") -> Chart:
    """One bar per label (e.g. the outbox by status), labelled with its value."""
    figure, axes = _canvas(2.4)
    labels = [_t(k) for k in counts]
    drawn = axes.bar(labels, list(counts.values()), color=[_color(i) for i in range(len(counts))])
    axes.bar_label(drawn, fontsize=7, padding=2)
    return _finish(figure, axes, title)


def timeline(
    days: Sequence[date], series: Mapping[str, Sequence[float]], *, title: str = ""
) -> Chart:
    """Stacked daily bars, one colour per series (e.g. rule firings per day, by rule)."""
    figure, axes = _canvas(2.6)
    bottom = np.zeros(len(days))
    at = np.array(list(days), dtype="datetime64[D]")
    for i, (name, values) in enumerate(series.items()):
        heights = np.asarray(values, dtype=float)
        axes.bar(at, heights, bottom=bottom, color=_color(i), label=_t(name), width=0.9)
        bottom += heights
    axes.xaxis_date()
    axes.legend(fontsize=7, frameon=False, ncols=min(max(len(series), 1), 4))
    figure.autofmt_xdate()
    return _finish(figure, axes, title)


def _canvas(height: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure  # matplotlib costs ~0.3 s: only when a chart is drawn

    figure = Figure(figsize=(_WIDTH, height), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.tick_params(labelsize=7)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _finish(figure: Figure, axes: Axes, title: str) -> Chart:
    if title:
        axes.set_title(_t(title), fontsize=10, loc="left", fontweight="bold")
    return Chart(figure)


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _clip(text: str, size: int = 38) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _t(text: str) -> str:
    """Text shown as written: `$` would start matplotlib's math mode."""
    return text.replace("$", r"\$")
