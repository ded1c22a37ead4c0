"""Content briefs "along the same lines" as the content that drove pipeline, with their evidence.

`write_briefs` asks a brain (`gtmflow.brains`) for briefs built on candidate content items: the
rules backend writes them from templates and the figures; an LLM writes title, angle, themes and
pains, must cite candidate ids only (a wrong id is re-asked), and the figures each brief cites
are always attached from the data, never taken from the model. Themes come from the content's
own chunks and target pains from the notes and transcripts of the contacts on the deals it
touched, through an optional retrieval hook (`Retriever`; `context_retriever` adapts the
context store); without one, from titles alone.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from gtmflow.brains import Brain, BrainRun
from gtmflow.prompts import load_prompt

__all__ = [
    "BriefCandidate",
    "BriefDraft",
    "BriefDrafts",
    "Citation",
    "ContentBrief",
    "Evidence",
    "Passage",
    "Retriever",
    "context_retriever",
    "display_name",
    "gather_evidence",
    "write_briefs",
]

_FORMATS = (
    ("/blog/", "blog post"),
    ("/customers/", "case study"),
    ("cs-", "case study"),
    ("eb-", "ebook"),
    ("wp-", "whitepaper"),
    ("wb-", "webinar"),
    ("cl-", "checklist"),
    ("/docs/", "guide"),
    ("newsletter", "newsletter"),
)
_STOP = frozenset(
    (  # noqa: SIM905 - a word list reads better as text
        "a about after all also an and any are as at be been but by can do for from has have how "
        "if in into is it its more most not of on or our so than that the their them then there "
        "these they this to was we what when which who why will with you your blog docs "
        "customers resources"
    ).split()
)
_WORD = re.compile(r"[a-z][a-z0-9]{2,}")


class Passage(BaseModel):
    """A retrieved chunk of content or of a contact's notes, citable by id."""

    model_config = ConfigDict(frozen=True)

    id: str
    source_id: str
    text: str
    score: float = 0.0
    kind: Literal["content", "contacts"] = "content"


class Retriever(Protocol):
    """The retrieval hook: passages of some content items, or of some contacts' notes."""

    def __call__(
        self, query: str, *, kind: Literal["content", "contacts"], ids: Sequence[str], k: int
    ) -> Sequence[Passage]:
        """Up to `k` passages about `query` from the content (or contacts) with these ids."""
        ...


def context_retriever(store: Any) -> Retriever:
    """Adapt a `gtmflow.tools.context.ContextStore` (or anything with its `search`)."""

    def retrieve(
        query: str, *, kind: Literal["content", "contacts"], ids: Sequence[str], k: int
    ) -> list[Passage]:
        if not ids:
            return []
        if kind == "content":
            where = {"content_id": {"$in": list(ids)}}
            hits = store.search(query, kind="content", k=k, where=where)
        else:
            hits = [h for i in ids for h in store.search(query, kind="contacts", contact_id=i, k=k)]
            hits = sorted(hits, key=lambda h: -h.score)[:k]
        return [
            Passage(id=h.id, source_id=h.source_id, text=h.text, score=h.score, kind=kind)
            for h in hits
        ]

    return retrieve


class Citation(BaseModel):
    """A content item a brief builds on, with the figures behind the choice."""

    model_config = ConfigDict(frozen=True)

    content_id: str
    title: str | None = None
    consensus_rank: float
    pipeline: float = Field(description="Mean attributed pipeline across models.")
    revenue: float = Field(description="Mean attributed revenue across models (0 if none).")
    deals: int = Field(description="Converting deals whose journeys touched it.")
    top_in: int = Field(description="How many models rank it in their top k.")


class BriefDraft(BaseModel):
    """A content brief as the brain writes it (figures are attached afterwards)."""

    title: str = Field(description="Working title of the new piece.")
    format: str = Field(description="blog post, case study, ebook, whitepaper, webinar, ...")
    angle: str = Field(description="What the piece argues and why, in two or three sentences.")
    themes: list[str] = Field(description="Three to five short topics.")
    target_pains: list[str] = Field(
        default_factory=list, description="Prospects' pains it should answer, in their words."
    )
    based_on: list[str] = Field(description="Ids of the candidate content it builds on.")


class BriefDrafts(BaseModel):
    """The brain's output: the briefs."""

    briefs: list[BriefDraft]


class ContentBrief(BaseModel):
    """A brief for new content along the lines of what worked, with its evidence."""

    model_config = ConfigDict(frozen=True)

    title: str
    format: str
    angle: str
    themes: tuple[str, ...]
    target_pains: tuple[str, ...] = ()
    based_on: tuple[Citation, ...]
    evidence: tuple[str, ...] = Field(default=(), description="Ids of the passages used.")


@dataclass(frozen=True)
class BriefCandidate:
    """A content item briefs may build on, and the contacts on the deals it touched."""

    citation: Citation
    contacts: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    """What retrieval found for a candidate: themes, its own passages, buyers' pains."""

    themes: tuple[str, ...]
    passages: list[Passage]
    pains: list[Passage]


def gather_evidence(
    candidates: Sequence[BriefCandidate], retrieve: Retriever | None
) -> dict[str, Evidence]:
    """Themes, passages and pains for each candidate (themes from titles without a hook)."""
    evidence = {}
    for candidate in candidates:
        key = candidate.citation.content_id
        title = candidate.citation.title or display_name(key)
        passages: list[Passage] = []
        pains: list[Passage] = []
        if retrieve is not None:
            passages = list(retrieve(title, kind="content", ids=[key], k=4))
            pains = list(
                retrieve(
                    "pain points, problems and challenges",
                    kind="contacts",
                    ids=candidate.contacts,
                    k=3,
                )
            )
        evidence[key] = Evidence(_themes(title, passages), passages, pains)
    return evidence


def write_briefs(
    brain: Brain,
    candidates: Sequence[BriefCandidate],
    evidence: dict[str, Evidence],
    count: int,
) -> tuple[tuple[ContentBrief, ...], BrainRun]:
    """`count` briefs (at most one per candidate) from the brain, with the figures attached."""
    count = min(count, len(candidates))
    prompt = load_prompt("pipeline_scorer").render(
        briefs=count,
        candidates=_candidates_text(candidates, evidence),
        evidence=_evidence_text(evidence),
    )
    allowed = {c.citation.content_id for c in candidates}

    def check(drafts: BriefDrafts) -> str | None:
        if len(drafts.briefs) != count:
            return f"write exactly {count} briefs, not {len(drafts.briefs)}"
        unknown = sorted({i for d in drafts.briefs for i in d.based_on} - allowed)
        if unknown or any(not d.based_on for d in drafts.briefs):
            return f"based_on must list candidate ids only ({sorted(allowed)}); got {unknown}"
        return None

    outcome = brain.run(
        BriefDrafts,
        prompt,
        rules=lambda: _rules_drafts(candidates[:count], evidence),
        check=check,
    )
    briefs = tuple(_brief(d, candidates, evidence) for d in outcome.output.briefs)
    return briefs, outcome.run


def display_name(key: str) -> str:
    """A readable name for an untitled key: `/blog/abm-playbook` -> `Abm playbook`."""
    last = key.rstrip("/").rsplit("/", 1)[-1] or key
    words = " ".join(_WORD.findall(last.lower().replace("-", " ").replace("_", " ")))
    return words[:1].upper() + words[1:] if words else key


def _themes(title: str, passages: Sequence[Passage]) -> tuple[str, ...]:
    counts = Counter(w for w in _WORD.findall(title.lower()) if w not in _STOP)
    for passage in passages:
        counts.update(w for w in _WORD.findall(passage.text.lower()) if w not in _STOP)
    return tuple(w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:5])


def _format_of(key: str) -> str:
    return next(
        (name for prefix, name in _FORMATS if key.startswith(prefix) or prefix in key), "article"
    )


def _rules_drafts(
    candidates: Sequence[BriefCandidate], evidence: dict[str, Evidence]
) -> BriefDrafts:
    drafts = []
    for candidate in candidates:
        c = candidate.citation
        seen = evidence[c.content_id]
        name = c.title or display_name(c.content_id)
        form = _format_of(c.content_id)
        themes = list(seen.themes[:4])
        angle = (
            f"'{name}' was on the journeys of {c.deals} deals, with {_money(c.pipeline)} of "
            f"pipeline and {_money(c.revenue)} of revenue attributed to it on average; "
            f"{c.top_in} of the models rank it in their top list. Write a follow-up {form} "
            "for the same buyers"
            + (f", going deeper on {', '.join(themes[:3])}." if themes else ".")
        )
        pains = [p.text.strip()[:200] for p in seen.pains[:2]]
        if pains:
            angle += " Answer the pains these buyers raised in their own words."
        drafts.append(
            BriefDraft(
                title=f"A follow-up {form} to '{name}'",
                format=form,
                angle=angle,
                themes=themes,
                target_pains=pains,
                based_on=[c.content_id],
            )
        )
    return BriefDrafts(briefs=drafts)


def _brief(
    draft: BriefDraft, candidates: Sequence[BriefCandidate], evidence: dict[str, Evidence]
) -> ContentBrief:
    by_id = {c.citation.content_id: c.citation for c in candidates}
    cited = tuple(by_id[i] for i in dict.fromkeys(draft.based_on) if i in by_id)
    used = [
        p.id
        for i in draft.based_on
        if i in evidence
        for p in (*evidence[i].passages, *evidence[i].pains)
    ]
    return ContentBrief(
        title=draft.title,
        format=draft.format,
        angle=draft.angle,
        themes=tuple(draft.themes),
        target_pains=tuple(draft.target_pains),
        based_on=cited,
        evidence=tuple(dict.fromkeys(used)),
    )


def _candidates_text(candidates: Sequence[BriefCandidate], evidence: dict[str, Evidence]) -> str:
    rows = [
        {**c.citation.model_dump(), "themes": list(evidence[c.citation.content_id].themes)}
        for c in candidates
    ]
    return json.dumps(rows, indent=1)


def _evidence_text(evidence: dict[str, Evidence]) -> str:
    lines = [
        f"[{p.id}] ({key}, {p.kind}) {p.text.strip()}"
        for key, e in evidence.items()
        for p in (*e.passages, *e.pains)
    ]
    return "\n".join(lines) or "(no passages)"


def _money(amount: float) -> str:
    return f"${amount:,.0f}"
