"""The pipeline report as one self-contained HTML file: inline SVG charts, no external assets.

`render_html(report, scores)` lays out what `PipelineScorer` found: per outcome and level, every
model's attribution side by side (chart and table), how the models agree (Kendall tau matrix),
the content briefs (working title, angle, cited outline, what not to repeat) with the figures they
cite, and the lead score distribution with its
thresholds. `write_html` writes it to a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from gtmflow.agents.pipeline_scorer import ContentBrief, PipelineReport, Section
from gtmflow.tools.attribution.heuristics import Credit
from gtmflow.tools.attribution.scoring import ScoreBreakdown, Threshold
from gtmflow.tools.charts import grouped_bars, histogram

__all__ = ["render_html", "write_html"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.muted{color:#666;font-size:.85rem}
.brief{border-left:4px solid #4C78A8;padding:.2rem 1rem;margin:1rem 0;background:#fafafa}
"""


def render_html(
    report: PipelineReport,
    scores: Sequence[ScoreBreakdown] = (),
    *,
    thresholds: Sequence[Threshold] = (),
    title: str = "gtmflow pipeline report",
) -> str:
    """The report as a self-contained HTML page."""
    run = report.run
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>",
        f"<p class='muted'>As of {escape(str(report.as_of))}; models: "
        f"{escape(', '.join(report.models))}; briefs by {escape(run.produced_by)} "
        f"({escape(run.model)}{_fallback(run.fallback, run.fallback_reason)})</p>",
    ]
    for section in report.sections:
        parts.append(_section(section, report.models))
    parts.append("<h2>Content briefs: more like what worked</h2>")
    parts += [_brief(brief) for brief in report.briefs] or ["<p>No content to build on.</p>"]
    parts.append(_scores(scores, thresholds))
    parts.append("</body></html>")
    return "".join(parts)


def write_html(
    path: str | Path,
    report: PipelineReport,
    scores: Sequence[ScoreBreakdown] = (),
    *,
    thresholds: Sequence[Threshold] = (),
) -> Path:
    """Write the report to `path` (folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report, scores, thresholds=thresholds), encoding="utf-8")
    return target


def _section(section: Section, models: Sequence[str]) -> str:
    what = "Pipeline created" if section.outcome == "pipeline" else "Revenue won"
    name = f"{what} by {section.level}"
    keys = [r.key for r in section.top]
    by_model: dict[str, dict[str, Credit]] = {a.model: a.by_key() for a in section.attributions}
    series = {m: [by_model[m][k].value for k in keys] for m in models}
    chart = grouped_bars(keys, series, title=f"{name}: attributed value by model").svg()
    header = "".join(f"<th>{escape(m)}</th>" for m in models)
    rows = "".join(
        f"<tr><td>{escape(r.key)}{_title(r.title)}</td><td>{r.consensus_rank:.1f}</td>"
        + "".join(f"<td>{by_model[m][r.key].value:,.0f}</td>" for m in models)
        + "</tr>"
        for r in section.top
    )
    unattributed = (
        f"; {section.unattributed_conversions:g} without any touch in the window"
        if section.unattributed_conversions
        else ""
    )
    return (
        f"<h2>{escape(name)}</h2><p class='muted'>{section.total_conversions:g} conversions worth "
        f"{section.total_value:,.0f}{unattributed}. Mean Kendall tau between models: "
        f"{_tau(section.mean_tau)}.</p>{chart}"
        f"<table><tr><th>{escape(section.level)}</th><th>consensus rank</th>{header}</tr>{rows}"
        f"</table>{_agreement(section, models)}"
    )


def _agreement(section: Section, models: Sequence[str]) -> str:
    tau = {(a.a, a.b): a.kendall_tau for a in section.agreement}
    tau |= {(b, a): t for (a, b), t in tau.items()}
    header = "".join(f"<th>{escape(m)}</th>" for m in models)
    rows = "".join(
        f"<tr><td>{escape(a)}</td>"
        + "".join(f"<td>{'1' if a == b else _tau(tau.get((a, b)))}</td>" for b in models)
        + "</tr>"
        for a in models
    )
    return f"<h3>Model agreement (Kendall tau)</h3><table><tr><th></th>{header}</tr>{rows}</table>"


def _brief(brief: ContentBrief) -> str:
    cites = "".join(
        f"<li><code>{escape(c.content_id)}</code>{_title(c.title)}: pipeline {c.pipeline:,.0f}, "
        f"revenue {c.revenue:,.0f}, on {c.deals} deals, consensus rank {c.consensus_rank:.1f}, "
        f"in the top list of {c.top_in} models</li>"
        for c in brief.based_on
    )
    pains = "".join(f"<li>{escape(p)}</li>" for p in brief.target_pains)
    outline = "".join(
        f"<li><b>{escape(s.heading)}</b>: {escape(s.point)} "
        f"<span class='muted'>[{escape(s.source)}]</span></li>"
        for s in brief.outline
    )
    avoid = "".join(f"<li>{escape(a)}</li>" for a in brief.avoid)
    return (
        f"<div class='brief'><h3>{escape(brief.title)} <span class='muted'>({escape(brief.format)})"
        f"</span></h3><p>{escape(brief.angle)}</p><p><b>Themes:</b> "
        f"{escape(', '.join(brief.themes)) or '-'}</p>"
        + (f"<p><b>Outline:</b></p><ol>{outline}</ol>" if outline else "")
        + (f"<p><b>Target pains:</b></p><ul>{pains}</ul>" if pains else "")
        + (f"<p><b>Do not repeat:</b></p><ul>{avoid}</ul>" if avoid else "")
        + f"<p><b>Based on:</b></p><ul>{cites}</ul>"
        + (
            f"<p class='muted'>Evidence: {escape(', '.join(brief.evidence))}</p>"
            if brief.evidence
            else ""
        )
        + "</div>"
    )


def _scores(scores: Sequence[ScoreBreakdown], thresholds: Sequence[Threshold]) -> str:
    if not scores:
        return "<h2>Lead scores</h2><p>No contacts scored.</p>"
    values = [s.score for s in scores]
    chart = histogram(
        values,
        markers={t.name: t.at_least for t in thresholds},
        title=f"Lead score distribution ({len(values)} contacts)",
    ).svg()
    counts = "".join(
        f"<li>{escape(t.name)} (score at least {t.at_least:g}): "
        f"{sum(v >= t.at_least for v in values)} contacts</li>"
        for t in thresholds
    )
    top = "".join(
        f"<tr><td>{escape(s.contact_id)}</td><td>{s.score:g}</td>"
        f"<td>{escape(', '.join(s.thresholds))}</td></tr>"
        for s in scores[:10]
    )
    return (
        f"<h2>Lead scores</h2>{chart}<ul>{counts}</ul><h3>Highest scores</h3><table><tr>"
        f"<th>contact</th><th>score</th><th>thresholds</th></tr>{top}</table>"
    )


def _fallback(fallback: bool, reason: str | None) -> str:
    return f", fallback: {escape(reason or '')}" if fallback else ""


def _title(title: str | None) -> str:
    return f" <span class='muted'>{escape(title)}</span>" if title else ""


def _tau(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
