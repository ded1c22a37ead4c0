"""A prospect's words said back to them: cleaned, in the second person, bounded; short quotes.

What a person said on a call is rarely a sentence worth pasting into an email ("So, um, honestly
the biggest thing is our logs..."). `restate` turns it into a clause the writer can say back to
them: links and addresses removed, fillers and hedges dropped, leading "So"/"Yeah"/"Well" gone,
first person turned into second ("our techs" -> "your techs"), cut at a clause boundary. It
refuses (None) what it cannot say back cleanly: text that addresses the seller or tries to
instruct an AI. `short_quote` picks a clean verbatim span for the one quote an email may carry;
`problem_phrase` names the problem for a subject line.

Example:
    >>> restate("So, um, honestly our techs write everything on paper, you know, and it's a mess.")
    "your techs write everything on paper and it's a mess"
    >>> restate("I'm chasing parents by text for weeks.")
    "you're chasing parents by text for weeks"
    >>> problem_phrase("when one job runs long the whole afternoon falls apart")
    'The whole afternoon falls apart'
"""

from __future__ import annotations

import re
from collections.abc import Collection

from gtmflow.agents._plain_text import has_link, is_instruction, plain

__all__ = [
    "FILLER",
    "clean",
    "content_words",
    "problem_phrase",
    "restate",
    "say_back",
    "short_quote",
]

_NUMBERISH = (
    r"(?:a|an|the|\d[\d,.%]*|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|"
    r"forty|fifty|half|hundreds?|thousands?|dozens?)\b"
)
_LEADING = re.compile(
    r"^(?:(?:so|well|yeah|yes|yep|okay|ok|right|um+|uh+|erm|oh|look|hey|hi|honestly|basically|"
    r"frankly|anyway|and|but|also|plus|like|i mean|you know|to be honest|to be fair|in fairness|"
    r"if i'?m honest|the thing is|mostly|sorry)\b[\s,:.-]*)+",
    re.IGNORECASE,
)
_INLINE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), replacement)
    for pattern, replacement in (
        (r",?\s*\b(?:um+|uh+|erm)\b,?", ""),
        (r",\s*like,\s*", " "),
        (r"\blike,\s*", ""),
        (rf"\blike\s+(?={_NUMBERISH})", ""),
        (rf"\bmaybe\s+(?={_NUMBERISH})", "about "),
        (r",?\s*\byou know\b,?", ""),
        (r",?\s*\bi mean\b,?", ""),
        (r",?\s*\bi(?:'d| would) say\b,?", ""),
        (r",?\s*\bif i'?m honest\b,?", ""),
        (r",?\s*\bto be (?:honest|fair)\b,?", ""),
        (r"\bi (?:guess|think|suppose|feel like|believe)\b,?\s*", ""),
        (r"\s+though(?=,)", ""),
        (r"\b(?:kind|sort) of\s+", ""),
        (r"\b(?:basically|honestly|literally|frankly|genuinely|actually|just|truly)\b,?\s*", ""),
        (r"(?<!\bnot )\breally\b,?\s*", ""),
    )
)
_TRAILING = re.compile(
    r"(?:[,\s]*\b(?:though|honestly|really|i guess|to be honest|to be fair|or whatever|and stuff|"
    r"or something|you know|right|mostly|which is (?:the|a|my|our) (?:problem|issue|thing))\b)+"
    r"[\s.!?]*$",
    re.IGNORECASE,
)
FILLER = re.compile(
    r"\b(?:um+|uh+|erm|you know|i mean|kind of|sort of|basically|i guess|i'?d say|to be honest|"
    r"to be fair)\b|,\s*like,|\blike,",
    re.IGNORECASE,
)
"""Fillers and hedges that mark words as spoken, not written (for quotes and checks)."""
_CLAUSE = re.compile(
    r",\s+(?=(?:so|and|but|which|because|then|while|or|i|we|they|he|she|it|nobody)\b)|;\s+|"
    r"\s+[-\u2013\u2014]\s+|:\s+|(?<=[.!?])\s+",
    re.IGNORECASE,
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CONJUNCTION = re.compile(r"^(?:and|but|so|or|then|because|while)\s+", re.IGNORECASE)
_SUBORDINATE = _words("when every by on if once after before since whenever")
_SECOND = {
    "i'm": "you're", "i've": "you've", "i'd": "you'd", "i'll": "you'll", "i": "you", "me": "you",
    "my": "your", "mine": "yours", "myself": "yourself", "we're": "you're", "we've": "you've",
    "we'd": "you'd", "we'll": "you'll", "we": "you", "us": "you", "our": "your", "ours": "yours",
    "ourselves": "yourselves",
}  # fmt: skip
_FIRST = re.compile(
    r"(?<![\w'])(?:" + "|".join(sorted(_SECOND, key=len, reverse=True)) + r")(?![\w'])", re.I
)
_ADDRESSES_SELLER = re.compile(r"(?<![\w-])you(?:'re|'ve|'d|'ll|r|rs)?(?![\w-])", re.IGNORECASE)
_STOP = _words(
    "a an and are as at be been but by can could did do does for from had has have how i "
    "i'm if in into is it it's its just me more my no not of on or our so some than that "
    "the their them then there these they this to too up us was we we're were what when "
    "which while who why will with would you your you're"
)
_EDGE_STOP = _words("a an and the of to by in on with for at or so but that which")
_BOUNDARY = _words(
    "and but so because when which while until then or on in at by with to for from of "
    "every before after since instead if than"
)
_WEAK_END = _words("whole same other very all some any each every more most much")
_QUOTE_START = re.compile(r"^(?:so|and|but|also|well|yeah|because|which|then|or|like)\b", re.I)


def clean(text: str) -> str:
    """Spoken words tidied: links gone, fillers and hedges dropped, no leading "So", no trailing
    "though"."""
    out = plain(text)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    out = _LEADING.sub("", out.strip())
    out = _TRAILING.sub("", out)
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)
    out = re.sub(r",\s*,", ",", out)
    return " ".join(out.split()).strip(" ,;:-")


def restate(
    quote: str, *, limit: int = 26, names: Collection[str] = (), person: bool = True
) -> str | None:
    """The quote as a clause to say back to its speaker, or None when it cannot be said cleanly.

    Args:
        quote: What the prospect said (verbatim).
        limit: About this many words at most; longer text is cut at a clause boundary.
        names: Words to keep capitalised at the start (company, product and people's names).
        person: Turn first person into second ("our" -> "your"); False keeps it (our own words).
    """
    if is_instruction(quote):
        return None
    sentences = [clean(s) for s in re.split(r"(?<=[.!?])\s+", plain(quote))]
    body = next((s for s in sentences if len(s.split()) >= 4), None) or " ".join(sentences)
    clauses = [c.strip(" ,.;:!?") for c in _CLAUSE.split(body) if c.strip(" ,.;:!?")]
    kept: list[str] = []
    for clause in clauses:
        if person and _ADDRESSES_SELLER.search(clause):
            break  # "I couldn't tell you how much": not something to say back
        if kept and len(" ".join([*kept, clause]).split()) > limit:
            break
        kept.append(clause)
    joined = _join(body, kept)
    if len(joined.split()) > limit + 6:
        joined = _trim_edges(" ".join(joined.split()[:limit]).rstrip(" ,;:"))
    joined = re.sub(r"\s*\b(?:also|plus)\b", "", joined).strip()
    said = _second_person(joined) if person else joined
    return _lower_first(said, names) if said else None


def say_back(
    quote: str, *, names: Collection[str] = (), max_quote: int = 12
) -> tuple[str | None, str | None]:
    """A pain split into what to restate and, when it has a second clean clause, what to quote.

    "we toss cases of kale every week and I have no idea which bar is the worst" becomes
    ("you toss cases of kale every week", "I have no idea which bar is the worst"): the email
    says the first back to them and quotes the second verbatim.
    """
    spans = [s for s in _CLAUSE.split(plain(quote)) if s.strip(" ,;:.")]
    for index in range(1, len(spans)):
        quoted = short_quote(spans[index], max_words=max_quote)
        head = restate(" ".join(spans[:index]), names=names)
        if quoted and head and quote.find(quoted) >= 0 and len(head.split()) >= 4:
            return head, quoted
    return restate(quote, names=names), None


def _join(body: str, clauses: list[str]) -> str:
    """The kept clauses with the separators they had in the body."""
    if not clauses:
        return ""
    end = body.find(clauses[-1]) + len(clauses[-1])
    start = body.find(clauses[0])
    return body[start:end] if 0 <= start < end else ", ".join(clauses)


def _second_person(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        return word if word == "US" else _SECOND[word.lower()]

    out = _FIRST.sub(swap, text)
    out = re.sub(r"\byou am\b", "you are", out)
    return re.sub(r"\byou was\b", "you were", out)


def _lower_first(text: str, names: Collection[str]) -> str:
    first = text.split(" ", 1)[0]
    bare = first.strip(",.;:'\"")
    if (bare.isupper() and len(bare) > 1) or bare in names or any(c.isdigit() for c in bare):
        return text
    return text[:1].lower() + text[1:]


def _trim_edges(text: str) -> str:
    words = text.split()
    while words and words[-1].lower().strip(",.;:") in _EDGE_STOP:
        words.pop()
    return " ".join(words)


def short_quote(
    quote: str, *, avoid: str = "", min_words: int = 4, max_words: int = 12
) -> str | None:
    """A clean verbatim span of `quote` (a clause) for the one quote an email may carry.

    The span is copied exactly; it holds no filler, link or instruction, does not start with a
    conjunction, and shares little with `avoid` (the clause already restated).
    """
    avoided = content_words(avoid)
    for span in _CLAUSE.split(quote):
        text = _CONJUNCTION.sub("", span.strip(" ,;:-"))
        words = text.split()
        if not min_words <= len(words) <= max_words or _QUOTE_START.match(text):
            continue
        if FILLER.search(text) or has_link(text) or is_instruction(text):
            continue
        mine = content_words(text)
        if mine and len(mine & avoided) / len(mine) < 0.5:
            return text.rstrip(".!?")
    return None


def problem_phrase(restated: str, *, limit: int = 9) -> str:
    """A subject-line name for the problem in a restated clause, e.g. 'Your weekly ops report'.

    The longest opening of the first clause, at most `limit` words, that stops before a
    preposition or conjunction and ends on a word that carries meaning.
    """
    first = _CLAUSE.split(restated)[0].strip(" ,.;:")
    if first.split(" ", 1)[0].lower() in _SUBORDINATE:
        first = _main_clause(first)
    words = first.split()
    best = comma = 0
    for end in range(2, _number_end(words, min(limit, len(words))) + 1):
        last = words[end - 1].lower().strip(",.;:")
        boundary = end == len(words) or words[end].lower().strip(",.;:") in _BOUNDARY
        if last in _EDGE_STOP or last in _WEAK_END or _inside_number(words, end):
            continue
        if words[end - 1].endswith(","):
            comma = end
        elif boundary:
            best = end
    best = comma if comma >= 3 else best
    chosen = words[:best] if best >= 3 else words[: min(6, len(words))]
    while len(chosen) > 1 and chosen[-1].lower().strip(",.;:") in _EDGE_STOP | _WEAK_END:
        chosen.pop()
    phrase = " ".join(chosen).strip(" ,;:")
    return phrase[:1].upper() + phrase[1:]


_NUMBER = _words(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty sixty seventy eighty ninety hundred thousand million billion"
)
_UNIT = _words("percent per cent k m")


def _word(words: list[str], index: int) -> str:
    return words[index].lower().strip(",.;:") if 0 <= index < len(words) else ""


def _inside_number(words: list[str], end: int) -> bool:
    """Whether cutting after `end` words splits a spelled number ("a hundred | and forty
    percent") or leaves its unit behind ("forty | percent"): a subject must not change the figure.
    """
    after, last = _word(words, end), _word(words, end - 1)
    joined = after == "and" and _word(words, end + 1) in _NUMBER  # "hundred | and forty"
    if last in _NUMBER and (after in _NUMBER | _UNIT or joined):
        return True
    return last == "and" and _word(words, end - 2) in _NUMBER


def _number_end(words: list[str], end: int) -> int:
    """`end`, moved on (at most 4 words) to finish a spelled number the limit would split."""
    moved = end
    while moved < min(len(words), end + 4) and _inside_number(words, moved):
        moved += 1
    return moved


def _main_clause(text: str) -> str:
    """The main clause after a leading subordinate one: "when X runs long the day falls apart"."""
    if ", " in text:
        return text.split(", ", 1)[1]  # "by the time you cook, butter has gone up"
    words = text.split()
    for index in range(3, len(words) - 2):
        if words[index].lower() in ("the", "your", "you", "nobody", "everyone"):
            return " ".join(words[index:])
    return text


def content_words(text: str) -> set[str]:
    """Lowercase word stems of `text` without stop words (for overlap tests)."""
    words = re.findall(r"[a-z0-9][a-z0-9'-]*", text.lower().replace("\u2019", "'"))
    return {_stem(w) for w in words if w not in _STOP and len(w) > 1}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word
