"""Benchmark of the context store: embedding speed, 10k-chunk ingest, query latency, memory.

Run from the repository root (standalone; `make bench` may call it):

    python benchmarks/context.py                    # full run: 10,000 chunks, ~5 min on 2 cores
    python benchmarks/context.py --quick            # 1,000 chunks, for a smoke test
    python benchmarks/context.py --append benchmarks/RESULTS.md   # also write the section

The corpus is deterministic: sentences of the shipped demo library recombined (seeded) into
10,000 single-chunk documents of 60-140 words, the size the chunker produces. Query latency is
measured through `ContextStore.search` (embedding the query included), the call agents make.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from random import Random

import numpy as np
from rich.console import Console

from gtmflow.examples.sample_content import PAINS, sample_content_items
from gtmflow.models import ContentItem
from gtmflow.tools.context.context_store import ContextStore
from gtmflow.tools.context.embeddings import GtmflowEmbedding, MiniLMEmbedding, resolve_embedder

sys.path.insert(0, str(Path(__file__).parent))
from bench_report import (
    Result,
    Target,
    code_state,
    environment,
    load_average,
    replace_section,
    results_markdown,
    results_table,
)

REFERENCE = Path(__file__).parents[1] / "tests" / "data" / "minilm_reference.json"
SECTION = "Context store"


def corpus(n: int, *, seed: int = 11) -> list[ContentItem]:
    """`n` single-chunk documents recombined from the demo library's sentences."""
    text = " ".join(item.body for item in sample_content_items())
    sentences = [
        s
        for s in re.split(r"(?<=[.!?])\s+", re.sub(r"#+ [^\n]*\n", " ", text))
        if len(s.split()) > 4
    ]
    rng = Random(seed)
    topics = ("pricing", "security", "integrations", "onboarding", "roi", "migration")
    items = []
    for i in range(n):
        target, body = rng.randrange(60, 140), []
        while sum(len(s.split()) for s in body) < target:
            sentence = rng.choice(sentences)
            if sum(len(s.split()) for s in [*body, sentence]) > 150:  # stay one chunk
                break
            body.append(sentence)
        items.append(
            ContentItem(
                id=f"doc-{i:05d}",
                title=f"Synthetic piece {i}",
                topics=(rng.choice(topics),),
                body=" ".join(body),
            )
        )
    return items


def embedding_speed(embedder: GtmflowEmbedding, texts: list[str]) -> tuple[float, float]:
    """Documents embedded per wall-clock second and per CPU-second (after a warm-up batch).

    The CPU figure does not depend on what else the machine runs; on an idle machine the wall
    figure approaches it times the cores onnxruntime uses.
    """
    embedder.embed(texts[:8])
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - wall), len(texts) / (time.process_time() - cpu)


def reference_agreement() -> float | None:
    """Lowest cosine between the shipped embedder and the float32 reference (tests' fixture)."""
    if not REFERENCE.exists():
        return None
    rows = json.loads(REFERENCE.read_text())["rows"]
    vectors = MiniLMEmbedding().embed([row["text"] for row in rows])
    return float(min(np.dot(v, row["vector"]) for v, row in zip(vectors, rows, strict=True)))


def latencies(run: Callable[[str], object], queries: Sequence[str]) -> tuple[float, float]:
    """p50 and p95 of one call per query, in milliseconds."""
    times = []
    for query in queries:
        start = time.perf_counter()
        run(query)
        times.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(times, n=20)
    return statistics.median(times), cuts[18]


def library_recall(folder: Path, embedder: GtmflowEmbedding) -> float:
    """Recall@5 of the demo library's paraphrased pains (`PAINS`)."""
    with ContextStore.open(folder, embedder=embedder) as store:
        store.upsert_content(sample_content_items())
        hits = [
            want in {h.source_id for h in store.content_for(p, k=5)} for want, p in PAINS.items()
        ]
    return sum(hits) / len(hits)


def run(chunks: int, embedding: str, console: Console) -> list[Result]:
    embedder = resolve_embedder(embedding)
    items = corpus(chunks)
    texts = [item.body for item in items[:512]]
    wall, cpu = embedding_speed(embedder, texts)
    long_texts = [" ".join([t] * 3) for t in texts[:128]]  # truncated at 256 tokens: worst case
    long_wall, long_cpu = embedding_speed(embedder, long_texts)
    results = [
        Result("embedding speed, 60-140-word chunks (512 docs)", wall, "docs/s", Target(">=", 20)),
        Result("  same, per CPU-second (load-independent)", cpu, "docs/s"),
        Result("embedding speed, 256-token docs (128 docs)", long_wall, "docs/s"),
        Result("  same, per CPU-second", long_cpu, "docs/s"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        console.print(f"[dim]ingesting {chunks:,} chunks…[/]", highlight=False)
        with ContextStore.open(Path(tmp) / "store", embedder=embedder) as store:
            start = time.perf_counter()
            report = store.upsert_content(items)
            took = time.perf_counter() - start
            results += [
                Result(f"ingest of {report.added:,} chunks (chunk, embed, write)", took, "s"),
                Result("ingest rate", report.added / took, "chunks/s", Target(">=", 20)),
            ]
            start = time.perf_counter()
            store.upsert_content(items)
            results.append(
                Result(
                    f"re-ingest of the same {chunks:,} chunks (no-op)",
                    time.perf_counter() - start,
                    "s",
                )
            )
            queries = [p for p in PAINS.values()] * 10
            p50, p95 = latencies(lambda q: store.search(q, k=5), queries)
            results += [
                Result(
                    f"query p50 at {store.counts()['content']:,} chunks (embed + search, k=5)",
                    p50,
                    "ms",
                    Target("<=", 20),
                ),
                Result(f"query p95 at {store.counts()['content']:,} chunks", p95, "ms"),
            ]
            vectors = list(store.embedder.embed(queries[:20]))
            collection = store._collections["content"]
            p50_raw, _ = latencies(
                lambda q: collection.query(query_embeddings=[vectors[len(q) % 20]], n_results=5),
                queries,
            )
            results.append(Result("  of which Chroma search alone, p50", p50_raw, "ms"))
            p50_for, _ = latencies(lambda q: store.content_for([q, q[::-1]], k=5), queries[:60])
            results.append(Result("content_for(2 pains, k=5) p50", p50_for, "ms"))
        size = sum(f.stat().st_size for f in (Path(tmp) / "store").rglob("*") if f.is_file())
        results.append(Result("store size on disk", size / 2**20, "MB"))
        results.append(
            Result(
                "demo library recall@5 (20 paraphrased pains)",
                100 * library_recall(Path(tmp) / "lib", embedder),
                "%",
            )
        )
    agreement = reference_agreement() if isinstance(embedder, MiniLMEmbedding) else None
    if agreement is not None:
        results.append(
            Result(
                "min cosine to float32 all-MiniLM-L6-v2 (x1000)",
                agreement * 1000,
                "‰",
                Target(">=", 998),
            )
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.append(Result("peak RSS of this process", peak, "MB", Target("<", 1024)))
    return results


def markdown_section(results: list[Result], command: str) -> str:
    env = environment()
    lines = [
        f"Written by `benchmarks/context.py` on {env['date']}: {env['cpu']}, {env['cores']} "
        f"cores, load average {load_average()}; {_commit()}. "
        f"Command: `{command}`.",
        "",
        *results_markdown(results),
        "",
        "Corpus: demo-library sentences recombined into single-chunk documents of 60-140 words "
        "(seeded). Embedder: all-MiniLM-L6-v2 int8 ONNX on onnxruntime (CPU, one thread per "
        "core), batches of 8 sorted by length. Query latency includes embedding the query.",
        "",
    ]
    return "\n".join(lines)


def _commit() -> str:
    state = code_state(Path(__file__).parents[1])
    return state.split(" plus ", 1)[0] + (" plus uncommitted changes" if " plus " in state else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the context store against its targets.")
    parser.add_argument("--quick", action="store_true", help="1,000 chunks instead of 10,000")
    parser.add_argument("--chunks", type=int, help="corpus size (default 10,000)")
    parser.add_argument(
        "--embedding", default="minilm", help="minilm, static, hashing, provider:model"
    )
    parser.add_argument(
        "--append", type=Path, metavar="PATH", help="write the Markdown section into PATH"
    )
    args = parser.parse_args(argv)
    chunks = args.chunks or (1_000 if args.quick else 10_000)
    console = Console(stderr=True)
    results = run(chunks, args.embedding, console)
    Console().print(results_table(results, title=f"context store ({chunks:,} chunks)"))
    if args.append:
        command = "python benchmarks/context.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        replace_section(args.append, SECTION, markdown_section(results, command.strip()))
    return 1 if any(r.verdict == "FAIL" for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
