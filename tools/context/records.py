"""What the context store keeps: chunk records of content and contact notes, and search hits.

Every record carries its id keys in metadata (`kind`, `source_id`, `chunk_index`, and
`content_id` or `contact_id`), because Chroma's `where` silently skips records that lack a key.
A record id is `<source_id>#<chunk index>:<hash>`, the hash covering the chunk's text and
metadata: unchanged content keeps its ids (re-ingesting is a no-op), changed content gets new ids
(its old chunks are deleted). A contact note's id is a hash of that (`note:<hash>`), because
Chroma's log keeps ids after a delete and a note's source id names the contact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from gtmflow.models import ContentItem
from gtmflow.tools.context.chunking import chunk_text

__all__ = [
    "ContactNote",
    "ContextHit",
    "ContextKind",
    "MetadataValue",
    "Record",
    "content_records",
    "group_by_source",
    "hit_from",
    "note_records",
]

ContextKind = Literal["content", "contacts"]
MetadataValue = str | int | float | bool
_Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
_RESERVED = frozenset({"kind", "source_id", "chunk_index", "chunk_count", "contact_id", "note_id"})


class ContactNote(BaseModel):
    """Something learned about a contact: a transcript insight, summary, reply, enrichment.

    `id` names the note within the contact (default: a hash of source and text), so writing
    the same note again is a no-op and writing new text under the same id replaces it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    contact_id: _Key
    text: str = Field(min_length=1)
    source: _Key = Field(
        default="note", description="transcript_insight, summary, reply, enrichment, note, ..."
    )
    id: _Key | None = None
    date: AwareDatetime | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @property
    def note_id(self) -> str:
        """The note's id within its contact."""
        return self.id or f"{self.source}-{_digest(self.source, self.text)[:16]}"

    @property
    def source_id(self) -> str:
        """The store-wide id of this note's chunks: `<contact_id>/<note id>`."""
        return f"{self.contact_id}/{self.note_id}"


class ContextHit(BaseModel):
    """One retrieved chunk: what `for_contact`, `content_for` and `search` return.

    `id` is the chunk's record id, stable while its text is unchanged, so a claims ledger can
    cite it; `score` is the cosine similarity to the query (higher is closer).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    source_id: str
    kind: ContextKind
    score: float
    text: str
    metadata: dict[str, Any]
    query: str = Field(description="The query (or pain) this chunk was retrieved for.")

    def to_json(self) -> dict[str, Any]:
        """The shape printed by `gtmflow context search --json`."""
        return {
            "id": self.id,
            "source_id": self.source_id,
            "score": round(self.score, 4),
            "text": self.text,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True)
class Record:
    """A chunk as stored: id, verbatim text, what is embedded, and metadata."""

    id: str
    source_id: str
    text: str
    embed_text: str
    metadata: dict[str, MetadataValue | list[str]]


def content_records(
    item: ContentItem, *, max_words: int = 160, overlap_words: int = 30
) -> list[Record]:
    """Chunk a content item into records; each embeds its title and section for context."""
    chunks = chunk_text(item.body, max_words=max_words, overlap_words=overlap_words)
    base: dict[str, MetadataValue | list[str]] = {
        "kind": "content",
        "source_id": item.id,
        "content_id": item.id,
        "title": item.title,
        "url": item.url or "",
        "type": item.type,
        "chunk_count": max(1, len(chunks)),
    }
    if item.topics:
        base["topics"] = list(item.topics)
    base.update(_dated("published", item.published_at))
    if not chunks:  # a title-only item is still findable
        return [_record(item.id, 0, item.title, item.title, {**base, "section": ""})]
    return [
        _record(
            item.id,
            chunk.index,
            chunk.text,
            _context_line(item.title, chunk.section) + chunk.text,
            {**base, "section": chunk.section},
        )
        for chunk in chunks
    ]


def note_records(
    note: ContactNote, *, max_words: int = 160, overlap_words: int = 30
) -> list[Record]:
    """Chunk a contact note into records keyed by contact and note id."""
    extra = {k: v for k, v in note.metadata.items() if k not in _RESERVED}
    chunks = chunk_text(note.text, max_words=max_words, overlap_words=overlap_words)
    base: dict[str, MetadataValue | list[str]] = {
        **extra,
        "kind": "contacts",
        "source_id": note.source_id,
        "contact_id": note.contact_id,
        "note_id": note.note_id,
        "source": note.source,
        "chunk_count": max(1, len(chunks)),
        **_dated("date", note.date),
    }
    texts = [c.text for c in chunks] or [note.text]
    records = [_record(note.source_id, i, t, t, dict(base)) for i, t in enumerate(texts)]
    return [replace(r, id=_opaque(r.id)) for r in records]


def _opaque(record_id: str) -> str:
    """A note chunk's store id: a hash, so ids (which Chroma's log keeps after a delete, see
    `gtmflow.tools.context.chroma_log`) never name the contact."""
    return "note:" + hashlib.sha256(record_id.encode()).hexdigest()[:32]


def group_by_source(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Records grouped by source id, in first-seen order."""
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.source_id, []).append(record)
    return groups


def hit_from(
    kind: ContextKind,
    record_id: str,
    text: str,
    metadata: Mapping[str, Any],
    distance: float,
    query: str,
) -> ContextHit:
    """A search hit from one Chroma result row (cosine distance → similarity)."""
    return ContextHit(
        id=record_id,
        source_id=str(metadata.get("source_id", "")),
        kind=kind,
        score=1.0 - float(distance),
        text=text,
        metadata=dict(metadata),
        query=query,
    )


def _record(
    source_id: str,
    index: int,
    text: str,
    embed_text: str,
    metadata: dict[str, MetadataValue | list[str]],
) -> Record:
    metadata["chunk_index"] = index
    digest = _digest(embed_text, text, json.dumps(metadata, sort_keys=True, default=str))
    return Record(f"{source_id}#{index}:{digest[:12]}", source_id, text, embed_text, metadata)


def _context_line(title: str, section: str) -> str:
    """ "Title — Section" ahead of a chunk's text, so a chunk deep in a page keeps its topic."""
    leaf = section.rsplit(" > ", 1)[-1]
    if not title:
        return f"{leaf}\n\n" if leaf else ""
    if not leaf or leaf == title:
        return f"{title}\n\n"
    return f"{title} — {leaf}\n\n"


def _dated(key: str, when: datetime | None) -> dict[str, MetadataValue]:
    """An ISO date for people and an epoch-seconds twin for `$gte`/`$lt` filters."""
    if when is None:
        return {}
    return {key: when.isoformat(), f"{key}_ts": int(when.timestamp())}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
