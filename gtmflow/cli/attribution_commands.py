"""`gtmflow attribution`, `gtmflow score` and `gtmflow report`: what drove pipeline, who is hot.

Registered on the main app by `register(app)`. Each command takes `--workspace/-w` and `--json`.
Deals come from `--deals FILE` (JSONL or CSV, see
`gtmflow.tools.attribution.touchpoints.load_deals`) or, by default, the first of `deals.jsonl`,
`deals.csv`, `data/deals.jsonl`, `data/deals.csv` in the workspace. Lead scores use the workspace's
`scoring.py` (`SCORER = LeadScorer(...)`, or a function returning one) when it exists, else
`gtmflow.tools.attribution.scoring.default_scorer()`. Without `--as-of`, `attribution` and `report`
judge as of the latest event or deal (`default_as_of`), so a historical export scores as it stood,
not decayed to today, and deals created after the last event still count. A report whose window
holds no conversion says so and writes no brief.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from gtmflow.cli._common import (
    JsonOpt,
    WorkspaceOpt,
    console,
    emit,
    errors,
    open_workspace,
    parse_time,
    styled,
    table,
)
from gtmflow.errors import ConfigError, GtmflowError

if TYPE_CHECKING:
    from gtmflow.runtime.workspace import Workspace
    from gtmflow.tools.attribution.heuristics import Attribution
    from gtmflow.tools.attribution.journeys import Journeys
    from gtmflow.tools.attribution.scoring import LeadScorer
    from gtmflow.tools.attribution.touchpoints import (
        Level,
        Outcome,
    )

__all__ = ["register"]

MODEL_NAMES = ("first", "last", "linear", "time_decay", "position", "w_shaped", "markov", "shapley")
"""The attribution models' names for `--help`, without loading them (a test keeps it true)."""

DEAL_FILES = ("deals.jsonl", "deals.csv", "data/deals.jsonl", "data/deals.csv")
REPORT_FILE = Path("reports") / "pipeline-report.html"

DealsOpt = Annotated[
    Path | None, typer.Option("--deals", help="Deals file (JSONL or CSV); default: found in -w.")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Judge as of this ISO time (default: latest event or deal)."),
]
LookbackOpt = Annotated[str, typer.Option(help="Touches count this long before a conversion.")]


def register(app: typer.Typer) -> None:
    """Add `attribution`, `score` and `report` to the `gtmflow` app."""
    app.command("attribution")(attribution_cmd)
    app.command("score")(score_cmd)
    app.command("report")(report_cmd)


def attribution_cmd(
    model: Annotated[str, typer.Option(help=f"One of: {', '.join(MODEL_NAMES)}.")] = "linear",
    order: Annotated[int, typer.Option(help="Markov/Shapley chain order, 1 to 3.")] = 1,
    paths: Annotated[
        Path | None, typer.Option(help="Read ChannelAttribution paths instead of the workspace.")
    ] = None,
    sep: Annotated[str, typer.Option(help="Separator between a path's channels.")] = ">",
    delimiter: Annotated[str, typer.Option(help="Column delimiter of --paths.")] = ";",
    level: Annotated[str, typer.Option(help="channel, content or agent.")] = "channel",
    outcome: Annotated[str, typer.Option(help="pipeline (deals created) or revenue (won).")] = (
        "pipeline"
    ),
    deals: DealsOpt = None,
    lookback: LookbackOpt = "90d",
    as_of: AsOfOpt = None,
    half_life: Annotated[
        str, typer.Option(help="time_decay: a duration (7d), or touches for --paths (2).")
    ] = "7d",
    coalition: Annotated[str, typer.Option(help="shapley: markov or journeys.")] = "markov",
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Credit channels or content with pipeline and revenue under one attribution model."""
    from gtmflow.tools.attribution.heuristics import MODELS
    from gtmflow.tools.attribution.journeys import read_paths

    _choice("model", model, MODELS)
    _choice("level", level, ("channel", "content", "agent"))
    _choice("outcome", outcome, ("pipeline", "revenue"))
    with errors():
        if paths is not None:
            journeys = read_paths(paths, delimiter=delimiter, sep=sep)
        else:
            journeys = _workspace_journeys(workspace, deals, outcome, level, lookback, as_of)
        result = _attribute(journeys, model, order, half_life, coalition)
    if json_out:
        emit(result.to_json())
        return
    _print_attribution(result, journeys, level)


def score_cmd(
    contact_id: Annotated[str | None, typer.Argument(help="One contact (default: all).")] = None,
    as_of: AsOfOpt = None,
    top: Annotated[int, typer.Option(help="Rows to show (all contacts in --json).")] = 20,
    emit_events: Annotated[
        bool, typer.Option("--emit", help="Write score_threshold_crossed events to the store.")
    ] = False,
    backtest_scores: Annotated[
        bool,
        typer.Option("--backtest", help="Score as of --as-of, then check against later deals."),
    ] = False,
    within: Annotated[str, typer.Option(help="--backtest: deals this long after as-of count.")] = (
        "30d"
    ),
    deals: DealsOpt = None,
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Lead scores with their explanation: fit and decaying engagement points, thresholds."""
    from gtmflow.tools.attribution.scoring import load_scorer

    if backtest_scores:
        _backtest(workspace, as_of, within, deals, json_out)
        return
    with open_workspace(workspace) as ws:
        scorer = load_scorer(ws.root)
        when = parse_time(as_of) or _latest_event(ws)
        ids = [contact_id] if contact_id else None
        scores = scorer.score_store(ws.events, as_of=when, contact_ids=ids)
        written = _emit_crossings(ws, scorer, when, ids) if emit_events else None
    if json_out:
        if contact_id:
            emit(scores[0].model_dump(mode="json"))
        else:
            emit([_score_row(s) for s in scores])
        return
    if contact_id:
        console().print(scores[0].explain())
    else:
        rows = [
            [s.contact_id, f"{s.score:g}", _groups(s.groups), ", ".join(s.thresholds)]
            for s in scores[:top]
        ]
        console().print(
            table(
                f"lead scores as of {when.isoformat()} ({len(scores)} contacts)",
                ["contact", "score", "groups", "thresholds"],
                rows,
            )
        )
    if written is not None:
        console().print(f"{written} score_threshold_crossed events written")


def report_cmd(
    out: Annotated[
        Path | None, typer.Option(help=f"HTML file (default: -w/{REPORT_FILE}).")
    ] = None,
    deals: DealsOpt = None,
    lookback: LookbackOpt = "90d",
    as_of: AsOfOpt = None,
    models: Annotated[str, typer.Option(help="Comma-separated models to compare.")] = (
        "first,last,linear,time_decay,position,w_shaped,markov,shapley"
    ),
    briefs: Annotated[int, typer.Option(help="Content briefs to write.")] = 3,
    brain: Annotated[str | None, typer.Option(help="rules or provider:model for briefs.")] = None,
    context: Annotated[
        bool, typer.Option(help="Use the workspace's context store for themes and pains.")
    ] = True,
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Write the HTML pipeline report: attribution by model, agreement, briefs, score spread."""
    from gtmflow.agents.pipeline_scorer import PipelineScorer, context_retriever, pipeline_data
    from gtmflow.agents.report_html import write_html
    from gtmflow.tools.attribution.heuristics import MODELS, ModelName
    from gtmflow.tools.attribution.scoring import load_scorer
    from gtmflow.tools.attribution.touchpoints import collect_touches, default_as_of, load_deals

    chosen = [m.strip() for m in models.split(",") if m.strip()]
    for name in chosen:
        _choice("model", name, MODELS)
    with open_workspace(workspace) as ws:
        deal_list = load_deals(_deals_file(ws.root, deals))
        touches = collect_touches(ws.events, outbox=ws.outbox, until=parse_time(as_of))
        when = parse_time(as_of) or default_as_of(touches, deal_list)  # as `attribution` does
        data = pipeline_data(touches, deal_list, lookback=lookback, as_of=when)
        converted = data.journeys["pipeline", "channel"].total_conversions
        if not converted:
            briefs = 0  # nothing drove pipeline in the window: a brief would be made up
        store = _context_store(ws.root) if context else None
        try:
            retrieve = context_retriever(store) if store is not None else None
            scorer = PipelineScorer(
                models=cast(list[ModelName], chosen),
                briefs=briefs,
                brain=brain,
                retrieve=retrieve,
                root=ws.root,
            )
            result = scorer.report(data)
        finally:
            if store is not None:
                store.close()
        lead_scorer = load_scorer(ws.root)
        scores = lead_scorer.score_store(ws.events, as_of=when or _latest_event(ws))
        path = write_html(
            out or ws.root / REPORT_FILE, result, scores, thresholds=lead_scorer.thresholds
        )
    summary = _report_summary(path, result, len(scores)) | {"conversions": converted}
    if not converted:
        summary["note"] = _no_conversions(when, lookback)
    if json_out:
        emit(summary)
        return
    if not converted:
        console().print(styled("[yellow]note:[/] {}", summary["note"]))
    console().print(f"wrote {path}")
    for key, top in summary["top"].items():
        console().print(f"  {key}: {', '.join(top)}")


# --------------------------------------------------------------------------- helpers


def _backtest(
    root: Path, as_of: str | None, within: str, deals: Path | None, json_out: bool
) -> None:
    """Score every contact as of a cutoff and compare with the deals that followed."""
    from gtmflow.clock import parse_duration
    from gtmflow.tools.attribution.backtest import backtest, deal_labels
    from gtmflow.tools.attribution.scoring import load_scorer
    from gtmflow.tools.attribution.touchpoints import load_deals

    with open_workspace(root) as ws:
        deal_list = load_deals(_deals_file(ws.root, deals))
        when = parse_time(as_of) or _latest_event(ws) - parse_duration(within)
        scores = {
            s.contact_id: s.score for s in load_scorer(ws.root).score_store(ws.events, as_of=when)
        }
        ids, labels = deal_labels(list(scores), deal_list, after=when, within=within)
        result = backtest([scores[i] for i in ids], labels)
    if json_out:
        emit({"as_of": when.isoformat(), "within": within, **result.model_dump(mode="json")})
        return
    console().print(
        f"backtest as of {when.isoformat()}: {result.contacts} contacts, {result.converted} with "
        f"a deal within {within}; AUC {result.auc:.3f}, Brier {result.brier:.3f}, ECE "
        f"{result.ece:.3f}"
    )
    rows = [
        [d.decile, d.contacts, d.converted, f"{d.rate:.1%}", f"{d.lift:.2f}", f"{d.captured:.0%}"]
        for d in result.lift
    ]
    console().print(
        table(
            "lift by decile (1 = highest scores)",
            ["decile", "contacts", "converted", "rate", "lift", "captured"],
            rows,
        )
    )


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise typer.BadParameter(f"--{name} '{value}' is not one of {', '.join(allowed)}")


def _attribute(
    journeys: Journeys, model: str, order: int, half_life: str, coalition: str
) -> Attribution:
    from gtmflow.tools.attribution.heuristics import attribute

    options: dict[str, Any] = {}
    if model == "time_decay":
        options["half_life"] = float(half_life) if _is_number(half_life) else half_life
    elif model == "shapley":
        options["coalition"] = coalition
    if model in ("markov", "shapley"):
        options["order"] = order
    return attribute(journeys, model=model, **options)  # type: ignore[arg-type]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _workspace_journeys(
    root: Path, deals: Path | None, outcome: str, level: str, lookback: str, as_of: str | None
) -> Journeys:
    from gtmflow.runtime.workspace import Workspace
    from gtmflow.tools.attribution.touchpoints import build_journeys, collect_touches, load_deals

    with Workspace.open(root) as ws:
        deal_list = load_deals(_deals_file(ws.root, deals))
        when = parse_time(as_of)
        touches = collect_touches(ws.events, outbox=ws.outbox, until=when)
    return build_journeys(
        touches,
        deal_list,
        outcome=_outcome(outcome),
        level=_level(level),
        lookback=lookback,
        as_of=when,
    )


def _outcome(value: str) -> Outcome:
    return "revenue" if value == "revenue" else "pipeline"


def _level(value: str) -> Level:
    return "content" if value == "content" else "agent" if value == "agent" else "channel"


def _deals_file(root: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    for name in DEAL_FILES:
        if (root / name).exists():
            return root / name
    raise ConfigError(
        f"no deals found in '{root}' (looked for {', '.join(DEAL_FILES)}); pass --deals FILE "
        "with one deal per line (JSONL) or a CSV with id, amount, stage, created_at, "
        "contact_ids. For a sample world, gtmflow.examples.sample_deals.generate_sample_deals "
        "writes one"
    )


def _latest_event(ws: Workspace) -> datetime:
    latest = max((event.timestamp for _, event in ws.events.changes()), default=None)
    return latest or ws.clock.now()


def _emit_crossings(
    ws: Workspace, scorer: LeadScorer, when: datetime, ids: list[str] | None
) -> int:
    written = 0
    for contact_id in ids if ids is not None else list(ws.events.contact_ids()):
        contact = ws.events.contact(contact_id)
        if contact is None:
            continue
        events = ws.events.events(contact_id, until=when)
        written += ws.events.write_events(scorer.crossings(contact, events, as_of=when)).accepted
    return written


def _context_store(root: Path) -> Any:
    """The workspace's context store when it has one; None (with a note) when it cannot open."""
    if not (root / ".gtmflow" / "chroma").exists():
        return None
    try:
        from gtmflow.tools.context.context_store import ContextStore

        return ContextStore.for_workspace(root)
    except (GtmflowError, ImportError, OSError) as exc:
        console().print(styled("[yellow]note:[/] context store not used: {}", exc))
        return None


def _print_attribution(result: Attribution, journeys: Journeys, level: str) -> None:
    headers = [level, "conversions", "value"]
    markov = result.model == "markov"
    if markov:
        headers.append("removal effect")
    rows = []
    for credit in result.credits:
        row = [credit.key, f"{credit.conversions:,.2f}", f"{credit.value:,.2f}"]
        if markov:
            row.append(f"{credit.removal_effect:.4f}")
        rows.append(row)
    order = f", order {result.order}" if result.order else ""
    title = (
        f"{result.model}{order}: {result.total_conversions:g} conversions, "
        f"{result.total_value:,.2f} value over {len(journeys)} journeys"
    )
    console().print(table(title, headers, rows))
    if journeys.unattributed_conversions:
        console().print(
            f"{journeys.unattributed_conversions:g} conversions had no touch in the "
            "lookback window and are not attributed"
        )


def _score_row(score: Any) -> dict[str, Any]:
    return {
        "contact_id": score.contact_id,
        "score": score.score,
        "groups": score.groups,
        "thresholds": list(score.thresholds),
    }


def _no_conversions(as_of: datetime | None, lookback: str) -> str:
    end = as_of.isoformat() if as_of else "the end of the data"
    return (
        f"no deals were created in the {lookback} before {end}, so nothing can be credited and "
        "no content brief was written; pass --as-of or --lookback to look at another window, "
        "or --deals with the deals that followed these events"
    )


def _groups(groups: dict[str, float]) -> str:
    return ", ".join(f"{g} {v:g}" for g, v in sorted(groups.items()))


def _report_summary(path: Path, result: Any, contacts: int) -> dict[str, Any]:
    return {
        "path": str(path),
        "as_of": result.as_of.isoformat() if result.as_of else None,
        "models": list(result.models),
        "top": {f"{s.outcome}/{s.level}": [r.key for r in s.top] for s in result.sections},
        "agreement": {f"{s.outcome}/{s.level}": s.mean_tau for s in result.sections},
        "briefs": [
            {"title": b.title, "based_on": [c.content_id for c in b.based_on]}
            for b in result.briefs
        ],
        "scored_contacts": contacts,
        "brain": result.run.model_dump(mode="json"),
    }
