"""The claims ledger: every factual sentence of a draft points at a source that is checked.

Sources: a transcript quote (must occur verbatim in the transcript), a CRM field (must exist on
the contact, and its value must appear in the sentence), or a content chunk (must be one of the
chunks the writer was given). A sentence is *factual* when it states something checkable: a
number, a proper noun, or something about the reader's situation ("you mentioned", "your
team", "as agreed"). Greetings, thanks, questions and calls to action need no source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gtmflow.agents.insights import Grounder, normalise
from gtmflow.models import Contact

__all__ = ["Claim", "ClaimSource", "Ledger", "check_claims", "is_factual", "split_text"]

ClaimSource = Literal["transcript", "crm", "content", "none"]
_SITUATION = re.compile(
    r"\b(?:you (?:mentioned|said|shared|told|noted|raised|asked|want|need|have|use|are|were)|"
    r"your (?:team|company|budget|timeline|process|goal|plan|ceo|cfo|board)|as agreed|"
    r"we (?:discussed|agreed)|you're|you've)\b",
    re.I,
)
_BOILERPLATE = re.compile(
    r"^(?:hi|hello|hey|dear|thanks|thank you|best|kind regards|regards|cheers|looking forward|"
    r"let me know|happy to|feel free|hope|would you|could you|can you|shall we|talk soon)\b",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?\"])\s+(?=[A-Z\"“])")


class Claim(BaseModel):
    """One sentence of a draft and the source it rests on, with the verdict of the check."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sentence: str
    source: ClaimSource = "none"
    ref: str | None = Field(default=None, description="Quote, CRM field or content chunk id.")
    supported: bool = False
    factual: bool = True
    note: str = ""


@dataclass(frozen=True)
class Ledger:
    """What the check found: every claim, and the factual sentences without support."""

    claims: tuple[Claim, ...]

    @property
    def unsupported(self) -> tuple[str, ...]:
        """Factual sentences whose source did not check out."""
        return tuple(c.sentence for c in self.claims if c.factual and not c.supported)


def split_text(text: str) -> list[str]:
    """Sentences of a draft's text (line breaks are boundaries too)."""
    return [s.strip() for line in text.splitlines() for s in _SENTENCE.split(line) if s.strip()]


def is_factual(sentence: str) -> bool:
    """Whether a sentence states something that needs a source."""
    text = sentence.strip()
    if not text or text.endswith("?") or _BOILERPLATE.match(text):
        return False
    if re.search(r"\d", text) or _SITUATION.search(text):
        return True
    words = re.findall(r"[A-Za-z][\w'-]*", text)
    return any(w[0].isupper() and w not in ("I", "I'm", "I'll", "I've", "I'd") for w in words[1:])


def check_claims(
    claims: Sequence[Claim],
    *,
    transcript: Grounder | None,
    contact: Contact | None,
    chunks: Mapping[str, str],
    known: Sequence[str] = (),
) -> Ledger:
    """Check each claim against its source; a factual sentence with no valid source fails.

    `known` are facts the caller vouches for (a webinar's title from the trigger): a sentence
    whose only checkable content is one of them needs no source.
    """
    checked = []
    for claim in claims:
        factual = is_factual(_without(claim.sentence, known))
        supported, note = _supported(claim, transcript, contact, chunks)
        checked.append(
            claim.model_copy(
                update={"factual": factual, "supported": supported or not factual, "note": note}
            )
        )
    return Ledger(tuple(checked))


def _without(sentence: str, known: Sequence[str]) -> str:
    for fact in known:
        if fact:
            sentence = sentence.replace(fact, "it")
    return sentence


def _supported(
    claim: Claim, transcript: Grounder | None, contact: Contact | None, chunks: Mapping[str, str]
) -> tuple[bool, str]:
    ref = (claim.ref or "").strip()
    if claim.source == "none" or not ref:
        return False, "no source"
    if claim.source == "transcript":
        if transcript is None:
            return False, "no transcript to check against"
        evidence = transcript.locate(ref)
        return (True, "") if evidence else (False, "quote not found in the transcript")
    if claim.source == "crm":
        value = _crm_value(contact, ref)
        if value is None:
            return False, f"contact has no field '{ref}'"
        ok = normalise(value).lower() in normalise(claim.sentence).lower()
        return (True, "") if ok else (False, f"the sentence does not use '{ref}' as recorded")
    key = ref if ref in chunks else next((k for k in chunks if k.split("#")[0] == ref), None)
    return (True, "") if key else (False, f"content '{ref}' was not among the chunks given")


def _crm_value(contact: Contact | None, field: str) -> str | None:
    if contact is None:
        return None
    name = field.removeprefix("contact.")
    value = getattr(contact, name, None) if name in Contact.model_fields else None
    if value is None:
        value = contact.attributes.get(name)
    if name == "name" and contact.name:
        value = contact.name.split()[0] if contact.name.split() else contact.name
    return None if value in (None, "") else str(value)
