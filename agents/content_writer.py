"""The content writer: follow-up emails and social variants, each with a checked claims ledger.

Example:
    >>> from gtmflow.models import Contact
    >>> from gtmflow.tools.transcripts import parse_transcript
    >>> from gtmflow.agents.transcript_analyst import TranscriptAnalyst
    >>> call = parse_transcript(
    ...     "Dana (AE, Northwind): What is slowing you down?\\n"
    ...     "Sam (COO, Acme): So, um, our reporting is a mess and it takes two days a month.",
    ...     seller_company="Northwind",
    ... )
    >>> insights = TranscriptAnalyst(embeddings="off").analyze(call.transcript)
    >>> sam = Contact(id="c-1", name="Sam Lee", email="sam@acme.com", company="Acme")
    >>> draft = ContentWriter().followup(sam, insights, transcript=call.transcript)
    >>> draft.subject
    'Your reporting is a mess'
    >>> print(draft.body.splitlines()[2])
    Thanks for taking the time to talk with me.
    >>> all(c.supported for c in draft.claims)
    True

An email is one step of a sequence (`step`, with the `earlier` emails of the enrollment and the
contact's `activity` since the last one) after a call or a webinar (`occasion`, `topic`). Both
brains write from the same situation (`gtmflow.agents._email_situation`: the needs the contact
raised, minus what earlier emails used) and the same library pieces, one per need
(`gtmflow.agents._pieces`). The rules brain fills sentence plans (`prompts/followup_email_rules.md`)
with cleaned facts only; the LLM must cite a source for every factual sentence. Every draft then
passes the same checks (`gtmflow.agents._email_checks`): claims verified, no link, address or
instruction from untrusted text, one short quote of the prospect's own words, the seller's words
never attributed to the prospect, nothing repeated from an earlier email; failing sentences are
removed (or kept and flagged with `unsupported="flag"`). Recipients are never the model's to
choose: a draft is always addressed to the contact's own email.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gtmflow.agents._claims import Claim, check_claims, split_text
from gtmflow.agents._email_checks import EmailRules, from_evidence
from gtmflow.agents._email_plan import EmailDraft, Sentence, compose, subject_for
from gtmflow.agents._email_situation import Focus, Situation, focus, situation
from gtmflow.agents._pieces import Piece, choose_pieces
from gtmflow.agents._plain_text import plain
from gtmflow.agents._social import PLATFORMS, Platform, SocialWriter
from gtmflow.agents.insights import Grounder, TranscriptInsights
from gtmflow.agents.next_action import Decision
from gtmflow.brains import Brain, BrainRun, BrainSpec, resolve_brain
from gtmflow.models import Contact, ContentItem, Event, Transcript
from gtmflow.prompts import RenderedPrompt, load_prompt
from gtmflow.tools.deps import ContentLibrary

__all__ = [
    "PLATFORMS",
    "ContentSource",
    "ContentWriter",
    "Draft",
    "EmailDraft",
    "Platform",
    "SocialDrafts",
]

AGENT = "content_writer"
ContentSource = ContentLibrary
"""The retrieval hook: content chunks that answer pains (`gtmflow.tools.context.context_store`)."""
Occasion = Literal["call", "webinar"]
EmailAngle = Literal["answer", "new_angle", "check_in"]
SocialAngle = Literal[
    "number", "problem", "outcome", "quote", "how", "why", "detail", "in_short", "takeaway"
]
_ANGLES = {
    "answer": "answer their main pain and everything they asked for",
    "new_angle": "take a new angle they have not heard from us yet",
    "check_in": "a short check-in with one new reason to reply",
}
_LINKS_PER_STEP = {1: 3, 2: 2}


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
    occasion: Occasion | None = Field(default=None, description="What the email follows up.")
    step: int | None = Field(default=None, description="Position in the sequence, from 1.")
    angle: EmailAngle | SocialAngle | None = Field(
        default=None,
        description="Why it exists: an email answers, takes a new angle or checks in; a social "
        "variant leads with a number, the problem, the outcome, a quote, how it works, why it "
        "matters, one detail, a summary or the takeaway.",
    )
    pains: tuple[str, ...] = Field(default=(), description="Quotes of the pains it answers.")
    run: BrainRun | None = None


class SocialDrafts(BaseModel):
    """Social variants of one post, per platform."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    post_id: str
    drafts: tuple[Draft, ...]
    run: BrainRun | None = None


@dataclass(frozen=True)
class _Plan:
    """One email's inputs, shared by both brains: the situation, its focus, the pieces."""

    situation: Situation
    focus: Focus
    pieces: dict[str, Piece]
    transcript: Transcript | None


class ContentWriter:
    """Writes follow-up emails and social variants whose claims are traceable.

    Args:
        brain: "rules" (default), "provider:model", a chat model or a `Brain`.
        root: Workspace folder whose `gtmflow.toml` `[brains]` table to read.
        content: Retrieval hook for library content (None: whatever each call passes, which in
            the follow-up graph is the workspace's context store; else no recommendations).
        sender: Name to sign emails with.
        unsupported: "remove" drops sentences that fail a check; "flag" keeps and lists them.
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
        occasion: Occasion | None = None,
        activity: Sequence[Event] = (),
        earlier: Sequence[Draft] = (),
        step: int = 1,
    ) -> Draft:
        """One follow-up email to `contact` about what they said (or the webinar `topic`).

        Args:
            contact: Who it is for (and the only address it goes to).
            insights: What they said, from the analyst (None: a webinar without a transcript).
            transcript: The call or Q&A the insights come from, to check quotes against.
            decision: The next-best-action decision behind the email, if any.
            topic: The webinar's title (untrusted: refused when it holds a link or bait).
            content: Library to recommend from when this writer was built without one.
            occasion: "call" or "webinar"; None infers it (a topic means a webinar).
            activity: What the contact did since the last step, oldest first.
            earlier: The emails already written in this enrollment, oldest first; none of
                their quotes, pains or pieces is used again.
            step: The 1-based position of this email in the sequence.
        """
        plan = self._plan(
            contact, insights, transcript, topic, content, occasion, activity, earlier, step
        )
        outcome = self.brain.run(
            EmailDraft,
            self._prompt(contact, insights, decision, plan),
            rules=lambda: compose(plan.situation, plan.focus, plan.pieces, sender=self.sender),
        )
        return self._finish(outcome.output, outcome.run, contact, plan)

    async def afollowup(
        self,
        contact: Contact,
        insights: TranscriptInsights | None = None,
        *,
        transcript: Transcript | None = None,
        decision: Decision | None = None,
        topic: str | None = None,
        content: ContentSource | None = None,
        occasion: Occasion | None = None,
        activity: Sequence[Event] = (),
        earlier: Sequence[Draft] = (),
        step: int = 1,
    ) -> Draft:
        """`followup` for asyncio batch runs."""
        plan = self._plan(
            contact, insights, transcript, topic, content, occasion, activity, earlier, step
        )
        outcome = await self.brain.arun(
            EmailDraft,
            self._prompt(contact, insights, decision, plan),
            rules=lambda: compose(plan.situation, plan.focus, plan.pieces, sender=self.sender),
        )
        return self._finish(outcome.output, outcome.run, contact, plan)

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
        transcript: Transcript | None = None,
        topic: str | None = None,
        occasion: Occasion | None = None,
        activity: Sequence[Event] = (),
        earlier: Sequence[Draft] = (),
        step: int = 1,
    ) -> RenderedPrompt:
        """The rendered LLM prompt for one follow-up email (without library pieces)."""
        plan = self._plan(
            contact, insights, transcript, topic, None, occasion, activity, earlier, step
        )
        return self._prompt(contact, insights, decision, plan)

    def _plan(
        self,
        contact: Contact,
        insights: TranscriptInsights | None,
        transcript: Transcript | None,
        topic: str | None,
        content: ContentSource | None,
        occasion: Occasion | None,
        activity: Sequence[Event],
        earlier: Sequence[Draft],
        step: int,
    ) -> _Plan:
        known = transcript or (from_evidence(insights) if insights else None)
        s = situation(
            contact,
            insights,
            transcript=known,
            occasion=occasion,
            topic=topic,
            activity=activity,
            earlier=earlier,
            step=step,
        )
        chosen = focus(s)
        library = self.content if self.content is not None else content
        limit = _LINKS_PER_STEP.get(s.step, 1)
        return _Plan(s, chosen, choose_pieces(library, s, chosen, limit=limit), known)

    def _prompt(
        self,
        contact: Contact,
        insights: TranscriptInsights | None,
        decision: Decision | None,
        plan: _Plan,
    ) -> RenderedPrompt:
        s = plan.situation
        return load_prompt("followup_email").render(
            decision=f"{decision.action}: {decision.rationale}" if decision else "send_followup",
            sender=self.sender,
            occasion=s.occasion,
            step=str(s.step),
            angle=_ANGLES[plan.focus.angle],
            webinar=s.title or "-",
            contact=_json(contact.model_dump(include={"name", "title", "company", "attributes"})),
            insights=_json(
                insights.model_dump(mode="json", exclude={"run", "dropped", "transcript_id"})
                if insights
                else {}
            ),
            content=_json([_piece_json(key, p, plan) for key, p in plan.pieces.items()]),
            activity=_json([_event_json(e) for e in s.events]),
            earlier=_json(
                {
                    "emails": [
                        {"step": i, "subject": subject}
                        for i, subject in enumerate(s.usage.subjects, 1)
                    ],
                    "already_used": {
                        "quotes_and_pains": sorted(s.usage.refs),
                        "pieces": sorted(s.usage.pieces),
                    },
                }
            ),
        )

    def _finish(self, email: EmailDraft, run: BrainRun, contact: Contact, plan: _Plan) -> Draft:
        pieces = list(plan.pieces.values())
        known = {p.chunk_id: p.text for p in pieces} | {p.source_id: p.text for p in pieces}
        rules = EmailRules(plan.situation, links=[p.url for p in pieces])
        ledger = check_claims(
            [Claim(sentence=s.text, source=s.source, ref=s.ref) for s in email.sentences],
            transcript=Grounder(plan.transcript) if plan.transcript else None,
            contact=contact,
            chunks=known,
            known=[plan.situation.title or ""],
        )
        claims = [_vetted(c, s, rules) for c, s in zip(ledger.claims, email.sentences, strict=True)]
        bad = {c.sentence for c in claims if not c.supported}
        keep = [s for s in email.sentences if self.unsupported == "flag" or s.text not in bad]
        kept_refs = {s.ref for s in keep if s.ref}
        return Draft(
            kind="email",
            to=contact.email,
            subject=self._subject(email.subject, rules, plan),
            body=_body(*self._frame(email, rules, plan.situation), keep),
            claims=tuple(claims),
            removed=tuple(sorted(bad)) if self.unsupported == "remove" else (),
            flagged=tuple(sorted(bad)) if self.unsupported == "flag" else (),
            recommended=tuple(r for r in email.recommended if r in known and r in kept_refs),
            occasion=plan.situation.occasion,
            step=plan.situation.step,
            angle=plan.focus.angle,
            pains=tuple(n.quote for n in plan.situation.pains if n.quote in kept_refs),
            run=run,
        )

    def _subject(self, subject: str, rules: EmailRules, plan: _Plan) -> str:
        text = " ".join(subject.split())
        if rules.subject_problem(text) or not text:
            return subject_for(plan.situation, plan.focus)
        return text

    def _frame(self, email: EmailDraft, rules: EmailRules, s: Situation) -> tuple[str, str]:
        """The greeting and sign-off, replaced by ours when they fail the checks."""
        greeting, sign_off = email.greeting, email.sign_off
        if rules.subject_problem(greeting) or len(greeting) > 80:
            greeting = f"Hi {s.first_name},"
        if rules.subject_problem(sign_off) or len(sign_off) > 120:
            sign_off = f"Best regards,\n{self.sender}"
        return greeting, sign_off


def _vetted(claim: Claim, sentence: Sentence, rules: EmailRules) -> Claim:
    """The claim, failed with the reason when the sentence breaks one of the email rules."""
    reason = rules.problem(sentence)
    if reason is None:
        return claim
    return claim.model_copy(update={"supported": False, "factual": True, "note": reason})


def _piece_json(key: str, piece: Piece, plan: _Plan) -> dict[str, Any]:
    need = next((n for n in plan.focus.needs() if n.key == key), None)
    answers = f"{need.kind}: {need.quote}" if need else key
    return {
        "id": piece.chunk_id,
        "answers": answers,
        "title": piece.title,
        "url": piece.url,
        "text": piece.text[:600],
    }


def _event_json(event: Event) -> dict[str, Any]:
    keep = ("path", "content_id", "asset_id", "title", "campaign")
    props = {k: plain(str(v))[:120] for k, v in event.properties.items() if k in keep}
    return {"type": event.type, "at": event.timestamp.isoformat(), **props}


def _body(greeting: str, sign_off: str, sentences: Sequence[Sentence]) -> str:
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
