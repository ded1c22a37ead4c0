"""The context store on a real embedded Chroma (temp dirs): upserts, filters, processes, forget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gtmflow.errors import ConfigError, StoreError
from gtmflow.models import ContentItem
from gtmflow.tools.context.chunking import chunk_text
from gtmflow.tools.context.content_loader import load_content_dir
from gtmflow.tools.context.context_store import ContextStore
from gtmflow.tools.context.embeddings import HashingEmbedding, MiniLMEmbedding
from gtmflow.tools.context.records import ContactNote

D0 = datetime(2025, 3, 1, tzinfo=UTC)
D1 = datetime(2025, 6, 1, tzinfo=UTC)
D2 = datetime(2026, 2, 1, tzinfo=UTC)
LONG_BODY = "\n\n".join(
    f"## Part {n}\n\n" + " ".join(f"Sentence {n}.{i} about onboarding step {i}." for i in range(8))
    for n in range(3)
)
ITEMS = [
    ContentItem(id="pricing", title="Plans and pricing", type="doc", topics=("pricing",),
                published_at=D2, body="Starter costs $490 a month. Growth costs $1,450."),
    ContentItem(id="soc2", title="Security", type="doc", topics=("security", "compliance"),
                published_at=D1, body="We hold a SOC 2 Type II report and encrypt data at rest."),
    ContentItem(id="cs-acme", title="Acme doubles pipeline", type="case_study",
                topics=("roi",), published_at=D2,
                body="Acme doubled qualified pipeline in two quarters after switching."),
    ContentItem(id="guide", title="Onboarding guide", type="doc", topics=("onboarding",),
                body=LONG_BODY),
]  # fmt: skip
CHILD = [sys.executable, "-c"]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="the writer lock uses flock")


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedding:
    ef = MiniLMEmbedding()
    ef.check()
    return ef


@pytest.fixture
def store(tmp_path: Path, minilm: MiniLMEmbedding) -> Iterator[ContextStore]:
    # small chunks, so a few short documents exercise multi-chunk behaviour quickly
    with ContextStore.open(
        tmp_path / "chroma", embedder=minilm, max_words=40, overlap_words=8
    ) as opened:
        yield opened


def _all(store: ContextStore, kind: str) -> dict[str, dict[str, object]]:
    rows = store._collections[kind].get(include=["metadatas"])  # type: ignore[index]
    return dict(zip(rows["ids"], rows["metadatas"], strict=True))


def test_upsert_is_idempotent_and_every_record_has_its_id_keys(store: ContextStore) -> None:
    first = store.upsert_content(ITEMS)
    assert first.sources == 4 and first.added == store.counts()["content"] > 4
    again = store.upsert_content(ITEMS)
    assert (again.added, again.removed, again.unchanged_sources) == (0, 0, 4)
    twice = store.upsert_content([ITEMS[0], ITEMS[0].model_copy(update={"body": "Now $500."})])
    assert (twice.sources, twice.added) == (1, 1)  # the last of two same-id items wins
    for record_id, meta in _all(store, "content").items():
        assert {"kind", "source_id", "content_id", "chunk_index", "title", "url"} <= set(meta)
        assert record_id.startswith(f"{meta['source_id']}#{meta['chunk_index']}:")


def test_changed_content_replaces_its_old_chunks_and_keeps_unchanged_ones(
    store: ContextStore,
) -> None:
    store.upsert_content(ITEMS)
    before = {i for i, m in _all(store, "content").items() if m["source_id"] == "guide"}
    edited = ITEMS[3].model_copy(update={"body": LONG_BODY.replace("Part 2", "Part Two")})
    report = store.upsert_content([edited])
    after = {i for i, m in _all(store, "content").items() if m["source_id"] == "guide"}
    assert report.removed == len(before - after) >= 1 and report.added == len(after - before)
    assert before & after, "chunks of unchanged sections keep their ids (no re-embedding)"
    texts = " ".join(h.text for h in store.search("step", kind="content", k=50))
    assert "Part Two" in texts and "## Part 2" not in texts
    shrunk = ITEMS[3].model_copy(update={"body": "Just one line now."})
    store.upsert_content([shrunk])
    assert [h.text for h in store.search("one line", where={"content_id": "guide"}, k=9)] == [
        "Just one line now."
    ]


def test_metadata_filters_select_by_type_topic_and_date(store: ContextStore) -> None:
    store.upsert_content(ITEMS)
    by_type = store.search("anything", where={"type": "case_study"}, k=10)
    assert {h.source_id for h in by_type} == {"cs-acme"}
    by_topic = store.search("anything", where={"topics": {"$contains": "security"}}, k=10)
    assert {h.source_id for h in by_topic} == {"soc2"}
    recent = store.search("anything", where={"published_ts": {"$gte": int(D2.timestamp())}}, k=10)
    assert {h.source_id for h in recent} == {"pricing", "cs-acme"}
    with pytest.raises(ConfigError, match="not valid"):
        store.search("anything", where={"type": {"$like": "case"}})


def test_content_for_ranks_by_meaning_and_gives_each_pain_a_turn(store: ContextStore) -> None:
    store.upsert_content(ITEMS)
    hits = store.content_for(["is our customer data protected?", "how much does it cost?"], k=2)
    assert [(h.source_id, h.query) for h in hits] == [
        ("soc2", "is our customer data protected?"),
        ("pricing", "how much does it cost?"),
    ]
    assert all(-1.0 <= h.score <= 1.0 for h in hits)
    guide = store.content_for("onboarding steps", k=3)
    assert len({h.source_id for h in guide}) == len(guide), "one chunk per content item"
    assert len(store.content_for("onboarding steps", k=3, one_per_source=False)) == 3
    assert store.content_for([], k=3) == [] and store.content_for("x", k=0) == []


def test_contact_notes_are_per_contact_replaceable_and_forgettable(store: ContextStore) -> None:
    store.add_notes(
        [
            ContactNote(contact_id="c-1", id="call-1", source="transcript_insight", date=D1,
                        text="Worried that the Salesforce API limits will be exceeded."),
            ContactNote(contact_id="c-1", source="reply", date=D2,
                        text="Please send the SOC 2 report to our security lead."),
            ContactNote(contact_id="c-2", source="summary", text="Wants Salesforce sync too."),
        ]
    )  # fmt: skip
    hits = store.for_contact("c-1", "CRM integration concerns", k=5)
    assert hits[0].metadata["note_id"] == "call-1"
    assert {h.metadata["contact_id"] for h in hits} == {"c-1"}
    assert [h.metadata["source"] for h in store.notes("c-1")] == ["reply", "transcript_insight"]
    store.remember("c-1", "Now on HubSpot instead.", id="call-1", source="transcript_insight")
    assert {h.metadata["note_id"]: h.text for h in store.notes("c-1")}["call-1"] == (
        "Now on HubSpot instead."
    )
    assert store.counts()["contacts"] == 3
    assert store.forget("c-1") == 2 and store.forget("c-1") == 0
    assert store.for_contact("c-1", "anything", k=5) == []
    assert len(store.notes("c-2")) == 1


def test_transcript_insights_are_one_replaceable_note_per_transcript(store: ContextStore) -> None:
    first = ["Renewal with the current vendor is in June.", "Budget owner is the CFO."]
    store.remember_transcript("c-7", "t-1", first, date=D2, metadata={"call": "discovery"})
    (note,) = store.notes("c-7")
    assert note.metadata["source"] == "transcript_insight" and note.metadata["call"] == "discovery"
    assert note.text == "\n\n".join(first) and note.metadata["transcript_id"] == "t-1"
    store.remember_transcript("c-7", "t-1", ["Renewal moved to September."])
    assert [n.text for n in store.notes("c-7")] == ["Renewal moved to September."]
    store.remember_transcript("c-7", "t-2", ["Wants SSO."])
    assert store.remember_transcript("c-7", "t-1", []).removed == 1
    assert [n.text for n in store.notes("c-7")] == ["Wants SSO."]


def test_the_store_persists_across_processes(tmp_path: Path) -> None:
    folder = tmp_path / "chroma"
    writer = f"""
        from gtmflow.tools.context.context_store import ContextStore
        from gtmflow.models import ContentItem
        with ContextStore.open({str(folder)!r}) as store:
            store.upsert_content([ContentItem(id="soc2", title="Security",
                body="We hold a SOC 2 Type II report and encrypt data at rest.")])
            store.remember("c-9", "Asked for an EU data residency option.", source="reply")
    """
    subprocess.run([*CHILD, textwrap.dedent(writer)], check=True, timeout=60)
    with ContextStore.open(folder) as store:  # a new process would rebuild the embedder too
        assert store.content_for("certifications and audits", k=1)[0].source_id == "soc2"
        assert "EU" in store.for_contact("c-9", "where is data stored", k=1)[0].text
        store.upsert_content([ContentItem(id="pricing", title="Pricing", body="Growth: $1,450.")])
    reader = f"""
        import chromadb, json
        import gtmflow.tools.context.embeddings  # registers the embedder so the collection reopens
        collection = chromadb.PersistentClient({str(folder)!r}).get_collection("content")
        found = collection.query(query_texts=["what does it cost"], n_results=1)
        print(json.dumps([collection.metadata, found["ids"][0][0]]))
    """
    out = subprocess.run(
        [*CHILD, textwrap.dedent(reader)], check=True, capture_output=True, text=True, timeout=60
    )
    metadata, top = json.loads(out.stdout.strip().splitlines()[-1])
    assert metadata["gtmflow_embedding"] == "all-MiniLM-L6-v2" and top.startswith("pricing#0:")


def test_a_second_writer_process_is_refused_with_a_clear_error(
    tmp_path: Path, minilm: MiniLMEmbedding
) -> None:
    folder = tmp_path / "chroma"
    holder = f"""
        import sys
        from gtmflow.tools.context.context_store import ContextStore
        from gtmflow.tools.context.embeddings import HashingEmbedding
        store = ContextStore.open({str(folder)!r}, embedder=HashingEmbedding())
        print("ready", flush=True)
        sys.stdin.readline()
    """
    child = subprocess.Popen(
        [*CHILD, textwrap.dedent(holder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with pytest.raises(
            StoreError, match=rf"one writer process.*pid {child.pid}.*mode = 'http'"
        ):
            ContextStore.open(folder, embedder=HashingEmbedding())
    finally:
        child.kill()  # the lock dies with its holder: no stale lock file
        child.wait(timeout=10)
    with ContextStore.open(folder, embedder=HashingEmbedding()) as store:
        with pytest.raises(StoreError, match="this process already has it open"):
            ContextStore.open(folder, embedder=HashingEmbedding())
        assert store.counts() == {"content": 0, "contacts": 0}


def test_one_collection_never_mixes_embedding_models(tmp_path: Path) -> None:
    with ContextStore.open(tmp_path, embedder=HashingEmbedding(dimension=64)) as store:
        store.upsert_content(ITEMS[:1])
    with pytest.raises(ConfigError, match=r"'lexical-hashing-v1/64'.*'lexical-hashing-v1/128'"):
        ContextStore.open(tmp_path, embedder=HashingEmbedding(dimension=128))
    with ContextStore.open(tmp_path, embedder=HashingEmbedding(dimension=64)) as store:
        assert store.counts()["content"] == 1  # the refused open released the lock


def test_workspace_config_selects_the_store_and_rejects_typos(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text('[context]\nembedding = "hashing"\npath = "ctx"\n')
    with ContextStore.for_workspace(tmp_path) as store:
        assert store.embedder.model_id.startswith("lexical-hashing")
    assert (tmp_path / "ctx" / "writer.lock").exists()
    (tmp_path / "gtmflow.toml").write_text('[context]\nembeding = "hashing"\n')
    with pytest.raises(ConfigError, match=r"unknown keys \['embeding'\]"):
        ContextStore.for_workspace(tmp_path)


def test_a_chroma_server_by_config(tmp_path: Path, minilm: MiniLMEmbedding) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("chroma")), "run", "--path", str(tmp_path / "srv"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        (tmp_path / "gtmflow.toml").write_text(
            f'[context]\nmode = "http"\nhost = "127.0.0.1"\nport = {port}\nprefix = "acme_"\n'
        )
        with _connect_when_up(tmp_path, minilm) as store:
            store.upsert_content(ITEMS[:2])
            assert store.content_for("encryption and audits", k=1)[0].source_id == "soc2"
        with _connect_when_up(tmp_path, minilm) as again:  # a second client, no writer lock
            assert again.counts()["content"] == 2
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_unreachable_server_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="chroma run --path"):
        ContextStore.connect("127.0.0.1", _free_port(), embedder=HashingEmbedding())


def test_cli_ingests_a_folder_searches_lists_notes_and_forgets(tmp_path: Path) -> None:
    import typer

    from gtmflow.cli.context_commands import forget_context, ingest_content_command, register

    app = typer.Typer()
    ingest = typer.Typer()
    ingest.command("content")(ingest_content_command)
    app.add_typer(ingest, name="ingest")
    register(app)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "soc2.md").write_text("---\ntitle: Security\ntopics: [security]\n---\nSOC 2 Type II.")
    (docs / "bad.md").write_text("---\ntitle: [unclosed\n---\nbody")
    ws = ["-w", str(tmp_path), "--json"]
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "content", str(docs), *ws])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["sources"] == 1 and report["rejected"][0]["file"].endswith("bad.md")
    found = json.loads(runner.invoke(app, ["context", "search", "audit report", *ws]).stdout)
    assert list(found[0]) == ["id", "source_id", "score", "text", "metadata"]
    assert found[0]["source_id"] == "soc2" and found[0]["metadata"]["topics"] == ["security"]
    with ContextStore.for_workspace(tmp_path) as store:
        store.remember("c-1", "Prefers email over calls.", source="note")
    notes = runner.invoke(app, ["context", "search", "contact me", "--contact", "c-1", *ws])
    assert json.loads(notes.stdout)[0]["metadata"]["contact_id"] == "c-1"
    assert forget_context(tmp_path, "c-1") == {"context_records": 1}
    stats = json.loads(runner.invoke(app, ["context", "stats", *ws]).stdout)
    assert stats == {"content": 1, "contacts": 0, "embedding": "all-MiniLM-L6-v2"}
    wrong = runner.invoke(app, ["context", "search", "x", "--kind", "people", *ws])
    assert wrong.exit_code == 2


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect_when_up(root: Path, embedder: MiniLMEmbedding) -> ContextStore:
    import time

    deadline = time.monotonic() + 20
    while True:
        try:
            return ContextStore.for_workspace(root, embedder=embedder)
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


words = st.text(alphabet="abcdefghij", min_size=1, max_size=8)
sentence = st.lists(words, min_size=1, max_size=40).map(lambda ws: " ".join(ws) + ".")
paragraph = st.lists(sentence, min_size=1, max_size=6).map(" ".join)
section = st.tuples(st.sampled_from(["#", "##", "###"]), words, st.lists(paragraph, max_size=4))


@given(st.lists(section, max_size=5), st.integers(20, 120), st.integers(0, 9))
@settings(max_examples=80, deadline=None)
def test_chunks_fit_cover_every_word_and_never_cross_a_heading(
    sections: list[tuple[str, str, list[str]]], max_words: int, overlap: int
) -> None:
    text = "\n\n".join(f"{h} {title}\n\n" + "\n\n".join(ps) for h, title, ps in sections)
    chunks = chunk_text(text, max_words=max_words, overlap_words=overlap)
    assert all(len(c.text.split()) <= max_words for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    body_words = [w for _, _, ps in sections for p in ps for w in p.split()]
    assert Counter(body_words) <= Counter(w for c in chunks for w in c.text.split())
    for c in chunks:  # a chunk repeats its own section's heading and no other
        headings = [line for line in c.text.split("\n") if line.startswith("#")]
        assert len(headings) <= 1
        if headings:
            assert headings[0].split(" ", 1)[1] == c.section.rsplit(" > ", 1)[-1]


def test_content_files_read_front_matter_html_meta_and_report_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\nid: guide\ntitle: Guide\ntags: Pricing, ROI\ndate: 2025-03-01\n---\n# Ignored\nBody."
    )
    (tmp_path / "b.txt").write_text('+++\ntype = "ebook"\npublished = 2025-03-01T09:00:00\n+++\nHi')
    (tmp_path / "c.html").write_text(
        '<title>Page</title><meta name="keywords" content="sso"><nav>menu</nav>'
        "<h2>Setup</h2><p>Paste the <b>URL</b>.</p><script>x()</script>"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.md").write_text("---\nid: guide\n---\nsame id")
    (tmp_path / "e.md").write_text("---\npublished: next week\n---\nx")
    (tmp_path / ".hidden.md").write_text("skipped")
    load = load_content_dir(tmp_path)
    items = {i.id: i for i in load.items}
    assert sorted(items) == ["b", "c", "guide"]
    guide, b, c = items["guide"], items["b"], items["c"]
    assert (guide.title, guide.topics, guide.published_at) == ("Guide", ("pricing", "roi"), D0)
    assert (b.type, b.title, b.published_at) == ("ebook", "b", D0.replace(hour=9))
    assert (c.title, c.topics, c.body) == ("Page", ("sso",), "## Setup\n\nPaste the URL.")
    reasons = {path.name: why for path, why in load.rejected}
    assert "already used by" in reasons["d.md"] and "not ISO-8601" in reasons["e.md"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_content_dir(tmp_path / "missing")
