"""Extractors of the rules analyser: sentences, money, competitor names.

Money is parsed by our own patterns rather than `quantulum3`: measured on call sentences,
quantulum3 averaged ranges ("$150-200K" became 175,000), read "50k euros set aside" as the unit
"euro set", and took 2.2 s to warm up; ours keeps both ends of a range, reads symbols, ISO codes,
currency words, k/M/bn suffixes and number words ("two hundred thousand dollars"), and the period
("annually", "per month"). Competitors are matched with `rapidfuzz` on 1-3 word n-grams, compacted
("Sales force" = "Salesforce", "Hubspot" = "HubSpot"), proper nouns only so "our sales force" is
not a competitor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process

__all__ = ["CompetitorMatcher", "Money", "Sentence", "find_money", "split_sentences"]

_ABBREVIATIONS = re.compile(
    r"\b(?:mr|mrs|ms|dr|prof|inc|ltd|co|corp|vs|etc|e\.g|i\.e|approx|jr|sr|st)\.$", re.I
)
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9$€£])|(?<=[.!?])\s*$|\n+")

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_WORD_CURRENCY = {
    "dollar": "USD", "dollars": "USD", "bucks": "USD", "euro": "EUR", "euros": "EUR",
    "pound": "GBP", "pounds": "GBP", "quid": "GBP",
}  # fmt: skip
_CODES = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "INR", "SEK", "NOK", "DKK")
_MULT = {
    "k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6,
    "mil": 1e6, "bn": 1e9, "b": 1e9, "billion": 1e9,
}  # fmt: skip
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MUL = r"(?:k|m|mm|bn|b|thousand|grand|million|mil|billion)\b"
_SEP = r"\s?(?:-|\u2013|to|and)\s?"
_MONEY = re.compile(
    rf"(?P<sym>[$€£¥])\s?(?P<a>{_NUM})\s?(?P<am>{_MUL})?"
    rf"(?:{_SEP}[$€£¥]?\s?(?P<b>{_NUM})\s?(?P<bm>{_MUL})?)?"
    rf"|\b(?P<code>{'|'.join(_CODES)})\s?(?P<ca>{_NUM})\s?(?P<cam>{_MUL})?"
    rf"|\b(?P<na>{_NUM})\s?(?P<nam>{_MUL})?(?:{_SEP}(?P<nb>{_NUM})\s?(?P<nbm>{_MUL})?)?\s?"
    rf"(?P<word>dollars?|bucks|euros?|pounds?|quid|{'|'.join(_CODES)})\b",
    re.IGNORECASE,
)
_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_DECADES = "twenty thirty forty fifty sixty seventy eighty ninety"
_UNITS = {word: value for value, word in enumerate(_SMALL.split(" "))}
_TENS = {word: 10 * (value + 2) for value, word in enumerate(_DECADES.split(" "))}
_NUMBER_WORD = "|".join([*_UNITS, *_TENS, "hundred", "thousand", "million", "billion", "a", "and"])
_WORD_MONEY = re.compile(
    rf"\b(?P<words>(?:(?:{_NUMBER_WORD})[\s-]+)+?)(?P<unit>k|grand|dollars?|bucks|euros?|pounds?)\b",
    re.IGNORECASE,
)
_Period = Literal["year", "quarter", "month", "one_time"]
_PERIODS: tuple[tuple[re.Pattern[str], _Period], ...] = (
    (re.compile(r"\b(?:per|a|each|every) (?:year|annum)|\bannual(?:ly)?\b|/ ?(?:yr|year)\b|"
                r"\byearly\b", re.I), "year"),
    (re.compile(r"\b(?:per|a|each|every) month\b|\bmonthly\b|/ ?(?:mo|month)\b", re.I), "month"),
    (re.compile(r"\b(?:per|a|each|every) quarter\b|\bquarterly\b", re.I), "quarter"),
    (re.compile(r"\bone[- ](?:time|off)\b|\bup ?front\b", re.I), "one_time"),
)  # fmt: skip


@dataclass(frozen=True)
class Sentence:
    """A sentence of one utterance, as an exact slice of its text."""

    utterance: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Money:
    """An amount of money as said: the low end, the high end of a range, currency, period."""

    amount: float
    amount_max: float | None
    currency: str
    period: _Period | None
    text: str


def split_sentences(utterance: int, text: str) -> Iterator[Sentence]:
    """Sentences of an utterance with their offsets; abbreviations ("Mr.", "e.g.") do not split."""
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start()
        if end <= start or _ABBREVIATIONS.search(text[start:end]):
            continue
        piece = text[start:end].strip()
        if piece:
            offset = text.index(piece, start)
            yield Sentence(utterance, offset, offset + len(piece), piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        offset = text.index(tail, start)
        yield Sentence(utterance, offset, offset + len(tail), tail)


def find_money(text: str) -> list[Money]:
    """Every amount of money in `text`, in order of appearance."""
    period = next((p for pattern, p in _PERIODS if pattern.search(text)), None)
    found: list[tuple[int, Money]] = []
    taken: list[tuple[int, int]] = []
    for m in _MONEY.finditer(text):
        money = _from_match(m, period)
        if money is not None:
            found.append((m.start(), money))
            taken.append(m.span())
    for m in _WORD_MONEY.finditer(text):
        if any(start < m.end() and m.start() < end for start, end in taken):
            continue
        value = _words_value(m.group("words"))
        unit = m.group("unit").lower()
        if value:
            amount = value * (1e3 if unit in ("k", "grand") else 1)
            currency = _WORD_CURRENCY.get(unit, "USD")
            found.append((m.start(), Money(amount, None, currency, period, m.group(0))))
    return [money for _, money in sorted(found, key=lambda pair: pair[0])]


def _from_match(m: re.Match[str], period: _Period | None) -> Money | None:
    if m.group("sym"):
        currency = _SYMBOLS[m.group("sym")]
        a, am, b, bm = m.group("a"), m.group("am"), m.group("b"), m.group("bm")
    elif m.group("code"):
        currency, a, am, b, bm = m.group("code").upper(), m.group("ca"), m.group("cam"), None, None
    else:
        word = m.group("word")
        currency = _WORD_CURRENCY.get(word.lower(), word.upper())
        a, am, b, bm = m.group("na"), m.group("nam"), m.group("nb"), m.group("nbm")
    low = _number(a, am or bm)
    high = _number(b, bm) if b else None
    if low is None or (high is not None and high < low):
        return None
    return Money(low, high, currency, period, m.group(0).strip())


def _number(digits: str | None, multiplier: str | None) -> float | None:
    if not digits:
        return None
    value = float(digits.replace(",", ""))
    return value * _MULT.get((multiplier or "").lower(), 1.0)


def _words_value(words: str) -> float:
    total = current = 0.0
    for word in re.split(r"[\s-]+", words.lower().strip()):
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "a":
            current = current or 1
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in ("thousand", "million", "billion"):
            total += (current or 1) * _MULT[word]
            current = 0
    return total + current


class CompetitorMatcher:
    """Finds competitor names in text, tolerant of spacing, case and small misspellings.

    Args:
        names: Canonical competitor names, e.g. ["Salesforce", "HubSpot"].
        exclude: Names never to report (your own company and products).
        threshold: rapidfuzz ratio (0-100) an n-gram needs; names under 5 letters match exactly.
    """

    def __init__(
        self, names: Iterable[str], *, exclude: Iterable[str] = (), threshold: float = 88
    ) -> None:
        excluded = {_compact(n) for n in exclude}
        self.names = {_compact(n): n for n in names if _compact(n) not in excluded}
        self.threshold = threshold
        self._keys = list(self.names)

    def find(self, text: str) -> list[tuple[str, str]]:
        """(canonical name, words as said) for each competitor mentioned, first mention only."""
        tokens = [(m.group(0), m.start()) for m in re.finditer(r"[A-Za-z0-9][\w.&'-]*", text)]
        found: dict[str, str] = {}
        for size in (3, 2, 1):
            for i in range(len(tokens) - size + 1):
                words = tokens[i : i + size]
                if not words[0][0][0].isupper():
                    continue
                said = text[words[0][1] : words[-1][1] + len(words[-1][0])]
                name = self._match(_compact(said))
                if name and name not in found:
                    found[name] = said
        return list(found.items())

    def _match(self, key: str) -> str | None:
        if not key or not self._keys:
            return None
        if key in self.names:
            return self.names[key]
        if len(key) < 5:
            return None
        best = process.extractOne(key, self._keys, scorer=fuzz.ratio, score_cutoff=self.threshold)
        if best is None or len(best[0]) < 5:
            return None
        return self.names[best[0]]


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().removesuffix("'s"))
