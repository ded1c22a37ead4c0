"""Command line for the agents: `analyze`, `followup` and `repurpose`.

`register(app)` adds the three commands. Each takes `--workspace/-w` (whose `gtmflow.toml`
`[brains]` table and contacts it reads) and `--json`; `--brain` overrides the configured brain
("rules", or "provider:model" such as "openai:gpt-4.1-mini").
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from gtmflow.cli._common import (
    JsonOpt,
    WorkspaceOpt,
    console,
    emit,
    errors,
    open_workspace,
    styled,
    table,
)
from gtmflow.errors import ConfigError

__all__ = ["register"]

BrainOpt = Annotated[
    str | None,
    typer.Option("--brain", help="'rules' or 'provider:model'; default: gtmflow.toml [brains]."),
]
SellerOpt = Annotated[
    str | None,
    typer.Option("--seller-company", help="Your company as speaker labels show it (sets roles)."),
]
CallDateOpt = Annotated[
    str | None, typer.Option("--call-date", help="Call date, YYYY-MM-DD (resolves 'end of Q3').")
]
CompetitorsOpt = Annotated[
    str | None,
    typer.Option(
        "--competitors", help="Comma-separated competitor names; default: gtmflow.toml [analyst]."
    ),
]
EmbeddingsOpt = Annotated[
    str, typer.Option("--embeddings", help="Rules classifier: auto | on | off (faster).")
]


def register(app: typer.Typer) -> None:
    """Add `analyze`, `followup` and `repurpose` to the gtmflow app."""
    app.command("analyze")(analyze_command)
    app.command("followup")(followup_command)
    app.command("repurpose")(repurpose_command)


def analyze_command(
    transcript_file: Annotated[Path, typer.Argument(help="Transcript: text lines or JSON.")],
    call_date: CallDateOpt = None,
    brain: BrainOpt = None,
    seller_company: SellerOpt = None,
    competitors: CompetitorsOpt = None,
    embeddings: EmbeddingsOpt = "auto",
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Analyse a call transcript: pains, objections, signals, BANT, next steps, with quotes."""
    with errors():
        analyst = _analyst(workspace, brain, seller_company, competitors, embeddings)
        transcript = _read(transcript_file, seller_company)
        insights = analyst.analyze(transcript, call_date=_date(call_date))
    if json_out:
        emit(insights.model_dump(mode="json"))
        return
    _print_insights(insights.model_dump(mode="json"))


def followup_command(
    contact_id: Annotated[str, typer.Argument(help="The contact the call was with.")],
    transcript: Annotated[Path, typer.Option("--transcript", help="The call transcript file.")],
    call_date: CallDateOpt = None,
    brain: BrainOpt = None,
    seller_company: SellerOpt = None,
    competitors: CompetitorsOpt = None,
    sender: Annotated[str, typer.Option(help="Name to sign the email with.")] = "The team",
    webinar: Annotated[
        str | None,
        typer.Option("--webinar", help="The transcript is a webinar Q&A with this title."),
    ] = None,
    embeddings: EmbeddingsOpt = "auto",
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Analyse a call (or a webinar Q&A), decide the next action and draft the follow-up.

    A preview: nothing is queued or sent.
    """
    from gtmflow.agents.content_writer import ContentWriter
    from gtmflow.agents.next_action import NextBestAction

    with open_workspace(workspace) as ws:
        contact = ws.events.contact(contact_id)
        if contact is None:
            raise _exit(
                f"contact '{contact_id}' is not in this workspace; ingest contacts first "
                "(`gtmflow ingest contacts FILE`) or check the id"
            )
        history = ws.events.events(contact_id)
        with errors():
            call = _read(transcript, seller_company)
            insights = _analyst(workspace, brain, seller_company, competitors, embeddings).analyze(
                call, call_date=_date(call_date)
            )
            decision = NextBestAction(brain=brain, root=workspace).decide(
                contact, insights, history=history[-500:]
            )
            draft = None
            if decision.kind == "send_followup":
                writer = ContentWriter(brain=brain, root=workspace, sender=sender)
                draft = writer.followup(
                    contact,
                    insights,
                    transcript=call,
                    decision=decision,
                    content=ws.library,
                    topic=webinar,
                    occasion="webinar" if webinar else "call",
                )
    data = {
        "contact_id": contact_id,
        "insights": insights.model_dump(mode="json"),
        "decision": decision.model_dump(mode="json"),
        "draft": draft.model_dump(mode="json") if draft else None,
        "claims": [c.model_dump(mode="json") for c in draft.claims] if draft else [],
    }
    if json_out:
        emit(data)
        return
    _print_followup(data)


def repurpose_command(
    post_file: Annotated[
        Path, typer.Argument(help="Blog post: markdown/HTML/text, front matter ok.")
    ],
    platforms: Annotated[
        str, typer.Option("--platforms", help="Comma-separated: linkedin,x,bluesky,threads,...")
    ] = "linkedin,x",
    variants: Annotated[int, typer.Option(help="Variants per platform.")] = 1,
    brain: BrainOpt = None,
    workspace: WorkspaceOpt = Path(),
    json_out: JsonOpt = False,
) -> None:
    """Write social variants of a blog post for the named platforms, within their limits."""
    from gtmflow.agents.content_writer import ContentWriter
    from gtmflow.tools.context.content_loader import load_content_file

    with errors():
        post = load_content_file(post_file)
        names = [p.strip() for p in platforms.split(",") if p.strip()]
        result = ContentWriter(brain=brain, root=workspace).repurpose(
            post, names, variants=variants
        )
    if json_out:
        emit(result.model_dump(mode="json"))
        return
    numbers: dict[str, int] = {}
    for draft in result.drafts:
        number = numbers[draft.platform or ""] = numbers.get(draft.platform or "", 0) + 1
        angle = f", leads with: {draft.angle.replace('_', ' ')}" if draft.angle else ""
        console().rule(f"{draft.platform} #{number} ({len(draft.body)} characters{angle})")
        console().print(draft.body, highlight=False, markup=False)


def _analyst(
    workspace: Path,
    brain: str | None,
    seller_company: str | None,
    competitors: str | None,
    embeddings: str,
) -> Any:
    from gtmflow.agents.transcript_analyst import TranscriptAnalyst

    if embeddings not in ("auto", "on", "off"):
        raise ConfigError(f"--embeddings '{embeddings}' must be auto, on or off")
    names = [c.strip() for c in competitors.split(",") if c.strip()] if competitors else None
    return TranscriptAnalyst(
        brain=brain,
        root=workspace,
        competitors=names,  # None: [analyst] competitors in gtmflow.toml
        own_names=[seller_company] if seller_company else [],
        embeddings=embeddings,  # type: ignore[arg-type]
    )


def _read(path: Path, seller_company: str | None) -> Any:
    from gtmflow.tools.transcripts import read_transcript

    return read_transcript(path, seller_company=seller_company).transcript


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise typer.BadParameter(f"--call-date '{value}' is not YYYY-MM-DD") from None


def _exit(message: str) -> typer.Exit:
    console(stderr=True).print(styled("[bold red]error:[/] {}", message))
    return typer.Exit(2)


def _print_insights(data: dict[str, Any]) -> None:
    rows = []
    for field in (
        "pain_points",
        "objections",
        "buying_signals",
        "competitors",
        "stack",
        "asks",
        "authority",
        "next_steps",
    ):
        for item in data.get(field, ()):
            quote = item["evidence"][0]
            rows.append([field, _detail(item), f'{quote["speaker"]}: "{quote["quote"]}"'])
    for field in ("budget", "timeline"):
        if data[field]:
            detail = data[field].get("amount") or data[field].get("date") or ""
            rows.append([field, str(detail), data[field]["evidence"][0]["quote"]])
    out = console()
    out.print(table(f"insights: {data['transcript_id']}", ["kind", "detail", "evidence"], rows))
    run = data.get("run") or {}
    out.print(
        f"sentiment {data['sentiment']['label']} ({data['sentiment']['score']}); "
        f"suspicious instructions: {data['suspicious_instructions']}; dropped: "
        f"{json.dumps(data['dropped'])}; brain {run.get('brain')} ({run.get('model')})"
    )


def _detail(item: dict[str, Any]) -> str:
    """The short column of an insight row: a category, a vendor and its role, an ask's kind."""
    if "name" in item:
        feeling = f", {item['sentiment']}" if item.get("sentiment") else ""
        return f"{item['name']} ({item.get('role', 'mentioned')}{feeling})"
    if "kind" in item:
        return f"{item['kind']}: {item['item']}" if item.get("item") else item["kind"]
    return str(item.get("category") or item.get("owner") or "")


def _print_followup(data: dict[str, Any]) -> None:
    out = console()
    decision = data["decision"]
    confidence = f"{decision['confidence']:.2f}"
    out.print(
        styled(
            "decision: [bold]{}[/] ({}) {}", decision["action"], confidence, decision["rationale"]
        )
    )
    if decision["policy"].get("reasons"):
        out.print(f"policy: {'; '.join(decision['policy']['reasons'])}")
    draft = data["draft"]
    if draft:
        out.rule(f"to {draft['to']}: {draft['subject']}")
        out.print(draft["body"], highlight=False, markup=False)
        if draft.get("removed"):
            out.print(f"removed before sending: {'; '.join(draft['removed'])}", highlight=False)
        rows = [
            [
                c["source"],
                "yes" if c["supported"] else "NO",
                c["sentence"][:70],
                (c["ref"] or "")[:50],
            ]
            for c in data["claims"]
        ]
        out.print(table("claims ledger", ["source", "supported", "sentence", "ref"], rows))
