"""The rules brain's follow-up email: a sentence plan per kind of need, filled with cleaned facts.

Each need of the step's focus (`gtmflow.agents._email_situation`) becomes one or two sentences
from `prompts/followup_email_rules.md`: a pain is said back in the second person (and, when a
second clause is clean, quoted once, verbatim); an ask is answered with the piece that answers it
or a promise; a tool they like is context, never an objection; a complaint about a past vendor
leads to how switching works; a real objection gets an answer; the seller's own promise stays
in the first person. Every sentence carries the source the claims check verifies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from pydantic import BaseModel, Field

from gtmflow.agents._claims import ClaimSource
from gtmflow.agents._email_situation import Focus, Need, Situation
from gtmflow.agents._pieces import MORE, PRICING, Piece
from gtmflow.agents._restate import clean, problem_phrase, restate, say_back
from gtmflow.errors import ConfigError
from gtmflow.prompts import load_prompt

__all__ = ["EmailDraft", "Sentence", "compose", "subject_for"]

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_DETERMINER = frozenset(
    "a an the your our some any another this that these those".split()  # noqa: SIM905
)
_ASK_DEFAULT = {
    "material": "the material", "reference": "a reference", "pricing": "pricing",
    "pilot": "a pilot", "meeting": "a meeting", "intro": "the right person",
}  # fmt: skip
_PIECE_TYPES = {"guide", "case_study", "checklist", "doc", "pricing"}
_THOUGHTS = {"pain", "objection", "rival", "liked", "incumbent"}
"""Needs that are a new thought on what they said (a step-2 email about one says so)."""
_PROBLEMS = {"pain", "objection", "rival"}
"""Needs that are a problem a subject line can name."""
_SWAP_ITEM = {"my": "your", "our": "your", "me": "you", "us": "you", "your": "our", "you": "us",
              "yours": "ours", "mine": "yours", "ours": "yours"}  # fmt: skip


class Sentence(BaseModel):
    """One sentence of an email body and the source its claim rests on."""

    text: str = Field(description="One sentence of the email body.")
    source: ClaimSource = Field(description="transcript, crm, content, or none (no facts).")
    ref: str | None = Field(
        default=None, description="The verbatim quote, the CRM field name, or the content id."
    )
    new_paragraph: bool = Field(default=False, description="Start a new paragraph here.")


class EmailDraft(BaseModel):
    """What a brain fills for a follow-up email."""

    subject: str = Field(max_length=120)
    greeting: str = Field(description="e.g. 'Hi Sam,'")
    sentences: list[Sentence] = Field(min_length=1, max_length=14)
    sign_off: str = Field(description="e.g. 'Best regards,\\nDana'")
    recommended: list[str] = Field(default_factory=list, description="Content ids recommended.")


@cache
def _sections() -> dict[str, str]:
    return dict(load_prompt("followup_email_rules").sections)


def _say(section: str, /, **values: str) -> str:
    """One template section filled; every placeholder it uses must be given."""
    text = _sections()[section].strip()

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError(f"followup_email_rules section '{section}' needs '{key}'")
        return values[key]

    return _PLACEHOLDER.sub(value, text)


class _Writer:
    """Collects the sentences of one email and the pieces it links."""

    def __init__(self, s: Situation, pieces: dict[str, Piece]) -> None:
        self.s = s
        self.pieces = pieces
        self.sentences: list[Sentence] = []
        self.linked: list[str] = []
        self.paragraph = False

    def add(self, text: str, source: ClaimSource = "none", ref: str | None = None) -> None:
        self.sentences.append(
            Sentence(text=text, source=source, ref=ref, new_paragraph=self.paragraph)
        )
        self.paragraph = False

    def piece(self, section: str, piece: Piece, /, **values: str) -> None:
        self.add(_say(section, piece=piece.link, **values), "content", piece.chunk_id)
        self.linked.append(piece.chunk_id)

    def piece_for(self, need: Need) -> Piece | None:
        return self.pieces.get(need.key)

    def new_paragraph(self) -> None:
        self.paragraph = bool(self.sentences)


def compose(s: Situation, chosen: Focus, pieces: dict[str, Piece], *, sender: str) -> EmailDraft:
    """The rules brain's email for this step, from the situation and the chosen pieces."""
    w = _Writer(s, pieces)
    _opener(w, chosen)
    if chosen.main is not None:
        w.new_paragraph()
        _MAIN[chosen.main.kind](w, chosen.main)
    if chosen.asks:
        w.new_paragraph()
        for ask in chosen.asks:
            _ask(w, ask)
    for need in chosen.context:
        w.new_paragraph()
        _MAIN[need.kind](w, need)
    for extra in (chosen.promise, chosen.request):
        if extra is not None:
            w.new_paragraph()
            _MAIN[extra.kind](w, extra)
    more = pieces.get(MORE)
    if more is not None:
        w.new_paragraph()
        w.piece("piece_topic" if s.step == 1 else "piece_more", more)
    _activity(w)
    w.new_paragraph()
    w.add(_say(_closing(s)))
    return EmailDraft(
        subject=subject_for(s, chosen),
        greeting=_say("greeting", first_name=s.first_name),
        sentences=w.sentences,
        sign_off=_say("sign_off", sender=sender),
        recommended=w.linked,
    )


def subject_for(s: Situation, chosen: Focus) -> str:
    """A subject that names their problem (the step's main need), else the webinar or the ask.

    A check-in replies on the first email's thread, whose subject named the problem.
    """
    problem_main = chosen.main is not None and chosen.main.kind in _PROBLEMS
    if (
        s.step >= 2
        and not (s.step == 2 and problem_main)
        and s.usage.subjects
        and s.usage.subjects[0]
    ):
        return "Re: " + s.usage.subjects[0].removeprefix("Re: ")
    problem = _problem(chosen.main) if chosen.main and chosen.main.kind in _PROBLEMS else None
    if problem:
        return problem
    material = next((a for a in chosen.asks if getattr(a.item, "kind", "") == "material"), None)
    if material is not None:
        return _say("subject_asked", item=_item(material, article=False))
    if s.title:
        return _say("subject_webinar", title=s.title)
    return _say("subject_fallback")


def _problem(need: Need) -> str | None:
    said = restate(need.quote)
    return problem_phrase(said) if said and len(said.split()) >= 3 else None


def _opener(w: _Writer, chosen: Focus) -> None:
    s = w.s
    title = s.title or "our webinar"
    occasion = "webinar" if s.occasion == "webinar" else "call"
    if s.step >= 3:
        w.add(
            _say(
                "opener_checkin_webinar" if occasion == "webinar" else "opener_checkin", title=title
            )
        )
    elif s.step == 2:
        thought = chosen.main is not None and chosen.main.kind in _THOUGHTS
        w.add(_say(f"opener_{'later' if thought else 'again'}_{occasion}", title=title))
    elif s.occasion == "webinar":
        w.add(_say("opener_webinar_question" if s.asked_in_qa else "opener_webinar", title=title))
    else:
        w.add(_say("opener_call"))


def _closing(s: Situation) -> str:
    if s.step >= 3:
        return "closing_checkin"
    if s.step == 2:
        return "closing_later"
    return "closing_webinar" if s.occasion == "webinar" else "closing_call"


def _pain(w: _Writer, need: Need) -> None:
    said, quoted = say_back(need.quote, names=w.s.names)
    if not said:
        return
    if w.s.step > 1:
        name = "pain_later"
    else:
        name = "pain_webinar" if w.s.occasion == "webinar" else "pain_call"
    w.add(_say(name, pain=said), "transcript", need.quote)
    if quoted and w.s.step < 3 and quoted.lower() not in w.s.usage.quotes:
        w.add(_say("quote", quote=quoted), "transcript", quoted)
    piece = w.piece_for(need)
    if piece is not None:
        kind = piece.type if piece.type in _PIECE_TYPES else "other"
        w.piece(f"piece_{kind}", piece)


def _objection(w: _Writer, need: Need) -> None:
    said = restate(need.quote, names=w.s.names)
    if not said:
        return
    rivals = [c for c in w.s.rivals_named if c.lower() in need.quote.lower()]
    if rivals:  # a price comparison with another vendor: answered, never called "a fair point"
        w.add(_say("objection_compare", objection=said), "transcript", need.quote)
        return
    w.add(_say("objection", objection=said), "transcript", need.quote)
    piece = w.piece_for(need)
    if piece is not None:
        w.piece("answer_piece", piece)
        return
    category = getattr(need.item, "category", "other")
    name = f"answer_{category}" if f"answer_{category}" in _sections() else "answer_other"
    w.add(_say(name), "transcript", need.quote)


def _liked(w: _Writer, need: Need) -> None:
    name = str(getattr(need.item, "name", ""))
    w.add(_say("competitor_liked", name=name), "transcript", need.quote)
    piece = w.piece_for(need)
    if piece is not None:
        w.piece("competitor_liked_piece", piece)


def _incumbent(w: _Writer, need: Need) -> None:
    piece = w.piece_for(need)
    if piece is None:
        return
    name = str(getattr(need.item, "name", ""))
    w.piece(
        "competitor_moving" if piece.type == "checklist" else "competitor_alongside",
        piece,
        name=name,
    )


def _rival(w: _Writer, need: Need) -> None:
    name = str(getattr(need.item, "name", ""))
    if getattr(need.item, "role", "") == "evaluating":
        w.add(_say("competitor_evaluating", name=name), "transcript", need.quote)
        return
    complaint = restate(need.quote, names=w.s.names | {name, *name.split()})
    if not complaint:
        return
    w.add(_say("competitor_past", complaint=complaint), "transcript", need.quote)
    piece = w.piece_for(need)
    if piece is not None:
        w.piece("competitor_past_piece", piece)
    else:
        w.add(_say("competitor_past_promise"))


def _timeline(w: _Writer, need: Need) -> None:
    phrase = _DEADLINE.sub("", clean(str(getattr(need.item, "phrase", "") or ""))).strip(" .,")
    if phrase and len(phrase.split()) <= 8:
        w.add(_say("timeline", timeline=phrase), "transcript", need.quote)


_DEADLINE = re.compile(r"^(?:by|before|until|in|on|at|within|around)\s+", re.IGNORECASE)


def _promise(w: _Writer, need: Need) -> None:
    piece = w.piece_for(need)
    if piece is not None:
        w.piece("promise_piece", piece)
        return
    said = restate(need.quote, person=False, names=w.s.names | {"I'll", "I", "We'll"})
    if said and said.split()[0].lower() in ("i'll", "we'll", "i", "we"):
        w.add(_say("promise", promise=said[:1].upper() + said[1:]), "transcript", need.quote)


def _request(w: _Writer, need: Need) -> None:
    text = clean(need.quote).rstrip("?.! ")
    for pattern, name in _REQUESTS:
        match = pattern.match(text)
        if match:
            rest = _swap(_THEIR_PART.split(match.group("rest"))[0].strip(" ,"))
            rest = re.split(r",?\s+and let'?s\b", rest, flags=re.I)[0]
            if name == "request_send" and not _WHEN.search(rest):
                rest += " this week"
            w.add(_say(name, request=rest), "transcript", need.quote)
            return


_THEIR_PART = re.compile(r",?\s+(?:and|so|then)\s+(?:I|we)\b|,\s+(?:I|we)\b", re.IGNORECASE)
_WHEN = re.compile(
    r"\b(?:by|on|next|this|tomorrow|today|monday|tuesday|wednesday|thursday|friday|week|month)\b",
    re.IGNORECASE,
)
_SEND_ME = (
    r"^(?:(?:can|could|would) you (?:also |please )?|(?:please )?)(?:send|share|forward|email) "
    r"(?:me|us) (?P<rest>.+)$"
)
_REQUESTS = (
    (re.compile(_SEND_ME, re.I), "request_send"),
    (re.compile(r"^let'?s (?P<rest>.+)$", re.I), "request_lets"),
    (re.compile(r"^(?:can|could) (?:we|you) (?P<rest>.+)$", re.I), "request_can"),
)


def _ask(w: _Writer, need: Need) -> None:
    kind = str(getattr(need.item, "kind", "material"))
    piece = w.piece_for(need)
    item = _item(need, article=kind == "material")
    if kind in ("material", "reference", "pricing"):
        if piece is not None:
            w.add(_say(f"ask_{kind}", item=item), "transcript", need.quote)
            w.piece(f"ask_{kind}_piece", piece)
        else:
            promise = _say(f"ask_{kind}_promise", item=item, it=pronoun(item))
            w.add(promise, "transcript", need.quote)
        return
    w.add(_say(f"ask_{kind}", item=item), "transcript", need.quote)


_PREPOSITION = re.compile(r"\s+(?:for|of|on|about|with|from|in|to|by|at)\s+", re.IGNORECASE)


def pronoun(item: str) -> str:
    """ "them" when the head noun reads plural ("the comparison slides"), else "it".

    The head noun is the last word before a preposition: "pricing for forty seats" is "it".

    Example:
        >>> [pronoun(x) for x in ("the comparison slides", "pricing for forty seats", "a list")]
        ['them', 'it', 'it']
    """
    head = _PREPOSITION.split(item, maxsplit=1)[0].split()
    last = head[-1].lower() if head else ""
    singular_s = last.endswith(("ss", "us", "is", "ics")) or last in ("news", "series")
    return "them" if last.endswith("s") and not singular_s else "it"


def _item(need: Need, *, article: bool) -> str:
    """What they asked for, in our words: cleaned, persons swapped, with an article."""
    kind = str(getattr(need.item, "kind", "material"))
    raw = getattr(need.item, "item", None) or _ASK_DEFAULT.get(kind, "it")
    text = _swap(clean(raw)).strip(" .?!") or _ASK_DEFAULT.get(kind, "it")
    first = text.split(" ", 1)[0].lower()
    if article and first not in _DETERMINER:
        text = f"the {text}"
    return text


def _swap(text: str) -> str:
    """Their words about us and themselves, said from our side ("your team" -> "our team")."""
    return re.sub(
        r"\b(my|our|me|us|your|you|yours|mine|ours)\b",
        lambda m: _SWAP_ITEM[m.group(1).lower()],
        text,
        flags=re.IGNORECASE,
    )


def _activity(w: _Writer) -> None:
    s = w.s
    if s.step < 2:
        return
    if any(c in s.usage.pieces for c in s.activity.consumed):
        w.new_paragraph()
        w.add(_say("consumed"))
    if s.activity.pricing:
        w.new_paragraph()
        piece = w.pieces.get(PRICING)
        if piece is not None:
            w.piece("pricing_viewed_piece", piece)
        else:
            w.add(_say("pricing_viewed"))


_MAIN: dict[str, Callable[[_Writer, Need], None]] = {
    "pain": _pain,
    "objection": _objection,
    "liked": _liked,
    "incumbent": _incumbent,
    "rival": _rival,
    "timeline": _timeline,
    "promise": _promise,
    "request": _request,
    "ask": _ask,
}
