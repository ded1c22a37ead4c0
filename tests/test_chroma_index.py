"""Chroma's index files keep no stray memory: the unused slots are zeroed on open, close, forget."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gtmflow.errors import GtmflowWarning, StoreError
from gtmflow.tools.context.chroma_index import IndexScrub, zero_unused
from gtmflow.tools.context.context_store import ContextStore
from gtmflow.tools.context.records import ContactNote

SECRET = b"ada.lovelace@analytical.example wants SSO"


def _store_with_an_index(folder: Path) -> Path:
    """An embedded store whose contacts collection has an HNSW segment on disk; its folder."""
    notes = [ContactNote(contact_id=f"c-{n}", text=f"note {n} about routing and pricing")
             for n in range(1010)]  # fmt: skip
    with ContextStore.open(folder, embedder="hashing") as store:
        store.add_notes(notes)  # past Chroma's sync threshold: 1,010 of 1,024 slots in use
    (header,) = [h for h in folder.glob("*/header.bin") if _count(h) > 0]
    return header


def _count(header: Path) -> int:
    return int(struct.unpack_from("<Q", header.read_bytes(), 20)[0])


def _plant(header: Path) -> None:
    """Spare slots holding text after the used ones, as Chroma writes memory it never cleared."""
    slot = int(struct.unpack_from("<Q", header.read_bytes(), 28)[0])
    with header.with_name("data_level0.bin").open("ab") as handle:
        handle.write((SECRET * (2 * slot // len(SECRET) + 1))[: 2 * slot])


def test_stray_text_in_unused_slots_is_zeroed_and_the_index_still_answers(tmp_path: Path) -> None:
    header = _store_with_an_index(tmp_path / "chroma")
    _plant(header)
    assert SECRET in header.with_name("data_level0.bin").read_bytes()
    result = zero_unused(tmp_path / "chroma")
    assert result.problems == [] and result.zeroed > 0
    assert SECRET not in header.with_name("data_level0.bin").read_bytes()
    with ContextStore.open(tmp_path / "chroma", embedder="hashing") as store:
        notes = [h.text for h in store.notes("c-7")]
        hits = store.search("note about routing and pricing", kind="contacts", k=5)
    assert notes == ["note 7 about routing and pricing"]
    assert len(hits) == 5  # the vector index loads and answers (a filtered search by contact
    # is left out: Chroma's filtered HNSW search misses among 1,010 near-identical vectors)


def test_forget_leaves_no_stray_text_in_the_index_files(tmp_path: Path) -> None:
    folder = tmp_path / "chroma"
    header = _store_with_an_index(folder)
    store = ContextStore.open(folder, embedder="hashing")
    try:
        _plant(header)  # what the open client would write from its memory
        assert store.forget("c-3") == 1
        assert SECRET not in header.with_name("data_level0.bin").read_bytes()
        assert store.notes("c-3") == [] and len(store.notes("c-4")) == 1  # still usable
    finally:
        store.close()


def test_an_index_layout_gtmflow_does_not_know_is_said_not_guessed(tmp_path: Path) -> None:
    folder = tmp_path / "chroma"
    header = _store_with_an_index(folder)
    raw = bytearray(header.read_bytes())
    raw[0] = 2  # a future header version
    header.write_bytes(bytes(raw))
    before = header.with_name("data_level0.bin").read_bytes()
    result = zero_unused(folder)
    assert result.problems and "version 2" in result.problems[0]
    assert header.with_name("data_level0.bin").read_bytes() == before  # untouched
    with pytest.warns(GtmflowWarning, match="layout gtmflow does not know"):
        store = ContextStore.open(folder, embedder="hashing")
    store._client.close()  # the store cannot be used with that header; only the warning matters
    store._lock and store._lock.release()


def test_forget_reports_an_index_it_could_not_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gtmflow.tools.context.context_store as module

    folder = tmp_path / "chroma"
    _store_with_an_index(folder)
    with ContextStore.open(folder, embedder="hashing") as store:
        unread = IndexScrub(problems=["seg: header.bin version 2, 0 of 100 slots: not understood"])
        monkeypatch.setattr(module, "zero_unused", lambda folder: unread)
        with pytest.raises(StoreError, match="run forget again"):
            store.forget("c-3")
        assert store.notes("c-3") == []  # her records are gone; the report says what is left
        monkeypatch.undo()
