"""Splitting documents into retrieval chunks along headings and paragraphs, with overlap.

A chunk never crosses a markdown heading: each section is packed paragraph by paragraph up to
`max_words`; a paragraph too long for one chunk is split at sentence ends (and, for a run-on
sentence, between words). When a section spills into a further chunk, that chunk repeats the
section's heading and the last sentences of the one before (about `overlap_words`), so a passage
cut at the boundary is still found whole.

Sizes are counted in words, not model tokens, so chunk ids do not depend on the embedder; the
default (160 words, ~210 WordPiece tokens for English prose) stays under MiniLM's 256 tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gtmflow.errors import ConfigError

__all__ = ["Chunk", "chunk_text"]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrieval unit: its position in the document, its text and its section path."""

    index: int
    text: str
    section: str = ""


@dataclass(slots=True)
class _Section:
    heading: str  # the heading line as written ("## Pricing"), or "" before the first one
    path: str  # "Guide > Pricing"
    paragraphs: list[str]


def chunk_text(text: str, *, max_words: int = 160, overlap_words: int = 30) -> list[Chunk]:
    """Split markdown or plain text into chunks that respect headings and paragraphs.

    Args:
        text: The document; `#` headings start sections, blank lines separate paragraphs.
        max_words: The most words in a chunk (a heading repeated for context counts too).
        overlap_words: About how many words of the previous chunk a continuation repeats.

    Example:
        >>> [c.section for c in chunk_text("# Guide\\nIntro.\\n\\n## Pricing\\nSeats cost $10.")]
        ['Guide', 'Guide > Pricing']
    """
    if max_words < 20 or not 0 <= overlap_words < max_words // 2:
        raise ConfigError(
            f"chunking max_words={max_words}, overlap_words={overlap_words}: need max_words >= "
            "20 and 0 <= overlap_words < max_words / 2"
        )
    chunks: list[Chunk] = []
    for section in _sections(text):
        for body in _pack(section, max_words, overlap_words):
            chunks.append(Chunk(len(chunks), body, section.path))
    return chunks


def _sections(text: str) -> list[_Section]:
    sections = [_Section("", "", [])]
    trail: list[tuple[int, str]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            sections[-1].paragraphs.append("\n".join(paragraph).strip())
            paragraph.clear()

    fenced = False
    for line in text.replace("\r\n", "\n").split("\n"):
        fenced ^= line.lstrip().startswith("```")
        heading = None if fenced else _HEADING.match(line)
        if heading:
            flush()
            level, title = len(heading.group(1)), heading.group(2).strip()
            trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, title)]
            sections.append(_Section(line.strip(), " > ".join(t for _, t in trail), []))
        elif line.strip() or fenced:
            paragraph.append(line.rstrip())
        else:
            flush()
    flush()
    return sections


def _pack(section: _Section, max_words: int, overlap_words: int) -> list[str]:
    """Pack a section's paragraphs into chunk bodies of at most `max_words` words."""
    head = section.heading + "\n\n" if section.heading else ""
    budget = max_words - _words(section.heading)
    if budget < max_words // 2:  # an absurdly long heading: do not repeat it
        head, budget = "", max_words
    step = budget - overlap_words
    pieces = [(n, p) for n, para in enumerate(section.paragraphs) for p in _fit(para, budget, step)]
    bodies: list[str] = []
    current: list[tuple[int, str]] = []
    for paragraph, piece in pieces:
        if current and _words(*(p for _, p in current), piece) > budget:
            bodies.append(head + _join(current))
            current = _tail(current, min(overlap_words, budget - _words(piece)))
        current.append((paragraph, piece))
    if current:
        bodies.append(head + _join(current))
    return bodies


def _fit(paragraph: str, budget: int, step: int) -> list[str]:
    """A paragraph as pieces of at most `budget` words: whole, else sentences, else words.

    Run-on sentences are cut every `step` words, leaving room for the overlap.
    """
    if _words(paragraph) <= budget:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        words = sentence.split()
        if len(words) <= budget:
            pieces.append(sentence)
        else:
            pieces.extend(" ".join(words[i : i + step]) for i in range(0, len(words), step))
    return pieces


def _join(pieces: list[tuple[int, str]]) -> str:
    """Sentences of one paragraph joined by spaces, paragraphs by blank lines."""
    text = ""
    for i, (paragraph, piece) in enumerate(pieces):
        gap = "" if i == 0 else " " if pieces[i - 1][0] == paragraph else "\n\n"
        text += gap + piece
    return text


def _tail(pieces: list[tuple[int, str]], limit: int) -> list[tuple[int, str]]:
    """The last sentences of `pieces`, at most `limit` words, to repeat in the next chunk."""
    kept: list[tuple[int, str]] = []
    for paragraph, piece in reversed(pieces):
        sentences = _SENTENCE_END.split(piece)
        for sentence in reversed(sentences):
            if _words(sentence, *(p for _, p in kept)) > limit:
                return kept or _last_words(pieces[-1], limit)
            kept.insert(0, (paragraph, sentence))
    return kept


def _last_words(piece: tuple[int, str], limit: int) -> list[tuple[int, str]]:
    """Overlap for a run-on sentence: its last words (none if there is no room)."""
    return [(piece[0], " ".join(piece[1].split()[-limit:]))] if limit >= 5 else []


def _words(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)
