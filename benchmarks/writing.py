"""Writing benchmark: every email the offline writer produces, judged on the item-6 rubric.

Run standalone (prints rich tables; `--write FILE` replaces the "Writing" section of FILE):

    python benchmarks/writing.py                    # both modes, both halves of the set
    python benchmarks/writing.py --split tune       # the half the writer was tuned on
    python benchmarks/writing.py --show wr-rc-02-pool-service   # one item's three emails
    python benchmarks/writing.py --check-data       # validate the labelled set only

The labelled set (`benchmarks/data/writing/`, see its README): 45 calls and webinar Q&As with
their pains, asks, competitor roles and the library piece that answers each. For every item the
writer produces a three-email sequence (step 1, 2, 3; each step gets the earlier emails and the
item's activity since the last one), with the seller's library in a real embedded Chroma store
(MiniLM embeddings). Two modes:
- `gold`: the writer gets the gold insights (the writer's own quality);
- `end to end`: the analyst (`TranscriptAnalyst`, default settings) reads the transcript and the
  writer gets what it found (what users get today).
Every email is scored on `gtmflow.agents.email_rubric.RULES` (yes/no each; a rule that does not
apply to an email is not counted), the linked pieces on relevance (a linked piece is right when it
answers one of the item's gold needs), and each sequence on repeats (quotes, pains, pieces,
sentences). Targets, on the gold mode: >= 95% on each rule, right piece >= 80%, 0 repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from gtmflow.agents.content_writer import ContentWriter, Draft
from gtmflow.agents.email_rubric import (
    RULES,
    Gold,
    GoldAsk,
    GoldCompetitor,
    GoldNeed,
    check_email,
    linked_pieces,
    sequence_repeats,
)
from gtmflow.agents.insights import (
    Ask,
    CompetitorMention,
    Evidence,
    Grounder,
    NextStep,
    Objection,
    PainPoint,
    Timeline,
    TranscriptInsights,
    normalise,
)
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.models import Contact, ContentItem, Event, Transcript
from gtmflow.tools.transcripts import parse_transcript

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "writing"
TUNE = ("routecraft", "bookwell", "larderly")
"""The sellers whose items the writer was tuned on; the other three are held out."""
STEPS = 3
Mode = Literal["gold", "end to end"]


@dataclass(frozen=True)
class Item:
    """One labelled call or webinar Q&A, ready for the writer and the rubric."""

    id: str
    seller: str
    split: Literal["tune", "test"]
    contact: Contact
    transcript: Transcript
    occasion: Literal["call", "webinar"]
    title: str | None
    raw: dict[str, Any]
    gold: Gold
    activity: dict[int, tuple[Event, ...]]
    competitors: tuple[str, ...]
    pricing: tuple[str, ...] = ()


@dataclass
class Scores:
    """Rubric tallies over many emails."""

    passed: Counter[str] = field(default_factory=Counter)
    judged: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)
    linked: int = 0
    right: int = 0
    asked_pieces: int = 0
    asked_linked: int = 0
    repeats: list[str] = field(default_factory=list)
    emails: int = 0

    def add(self, item: Item, step: int, draft: Draft) -> None:
        """Score one email."""
        self.emails += 1
        for rule, verdict in check_email(
            draft.subject or "", draft.body, item.gold, step=step
        ).items():
            if verdict is None:
                continue
            self.judged[rule] += 1
            self.passed[rule] += bool(verdict)
            if not verdict:
                self.failures.setdefault(rule, []).append(f"{item.id} #{step}")
        pricing = any(
            e.type == "page_view" and "pricing" in str(e.properties.get("path"))
            for e in item.activity.get(step, ())
        )
        pieces = linked_pieces(draft.body, item.gold, also_right=item.pricing if pricing else ())
        self.linked += len(pieces)
        self.right += sum(ok for _, ok in pieces)
        if step == 1:
            wanted = [a.piece for a in item.gold.asks if a.piece]
            self.asked_pieces += len(wanted)
            self.asked_linked += sum(p in {x for x, _ in pieces} for p in wanted)

    def rate(self, rule: str) -> float | None:
        """Share of the emails a rule applies to that keep it."""
        return self.passed[rule] / self.judged[rule] if self.judged[rule] else None


class SellerLibrary:
    """One seller's pieces in the shared context store (the writer's `ContentLibrary`)."""

    def __init__(self, store: Any, ids: Sequence[str]) -> None:
        self.store = store
        self.where = {"content_id": {"$in": list(ids)}}

    def content_for(self, pains: str | Sequence[str], k: int = 5) -> list[Any]:
        """Chunks of this seller's pieces that answer the pains."""
        return list(self.store.content_for(pains, k, where=self.where))


def load_libraries() -> dict[str, dict[str, Any]]:
    """Each seller's library file, by seller key."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((DATA / "library").glob("*.json"))}


def load_items() -> list[Item]:
    """Every labelled item, with its transcript parsed and its gold built."""
    libraries = load_libraries()
    items = []
    for path in sorted(DATA.glob("calls_*.json")):
        data = json.loads(path.read_text())
        key = data["library"]
        for raw in data["items"]:
            items.append(_item(raw, key, libraries[key]))
    return items


def _item(raw: dict[str, Any], key: str, library: dict[str, Any]) -> Item:
    when = datetime.fromisoformat(raw["call_date"]).replace(hour=15, tzinfo=UTC)
    text = "\n".join(f"{speaker}: {words}" for speaker, words in raw["turns"])
    transcript = parse_transcript(
        text, transcript_id=raw["id"], seller_company=library["seller"], occurred_at=when
    ).transcript
    title = raw.get("webinar")
    g = raw["gold"]
    gold = Gold(
        occasion=raw["occasion"],
        prospect_turns=tuple(u.text for u in transcript.utterances if u.role != "seller"),
        seller_turns=tuple(u.text for u in transcript.utterances if u.role == "seller"),
        title=title,
        title_safe=title is None or "http" not in title.lower(),
        pains=tuple(GoldNeed(p["quote"], p.get("piece")) for p in g["pains"]),
        objections=tuple(GoldNeed(o["quote"], o.get("piece")) for o in g.get("objections", [])),
        asks=tuple(GoldAsk(a["kind"], a["item"], a["quote"], a.get("piece")) for a in g["asks"]),
        competitors=tuple(
            GoldCompetitor(c["name"], c["role"], c.get("sentiment"), c["quote"], c.get("piece"))
            for c in g.get("competitors", [])
        ),
        library={p["id"]: p["url"] for p in library["pieces"]},
        injection=g.get("injection"),
    )
    return Item(
        id=raw["id"],
        seller=key,
        split="tune" if key in TUNE else "test",
        contact=Contact(**raw["contact"], subscription="subscribed"),
        transcript=transcript,
        occasion=raw["occasion"],
        title=title,
        raw=raw,
        gold=gold,
        activity=_activity(raw, when),
        competitors=tuple(library["competitors"]),
        pricing=tuple(p["id"] for p in library["pieces"] if p["type"] == "pricing"),
    )


def _activity(raw: dict[str, Any], when: datetime) -> dict[int, tuple[Event, ...]]:
    by_step: dict[int, list[Event]] = {}
    for n, event in enumerate(raw.get("activity", []), 1):
        step = int(event["after_step"]) + 1
        at = when + timedelta(days=3 * event["after_step"], hours=n)
        by_step.setdefault(step, []).append(
            Event(
                id=f"{raw['id']}-a{n}",
                type=event["type"],
                contact_id=raw["contact"]["id"],
                timestamp=at,
                properties=event.get("properties", {}),
            )
        )
    return {step: tuple(events) for step, events in by_step.items()}


def gold_insights(item: Item) -> TranscriptInsights:
    """The gold labels as the insights the analyst would ideally return."""
    grounder = Grounder(item.transcript)
    g = item.raw["gold"]

    def ev(quote: str) -> tuple[Evidence, ...]:
        found = grounder.locate(quote)
        if found is None:
            raise ValueError(f"{item.id}: gold quote not in the transcript: {quote!r}")
        return (found,)

    timeline = g.get("timeline")
    return TranscriptInsights(
        transcript_id=item.id,
        pain_points=tuple(
            PainPoint(summary=p["quote"], evidence=ev(p["quote"])) for p in g["pains"]
        ),
        objections=tuple(
            Objection(summary=o["quote"], evidence=ev(o["quote"]), category=o["category"])
            for o in g.get("objections", [])
        ),
        competitors=tuple(
            CompetitorMention(
                summary=c["quote"],
                evidence=ev(c["quote"]),
                name=c["name"],
                role=c["role"],
                sentiment=c.get("sentiment"),
            )
            for c in g.get("competitors", [])
        ),
        asks=tuple(
            Ask(summary=a["quote"], evidence=ev(a["quote"]), kind=a["kind"], item=a["item"])
            for a in g["asks"]
        ),
        timeline=Timeline(
            summary=timeline["quote"], evidence=ev(timeline["quote"]), phrase=timeline["phrase"]
        )
        if timeline
        else None,
        next_steps=tuple(
            NextStep(summary=s["quote"], evidence=ev(s["quote"])) for s in g.get("next_steps", [])
        ),
    )


def sequence(
    writer: ContentWriter, item: Item, insights: TranscriptInsights, library: SellerLibrary
) -> list[Draft]:
    """The three emails of one item's sequence."""
    drafts: list[Draft] = []
    for step in range(1, STEPS + 1):
        drafts.append(
            writer.followup(
                item.contact,
                insights,
                transcript=item.transcript,
                topic=item.title,
                occasion=item.occasion,
                content=library,
                activity=item.activity.get(step, ()),
                earlier=drafts,
                step=step,
            )
        )
    return drafts


def run(
    items: Sequence[Item], mode: Mode, store: Any, analyst_for: Any = None
) -> tuple[Scores, dict[str, list[Draft]]]:
    """Write and score every item's sequence in one mode."""
    scores = Scores()
    written: dict[str, list[Draft]] = {}
    libraries = load_libraries()
    for item in items:
        library = SellerLibrary(store, [p["id"] for p in libraries[item.seller]["pieces"]])
        insights = (
            gold_insights(item) if mode == "gold" else analyst_for(item).analyze(item.transcript)
        )
        writer = ContentWriter(sender=f"The {libraries[item.seller]['seller']} team")
        drafts = sequence(writer, item, insights, library)
        written[item.id] = drafts
        for step, draft in enumerate(drafts, 1):
            scores.add(item, step, draft)
        scores.repeats += [
            f"{item.id}: {r}"
            for r in sequence_repeats([(d.subject or "", d.body) for d in drafts], item.gold)
        ]
    return scores, written


def open_store(folder: Path, *, embedder: str = "minilm") -> Any:
    """A real embedded Chroma store holding every seller's library (MiniLM embeddings)."""
    from gtmflow.tools.context.context_store import ContextStore

    store = ContextStore.open(folder, embedder=embedder)
    pieces = [p for lib in load_libraries().values() for p in lib["pieces"]]
    store.upsert_content(
        ContentItem(
            id=p["id"],
            title=p["title"],
            url=p["url"],
            type=p["type"],
            topics=tuple(p.get("topics", ())),
            body=p["body"],
        )
        for p in pieces
    )
    return store


def analyst_factory() -> Any:
    """The analyst as users get it (default settings), told each seller's name and rivals."""
    cache: dict[str, TranscriptAnalyst] = {}

    def make(item: Item) -> TranscriptAnalyst:
        if item.seller not in cache:
            seller = load_libraries()[item.seller]["seller"]
            cache[item.seller] = TranscriptAnalyst(own_names=[seller], competitors=item.competitors)
        return cache[item.seller]

    return make


def check_data() -> list[str]:
    """Problems in the labelled set (empty when every quote and piece checks out)."""
    problems = []
    libraries = load_libraries()
    for item in load_items():
        ids = {p["id"] for p in libraries[item.seller]["pieces"]}
        try:
            gold_insights(item)
        except ValueError as exc:
            problems.append(str(exc))
        theirs = [normalise(t) for t in item.gold.prospect_turns]
        for need in [
            *item.gold.pains,
            *item.gold.objections,
            *item.gold.asks,
            *item.gold.competitors,
        ]:
            if not any(normalise(need.quote) in t for t in theirs):
                problems.append(f"{item.id}: not a prospect quote: {need.quote!r}")
            if need.piece and need.piece not in ids:
                problems.append(f"{item.id}: unknown piece {need.piece!r}")
    return problems


def _table(title: str, scores: Scores) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("check", "kept", "judged", "rate", "target"):
        table.add_column(column)
    for rule in RULES:
        rate = scores.rate(rule)
        table.add_row(
            rule,
            str(scores.passed[rule]),
            str(scores.judged[rule]),
            "-" if rate is None else f"{rate:.0%}",
            ">= 95%",
        )
    right = scores.right / scores.linked if scores.linked else 0.0
    table.add_row("right piece", str(scores.right), str(scores.linked), f"{right:.0%}", ">= 80%")
    table.add_row("repeats in a sequence", str(len(scores.repeats)), "", "", "0")
    return table


def _verdict(ok: bool, gated: bool) -> str:
    return ("pass" if ok else "FAIL") if gated else "report"


def _show(item: Item, drafts: Sequence[Draft], console: Console) -> None:
    console.rule(f"{item.id} ({item.occasion}{': ' + item.title if item.title else ''})")
    for speaker, words in item.raw["turns"]:
        console.print(f"[dim]{speaker}:[/] {words}", highlight=False)
    for step, draft in enumerate(drafts, 1):
        console.rule(f"email {step} ({draft.angle}): {draft.subject}")
        console.print(draft.body, highlight=False, markup=False)
        if draft.removed:
            console.print(f"[red]removed:[/] {draft.removed}", highlight=False)


def _cell(scores: Scores, rule: str) -> str:
    rate = scores.rate(rule)
    return "-" if rate is None else f"{rate:.0%} ({scores.passed[rule]}/{scores.judged[rule]})"


def _matrix(results: dict[tuple[str, str], Scores]) -> tuple[list[str], bool]:
    """The Markdown table (a row per check, a column per mode and half) and whether the gated
    column (gold, held out) meets every target."""
    columns = list(results)
    gated = results.get(("gold", "held out"))
    header = " | ".join(f"{mode}, {half}" for mode, half in columns)
    lines = [f"| check | target | {header} | held-out gold |",
             "| --- | ---: | " + "---: | " * len(columns) + ":---: |"]  # fmt: skip
    ok_all = True
    for rule in RULES:
        rate = gated.rate(rule) if gated else None
        ok = rate is None or rate >= 0.95
        ok_all &= ok
        cells = " | ".join(_cell(results[c], rule) for c in columns)
        lines.append(f"| {rule} | >= 95% | {cells} | {_verdict(ok, gated is not None)} |")
    right = {c: (r.right / r.linked if r.linked else 0.0) for c, r in results.items()}
    ok = gated is None or right[("gold", "held out")] >= 0.8
    ok_all &= ok
    cells = " | ".join(f"{right[c]:.0%} ({results[c].right}/{results[c].linked})" for c in columns)
    lines.append(f"| right piece (linked pieces that answer a need) | >= 80% | {cells} | "
                 f"{_verdict(ok, gated is not None)} |")  # fmt: skip
    cells = " | ".join(
        f"{r.asked_linked / r.asked_pieces:.0%} ({r.asked_linked}/{r.asked_pieces})"
        if r.asked_pieces else "-" for r in results.values()
    )  # fmt: skip
    lines.append(f"| asked-for piece linked in email 1 | - | {cells} | info |")
    ok = gated is None or not gated.repeats
    ok_all &= ok
    cells = " | ".join(str(len(r.repeats)) for r in results.values())
    lines.append(
        f"| repeats in 3-email sequences | 0 | {cells} | {_verdict(ok, gated is not None)} |"
    )
    return lines, ok_all


def _write(path: Path, table: list[str], notes: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    from bench_report import replace_section

    title = "Writing (`python benchmarks/writing.py`)"
    replace_section(path, title, "\n".join([*notes, "", *table]))


def _splits(items: list[Item], split: str) -> Iterator[tuple[str, list[Item]]]:
    if split in ("tune", "all"):
        yield "tune", [i for i in items if i.split == "tune"]
    if split in ("test", "all"):
        yield "held out", [i for i in items if i.split == "test"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when the gold mode misses a target on the held-out half."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tune", "test", "all"), default="all")
    parser.add_argument("--mode", choices=("gold", "e2e", "both"), default="both")
    parser.add_argument("--show", action="append", default=[], help="print this item's emails")
    parser.add_argument("--failures", action="store_true", help="list the emails that fail")
    parser.add_argument("--check-data", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="replace the Writing section")
    args = parser.parse_args(argv)
    console = Console()
    problems = check_data()
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    if args.check_data or problems:
        console.print(f"{len(load_items())} items, {len(problems)} problems")
        return 1 if problems else 0
    items = load_items()
    modes: list[Mode] = (
        ["gold", "end to end"]
        if args.mode == "both"
        else (["gold"] if args.mode == "gold" else ["end to end"])
    )
    results: dict[tuple[str, str], Scores] = {}
    started, load_before = time.perf_counter(), _load()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "chroma")
        try:
            make = analyst_factory()
            for mode in modes:
                for name, chosen in _splits(items, args.split):
                    scores, written = run(chosen, mode, store, make)
                    results[(mode, name)] = scores
                    title = f"{mode}, {name} ({len(chosen)} items, {scores.emails} emails)"
                    console.print(_table(title, scores))
                    if args.failures:
                        for rule, where in scores.failures.items():
                            console.print(f"[yellow]{rule}[/]: {', '.join(where)}")
                        for repeat in scores.repeats:
                            console.print(f"[yellow]repeat[/]: {repeat}")
                    for item in (i for i in chosen if i.id in args.show):
                        _show(item, written[item.id], console)
        finally:
            store.close()
    seconds = time.perf_counter() - started
    console.print(f"{len(items)} items, {STEPS} emails each, {seconds:.1f} s")
    table, ok = _matrix(results)
    if args.write:
        _write(args.write, table, _notes(items, seconds, load_before))
    return 0 if ok else 1


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _notes(items: list[Item], seconds: float, load_before: str) -> list[str]:
    sys.path.insert(0, str(HERE))
    from bench_report import code_state, environment

    facts = environment()
    tune = sum(i.split == "tune" for i in items)
    return [
        f"`python benchmarks/writing.py --write benchmarks/RESULTS.md` on {facts['date']}: "
        f"{facts['cpu']}, {facts['cores']} cores, {facts['ram']}, {facts['python']}; load "
        f"average {load_before} before, {_load()} after; code {code_state(HERE.parent)}; "
        f"{seconds:.0f} s.",
        "",
        f"{len(items)} labelled calls and webinar Q&As (`benchmarks/data/writing/`), a "
        f"three-email sequence each ({STEPS * len(items)} emails per mode). Split: the writer "
        f"was tuned on the {tune} items of three sellers ({', '.join(TUNE)}); the other "
        f"{len(items) - tune} (three other sellers, libraries and vocabularies) were held out, "
        "and only their gold column is gated (how the held-out half was used: "
        "`benchmarks/data/writing/README.md`). *Gold*: the writer gets the labelled insights (its "
        "own quality). *End to end*: it gets what `TranscriptAnalyst` (default settings) finds, "
        "which is what users get today; an ask, pain or competitor role the analyst misses or "
        "mislabels carries into the email, so those rows measure the analyst as much as the "
        "writer and are reported, not gated. Each cell: share of the emails a check applies to "
        "that keep it (a check that "
        "does not apply, e.g. no quote to judge, is not counted). A linked piece is right when "
        "it answers one of the item's gold needs (or is the pricing page after a pricing visit).",
    ]


if __name__ == "__main__":
    sys.exit(main())
