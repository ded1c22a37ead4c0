"""Judge a follow-up email as its reader would: each rule a yes/no check against labelled gold.

`check_email` scores one email (subject and body, as sent) on the rules a marketer would hold it
to, given `Gold`: what the call or webinar Q&A really contained (the prospect's and the seller's
turns, the pains, asks and competitors with their roles, the library's links). A rule is `True`
(kept), `False` (broken) or `None` (does not apply, e.g. no quote to judge). `linked_pieces` and
`sequence_repeats` judge the pieces an email links and what a sequence repeats.

The checks read only the email text and the gold, never how the email was written, so they judge
an LLM's email the same way as the rules brain's.

Example:
    >>> gold = Gold(occasion="call", prospect_turns=("So our logs are all on paper.",),
    ...             pains=(GoldNeed("our logs are all on paper"),))
    >>> bad = 'Hi Al,\\n\\nYou mentioned that "So our logs are all on paper."\\n\\nBest,\\nDana'
    >>> rules = check_email("Following up", bad, gold, step=1)
    >>> rules["restated"], rules["cleaned"], rules["subject_names_problem"]
    (False, False, False)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gtmflow.agents._plain_text import EMAIL, URL, fold, is_instruction
from gtmflow.agents._restate import content_words
from gtmflow.agents.insights import AskKind, CompetitorRole, normalise

__all__ = [
    "RULES",
    "Gold",
    "GoldAsk",
    "GoldCompetitor",
    "GoldNeed",
    "check_email",
    "linked_pieces",
    "sequence_repeats",
]

RULES = (
    "restated",
    "no_pasting",
    "cleaned",
    "one_short_quote",
    "quotes_are_theirs",
    "seller_not_attributed",
    "occasion",
    "competitors_as_context",
    "asks_answered",
    "no_untrusted_text",
    "subject_names_problem",
)
"""The rubric of a written follow-up, in the order it is reported."""

_QUOTE = re.compile(r"[\"“]([^\"”]{2,400})[\"”]")
_FILLER = re.compile(
    r"\b(?:um+|uh+|erm|you know|i mean|kind of|sort of|basically|i guess|i'?d say|to be honest|"
    r"to be fair|literally)\b|,\s*like,|\blike,",
    re.IGNORECASE,
)
_SPOKEN_START = re.compile(
    r"(?:^|\bthat |: )[\"“]?(?:so|well|yeah|um|uh|okay|honestly|basically|like)\b", re.IGNORECASE
)
_THEIR_FIRST_PERSON = re.compile(r"\b(?:we|our|ours|us|we're|we've|we'd|ourselves)\b", re.I)
_ATTRIBUTION = re.compile(
    r"\b(?:you (?:said|told me|mentioned|asked|raised|described|shared|noted|agreed|explained)|"
    r"as agreed|in your words|as you put it)\b",
    re.IGNORECASE,
)
_CALL_WORDS = re.compile(
    r"\b(?:our call|the call|on the call|talk(?:ing)? with me|speak(?:ing)? with me|"
    r"our conversation|our meeting)\b",
    re.IGNORECASE,
)
_WEBINAR_WORDS = re.compile(r"\b(?:webinar|session|q&a|for joining)\b", re.IGNORECASE)
_OBJECTION_WORDS = re.compile(
    r"\b(?:concerns?|worr(?:y|ied|ies)|objections?|hesitat\w*|reservations?|push ?back|"
    r"fair point|risks?)\b",
    re.IGNORECASE,
)
_REPLACE_WORDS = re.compile(
    r"\b(?:replac\w*|switch(?:ing)? (?:away )?from|mov(?:e|ing) (?:off|away from)|instead of|"
    r"rip(?:ping)? out)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:no|not|never|nothing|without|n't)\b|n't\b", re.IGNORECASE)
_OFFER = r"(?:i'll|i will|i can|i'm|happy to|gladly|would you like|shall|let's|lining up)"
_ANSWERS: dict[str, re.Pattern[str]] = {
    "reference": re.compile(
        rf"(?=.*\b(?:customers?|references?|introduc\w*|intro|put you in touch|talk to|"
        rf"speak with)\b)(?=.*\b{_OFFER})",
        re.IGNORECASE,
    ),
    "pricing": re.compile(
        r"(?=.*\b(?:pricing|prices?|costs?|plans|quote|numbers)\b)"
        r"(?=.*\b(?:here|lays? out|i'll send|attached|link|price your|numbers together)\b)",
        re.IGNORECASE,
    ),
    "pilot": re.compile(
        r"(?=.*\b(?:pilot|trial|start with|try it|one (?:team|site|location|cent(?:er|re)|clinic|"
        rf"crew|ministry|room))\b)(?=.*\b(?:set (?:it|that) up|{_OFFER}|can)\b)",
        re.IGNORECASE,
    ),
    "meeting": re.compile(
        r"(?=.*\b(?:meeting|call|demo|walkthrough|session|times?|calendar|show)\b)"
        r"(?=.*(?:\?|\bi'll send (?:you )?(?:some )?times\b|\binvite\b))",
        re.IGNORECASE,
    ),
    "intro": re.compile(r"\b(?:introduc\w*|intro|put you in touch|connect you)\b", re.I),
}
_SENDING = re.compile(
    r"\b(?:here (?:it )?is|here's|attached|i'll send|i will send|sending)\b", re.I
)
_GENERIC = frozenset(
    "follow up following next step thank joining question checking re your you quick note".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class GoldNeed:
    """A pain or objection the prospect raised (their words) and the piece that answers it."""

    quote: str
    piece: str | None = None


@dataclass(frozen=True)
class GoldAsk:
    """Something the prospect asked for."""

    kind: AskKind
    item: str
    quote: str = ""
    piece: str | None = None


@dataclass(frozen=True)
class GoldCompetitor:
    """A vendor the prospect named, what it is to them and how they feel about it."""

    name: str
    role: CompetitorRole
    sentiment: Literal["positive", "neutral", "negative"] | None = None
    quote: str = ""
    piece: str | None = None


@dataclass(frozen=True)
class Gold:
    """What a labelled call or webinar Q&A really contained."""

    occasion: Literal["call", "webinar"]
    prospect_turns: tuple[str, ...]
    seller_turns: tuple[str, ...] = ()
    title: str | None = None
    title_safe: bool = True
    pains: tuple[GoldNeed, ...] = ()
    objections: tuple[GoldNeed, ...] = ()
    asks: tuple[GoldAsk, ...] = ()
    competitors: tuple[GoldCompetitor, ...] = ()
    library: dict[str, str] = field(default_factory=dict)
    injection: str | None = None

    @property
    def pieces(self) -> set[str]:
        """Every piece that answers one of the prospect's needs."""
        found: list[GoldNeed | GoldAsk | GoldCompetitor] = [
            *self.pains,
            *self.objections,
            *self.asks,
            *self.competitors,
        ]
        return {n.piece for n in found if n.piece}


@dataclass(frozen=True)
class _Email:
    subject: str
    body: str
    sentences: list[str]
    outside: str
    quotes: list[str]

    @classmethod
    def read(cls, subject: str, body: str) -> _Email:
        paragraphs = [p for p in body.split("\n\n") if p.strip()]
        middle = paragraphs[1:-1] if len(paragraphs) > 2 else paragraphs
        sentences = [s for p in middle for s in _sentences(p)]
        text = " ".join(sentences)
        quotes = [m.group(1).strip() for m in _QUOTE.finditer(text)]
        return cls(subject, body, sentences, _QUOTE.sub(" ", text), quotes)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?\"”])\s+(?=[A-Z\"“])", text) if s.strip()]


def check_email(subject: str, body: str, gold: Gold, *, step: int = 1) -> dict[str, bool | None]:
    """Every rule of `RULES` for one email: True kept, False broken, None not applicable."""
    email = _Email.read(subject, body)
    return {
        "restated": _restated(email, gold, step),
        "no_pasting": _no_pasting(email, gold),
        "cleaned": _cleaned(email),
        "one_short_quote": len(email.quotes) <= 1
        and all(len(q.split()) <= 15 for q in email.quotes),
        "quotes_are_theirs": _quotes_theirs(email, gold),
        "seller_not_attributed": _not_attributed(email, gold),
        "occasion": _occasion(email, gold),
        "competitors_as_context": _competitors(email, gold),
        "asks_answered": _asks(email, gold) if step == 1 and gold.asks else None,
        "no_untrusted_text": _untrusted(email, gold),
        "subject_names_problem": _subject(email, gold),
    }


def linked_pieces(
    body: str, gold: Gold, *, also_right: Collection[str] = ()
) -> list[tuple[str, bool]]:
    """The library pieces an email links (by URL), each with whether it answers a gold need.

    `also_right` are pieces that answer what the contact did since the last email (the pricing
    page after they looked at pricing).
    """
    by_url = {url.rstrip("/"): piece for piece, url in gold.library.items()}
    found = [by_url.get(m.group(0).rstrip("/.,)")) for m in URL.finditer(body)]
    pieces = list(dict.fromkeys(p or "(not in the library)" for p in found))
    return [(p, p in gold.pieces or p in also_right) for p in pieces]


def sequence_repeats(emails: Sequence[tuple[str, str]], gold: Gold) -> list[str]:
    """What a sequence of (subject, body) emails repeats: quotes, pains, pieces, sentences."""
    seen: dict[str, int] = {}
    repeats = []
    for number, (subject, body) in enumerate(emails, 1):
        email = _Email.read(subject, body)
        used = {f"quote: {normalise(q).lower().strip(' .')}" for q in email.quotes}
        used |= {f"pain: {p.quote}" for p in gold.pains if _pain_sentences(email, p)}
        used |= {f"piece: {piece}" for piece, _ in linked_pieces(body, gold)}
        used |= {f"sentence: {s}" for s in email.sentences}
        for key in sorted(used):
            if key in seen:
                repeats.append(f"email {number} repeats email {seen[key]}'s {key}")
            seen.setdefault(key, number)
    return repeats


def _overlap(a: str, b: str) -> float:
    wa, wb = content_words(a), content_words(b)
    return len(wa & wb) / min(len(wa), len(wb)) if wa and wb and len(wa & wb) >= 2 else 0.0


def _pain_sentences(email: _Email, pain: GoldNeed) -> list[str]:
    return [s for s in email.sentences if _overlap(_QUOTE.sub(" ", s), pain.quote) >= 0.5]


def _restated(email: _Email, gold: Gold, step: int) -> bool | None:
    said = [s for p in gold.pains for s in _pain_sentences(email, p)]
    if not said:
        return False if step == 1 and gold.pains else None
    for sentence in said:
        outside = _QUOTE.sub(" ", sentence)
        if _THEIR_FIRST_PERSON.search(outside) or not re.search(r"\byou", outside, re.I):
            return False
    return True


def _no_pasting(email: _Email, gold: Gold) -> bool:
    text = f" {_bare(email.outside)} "
    theirs = [s for t in gold.prospect_turns for s in _sentences(t) if len(s.split()) >= 6]
    return not any(f" {_bare(s)} " in text for s in theirs)


def _bare(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", normalise(text).lower()))


def _cleaned(email: _Email) -> bool:
    if _FILLER.search(email.outside):
        return False
    starts = [*email.sentences, *email.quotes]
    return not any(_SPOKEN_START.search(s) for s in starts)


def _quotes_theirs(email: _Email, gold: Gold) -> bool | None:
    if not email.quotes:
        return None
    theirs = [normalise(t) for t in gold.prospect_turns]
    return all(any(normalise(q).strip(" .,") in t for t in theirs) for q in email.quotes)


def _not_attributed(email: _Email, gold: Gold) -> bool | None:
    claims = [s for s in email.sentences if _ATTRIBUTION.search(s)]
    if not claims:
        return None
    theirs = [s for t in gold.prospect_turns for s in _sentences(t)]
    sellers = [s for t in gold.seller_turns for s in _sentences(t)]
    for sentence in claims:
        best_theirs = max((_overlap(sentence, t) for t in theirs), default=0.0)
        best_seller = max((_overlap(sentence, t) for t in sellers), default=0.0)
        if best_seller >= 0.6 and best_seller > best_theirs:
            return False
    return True


def _occasion(email: _Email, gold: Gold) -> bool:
    text = f"{email.subject} {' '.join(email.sentences)}"
    if gold.occasion == "call":
        return not _WEBINAR_WORDS.search(text)
    if _CALL_WORDS.search(text):
        return False
    if gold.title and gold.title_safe:
        return normalise(gold.title).lower() in normalise(text).lower()
    return bool(_WEBINAR_WORDS.search(text))


def _competitors(email: _Email, gold: Gold) -> bool | None:
    judged = False
    for competitor in gold.competitors:
        name = competitor.name.lower()
        about = [
            s
            for s in email.sentences
            if name in s.lower() or (competitor.quote and _overlap(s, competitor.quote) >= 0.6)
        ]
        for sentence in about:
            judged = True
            if _OBJECTION_WORDS.search(sentence):
                return False
            liked = competitor.role == "incumbent" and competitor.sentiment == "positive"
            replace = _REPLACE_WORDS.search(sentence)
            if liked and replace and not _NEGATION.search(sentence[: replace.start()]):
                return False
    return True if judged else None


def _asks(email: _Email, gold: Gold) -> bool:
    linked = {p for p, _ in linked_pieces(email.body, gold)}
    for ask in gold.asks:
        if ask.kind == "material":
            words = {w for w in content_words(ask.item) if len(w) >= 4}
            named = [s for s in email.sentences if words & content_words(s)]
            ok = (ask.piece in linked) or any(_SENDING.search(s) for s in named)
        else:
            ok = any(_ANSWERS[ask.kind].search(s) for s in email.sentences)
        if not ok:
            return False
    return True


def _untrusted(email: _Email, gold: Gold) -> bool:
    text = fold(f"{email.subject}\n{email.body}")
    if EMAIL.search(text) or is_instruction(text):
        return False
    allowed = {u.rstrip("/") for u in gold.library.values()}
    if any(m.group(0).rstrip("/.,)") not in allowed for m in URL.finditer(text)):
        return False
    if gold.title and not gold.title_safe and normalise(gold.title)[:20] in normalise(text):
        return False
    if gold.injection:
        words = _bare(gold.injection).split()
        runs = {" ".join(words[i : i + 4]) for i in range(max(len(words) - 3, 0))}
        return not any(run in _bare(text) for run in runs)
    return True


def _subject(email: _Email, gold: Gold) -> bool:
    subject = email.subject.strip()
    if not subject or len(subject) > 80 or URL.search(subject):
        return False
    words = content_words(subject) - _GENERIC
    needs = [
        *(p.quote for p in gold.pains),
        *(o.quote for o in gold.objections),
        *(a.item for a in gold.asks),
        *(c.quote for c in gold.competitors),
    ]
    if not gold.pains and gold.title and gold.title_safe:
        needs.append(gold.title)
    return bool(words & content_words(" ".join(needs)))
