"""Which library piece answers which need: one retrieval per need, a preference per kind of need.

The library (the context store, or any `ContentLibrary`) is asked once per need with a query made
for that need: an ask for a checklist looks for the checklist, an ask for a reference looks for a
customer story, a pain looks for what fixes it, a tool they like looks for how we work with it.
Hits are re-ranked by what kind of piece that need wants (a pricing question wants the pricing
page) and by shared words with the ask's own item; a piece an earlier email linked, one the
contact already opened, or one below `min_score` is never chosen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gtmflow.agents._email_situation import Focus, Need, Situation
from gtmflow.agents._restate import clean, content_words, restate
from gtmflow.agents.insights import normalise
from gtmflow.tools.deps import ContentLibrary

__all__ = ["MORE", "PRICING", "Piece", "choose_pieces", "promised"]

PRICING = "pricing-page"
"""The key under which a piece for a pricing-page visit is chosen."""
MORE = "more-on-the-topic"
"""The key of a further read when an email has no new need of its own to answer."""
_K = 8
_LEXICAL = 0.2
"""Weight of shared words between what they said and a piece (tuned on the tuning sellers)."""
_MIN_SCORE = 0.25
_WANTS: dict[str, tuple[str, float]] = {
    "reference": ("case_study", 0.3),
    "pricing": ("pricing", 0.4),
    "price": ("pricing", 0.25),
    "security": ("doc", 0.05),
}


@dataclass(frozen=True)
class Piece:
    """A library piece chosen for a need: its chunk (the citation) and how to link it."""

    chunk_id: str
    source_id: str
    title: str
    url: str
    type: str
    text: str
    topics: tuple[str, ...] = ()

    @property
    def link(self) -> str:
        """The title with its URL, as the email shows it."""
        return f"{self.title} ({self.url})" if self.url else self.title

    @classmethod
    def from_hit(cls, hit: Any) -> Piece:
        """A piece from a retrieval hit (a `ContextHit` or anything shaped like one)."""
        meta = dict(getattr(hit, "metadata", {}) or {})
        return cls(
            chunk_id=str(hit.id),
            source_id=str(getattr(hit, "source_id", "") or str(hit.id).split("#")[0]),
            title=str(meta.get("title") or getattr(hit, "source_id", hit.id)),
            url=str(meta.get("url") or ""),
            type=str(meta.get("type") or ""),
            text=str(getattr(hit, "text", "")),
            topics=tuple(str(t) for t in meta.get("topics") or () if isinstance(t, str)),
        )


def choose_pieces(
    library: ContentLibrary | None, s: Situation, chosen: Focus, *, limit: int
) -> dict[str, Piece]:
    """A piece per need of this email (keyed by the need's key), at most `limit` in all."""
    if library is None:
        return {}
    taken: set[str] = set(s.usage.pieces) | set(s.activity.consumed)
    found: dict[str, Piece] = {}
    asks_first = sorted(chosen.needs(), key=lambda n: n.kind != "ask")  # explicit asks first
    wanted: list[tuple[str, Need | None, str | None]] = [
        (n.key, n, _query(n, s)) for n in asks_first
    ]
    if s.activity.pricing and s.step > 1:
        wanted.append((PRICING, None, "pricing and plans"))
    if not any(n.kind in ("pain", "objection", "rival") for n in chosen.needs()):
        topic = s.first_pain.quote if s.first_pain else s.title
        if topic and not chosen.needs() and s.step == 1:
            wanted.append((MORE, None, restate(topic) or topic))
    for key, need, query in wanted:
        if len(found) >= limit:
            break
        if not query:
            continue
        hits = library.content_for([query], k=_K)
        piece = _best(hits, need, key, _said(need))
        # The best answer already given (earlier, or in this email) is not swapped for a worse one.
        if piece is not None and piece.source_id not in taken:
            found[key] = piece
            taken.add(piece.source_id)
    return found


def _query(need: Need, s: Situation) -> str | None:
    """What to look for in the library for one need (None: this need takes no piece)."""
    item = need.item
    if need.kind == "ask":
        kind = getattr(item, "kind", "material")
        words = getattr(item, "item", None) or need.quote
        return {
            "material": words,
            "reference": f"customer story case study: {words}",
            "pricing": f"pricing and plans: {words}",
        }.get(kind)
    if need.kind in ("liked", "incumbent"):
        return f"working with {getattr(item, 'name', '')} integration"
    if need.kind == "objection":
        category = getattr(item, "category", "other")
        prefix = {"price": "pricing and plans", "security": "security and data protection"}.get(
            category, ""
        )
        return f"{prefix}: {need.quote}" if prefix else need.quote
    if need.kind == "pain":
        return " ".join([restate(need.quote) or need.quote, *_around(need.quote, s)])
    if need.kind == "promise":
        return promised(need.quote)
    return None


def promised(quote: str) -> str | None:
    """What the seller promised to send ("I'll send you the par level guide" -> "the par level
    guide"), or None when the promise is not to send something."""
    match = _SEND.search(clean(quote))
    return match.group("what").strip(" .,") if match else None


_SEND = re.compile(
    r"\b(?:send|share|forward|email)(?: (?:you|over|across|it))*\s+(?P<what>[^,;]+?)"
    r"(?:,|;| by \w+| after \w+| this \w+| tomorrow| today|$)",
    re.IGNORECASE,
)


def _around(quote: str, s: Situation) -> list[str]:
    """The rest of the turn a quote was said in: "the state chemical logs" gives "paper" its
    meaning."""
    wanted = normalise(quote)
    for text in s.prospect_quotes:
        if wanted in normalise(text) and normalise(text) != wanted:
            return [clean(text)[:400]]
    return []


def _said(need: Need | None) -> set[str]:
    """The words of what they said, for the lexical part of the ranking (pains, objections)."""
    if need is None or need.kind not in ("pain", "objection"):
        return set()
    return content_words(restate(need.quote) or need.quote)


def _best(hits: Sequence[Any], need: Need | None, key: str, said: set[str]) -> Piece | None:
    ranked = []
    for hit in hits:
        piece = Piece.from_hit(hit)
        bonus = _bonus(piece, need, key)
        if bonus is None:
            continue
        if said:
            shared = said & content_words(f"{piece.title} {piece.text}")
            bonus += _LEXICAL * len(shared) / math.sqrt(len(said))
        ranked.append((float(getattr(hit, "score", 0.0)) + bonus, piece))
    ranked.sort(key=lambda pair: -pair[0])
    return ranked[0][1] if ranked and ranked[0][0] >= _MIN_SCORE else None


def _bonus(piece: Piece, need: Need | None, key: str) -> float | None:
    """How much this kind of need prefers this piece (None: it cannot answer the need)."""
    if need is None:
        if key == PRICING:
            return 0.4 if piece.type == "pricing" else None
        return None if piece.type == "pricing" else 0.0
    if need.kind in ("liked", "incumbent"):
        name = str(getattr(need.item, "name", "")).lower()
        if not name or name not in f"{piece.title} {piece.text}".lower():
            return None  # a piece about connecting to X must name X
        return 0.3 if name in piece.title.lower() else 0.0
    want = getattr(need.item, "kind", None) if need.kind == "ask" else None
    want = want or (getattr(need.item, "category", None) if need.kind == "objection" else None)
    bonus = 0.0
    if want in _WANTS and piece.type == _WANTS[want][0]:
        bonus += _WANTS[want][1]
    if need.kind in ("ask", "promise"):
        what = getattr(need.item, "item", None) if need.kind == "ask" else promised(need.quote)
        item = content_words(str(what or ""))
        shared = len(item & content_words(f"{piece.title} {piece.type} {' '.join(piece.topics)}"))
        if (want == "material" and item and not shared) or (need.kind == "promise" and shared < 2):
            return None  # "a proposal" is not answered by whatever piece comes first
        bonus += 0.1 * min(3, shared)
    elif piece.type == "pricing":
        bonus -= 0.2  # a pain is not answered by the price list
    elif piece.type == "case_study":
        bonus -= 0.1  # a pain wants the fix; a customer story answers a reference ask
    return bonus
