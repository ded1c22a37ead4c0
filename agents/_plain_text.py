"""Untrusted words made safe to send: no link, address or instruction survives, lengths bounded.

Transcripts, webinar Q&As and event properties come from outside. Before any of their words reach
an outgoing message they pass through here: `plain` strips links, email addresses, markup and
invisible characters; `is_instruction` spots text aimed at an AI or phishing bait (after folding
homoglyphs and zero-width characters, so a Cyrillic "s" in "system:" or a zero-width space in
"ignore" does not hide them); `safe_title`
turns an event's title into plain text of bounded length, or refuses it.

Example:
    >>> safe_title("URGENT: your account is locked, verify at http://x.example/verify") is None
    True
    >>> safe_title("  **Fewer miles,  more jobs**  ")
    'Fewer miles, more jobs'
    >>> plain("see www.acme.example/board or mail ops@acme.example today")
    'see or mail today'
"""

from __future__ import annotations

import re
import unicodedata

from gtmflow.agents._lexicons import INJECTION

__all__ = ["EMAIL", "URL", "fold", "has_link", "is_instruction", "plain", "safe_title"]

URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"')]+|"
    r"\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|ai|app|dev|example|info|biz|us|uk|de|fr|ly|me)\b"
    r"(?:/[^\s<>\"')]*)?",
    re.IGNORECASE,
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_INVISIBLE = re.compile(
    r"[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\u00ad]|[\x00-\x08\x0b-\x1f\x7f]"
)
_MARKUP = re.compile(r"<[^>]{0,200}>|[*_`#>|]{1,3}|\[(?=[^\]]*\]\()|\]\([^)]*\)")
_BAIT = re.compile(
    r"\b(?:urgent|verify (?:your|at|now|here)|account (?:is |has been |was )?(?:locked|suspended|"
    r"disabled)|(?:reset|confirm|enter) your password|click (?:here|the link|below)|"
    r"wire (?:the )?(?:money|funds|transfer)|gift cards?|"
    r"note (?:for|to) the (?:ai|bot|assistant))\b",
    re.IGNORECASE,
)
# Letters from other scripts that look Latin, mapped to the letter they imitate.
_HOMOGLYPHS = str.maketrans(
    "аеорсхуікјѕԁһӏАВЕКМНОРСТХУІЅ",
    "aeopcxyikjsdhlABEKMHOPCTXYIS",
)


def fold(text: str) -> str:
    """Text as an attacker cannot disguise it: NFKC, homoglyphs folded, invisible characters out."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).translate(_HOMOGLYPHS)


def has_link(text: str) -> bool:
    """Whether the text holds a URL or an email address (after folding)."""
    folded = fold(text)
    return bool(URL.search(folded) or EMAIL.search(folded))


def is_instruction(text: str) -> bool:
    """Whether the text tries to instruct an AI or reads like phishing bait."""
    folded = fold(text)
    return bool(INJECTION.search(folded) or _BAIT.search(folded))


def plain(text: str) -> str:
    """The text without links, email addresses, markup or invisible characters, spaces collapsed."""
    folded = fold(text)
    folded = EMAIL.sub(" ", folded)
    folded = URL.sub(" ", folded)
    folded = _MARKUP.sub(" ", folded)
    return " ".join(folded.split())


def safe_title(title: object, *, limit: int = 80) -> str | None:
    """An event's title as plain text of at most `limit` characters; None when unusable.

    A title that held a link, an address or an instruction is refused rather than trimmed: what
    is left of "verify your account at http://..." is still bait.
    """
    if not isinstance(title, str) or has_link(title) or is_instruction(title):
        return None
    text = plain(title).strip(" \"'\u201c\u201d\u2018\u2019.,;:-")
    if len(text) > limit:
        text = text[: limit + 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return text or None
