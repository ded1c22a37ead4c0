"""Content briefs "along the same lines" as the content that drove pipeline, built from the content.

`write_briefs` asks a brain (`gtmflow.brains`) for briefs on candidate content items. What a brief
is built from comes through the retrieval hook (`Retriever`; `context_retriever` adapts the context
store): the candidate's real title, topics and chunks (a key such as `/blog/abm-playbook` is
resolved to the library item whose URL has that path), and the pains that the contacts on the
deals it touched raised on calls. A brief has a working title, the angle, an outline of four to
six sections that each cite their source (a chunk, a contact note, the piece itself, or the
attribution figures), and what not to repeat (what the source piece already says). A candidate
whose title is unknown is skipped: a title is never made up from a URL slug. The figures a brief
cites are always attached from the data, never taken from the model; an LLM citing a source or a
candidate it was not given is asked again.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from gtmflow.agents._plain_text import plain
from gtmflow.agents._restate import clean
from gtmflow.brains import Brain, BrainRun
from gtmflow.prompts import load_prompt

__all__ = [
    "BriefCandidate",
    "BriefDraft",
    "BriefDrafts",
    "Citation",
    "ContentBrief",
    "Evidence",
    "OutlineSection",
    "Passage",
    "Retriever",
    "context_retriever",
    "gather_evidence",
    "write_briefs",
]

_FORMATS = {
    "blog_post": "blog post", "case_study": "case study", "ebook": "ebook",
    "whitepaper": "whitepaper", "webinar": "webinar", "doc": "guide", "guide": "guide",
    "checklist": "checklist", "newsletter": "newsletter", "pricing": "guide",
}  # fmt: skip
_KEY_FORMATS = (
    ("/customers/", "case study"), ("cs-", "case study"), ("eb-", "ebook"), ("wp-", "whitepaper"),
    ("wb-", "webinar"), ("cl-", "checklist"), ("/docs/", "guide"), ("/blog/", "blog post"),
)  # fmt: skip
_STOP = frozenset(
    (  # noqa: SIM905 - a word list reads better as text
        "a about after all also an and any are as at be been but by can do for from has have how "
        "if in into is it its more most not of on or our so than that the their them then there "
        "these they this to was we what when which who why will with you your blog docs "
        "customers resources"
    ).split()
)
_WORD = re.compile(r"[a-z][a-z0-9]{2,}")
_QUOTED = re.compile(r"[\"“]([^\"”]{8,300})[\"”]")
_PAIN_QUERY = "pain points, problems and challenges"


class Passage(BaseModel):
    """A retrieved chunk of content or of a contact's notes, citable by id."""

    model_config = ConfigDict(frozen=True)

    id: str
    source_id: str
    text: str
    score: float = 0.0
    kind: Literal["content", "contacts"] = "content"
    title: str | None = Field(default=None, description="The content item's title.")
    topics: tuple[str, ...] = ()
    section: str = Field(default="", description="The heading the chunk sits under.")
    type: str | None = Field(
        default=None,
        description="Content: blog_post, case_study, ebook, ...; notes: transcript_insight, ...",
    )


class Retriever(Protocol):
    """The retrieval hook: passages of some content items, or of some contacts' notes."""

    def __call__(
        self, query: str, *, kind: Literal["content", "contacts"], ids: Sequence[str], k: int
    ) -> Sequence[Passage]:
        """Up to `k` passages about `query` from the content (or contacts) with these ids."""
        ...


def context_retriever(store: Any) -> Retriever:
    """Adapt a `gtmflow.tools.context.ContextStore` (or anything with its `search`).

    Content keys that are site paths (`/blog/abm-playbook`, as page views record them) are
    resolved to the library item whose URL has that path.
    """
    resolved: dict[str, str] = {}

    def retrieve(
        query: str, *, kind: Literal["content", "contacts"], ids: Sequence[str], k: int
    ) -> list[Passage]:
        if not ids:
            return []
        if kind == "content":
            wanted = [resolved.setdefault(i, _content_id(store, i)) for i in ids]
            hits = store.search(query, kind="content", k=k, where={"content_id": {"$in": wanted}})
        else:
            where = {"contact_id": {"$in": list(dict.fromkeys(ids))}}
            hits = store.search(query, kind="contacts", k=k, where=where)
        return [_passage(h, kind) for h in hits]

    return retrieve


def _content_id(store: Any, key: str) -> str:
    """The library id for a content key: itself, or the item whose URL path is the key."""
    if not key.startswith("/"):
        return key
    words = " ".join(re.findall(r"[a-z0-9]+", key.lower()))
    for hit in store.search(words or key, kind="content", k=25):
        url = str(hit.metadata.get("url") or "")
        if url and urlparse(url).path.rstrip("/") == key.rstrip("/"):
            return str(hit.source_id)
    return key


def _passage(hit: Any, kind: Literal["content", "contacts"]) -> Passage:
    meta = hit.metadata
    topics = meta.get("topics") or ()
    return Passage(
        id=hit.id,
        source_id=hit.source_id,
        text=hit.text,
        score=hit.score,
        kind=kind,
        title=meta.get("title") if kind == "content" else None,
        topics=tuple(str(t) for t in topics) if isinstance(topics, list | tuple) else (),
        section=str(meta.get("section") or ""),
        type=meta.get("type") if kind == "content" else meta.get("source"),
    )


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


class OutlineSection(BaseModel):
    """One section of a brief's outline and the source it rests on."""

    model_config = ConfigDict(frozen=True)

    heading: str = Field(description="The section's heading.")
    point: str = Field(description="What the section says, in one or two sentences.")
    source: str = Field(
        description="Id of what it rests on: a passage id, a candidate content id, or "
        "'attribution:<content id>' for the figures."
    )


class BriefDraft(BaseModel):
    """A content brief as the brain writes it (figures are attached afterwards)."""

    title: str = Field(description="Working title of the new piece.")
    format: str = Field(description="blog post, case study, ebook, whitepaper, webinar, ...")
    angle: str = Field(description="What the piece argues and why, in two or three sentences.")
    outline: list[OutlineSection] = Field(description="Four to six sections, each with its source.")
    avoid: list[str] = Field(
        default_factory=list, description="What not to repeat: what the source pieces already say."
    )
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
    outline: tuple[OutlineSection, ...] = ()
    avoid: tuple[str, ...] = ()
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
    """What retrieval found for a candidate: its real title and topics, passages, buyers' pains."""

    themes: tuple[str, ...]
    passages: list[Passage]
    pains: list[Passage]
    title: str | None = None
    format: str = "article"
    topics: tuple[str, ...] = ()

    def sources(self, key: str) -> set[str]:
        """Everything a brief on this candidate may cite."""
        return {key, f"attribution:{key}", *(p.id for p in (*self.passages, *self.pains))}


def gather_evidence(
    candidates: Sequence[BriefCandidate], retrieve: Retriever | None, *, enough: int | None = None
) -> dict[str, Evidence]:
    """Title, themes, passages and pains for each candidate (from the hook when there is one).

    With `enough`, candidates are read best first until that many have a known title.
    """
    evidence: dict[str, Evidence] = {}
    for candidate in candidates:
        if enough is not None and sum(bool(e.title) for e in evidence.values()) >= enough:
            break
        key = candidate.citation.content_id
        query = candidate.citation.title or " ".join(_WORD.findall(key.lower())) or key
        passages: list[Passage] = []
        pains: list[Passage] = []
        if retrieve is not None:
            passages = list(retrieve(query, kind="content", ids=[key], k=6))
            about = next((p.title for p in passages if p.title), query)
            topics = ", ".join(dict.fromkeys(t for p in passages for t in p.topics))
            notes = retrieve(f"{_PAIN_QUERY} with {about}: {topics}", kind="contacts",
                             ids=candidate.contacts, k=12)  # fmt: skip
            pains = [n for n in notes if _is_pain(n)][:4]
        title = candidate.citation.title or next((p.title for p in passages if p.title), None)
        kind = next((p.type for p in passages if p.type), None)
        evidence[key] = Evidence(
            themes=_themes(title or "", passages),
            passages=passages,
            pains=pains,
            title=title,
            format=_FORMATS.get(kind or "") or _format_of(key),
            topics=tuple(dict.fromkeys(t for p in passages for t in p.topics)),
        )
    return evidence


def _format_of(key: str) -> str:
    """The format a content key's naming suggests, when the library does not say."""
    return next((name for mark, name in _KEY_FORMATS if mark in key), "article")


def write_briefs(
    brain: Brain,
    candidates: Sequence[BriefCandidate],
    evidence: dict[str, Evidence],
    count: int,
) -> tuple[tuple[ContentBrief, ...], BrainRun]:
    """`count` briefs (one per titled candidate) from the brain, with the figures attached."""
    titled = [c for c in candidates if c.citation.content_id in evidence
              and evidence[c.citation.content_id].title]  # fmt: skip
    count = min(count, len(titled))
    prompt = load_prompt("pipeline_scorer").render(
        briefs=count,
        candidates=_candidates_text(titled, evidence),
        evidence=_evidence_text({c.citation.content_id: evidence[c.citation.content_id]
                                 for c in titled}),
    )  # fmt: skip
    allowed = {c.citation.content_id: evidence[c.citation.content_id] for c in titled}
    outcome = brain.run(
        BriefDrafts,
        prompt,
        rules=lambda: BriefDrafts(
            briefs=[_rules_brief(c, evidence, titled) for c in titled[:count]]
        ),
        check=lambda drafts: _problems(drafts, count, allowed),
    )
    briefs = tuple(_brief(d, titled, evidence) for d in outcome.output.briefs)
    return briefs, outcome.run


def _problems(drafts: BriefDrafts, count: int, allowed: dict[str, Evidence]) -> str | None:
    """Why an LLM's briefs break the rules (None when they keep them)."""
    if len(drafts.briefs) != count:
        return f"write exactly {count} briefs, not {len(drafts.briefs)}"
    unknown = sorted({i for d in drafts.briefs for i in d.based_on} - set(allowed))
    if unknown or any(not d.based_on for d in drafts.briefs):
        return f"based_on must list candidate ids only ({sorted(allowed)}); got {unknown}"
    for number, draft in enumerate(drafts.briefs, 1):
        if not 4 <= len(draft.outline) <= 6:
            return f"brief {number}: the outline needs 4 to 6 sections, not {len(draft.outline)}"
        sources = set().union(*(allowed[i].sources(i) for i in draft.based_on))
        bad = sorted({s.source for s in draft.outline} - sources)
        if bad:
            return f"brief {number}: outline sources {bad} are not among the ids given"
    return None


def _themes(title: str, passages: Sequence[Passage]) -> tuple[str, ...]:
    topics = [t for p in passages for t in p.topics]
    counts = Counter(w for w in _WORD.findall(title.lower()) if w not in _STOP)
    for passage in passages:
        counts.update(w for w in _WORD.findall(passage.text.lower()) if w not in _STOP)
    words = [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
    return tuple(dict.fromkeys([*topics, *words]))[:5]


def _rules_brief(
    candidate: BriefCandidate, evidence: dict[str, Evidence], titled: Sequence[BriefCandidate]
) -> BriefDraft:
    """The rules backend's brief: the source's own sections and the buyers' own pains."""
    c = candidate.citation
    seen = evidence[c.content_id]
    title = seen.title or c.content_id
    pains = [p for p in (_pain_of(p) for p in seen.pains) if p]
    pains = list(dict.fromkeys(pains))
    return BriefDraft(
        title=_working_title(title, pains, seen.topics),
        format=seen.format,
        angle=_angle(c, title, pains, seen.themes),
        outline=_outline(c, title, seen, pains),
        avoid=_avoid(title, seen, [evidence[o.citation.content_id].title or "" for o in titled
                                   if o is not candidate]),
        themes=list(seen.themes[:5]),
        target_pains=pains[:3],
        based_on=[c.content_id],
    )  # fmt: skip


def _is_pain(note: Passage) -> bool:
    """Whether a contact note states a pain (a transcript insight, or a quote of their words)."""
    return note.type == "transcript_insight" or bool(_QUOTED.search(note.text))


def _pain_of(passage: Passage) -> str | None:
    """A buyer's pain as they said it: the quoted part of a note, cleaned, without links."""
    quoted = _QUOTED.search(passage.text)
    text = clean(quoted.group(1) if quoted else plain(passage.text))
    return text[:200].rstrip(" .") or None


def _neutral(pain: str) -> str:
    """A pain in the third person, for a title: "our forecasts are wrong" -> "forecasts are
    wrong"."""
    text = re.sub(r"^(?:when|if|that)\s+", "", pain, flags=re.I)
    text = re.sub(r"\b(?:our|my)\s+", "", text, flags=re.I)
    text = re.sub(r"\bwe're\b", "teams are", text, flags=re.I)
    text = re.sub(r"\bwe\b", "teams", text, flags=re.I)
    text = re.sub(r"\b(?:us|me)\b", "them", text, flags=re.I)
    return text[:1].lower() + text[1:]


def _working_title(title: str, pains: Sequence[str], topics: Sequence[str]) -> str:
    """A working title from the source's title and what buyers said (or its own topics)."""
    for pain in pains:
        candidate = f"{title}: what to do when {_neutral(pain)}"
        if len(candidate) <= 110:
            return candidate
    if topics:
        return (
            f"Beyond '{title}': {' and '.join(t.replace('-', ' ') for t in topics[:2])} in practice"
        )
    return f"{title}, one level deeper"


def _angle(c: Citation, title: str, pains: Sequence[str], themes: Sequence[str]) -> str:
    angle = (
        f"'{title}' was on the journeys of {c.deals} converting deals, with {_money(c.pipeline)} "
        f"of pipeline and {_money(c.revenue)} of revenue attributed to it on average; "
        f"{c.top_in} of the models rank it in their top list."
    )
    if pains:
        angle += (
            f' The buyers on those deals said "{pains[0]}"'
            + (f' and "{pains[1]}"' if len(pains) > 1 else "")
            + "; the new piece answers that directly"
        )
    else:
        angle += " The new piece takes the same readers one step further"
    return angle + (f", going deeper on {', '.join(themes[:3])}." if themes else ".")


def _outline(c: Citation, title: str, seen: Evidence, pains: Sequence[str]) -> list[OutlineSection]:
    sections: list[OutlineSection] = []
    notes = [p for p in seen.pains if _pain_of(p)]
    if notes:
        sections.append(OutlineSection(
            heading="The problem, in buyers' words",
            point=f'Open with what buyers told us: "{pains[0]}".', source=notes[0].id))  # fmt: skip
    for passage in _distinct_sections(seen.passages)[:3]:
        heading = passage.section if passage.section and passage.section != title else None
        lead = _first_sentence(passage.text)
        sections.append(OutlineSection(
            heading=f"Beyond the basics: {heading or _short(lead)}",
            point=f"'{title}' says: \"{_short(lead, 18)}\". Go one level deeper, with steps a "
                  "reader can apply this week.",
            source=passage.id))  # fmt: skip
    if len(notes) > 1 and len(pains) > 1:
        sections.append(OutlineSection(
            heading="The next question they ask", point=f'Answer "{pains[1]}".',
            source=notes[1].id))  # fmt: skip
    if len(sections) < 5:
        sections.append(OutlineSection(
            heading="Why this, why now",
            point=f"Readers of '{title}' went on to {c.deals} deals and {_money(c.pipeline)} of "
                  "pipeline: say who this is for and what they get.",
            source=f"attribution:{c.content_id}"))  # fmt: skip
    while len(sections) < 4:
        sections.append(OutlineSection(
            heading="What to do next" if len(sections) == 3 else "Where to start",
            point=f"Close with the next step after '{title}': one action and the piece to read "
                  "with it.", source=c.content_id))  # fmt: skip
    return sections[:6]


def _distinct_sections(passages: Sequence[Passage]) -> list[Passage]:
    seen: set[str] = set()
    out = []
    for passage in passages:
        key = passage.section or passage.id
        if key not in seen and passage.kind == "content":
            seen.add(key)
            out.append(passage)
    return out


def _avoid(title: str, seen: Evidence, others: Sequence[str]) -> list[str]:
    said = [
        f"Restating what '{title}' already says: \"{_short(_first_sentence(p.text), 18)}\""
        for p in _distinct_sections(seen.passages)[:3]
    ]
    return said + [f"Covering the same ground as '{o}'" for o in others[:2] if o]


def _first_sentence(text: str) -> str:
    body = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return re.split(r"(?<=[.!?])\s+", body.strip())[0] if body.strip() else ""


def _short(text: str, words: int = 8) -> str:
    parts = text.split()
    return " ".join(parts[:words]).rstrip(",.;:") + ("..." if len(parts) > words else "")


def _brief(
    draft: BriefDraft, candidates: Sequence[BriefCandidate], evidence: dict[str, Evidence]
) -> ContentBrief:
    by_id = {c.citation.content_id: c.citation for c in candidates}
    ids = [i for i in dict.fromkeys(draft.based_on) if i in by_id]
    cited = tuple(by_id[i].model_copy(update={"title": evidence[i].title}) for i in ids)
    used = [p.id for i in draft.based_on if i in evidence
            for p in (*evidence[i].passages, *evidence[i].pains)]  # fmt: skip
    return ContentBrief(
        title=draft.title,
        format=draft.format,
        angle=draft.angle,
        outline=tuple(draft.outline),
        avoid=tuple(draft.avoid),
        themes=tuple(draft.themes),
        target_pains=tuple(draft.target_pains),
        based_on=cited,
        evidence=tuple(dict.fromkeys(used)),
    )


def _candidates_text(candidates: Sequence[BriefCandidate], evidence: dict[str, Evidence]) -> str:
    rows = [
        {
            **c.citation.model_dump(),
            "title": evidence[c.citation.content_id].title,
            "format": evidence[c.citation.content_id].format,
            "themes": list(evidence[c.citation.content_id].themes),
        }
        for c in candidates
    ]
    return json.dumps(rows, indent=1)


def _evidence_text(evidence: dict[str, Evidence]) -> str:
    lines = [
        f"[{p.id}] ({key}, {p.kind}{', ' + p.section if p.section else ''}) {p.text.strip()}"
        for key, e in evidence.items()
        for p in (*e.passages, *e.pains)
    ]
    return "\n".join(lines) or "(no passages)"


def _money(amount: float) -> str:
    return f"${amount:,.0f}"
