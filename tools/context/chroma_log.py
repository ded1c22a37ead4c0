"""Chroma's write-ahead log: removing what a forgotten contact left in it.

An embedded Chroma (`chroma.sqlite3`) keeps every write in `embeddings_queue`, documents and
metadata verbatim, until all of a collection's segments have persisted past it; the vector index
persists only every ~1,000 writes, so an erased note stays readable there long after `delete`.
`scrub_contact` removes the contact's writes (adds, updates, upserts: the only ones that carry
text) and every delete already applied by all segments. A delete not yet applied is kept, so the
vector index still replays it: it carries only the record id, which for contact notes is opaque
(`gtmflow.tools.context.records`). Then the full-text index is merged (dropping deleted terms) and
the file is vacuumed, so no freed page keeps the old text.

Run it while this process holds the store's writer lock, so no other gtmflow process writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

__all__ = ["scrub_contact"]

_DELETE = 3
"""Chroma's operation code for a delete in `embeddings_queue`."""


def scrub_contact(folder: Path, contact_id: str, *, collections: Iterable[str]) -> int:
    """Remove a contact's traces from the write-ahead log under `folder`; return rows removed.

    Args:
        folder: The embedded store's folder (holding `chroma.sqlite3`).
        contact_id: Whose writes to remove (matched on the `contact_id` metadata).
        collections: Names of the collections holding contact notes.
    """
    path = folder / "chroma.sqlite3"
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        removed = 0
        for topic, applied in _topics(conn, set(collections)).items():
            removed += _scrub_topic(conn, topic, applied, contact_id)
        _merge_fulltext(conn)
        conn.execute("VACUUM")
        return removed
    finally:
        conn.close()


def _topics(conn: sqlite3.Connection, names: set[str]) -> dict[str, int]:
    """Log topic of each named collection → the sequence number all its segments applied."""
    rows = conn.execute(
        "SELECT c.id, c.name, MIN(COALESCE(m.seq_id, 0)) FROM collections c "
        "JOIN segments s ON s.collection = c.id LEFT JOIN max_seq_id m ON m.segment_id = s.id "
        "GROUP BY c.id"
    ).fetchall()
    found: dict[str, int] = {}
    for collection_id, name, applied in rows:
        if name in names:
            for (topic,) in conn.execute(
                "SELECT DISTINCT topic FROM embeddings_queue WHERE topic LIKE ?",
                (f"%/{collection_id}",),
            ):
                found[str(topic)] = int(applied or 0)
    return found


def _scrub_topic(conn: sqlite3.Connection, topic: str, applied: int, contact_id: str) -> int:
    rows = conn.execute(
        "SELECT seq_id, id, operation, metadata FROM embeddings_queue WHERE topic = ?", (topic,)
    ).fetchall()
    ids = {record_id for _, record_id, op, meta in rows if op != _DELETE and _of(meta, contact_id)}
    doomed = [
        seq
        for seq, record_id, op, _ in rows
        if record_id in ids and (op != _DELETE or seq <= applied)
    ]
    conn.execute("BEGIN IMMEDIATE")
    for start in range(0, len(doomed), 500):
        batch = doomed[start : start + 500]
        marks = ", ".join("?" for _ in batch)
        conn.execute(f"DELETE FROM embeddings_queue WHERE seq_id IN ({marks})", batch)
    conn.execute("COMMIT")
    return len(doomed)


def _of(metadata: str | bytes | None, contact_id: str) -> bool:
    if not metadata:
        return False
    try:
        data = json.loads(metadata)
    except (ValueError, TypeError):
        return False
    return isinstance(data, dict) and data.get("contact_id") == contact_id


def _merge_fulltext(conn: sqlite3.Connection) -> None:
    """FTS5 keeps a deleted document's terms until its segments merge: merge them now."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "embedding_fulltext_search" in tables:
        conn.execute(
            "INSERT INTO embedding_fulltext_search(embedding_fulltext_search) VALUES('optimize')"
        )
