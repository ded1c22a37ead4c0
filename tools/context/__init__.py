"""Context: the Chroma context store, embeddings, chunking, the content loader and records.

| module | holds |
| --- | --- |
| `context_store` | `ContextStore`: what we know about each contact and each piece of content |
| `records` | what the store keeps: content chunks, contact notes, search hits |
| `embeddings`, `static_embedding` | offline text embeddings registered with Chroma |
| `chunking` | documents split into retrieval chunks along headings and paragraphs |
| `content_loader` | a content library read from a folder (markdown, HTML, text) |
| `graph_store` | the context store as a LangGraph `BaseStore` (`runtime.store` in a node) |
| `writer_lock` | one writer process per store |
| `context_config` | the `[context]` table: an embedded folder or a Chroma server |
| `chroma_log` | what a forgotten contact left in Chroma's write-ahead log, removed |
| `chroma_index` | the unused slots of Chroma's vector index files zeroed (stray memory) |

`ContextStore` is imported on first use: importing this room does not import chromadb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gtmflow.tools.context.content_loader import load_content_dir
from gtmflow.tools.context.graph_store import ContextGraphStore
from gtmflow.tools.context.records import ContactNote, ContextHit

if TYPE_CHECKING:
    from gtmflow.tools.context.context_store import ContextStore

__all__ = ["ContactNote", "ContextGraphStore", "ContextHit", "ContextStore", "load_content_dir"]


def __getattr__(name: str) -> Any:
    if name == "ContextStore":  # chromadb costs ~0.3 s to import: only when asked for
        from gtmflow.tools.context.context_store import ContextStore

        return ContextStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
