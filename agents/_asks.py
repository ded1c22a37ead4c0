"""Asks: what the prospect asked for, typed, so a follow-up can answer each one.

A sentence is an ask when it is a request (a question with can/could/would/is there/do you
have/how would/what would, "please ...", "I'd like ...", "... would help") from the prospect's
side, and its object says what kind: `material` (a template, checklist, report, case study,
one-pager, deck), `reference` (a customer like us to speak with), `pricing` (what it would cost,
how pricing works), `pilot` (try it, a sandbox, a parallel run, start with one team), `meeting`
(a demo, a call, a walkthrough with someone) or `intro` (introduce me to / connect me with a
person). Pricing wins over pilot ("How would pricing work if we started with one team?" is a
pricing ask), reference over intro when the person to meet is a customer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = ["AskMatch", "find_ask"]

Kind = Literal["material", "reference", "pricing", "pilot", "meeting", "intro"]

_REQUEST = re.compile(
    r"(?:^|\b(?:and|also|so|but|okay|ok|great|then|oh|right)\b,?\s+|[,;]\s*)"
    r"(?:(?:can|could|would|will|may) (?:you|your team)|(?:can|could|may) (?:we|i)|is there|"
    r"are there|do you have|have you got|how (?:would|does|do|much)|what (?:would|does|do|"
    r"will|is|are|'s)|what's|please|(?:i|we)'?d (?:also |really )?(?:like|love)|"
    r"(?:send|share|email|forward) (?:me|us|over)|maybe (?:a|an|some)|any chance)\b"
    r"|(?<!that )(?<!it )(?<!this )\b(?:would|could) (?:help|be (?:great|helpful|useful))\b",
    re.I,
)
_DOCUMENT = (
    r"(?:template|checklist|check list|report|case stud(?:y|ies)|one[- ]pager|deck|slides|plan|"
    r"documentation|docs|guide|playbook|sample|example|manual|comparison|overview|white ?paper|"
    r"recording|rfp response|proposal|write[- ]up|summary|spec|datasheet|data sheet|soc ?2|"
    r"questionnaire|audit|roi|model|calculator|brochure|list|policy|contract|agreement|msa|"
    r"documents?|file|pdf|link)s?"
)
_PATTERNS: tuple[tuple[Kind, str], ...] = (
    (
        "pricing",
        r"\b(?:pricing|price[sd]?|cost|costs|quote|how much (?:is|would|does|will|do) "
        r"(?:it|this|that|you)|per (?:seat|user|month|year|tech|site)|"
        r"what (?:would|does|do|will) (?:it|this|that|a year|a month) (?:run|"
        r"cost|be)|what(?:'s| is) the (?:monthly |annual )?(?:cost|price|fee))\b",
    ),
    (
        "reference",
        r"\b(?:references?|customers?(?! success)|clients?|(?:another|other|a) \w+ (?:like us|"
        r"our size|that (?:switched|uses|moved|went))|(?:speak|talk|chat) (?:with|to) (?:a|an|"
        r"another|someone (?:who|at|that))|(?:a|an|another) \w+ (?:\w+ )?(?:using|that uses|"
        r"who uses|that switched|our size|like us|near)|"
        r"(?:i|we) could (?:speak|talk|call|visit|chat)|"
        r"(?:connect|put) (?:me|us) (?:with|in touch with) (?:a|an|the|another) (?!person\b|"
        r"team\b)\w+)\b",
    ),
    (
        "intro",
        r"\b(?:introduce|intro|connect (?:me|us) (?:with|to)|put (?:me|us) in touch|"
        r"meet (?:your|someone)|(?:someone|person) on your)\b",
    ),
    (
        "pilot",
        r"\b(?:pilot|trial|try (?:it|this|that|you|\w+ with|it out|\w+ (?:first|out|for))|"
        r"test drive|sandbox|proof of concept|poc|back ?test|in parallel|parallel run|"
        r"start(?:ed)? with (?:just |only )?(?:one|a single|the|a) |try it ourselves)\b",
    ),
    (
        "meeting",
        r"\b(?:demo|call|meeting|session|walk (?:\w+ ){0,3}through|walkthrough|"
        r"show (?:me|us|my|our)|meet|an hour|(?:thirty|30|fifteen|15|sixty) minutes|"
        r"find (?:a )?time|on the (?:next )?call|deep dive|workshop)\b",
    ),
    (
        "material",
        rf"\b(?:send|share|email|forward|get|have|see|give)\b.*\b{_DOCUMENT}\b|"
        rf"\b{_DOCUMENT}\b",
    ),
)
_KINDS = tuple((kind, re.compile(pattern, re.I)) for kind, pattern in _PATTERNS)
_SENT_DOCUMENT = re.compile(
    rf"\b(?:send|share|email|forward|give|get)\b(?:\s+\S+){{0,8}}?\s+(?P<doc>{_DOCUMENT})\b", re.I
)
_ITEM = re.compile(
    rf"\b(?:the|that|this|a|an|your|some|those|these|any)\s+(?:[\w-]+\s+){{0,3}}{_DOCUMENT}\b",
    re.I,
)
_BARE_ITEM = re.compile(rf"(?:[\w-]+\s+){{0,2}}?{_DOCUMENT}\b", re.I)


@dataclass(frozen=True)
class AskMatch:
    """An ask found in one sentence: its kind and, for materials, the item in their words."""

    kind: Kind
    item: str | None


@lru_cache(maxsize=4096)
def find_ask(text: str) -> AskMatch | None:
    """The ask a prospect's sentence makes, or None when it requests nothing."""
    if not _REQUEST.search(text) or _NOT_AN_ASK.search(text):
        return None
    sent = _SENT_DOCUMENT.search(text)
    if sent and not re.match(r"(?:quote|pric|cost)", sent.group("doc"), re.I):
        return AskMatch("material", _item(text))
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return AskMatch(kind, _item(text) if kind == "material" else None)
    return None


_NOT_AN_ASK = re.compile(
    r"\b(?:what (?:is|are|does) (?:your|the) (?:name|title|role)|how are you|what do you "
    r"(?:mean|think)|can you hear|could you repeat|would you like|do you want me)\b",
    re.I,
)


def _item(text: str) -> str | None:
    match = _ITEM.search(text) or _BARE_ITEM.search(text)
    if match is None:
        return None
    verbs = r"^(?:(?:send|share|email|forward|give|get|have|see|me|us|you|over|it)\s+)+"
    return re.sub(verbs, "", match.group(0).strip(), flags=re.I) or None
