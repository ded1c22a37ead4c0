"""Chroma's vector index files: the slots not in use zeroed, so no stray memory stays on disk.

An embedded Chroma (1.x) keeps each collection's HNSW index in a segment folder: `header.bin`,
`data_level0.bin` (one fixed-size slot per element: links, vector, label), `length.bin` (one
4-byte length per element) and `link_lists.bin`. It can write `data_level0.bin` and
`length.bin` with more slots than elements (a new index: its whole capacity of 100 slots) and
fills only the slots in use; the others hold whatever that memory held before, which can be any
text the process read (seen: a forgotten person's note, email and id, after `forget`).
`zero_unused` overwrites the slots past the element count with zeros. Chroma never reads them
(the header's count bounds every read), so the index loads and answers as before.

The context store calls it when it opens and after it closes its client, and `forget` closes
and reopens the client to call it at once, so a folder no process holds has no stray bytes. A
header in a layout this module does not know is reported, never guessed at.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["IndexScrub", "zero_unused"]

_HEADER = struct.Struct("<I6Q2i3QdQ")
"""Version 1 of Chroma's `header.bin`: version, offsetLevel0, max_elements, cur_element_count,
size_data_per_element, label_offset, offsetData, maxlevel, enterpoint_node, maxM, maxM0, M,
mult, ef_construction (hnswlib's fields, little-endian)."""

_LENGTH_BYTES = 4


@dataclass
class IndexScrub:
    """What `zero_unused` did: bytes zeroed, and the segments it could not read (with why)."""

    zeroed: int = 0
    segments: int = 0
    problems: list[str] = field(default_factory=list)


def zero_unused(folder: Path) -> IndexScrub:
    """Zero the unused slots of every HNSW segment under `folder` (an embedded store's folder).

    Call it only while no Chroma client in this process has the folder open.
    """
    result = IndexScrub()
    for header in sorted(folder.glob("*/header.bin")):
        problem = _zero_segment(header, result)
        if problem:
            result.problems.append(f"{header.parent.name}: {problem}")
    return result


def _zero_segment(header: Path, result: IndexScrub) -> str | None:
    raw = header.read_bytes()
    if len(raw) != _HEADER.size:
        return f"header.bin has {len(raw)} bytes, not the {_HEADER.size} of version 1"
    fields = _HEADER.unpack(raw)
    version, capacity, count, slot = fields[0], fields[2], fields[3], fields[4]
    if version != 1 or count > capacity:
        return f"header.bin version {version}, {count} of {capacity} slots: not understood"
    data, lengths = header.with_name("data_level0.bin"), header.with_name("length.bin")
    plan = [(data, slot), (lengths, _LENGTH_BYTES)]
    sizes = [path.stat().st_size if path.exists() else 0 for path, _ in plan]
    for (path, width), size in zip(plan, sizes, strict=True):
        if size and (size % width or not count * width <= size <= capacity * width):
            return f"{path.name} has {size} bytes: not {count} to {capacity} slots of {width}"
    for (path, width), size in zip(plan, sizes, strict=True):
        if size > count * width:
            result.zeroed += _zero_from(path, count * width, size)
    result.segments += 1
    return None


def _zero_from(path: Path, start: int, end: int) -> int:
    """Overwrite bytes `start`..`end` of `path` with zeros (only where they are not already)."""
    with path.open("r+b") as handle:
        handle.seek(start)
        if not handle.read(end - start).strip(b"\0"):
            return 0
        handle.seek(start)
        handle.write(bytes(end - start))
        handle.flush()
    return end - start
