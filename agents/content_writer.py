"""The content writer: follow-up emails and social variants, each with a checked claims ledger.

Example:
    >>> from gtmflow.models import Contact
    >>> from gtmflow.tools.transcripts import parse_transcript
    >>> from gtmflow.agents.transcript_analyst import TranscriptAnalyst
    >>> call = parse_transcript(
    ...     "Dana (AE, Northwind): What is slowing you down?\\n"
    ...     "Sam (COO, Acme): Our reporting is a mess and it takes two days a month.",
    ...     seller_company="Northwind",
    ... )
    >>> insights = TranscriptAnalyst(embeddings="off").analyze(call.transcript)
    >>> sam = Contact(id="c-1", name="Sam Lee", email="sam@acme.com", company="Acme")
    >>> draft = ContentWriter().followup(sam, insights, transcript=call.transcript)
    >>> draft.subject
    'Following up with Acme: next steps'
    >>> all(c.supported for c in draft.claims)
    True

The rules backend fills the templates in `prompts/followup_email_rules.md` with extracted facts
only (the prospect's own quotes, CRM fields, retrieved content), so it cannot invent. The LLM
backend must cite a source for every factual sentence; `check_claims` verifies each one and
unsupported sentences are removed (or kept and flagged with `unsupported="flag"`). Recipients
are never the model's to choose: a draft is always addressed to the contact's own email.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gtmflow.agents._claims import Claim, ClaimSource, check_claims, split_text
from gtmflow.agents._social import PLATFORMS, Platform, SocialWriter
from gtmflow.agents.insights import Grounder, TranscriptInsights
from gtmflow.agents.next_action import Decision
from gtmflow.brains import Brain, BrainRun, BrainSpec, resolve_brain
from gtmflow.models import Contact, ContentItem, Transcript
from gtmflow.prompts import RenderedPrompt, load_prompt
from gtmflow.tools.deps import ContentLibrary

__all__ = ["PLATFORMS", "ContentSource", "ContentWriter", "Draft", "Platform", "SocialDrafts"]

AGENT = "content_writer"
ContentSource = ContentLibrary
"""The retrieval hook: content chunks that answer pains (`gtmflow.tools.context.context_store`)."""


class Draft(BaseModel):
    """A written piece, ready for review or the outbox, with its claims ledger."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["email", "social"]
    to: str | None = Field(default=None, description="Always the contact's own address.")
    platform: str | None = None
    subject: str | None = None
    body: str
    hashtags: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()
    removed: tuple[str, ...] = Field(default=(), description="Unsupported sentences removed.")
    flagged: tuple[str, ...] = Field(default=(), description="Unsupported sentences kept.")
    recommended: tuple[str, ...] = Field(default=(), description="Content ids recommended.")
    run: BrainRun | None = None


class SocialDrafts(BaseModel):
    """Social variants of one post, per platform."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    post_id: str
    drafts: tuple[Draft, ...]
    run: BrainRun | None = None


class _Sentence(BaseModel):
    text: str = Field(description="One sentence of the email body.")
    source: ClaimSource = Field(description="transcript, crm, content, or none (no facts).")
    ref: str | None = Field(
        default=None, description="The verbatim quote, the CRM field name, or the content id."
    )
    new_paragraph: bool = Field(default=False, description="Start a new paragraph here.")


class EmailDraft(BaseModel):
    """What the LLM fills for a follow-up email."""

    subject: str = Field(max_length=120)
    greeting: str = Field(description="e.g. 'Hi Sam,'")
    sentences: list[_Sentence] = Field(min_length=1, max_length=12)
    sign_off: str = Field(description="e.g. 'Best regards,\\nDana'")
    recommended: list[str] = Field(default_factory=list, description="Content ids recommended.")


class ContentWriter:
    """Writes follow-up emails and social variants whose claims are traceable.

    Args:
        brain: "rules" (default), "provider:model", a chat model or a `Brain`.
        root: Workspace folder whose `gtmflow.toml` `[brains]` table to read.
        content: Retrieval hook for library content (None: whatever each call passes, which in
            the follow-up graph is the workspace's context store; else no recommendations).
        sender: Name to sign emails with.
        unsupported: "remove" drops unsupported factual sentences; "flag" keeps and lists them.
    """

    name = AGENT

    def __init__(
        self,
        *,
        brain: BrainSpec = None,
        root: str | Path | None = None,
        content: ContentSource | None = None,
        sender: str = "The team",
        unsupported: Literal["remove", "flag"] = "remove",
    ) -> None:
        self.brain: Brain = resolve_brain(brain, agent=AGENT, root=root)
        self.content = content
        self.sender = sender
        self.unsupported = unsupported
        self.social = SocialWriter(self.brain)

    def followup(
        self,
        contact: Contact,
        insights: TranscriptInsights | None = None,
        *,
        transcript: Transcript | None = None,
        decision: Decision | None = None,
        topic: str | None = None,
        content: ContentSource | None = None,
    ) -> Draft:
        """A follow-up email to `contact` about what they said (or the webinar `topic`).

        `content` is where to look for library content to recommend when this writer was
        built without one (the follow-up graph passes the workspace's context store).
        """
        chunks = self._chunks(insights, topic, content)
        outcome = self.brain.run(
            EmailDraft,
            self.prompt(contact, insights, decision=decision, chunks=chunks),
            rules=lambda: _rules_email(contact, insights, chunks, self.sender, topic),
        )
        return self._finish(outcome.output, outcome.run, contact, transcript, chunks)

    async def afollowup(
        self,
        contact: Contact,
        insights: TranscriptInsights | None = None,
        *,
        transcript: Transcript | None = None,
        decision: Decision | None = None,
        topic: str | None = None,
        content: ContentSource | None = None,
    ) -> Draft:
        """`followup` for asyncio batch runs."""
        chunks = self._chunks(insights, topic, content)
        outcome = await self.brain.arun(
            EmailDraft,
            self.prompt(contact, insights, decision=decision, chunks=chunks),
            rules=lambda: _rules_email(contact, insights, chunks, self.sender, topic),
        )
        return self._finish(outcome.output, outcome.run, contact, transcript, chunks)

    def repurpose(
        self, post: ContentItem, platforms: Sequence[str], *, variants: int = 1
    ) -> SocialDrafts:
        """`variants` social posts per platform from one blog post, within platform limits."""
        drafts, run = self.social.write(post, platforms, variants=variants)
        return SocialDrafts(post_id=post.id, drafts=tuple(drafts), run=run)

    def prompt(
        self,
        contact: Contact,
        insights: TranscriptInsights | None,
        *,
        decision: Decision | None = None,
        chunks: Sequence[Any] = (),
    ) -> RenderedPrompt:
        """The rendered prompt for a follow-up email."""
        return load_prompt("followup_email").render(
            decision=f"{decision.action}: {decision.rationale}" if decision else "send_followup",
            sender=self.sender,
            contact=_json(contact.model_dump(include={"name", "title", "company", "attributes"})),
            insights=_json(
                insights.model_dump(mode="json", exclude={"run", "dropped", "transcript_id"})
                if insights
                else {}
            ),
            content=_json(
                [
                    {"id": c.id, "title": c.metadata.get("title"), "text": c.text[:600]}
                    for c in chunks
                ]
            ),
        )

    def _chunks(
        self,
        insights: TranscriptInsights | None,
        topic: str | None,
        fallback: ContentSource | None,
    ) -> list[Any]:
        """Library chunks for the contact's pains (or the webinar's topic), via the hook."""
        library = self.content if self.content is not None else fallback
        if library is None:
            return []
        queries = [p.summary for p in insights.pain_points[:3]] if insights else []
        if not queries and topic:
            queries = [topic]
        return list(library.content_for(queries, k=2)) if queries else []

    def _finish(
        self,
        email: EmailDraft,
        run: BrainRun,
        contact: Contact,
        transcript: Transcript | None,
        chunks: Sequence[Any],
    ) -> Draft:
        known = {c.id: c.text for c in chunks} | {c.source_id: c.text for c in chunks}
        ledger = check_claims(
            [Claim(sentence=s.text, source=s.source, ref=s.ref) for s in email.sentences],
            transcript=Grounder(transcript) if transcript else None,
            contact=contact,
            chunks=known,
        )
        bad = set(ledger.unsupported)
        keep = [s for s in email.sentences if self.unsupported == "flag" or s.text not in bad]
        return Draft(
            kind="email",
            to=contact.email,
            subject=" ".join(email.subject.split()),
            body=_body(email.greeting, keep, email.sign_off),
            claims=ledger.claims,
            removed=tuple(sorted(bad)) if self.unsupported == "remove" else (),
            flagged=tuple(sorted(bad)) if self.unsupported == "flag" else (),
            recommended=tuple(r for r in email.recommended if r in known),
            run=run,
        )


def _rules_email(
    contact: Contact,
    insights: TranscriptInsights | None,
    chunks: Sequence[Any],
    sender: str,
    topic: str | None,
) -> EmailDraft:
    """The rules backend: the template's sentences, each filled with one extracted fact."""
    quote = _first_quotes(insights)
    chunk = chunks[0] if chunks else None
    link = f" ({chunk.metadata['url']})" if chunk is not None and chunk.metadata.get("url") else ""
    template = load_prompt("followup_email_rules").render_sections(
        first_name=_first_name(contact),
        company=f" with {contact.company}" if contact.company else "",
        pain_quote=quote.get("pain", ""),
        second_pain_quote=quote.get("second_pain", ""),
        objection_quote=quote.get("objection", ""),
        step_quote=quote.get("step", ""),
        content_title=chunk.metadata.get("title", chunk.source_id) if chunk else "",
        content_link=link,
        sender=sender,
        topic=topic or "our session",
    )
    sentences = _rules_sentences(template, quote, contact, chunk, webinar=insights is None)
    subject = template["subject_webinar" if insights is None and topic else "subject"]
    return EmailDraft(
        subject=subject,
        greeting=template["greeting"],
        sentences=sentences,
        sign_off=template["sign_off"],
        recommended=[chunk.id] if chunk is not None else [],
    )


def _rules_sentences(
    template: dict[str, str], quote: dict[str, str], contact: Contact, chunk: Any, *, webinar: bool
) -> list[_Sentence]:
    parts: list[_Sentence] = [
        _Sentence(text=template["thanks_webinar" if webinar else "thanks"], source="none")
    ]
    for key in ("pain", "second_pain"):
        if quote.get(key):
            parts.append(
                _Sentence(
                    text=template[key],
                    source="transcript",
                    ref=quote[key],
                    new_paragraph=key == "pain",
                )
            )
    if chunk is not None:
        parts.append(_Sentence(text=template["content"], source="content", ref=chunk.id))
    if quote.get("objection"):
        parts.append(
            _Sentence(
                text=template["objection"],
                source="transcript",
                ref=quote["objection"],
                new_paragraph=True,
            )
        )
    if quote.get("step"):
        parts.append(
            _Sentence(
                text=template["step"], source="transcript", ref=quote["step"], new_paragraph=True
            )
        )
    closing = template["closing_webinar" if webinar else "closing"]
    parts.append(_Sentence(text=closing, source="none", new_paragraph=True))
    return parts


def _first_quotes(insights: TranscriptInsights | None) -> dict[str, str]:
    if insights is None:
        return {}
    pains = [p.evidence[0].quote for p in insights.pain_points]
    found = {"pain": pains[0] if pains else "", "second_pain": pains[1] if len(pains) > 1 else ""}
    if insights.objections:
        found["objection"] = insights.objections[0].evidence[0].quote
    steps = [s for s in insights.next_steps if s.owner is None or s.owner != _speaker_of(insights)]
    if steps or insights.next_steps:
        found["step"] = (steps or list(insights.next_steps))[-1].evidence[0].quote
    return {k: _sentence(v) for k, v in found.items() if v}


def _speaker_of(insights: TranscriptInsights) -> str | None:
    return insights.pain_points[0].evidence[0].speaker if insights.pain_points else None


def _sentence(quote: str) -> str:
    """A quote as it sits inside our sentence: ends with its own punctuation, then ours."""
    text = quote.strip()
    return text if text[-1:] in ".!?" else text + "."


def _first_name(contact: Contact) -> str:
    return contact.name.split()[0] if contact.name and contact.name.split() else "there"


def _body(greeting: str, sentences: Sequence[_Sentence], sign_off: str) -> str:
    paragraphs: list[list[str]] = [[]]
    for sentence in sentences:
        if sentence.new_paragraph and paragraphs[-1]:
            paragraphs.append([])
        paragraphs[-1].append(sentence.text.strip())
    text = "\n\n".join(" ".join(p) for p in paragraphs if p)
    return f"{greeting.strip()}\n\n{text}\n\n{sign_off.strip()}"


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def body_sentences(draft: Draft) -> list[str]:
    """The sentences of a draft's body (for tests and reviews)."""
    return split_text(draft.body)
