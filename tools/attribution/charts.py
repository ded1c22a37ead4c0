"""Self-contained SVG charts (no plotting library): grouped bars and histograms.

The HTML report inlines them and notebooks display them (`IPython.display.SVG`), so reports
open anywhere, offline, with nothing to install. Text is escaped; sizes are in pixels.

Example:
    >>> svg = grouped_bars(["email", "ads"], {"linear": [2.0, 1.0], "markov": [1.5, 1.5]})
    >>> svg.startswith("<svg") and "linear" in svg
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape

import numpy as np

__all__ = ["PALETTE", "grouped_bars", "histogram"]

PALETTE = (
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#E45756",
    "#72B7B2",
    "#B279A2",
    "#EECA3B",
    "#9D755D",
    "#FF9DA6",
    "#BAB0AC",
)
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 760,
    label_width: int = 230,
    bar: int = 9,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> str:
    """Horizontal bars, one group per category and one bar per series (e.g. per model)."""
    names = list(series)
    group = bar * len(names) + 10
    top, legend = (28 if title else 8), 22
    y0 = top + legend + 14 * (max(len(names) - 1, 0) // 5)  # below the legend rows
    height = y0 + group * len(categories) + 10
    peak = max((max(v, default=0.0) for v in series.values()), default=0.0) or 1.0
    span = width - label_width - 70
    parts = [_open(width, height), _title(title)]
    for i, name in enumerate(names):  # legend
        x = label_width + (i % 5) * 105
        y = top + (i // 5) * 14
        parts.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{_color(i)}"/>'
            f'<text x="{x + 14}" y="{y + 9}" {_FONT}>{escape(name)}</text>'
        )
    for row, category in enumerate(categories):
        y = y0 + row * group
        parts.append(
            f'<text x="{label_width - 6}" y="{y + group / 2}" text-anchor="end" '
            f'dominant-baseline="middle" {_FONT}>{escape(_clip(category))}</text>'
        )
        for i, name in enumerate(names):
            value = float(series[name][row])
            length = max(value, 0.0) / peak * span
            by = y + i * bar
            parts.append(
                f'<rect x="{label_width}" y="{by}" width="{length:.1f}" height="{bar - 1}" '
                f'fill="{_color(i)}"><title>{escape(name)}: {escape(fmt(value))}</title></rect>'
                f'<text x="{label_width + length + 4:.1f}" y="{by + bar - 2}" '
                f'font-family="system-ui, sans-serif" font-size="8">{escape(fmt(value))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float],
    *,
    bins: int = 20,
    markers: Mapping[str, float] | None = None,
    title: str = "",
    width: int = 760,
    height: int = 260,
) -> str:
    """A histogram with optional labelled vertical markers (e.g. score thresholds)."""
    data = np.asarray(values, dtype=float)
    lo, hi = (float(data.min()), float(data.max())) if len(data) else (0.0, 1.0)
    for value in (markers or {}).values():
        lo, hi = min(lo, value), max(hi, value)
    if hi == lo:
        hi = lo + 1
    counts, edges = np.histogram(data, bins=bins, range=(lo, hi))
    left, bottom, top = 50, height - 30, 34 if title else 12
    span, tall = width - left - 20, bottom - top
    peak = max(int(counts.max()) if len(counts) else 0, 1)

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * span

    parts = [_open(width, height), _title(title)]
    for count, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        h = count / peak * tall
        parts.append(
            f'<rect x="{x(a):.1f}" y="{bottom - h:.1f}" width="{max(x(b) - x(a) - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{a:g} to {b:g}: {count}'
            "</title></rect>"
        )
    parts.append(
        f'<line x1="{left}" y1="{bottom}" x2="{left + span}" y2="{bottom}" stroke="#333"/>'
    )
    for value in np.linspace(lo, hi, 6):
        parts.append(
            f'<text x="{x(value):.1f}" y="{bottom + 16}" text-anchor="middle" '
            f"{_FONT}>{value:,.0f}</text>"
        )
    parts.append(f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" {_FONT}>{peak}</text>')
    for i, (name, value) in enumerate((markers or {}).items()):
        parts.append(
            f'<line x1="{x(value):.1f}" y1="{top}" x2="{x(value):.1f}" y2="{bottom}" '
            f'stroke="{_color(i + 3)}" stroke-dasharray="4 3"/>'
            f'<text x="{x(value) + 3:.1f}" y="{top + 10 + 12 * i}" {_FONT} '
            f'fill="{_color(i + 3)}">{escape(name)} ({value:g})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" role="img">'
    )


def _title(text: str) -> str:
    if not text:
        return ""
    return (
        f'<text x="8" y="18" font-family="system-ui, sans-serif" font-size="14" '
        f'font-weight="600">{escape(text)}</text>'
    )


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _clip(text: str, size: int = 38) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
