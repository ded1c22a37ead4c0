"""The context store: Chroma memory of every contact and every piece of content.

Two collections: `content` (chunks of blog posts, case studies, docs) and `contacts` (notes
about a contact: transcript insights, summaries, replies, enrichment). Agents ask
`for_contact(contact_id, query)` ("what do we know about this contact?") and
`content_for(pains)` ("which of our content answers this pain?"), and get chunks with scores and
stable ids they can cite.

Embedded by default (`PersistentClient` under `.gtmflow/chroma/`). Chroma's embedded store is
not safe with several writer processes, so a workspace's store is opened by one process at a
time: a lock file refuses a second one with a clear error. For several processes or machines,
run a Chroma server and configure `[context] url = "http://host:8000"` (`HttpClient`).

Example:
    >>> import tempfile
    >>> from gtmflow.models import ContentItem
    >>> with ContextStore.open(tempfile.mkdtemp()) as store:
    ...     report = store.upsert_content([ContentItem(id="soc2", title="Security",
    ...         body="We hold a SOC 2 Type II report and encrypt data at rest.")])
    ...     hits = store.content_for("is my data safe with you?", k=1)
    >>> report.added, hits[0].source_id
    (1, 'soc2')
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import chromadb

from gtmflow.errors import ConfigError, GtmflowWarning, StoreError
from gtmflow.models import ContentItem
from gtmflow.tools._paths import workspace_path
from gtmflow.tools.context.chroma_index import zero_unused
from gtmflow.tools.context.chroma_log import scrub_contact
from gtmflow.tools.context.context_config import ContextConfig
from gtmflow.tools.context.embeddings import EmbedderSpec, GtmflowEmbedding, resolve_embedder
from gtmflow.tools.context.records import (
    ContactNote,
    ContextHit,
    ContextKind,
    MetadataValue,
    Record,
    content_records,
    group_by_source,
    hit_from,
    note_records,
)
from gtmflow.tools.context.writer_lock import WriterLock

__all__ = ["ContextConfig", "ContextStore", "UpsertReport"]

KINDS: tuple[ContextKind, ...] = ("content", "contacts")
_EMBED_BATCH = 64
_SCHEMA = 1


@dataclass
class UpsertReport:
    """What an upsert did, counted in sources (items or notes) and chunks."""

    sources: int = 0
    unchanged_sources: int = 0
    added: int = 0
    removed: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The shape printed by `gtmflow ingest content --json`."""
        return {
            "sources": self.sources,
            "unchanged_sources": self.unchanged_sources,
            "chunks_added": self.added,
            "chunks_removed": self.removed,
            "rejected": self.rejected,
        }


class ContextStore:
    """Chroma collections `content` and `contacts`, with one embedder for both.

    Open with `ContextStore.open(path)` (embedded, one writer process), `ContextStore.connect`
    (a Chroma server) or `ContextStore.for_workspace(root)` (whatever `gtmflow.toml` says).
    """

    def __init__(
        self,
        client: Any,
        *,
        embedder: GtmflowEmbedding,
        prefix: str = "",
        lock: WriterLock | None = None,
        max_words: int = 160,
        overlap_words: int = 30,
    ) -> None:
        """Wrap an open Chroma client; prefer the `open`/`connect` constructors."""
        self._client = client
        self.embedder = embedder
        self._lock = lock
        self._prefix = prefix
        self._chunking = {"max_words": max_words, "overlap_words": overlap_words}
        try:
            self._collections = {kind: self._collection(prefix + kind) for kind in KINDS}
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(
        cls, path: str | Path, *, embedder: EmbedderSpec = None, **options: Any
    ) -> ContextStore:
        """Open (creating) the embedded store in folder `path`; this process becomes its writer.

        Raises `StoreError` when another process (or another store in this one) has it open.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(folder / "writer.lock").acquire()
        try:
            _warn_unread(folder, zero_unused(folder).problems)
            client = chromadb.PersistentClient(path=str(folder))
        except Exception as exc:  # chromadb raises many unrelated types here
            lock.release()
            raise StoreError(f"context store '{folder}' could not be opened: {exc}") from exc
        return cls(client, embedder=resolve_embedder(embedder), lock=lock, **options)

    @classmethod
    def connect(
        cls,
        host: str = "localhost",
        port: int = 8000,
        *,
        ssl: bool = False,
        headers: Mapping[str, str] | None = None,
        prefix: str = "",
        embedder: EmbedderSpec = None,
        **options: Any,
    ) -> ContextStore:
        """Use a Chroma server (`chroma run`): many processes and machines may share it."""
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, headers=dict(headers or {}))
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"no Chroma server answers at {host}:{port} ({exc}); start one with "
                "`chroma run --path DIR --port PORT`, or set [context] mode = 'embedded'"
            ) from exc
        return cls(client, embedder=resolve_embedder(embedder), prefix=prefix, **options)

    @classmethod
    def for_workspace(
        cls, root: str | Path, *, embedder: EmbedderSpec = None, **options: Any
    ) -> ContextStore:
        """Open the store `root/gtmflow.toml` configures (default: embedded, `.gtmflow/chroma`)."""
        config = ContextConfig.load(root)
        chosen = embedder if embedder is not None else config.embedding
        if config.mode == "http":
            return cls.connect(
                config.host,
                config.port,
                ssl=config.ssl,
                prefix=config.prefix,
                embedder=chosen,
                **options,
            )
        folder = workspace_path(
            Path(root),
            config.path,
            key="[context] path",
            allow_outside=config.allow_outside_workspace,
        )
        return cls.open(folder, embedder=chosen, **options)

    def close(self) -> None:
        """Release the Chroma client and the writer lock (idempotent)."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()
        if self._lock is not None:
            folder = self._lock.path.parent
            try:  # the client wrote its index files: no stray memory may stay in them
                _warn_unread(folder, zero_unused(folder).problems)
            finally:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> ContextStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def upsert_content(
        self, items: Iterable[ContentItem], *, progress: Callable[[int], None] | None = None
    ) -> UpsertReport:
        """Chunk, embed and store content; unchanged items are skipped, changed ones replaced.

        `progress` is called with the number of chunks embedded after each batch. When one id
        appears twice, the last item wins.
        """
        unique = {item.id: item for item in items}.values()
        records = [r for item in unique for r in content_records(item, **self._chunking)]
        return self._sync("content", group_by_source(records), progress)

    def add_notes(
        self, notes: Iterable[ContactNote], *, progress: Callable[[int], None] | None = None
    ) -> UpsertReport:
        """Store notes about contacts (idempotent per contact and note id; the last one wins)."""
        unique = {note.source_id: note for note in notes}.values()
        records = [r for note in unique for r in note_records(note, **self._chunking)]
        return self._sync("contacts", group_by_source(records), progress)

    def remember(self, contact_id: str, text: str, **note: Any) -> ContactNote:
        """Store one note about a contact and return it (see `ContactNote` for the fields)."""
        written = ContactNote(contact_id=contact_id, text=text, **note)
        self.add_notes([written])
        return written

    def remember_transcript(
        self,
        contact_id: str,
        transcript_id: str,
        insights: Sequence[str],
        *,
        date: datetime | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> UpsertReport:
        """Write a transcript's insights to the contact's memory, one paragraph each.

        One note per transcript (`transcript:<id>`), so analysing it again replaces what the
        last analysis wrote; no insights removes it. `details` (the structured insights, JSON)
        is kept with the note for `transcript_details`.
        """
        if details is not None:
            metadata = {**(metadata or {}), "details": json.dumps(details, default=str)}
        texts = [" ".join(i.split()) for i in insights if i.strip()]
        note = ContactNote(
            contact_id=contact_id,
            id=f"transcript:{transcript_id}",
            source="transcript_insight",
            text="\n\n".join(texts) or "-",
            date=date,
            metadata={**(metadata or {}), "transcript_id": transcript_id},
        )
        if not texts:
            return self._sync("contacts", {note.source_id: []}, None)
        return self.add_notes([note])

    def transcript_details(self, contact_id: str, transcript_id: str) -> dict[str, Any] | None:
        """The structured insights kept with a transcript's note, if its analysis kept them."""
        for hit in self.chunks("contacts", f"{contact_id}/transcript:{transcript_id}"):
            raw = hit.metadata.get("details")
            if isinstance(raw, str):
                found: dict[str, Any] = json.loads(raw)
                return found
        return None

    def delete_content(self, content_id: str) -> int:
        """Remove a content item's chunks; returns how many were removed."""
        return self._delete("content", {"content_id": content_id})

    def forget(self, contact_id: str) -> int:
        """Erase everything stored about a contact; returns how many records were removed.

        An embedded store also loses the contact's writes from Chroma's write-ahead log, its
        full-text index and free pages (`gtmflow.tools.context.chroma_log`); calling it again
        after an interruption finishes that part.
        """
        removed = self._delete("contacts", {"contact_id": contact_id})
        if self._lock is not None:
            try:
                scrub_contact(
                    self._lock.path.parent,
                    contact_id,
                    collections=[self._collections["contacts"].name],
                )
            except sqlite3.Error as exc:
                raise StoreError(
                    f"context store '{self._lock.path.parent}': the contact's records are "
                    f"deleted but Chroma's log could not be cleaned ({exc}); run forget again"
                ) from exc
            self._rewrite_index()
        return removed

    def _rewrite_index(self) -> None:
        """Close the embedded client (it writes its index files), zero their unused slots, reopen.

        Chroma writes the index's spare slots from memory it never cleared, which can hold the
        text `forget` just deleted (`gtmflow.tools.context.chroma_index`).
        """
        assert self._lock is not None
        folder = self._lock.path.parent
        self._client.close()
        problems = zero_unused(folder).problems
        self._client = chromadb.PersistentClient(path=str(folder))
        self._collections = {kind: self._collection(self._prefix + kind) for kind in KINDS}
        if problems:
            raise StoreError(
                f"context store '{folder}': the contact's records are deleted, but Chroma's "
                f"index files are in a layout gtmflow does not know ({'; '.join(problems)}), so "
                "their spare slots may still hold her text; gtmflow is tested with chromadb "
                "1.5.9: install that version and run forget again"
            )

    def _sync(
        self,
        kind: ContextKind,
        groups: dict[str, list[Record]],
        progress: Callable[[int], None] | None,
    ) -> UpsertReport:
        collection = self._collections[kind]
        existing = self._existing_ids(kind, list(groups))
        stored = {i for ids in existing.values() for i in ids}
        wanted = {r.id for records in groups.values() for r in records}
        fresh = [r for records in groups.values() for r in records if r.id not in stored]
        unchanged = sum(
            1
            for sid, records in groups.items()
            if existing.get(sid, set()) == {r.id for r in records}
        )
        for start in range(0, len(fresh), _EMBED_BATCH):
            self._add(collection, fresh[start : start + _EMBED_BATCH])
            if progress is not None:
                progress(len(fresh[start : start + _EMBED_BATCH]))
        stale = sorted(stored - wanted)
        for start in range(0, len(stale), 5000):  # new chunks first: a crash leaves no gap
            collection.delete(ids=stale[start : start + 5000])
        return UpsertReport(len(groups), unchanged, len(fresh), len(stale))

    def _add(self, collection: Any, records: list[Record]) -> None:
        vectors = self.embedder.embed([r.embed_text for r in records])
        try:
            collection.add(
                ids=[r.id for r in records],
                embeddings=list(vectors),
                documents=[r.text for r in records],
                metadatas=[r.metadata for r in records],
            )
        except Exception as exc:
            raise StoreError(f"context store write failed: {exc}") from exc

    def _existing_ids(self, kind: ContextKind, source_ids: list[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for start in range(0, len(source_ids), 500):
            batch = source_ids[start : start + 500]
            rows = self._collections[kind].get(
                where={"source_id": {"$in": batch}}, include=["metadatas"]
            )
            for record_id, meta in zip(rows["ids"], rows["metadatas"] or [], strict=True):
                found.setdefault(str(meta["source_id"]), set()).add(record_id)
        return found

    def _delete(self, kind: ContextKind, where: dict[str, Any]) -> int:
        collection = self._collections[kind]
        ids = collection.get(where=where, include=[])["ids"]
        for start in range(0, len(ids), 5000):
            collection.delete(ids=ids[start : start + 5000])
        return len(ids)

    # ------------------------------------------------------------------ reading

    def for_contact(self, contact_id: str, query: str, k: int = 5) -> list[ContextHit]:
        """What we know about a contact that bears on `query`: their closest notes."""
        return self.search(query, kind="contacts", contact_id=contact_id, k=k)

    def content_for(
        self,
        pains: str | Sequence[str],
        k: int = 5,
        *,
        where: dict[str, Any] | None = None,
        one_per_source: bool = True,
    ) -> list[ContextHit]:
        """Content chunks that answer the pains, best first, each pain getting its turn.

        With several pains, results interleave each pain's ranking so one pain cannot crowd out
        the rest; `one_per_source` keeps the best chunk of each content item only. Each hit's
        `query` says which pain it answers.
        """
        queries = [pains] if isinstance(pains, str) else [p for p in pains if p.strip()]
        if not queries or k < 1:
            return []
        depth = k * 4 if one_per_source else k
        rankings = [self.search(q, kind="content", k=depth, where=where) for q in queries]
        chosen: list[ContextHit] = []
        seen: set[str] = set()
        for rank in range(depth):
            for ranking in rankings:
                hit = ranking[rank] if rank < len(ranking) else None
                key = hit.source_id if one_per_source and hit else hit.id if hit else ""
                if hit and key not in seen and len(chosen) < k:
                    seen.add(key)
                    chosen.append(hit)
        return chosen

    def search(
        self,
        query: str,
        *,
        kind: ContextKind = "content",
        contact_id: str | None = None,
        k: int = 5,
        where: dict[str, Any] | None = None,
    ) -> list[ContextHit]:
        """The `k` chunks closest to `query`, optionally filtered by contact or metadata."""
        if kind not in KINDS:
            raise ConfigError(f"kind '{kind}' is not known; use 'content' or 'contacts'")
        filters = [dict(where)] if where else []
        if contact_id is not None:
            filters.append({"contact_id": contact_id})
        collection = self._collections[kind]
        if k < 1 or not query.strip():
            return []
        vectors = list(self.embedder.embed_query([query]))
        try:
            result = collection.query(
                query_embeddings=vectors,
                n_results=k,
                where=_all_of(filters),
                include=["documents", "metadatas", "distances"],
            )
        except ValueError as exc:  # chromadb's word for a malformed `where`
            raise ConfigError(f"search filter {where!r} is not valid: {exc}") from None
        rows = zip(
            result["ids"][0],
            result["documents"][0],
            result["metadatas"][0],
            result["distances"][0],
            strict=True,
        )
        return [hit_from(kind, i, doc, meta, dist, query) for i, doc, meta, dist in rows]

    def notes(self, contact_id: str) -> list[ContextHit]:
        """Every note chunk about a contact, newest first (score 1.0: not ranked by a query)."""
        rows = self._collections["contacts"].get(
            where={"contact_id": contact_id}, include=["documents", "metadatas"]
        )
        hits = [
            hit_from("contacts", i, doc, meta, 0.0, "")
            for i, doc, meta in zip(rows["ids"], rows["documents"], rows["metadatas"], strict=True)
        ]
        return sorted(hits, key=lambda h: (-int(h.metadata.get("date_ts", 0)), h.source_id, h.id))

    def chunks(self, kind: ContextKind, source_id: str) -> list[ContextHit]:
        """The chunks of one content item or note (`<contact_id>/<note id>`), in order."""
        return self.listing(kind, where={"source_id": source_id})

    def listing(
        self,
        kind: ContextKind,
        *,
        contact_id: str | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[ContextHit]:
        """Every chunk of a collection matching the filters, unranked (score 0).

        Notes come newest first; chunks of one source keep their order.
        """
        filters = [dict(where)] if where else []
        if contact_id is not None:
            filters.append({"contact_id": contact_id})
        rows = self._collections[kind].get(
            where=_all_of(filters), include=["documents", "metadatas"]
        )
        hits = [
            hit_from(kind, i, doc, meta, 1.0, "")
            for i, doc, meta in zip(rows["ids"], rows["documents"], rows["metadatas"], strict=True)
        ]
        return sorted(
            hits,
            key=lambda h: (
                -int(h.metadata.get("date_ts", 0)),
                h.source_id,
                int(h.metadata.get("chunk_index", 0)),
            ),
        )

    def delete_source(self, kind: ContextKind, source_id: str) -> int:
        """Remove one content item's or note's chunks; returns how many were removed."""
        return self._delete(kind, {"source_id": source_id})

    def contacts_with_notes(self) -> list[str]:
        """Ids of the contacts the store holds notes about, sorted."""
        rows = self._collections["contacts"].get(include=["metadatas"])
        return sorted({str(m["contact_id"]) for m in rows["metadatas"] or []})

    def counts(self) -> dict[str, int]:
        """Records (chunks) per collection."""
        return {kind: int(self._collections[kind].count()) for kind in KINDS}

    # ------------------------------------------------------------------ collections

    def _collection(self, name: str) -> Any:
        """Open a collection, refusing one whose vectors come from another model."""
        model = self.embedder.model_id
        stored = self._stored_metadata(name)
        if stored is not None and stored.get("gtmflow_embedding") not in (None, model):
            raise ConfigError(
                f"collection '{name}' holds vectors of embedding model "
                f"'{stored['gtmflow_embedding']}', but this store embeds with '{model}'; "
                "mixing models makes scores meaningless: configure [context] embedding to match, "
                "or use a new store path and ingest again"
            )
        try:
            return self._client.get_or_create_collection(
                name,
                embedding_function=self.embedder,
                metadata={"gtmflow_embedding": model, "gtmflow_schema": _SCHEMA},
            )
        except ValueError as exc:
            raise ConfigError(
                f"collection '{name}' cannot be opened with '{model}': {exc}"
            ) from None

    def _stored_metadata(self, name: str) -> dict[str, Any] | None:
        for collection in self._client.list_collections():
            if collection.name == name:
                return dict(collection.metadata or {})
        return None


def _all_of(filters: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not filters:
        return None
    return filters[0] if len(filters) == 1 else {"$and": filters}


def _warn_unread(folder: Path, problems: list[str]) -> None:
    """Say (never silently skip) which index files could not be cleaned of stray memory."""
    if problems:
        warnings.warn(
            f"context store '{folder}': Chroma's index files are in a layout gtmflow does not "
            f"know ({'; '.join(problems)}), so their unused slots were not zeroed and may hold "
            "stray text; gtmflow is tested with chromadb 1.5.9",
            GtmflowWarning,
            stacklevel=3,
        )
