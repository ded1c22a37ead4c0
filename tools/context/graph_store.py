"""The context store as a LangGraph `BaseStore`: a node reads and writes it as `runtime.store`.

`Workspace.run` compiles every graph with this store attached, so a user's node uses the
standard LangGraph API and gets the workspace's Chroma store underneath:

```python
def remember_summary(state: MyState, runtime: Runtime[Deps]) -> dict[str, Any]:
    store = runtime.store
    hits = store.search(("content",), query="lead routing is slow", limit=3)
    store.put(("contacts", state["contact_id"]), "summary", {"text": "Wants faster routing."})
    return {}
```

Namespaces:

| namespace | items (key: value) |
| --- | --- |
| `("contacts", <contact_id>)` | notes about the contact; note id: `{"text", "source", ...}` |
| `("content",)` | content items; content id: `{"title", "body", "url", "topics", ...}` |

`search(prefix, query=...)` is semantic (Chroma, cosine similarity as `score`); each result is the
best chunk of one note or piece, its text under `"text"` and its metadata beside it. `filter`
matches metadata exactly. Without a query, search lists a contact's notes (newest first) or the
content items. LangGraph refuses namespace labels with a `.`, so contacts whose id holds one (an
email address) are reached through `gtmflow.tools.context.ContextStore` directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from gtmflow.errors import ConfigError
from gtmflow.models import ContentItem
from gtmflow.tools.context.records import ContactNote, ContextHit

if TYPE_CHECKING:  # chromadb is imported only when the store is first used
    from gtmflow.tools.context.context_store import ContextStore

__all__ = ["ContextGraphStore"]

_EPOCH = datetime.fromtimestamp(0, UTC)
_NOTE_FIELDS = ("text", "source", "date")
_CONTENT_FIELDS = set(ContentItem.model_fields) - {"id"}


class ContextGraphStore(BaseStore):
    """A LangGraph `BaseStore` over a `ContextStore` (opened on first use).

    Args:
        opener: Returns the context store; called once, on the first operation, so a graph
            that never touches `runtime.store` never opens Chroma.
    """

    def __init__(self, opener: Callable[[], ContextStore]) -> None:
        self._opener = opener
        self._store: ContextStore | None = None

    @property
    def context(self) -> ContextStore:
        """The context store underneath."""
        if self._store is None:
            self._store = self._opener()
        return self._store

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run get, search, put and list-namespaces operations in order."""
        return [self._one(op) for op in ops]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` in a worker thread (Chroma's embedded client is synchronous)."""
        return await asyncio.to_thread(self.batch, list(ops))

    def _one(self, op: Op) -> Result:
        if isinstance(op, GetOp):
            return self._get(op.namespace, op.key)
        if isinstance(op, SearchOp):
            return self._search(op)
        if isinstance(op, PutOp):
            self._put(op.namespace, op.key, op.value)
            return None
        if isinstance(op, ListNamespacesOp):
            return self._namespaces(op)
        raise ConfigError(f"unknown store operation {op!r}")

    # ------------------------------------------------------------------ operations

    def _get(self, namespace: tuple[str, ...], key: str) -> Item | None:
        kind, source_id = _source(namespace, key)
        chunks = self.context.chunks(kind, source_id)
        if not chunks:
            return None
        value = _value(chunks[0]) | {"text": "\n\n".join(c.text for c in chunks)}
        return _item(namespace, key, value, chunks[0])

    def _put(self, namespace: tuple[str, ...], key: str, value: Mapping[str, Any] | None) -> None:
        kind, source_id = _source(namespace, key)
        if value is None:
            self.context.delete_source(kind, source_id)
        elif kind == "contacts":
            self.context.add_notes([_note(namespace[1], key, value)])
        else:
            self.context.upsert_content([_content(key, value)])

    def _search(self, op: SearchOp) -> list[SearchItem]:
        kind, contact_id = _prefix(op.namespace_prefix)
        wanted = op.limit + op.offset
        if op.query:
            hits = self.context.search(
                op.query, kind=kind, contact_id=contact_id, k=wanted * 3, where=op.filter
            )
        else:
            hits = self.context.listing(kind, contact_id=contact_id, where=op.filter)
        chosen = _one_per_source(hits)[op.offset : wanted]
        return [
            _item(_namespace(h), _key(h), _value(h), h, h.score if op.query else None)
            for h in chosen
        ]

    def _namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        contacts = self.context.contacts_with_notes()
        found: list[tuple[str, ...]] = [("content",), *(("contacts", c) for c in contacts)]
        for condition in op.match_conditions or ():
            found = [ns for ns in found if _matches(ns, condition.match_type, condition.path)]
        if op.max_depth is not None:
            found = list(dict.fromkeys(ns[: op.max_depth] for ns in found))
        return found[op.offset : op.offset + op.limit]


# ---------------------------------------------------------------------------- mapping


def _source(namespace: tuple[str, ...], key: str) -> tuple[Any, str]:
    """(collection, source id) of one item."""
    if namespace == ("content",):
        return "content", key
    if len(namespace) == 2 and namespace[0] == "contacts":
        return "contacts", f"{namespace[1]}/{key}"
    raise ConfigError(
        f"namespace {namespace!r} is not in the context store; use ('contacts', <contact_id>) "
        "for notes about a contact or ('content',) for content items"
    )


def _prefix(prefix: tuple[str, ...]) -> tuple[Any, str | None]:
    if prefix in (("content",), ()):
        return "content", None
    if prefix == ("contacts",):
        return "contacts", None
    if len(prefix) == 2 and prefix[0] == "contacts":
        return "contacts", prefix[1]
    raise ConfigError(
        f"cannot search {prefix!r}: search ('content',), ('contacts',) or "
        "('contacts', <contact_id>)"
    )


def _one_per_source(hits: list[ContextHit]) -> list[ContextHit]:
    """The first (best) chunk of each note or piece, in order."""
    first: dict[str, ContextHit] = {}
    for hit in hits:
        first.setdefault(hit.source_id, hit)
    return list(first.values())


def _namespace(hit: ContextHit) -> tuple[str, ...]:
    if hit.kind == "content":
        return ("content",)
    return ("contacts", str(hit.metadata.get("contact_id", "")))


def _key(hit: ContextHit) -> str:
    if hit.kind == "content":
        return hit.source_id
    return str(hit.metadata.get("note_id") or hit.source_id.partition("/")[2])


def _value(hit: ContextHit) -> dict[str, Any]:
    hidden = {"kind", "source_id", "chunk_index", "chunk_count", "note_id", "content_id"}
    meta = {k: v for k, v in hit.metadata.items() if k not in hidden and not k.endswith("_ts")}
    return meta | {"text": hit.text, "chunk_id": hit.id}


def _item(
    namespace: tuple[str, ...],
    key: str,
    value: dict[str, Any],
    hit: ContextHit,
    score: float | None = None,
) -> SearchItem:
    """An item dated by its note's date or its piece's publication (else the Unix epoch)."""
    stamp = hit.metadata.get("date_ts") or hit.metadata.get("published_ts")
    when = datetime.fromtimestamp(int(stamp), UTC) if stamp else _EPOCH
    return SearchItem(namespace, key, value, created_at=when, updated_at=when, score=score)


def _note(contact_id: str, key: str, value: Mapping[str, Any]) -> ContactNote:
    if not isinstance(value.get("text"), str) or not value["text"].strip():
        raise ConfigError(
            f"a note about '{contact_id}' needs a non-empty 'text', e.g. "
            "store.put(('contacts', contact_id), 'summary', {'text': 'Renewal is in June.'})"
        )
    metadata = {k: v for k, v in value.items() if k not in _NOTE_FIELDS}
    return ContactNote(
        contact_id=contact_id,
        id=key,
        text=value["text"],
        source=str(value.get("source", "note")),
        date=value.get("date"),
        metadata=metadata,
    )


def _content(key: str, value: Mapping[str, Any]) -> ContentItem:
    unknown = sorted(set(value) - _CONTENT_FIELDS)
    if unknown:
        raise ConfigError(
            f"content item '{key}': unknown fields {unknown}; use {sorted(_CONTENT_FIELDS)}"
        )
    return ContentItem.model_validate({"id": key, **value})


def _matches(namespace: tuple[str, ...], how: str, pattern: tuple[str, ...]) -> bool:
    """Whether a namespace starts (`prefix`) or ends (`suffix`) with the pattern (`*`: any)."""
    if len(namespace) < len(pattern):
        return False
    part = namespace[: len(pattern)] if how == "prefix" else namespace[-len(pattern) :]
    return all(p in ("*", x) for x, p in zip(part, pattern, strict=True))
