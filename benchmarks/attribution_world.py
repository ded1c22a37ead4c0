"""A large attribution workspace, generated fast: numpy draws, one bulk SQL insert.

`write_world(folder, contacts=100_000, events=100)` writes `.gtmflow/gtmflow.db` (the event
store's own schema, created by `SQLiteEventStore`) and `deals.jsonl`, the way
`gtmflow.examples.sample_world` + `Workspace.ingest` + `sample_deals` would, but in seconds per
million events instead of minutes: rows go straight into the `events` table (the benchmark
measures reading, not ingest). The mix follows the sample world: about 90% page views in
sessions of a few pages (the first page of a session may carry `utm_medium`, `utm_source` or a
referrer; a third of the pages are content pages), then email opens and clicks, downloads,
webinars, forms and demo requests. About 5% of contacts are on a deal (one to three contacts
each), created at a random moment of the 90 days.

A world is written once per (contacts, events, seed) under `build/bench-attribution/` and
reused by later runs.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from gtmflow.tools.events.event_store import SQLiteEventStore

__all__ = ["write_world"]

END = datetime(2026, 3, 31, tzinfo=UTC)
DAYS = 90
_PAGES = (
    "/", "/pricing", "/product", "/product/routing", "/product/scoring", "/integrations",
    "/about", "/careers", "/contact", "/demo", "/security", "/changelog",
    *(f"/blog/post-{i:02d}" for i in range(24)),
    *(f"/customers/case-{i:02d}" for i in range(8)),
    *(f"/docs/page-{i:02d}" for i in range(12)),
    *(f"/resources/guide-{i:02d}" for i in range(4)),
)  # fmt: skip
_SOURCES = (
    {},
    {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"},
    {"utm_source": "linkedin", "utm_medium": "paid_social"},
    {"utm_source": "newsletter", "utm_medium": "email"},
    {"utm_source": "partner"},
    {"referrer": "https://www.google.com/"},
    {"referrer": "https://www.linkedin.com/feed/"},
    {"referrer": "https://news.ycombinator.com/item"},
)
_SOURCE_P = (0.45, 0.12, 0.06, 0.05, 0.02, 0.18, 0.06, 0.06)
_OTHER_TYPES = (
    ("email_open", 0.45),
    ("email_click", 0.09),
    ("content_download", 0.08),
    ("webinar_registered", 0.03),
    ("webinar_attended", 0.015),
    ("form_submit", 0.012),
    ("demo_requested", 0.006),
    ("meeting_booked", 0.004),
    ("track", 0.313),
)


def write_world(folder: Path, *, contacts: int, events: int, seed: int = 15) -> tuple[Path, int]:
    """Write (or reuse) a world; return the workspace folder and its event count."""
    root = folder / f"world-{contacts}x{events}-s{seed}"
    database = root / ".gtmflow" / "gtmflow.db"  # where Workspace.open looks
    done = root / "done"
    if done.exists():
        return root, int(done.read_text())
    root.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    SQLiteEventStore(database).close()  # the store's own schema
    rng = np.random.default_rng(seed)
    written = 0
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    for lo in range(0, contacts, 5_000):
        hi = min(lo + 5_000, contacts)
        rows = _rows(rng, lo, hi, events)
        with conn:
            conn.executemany(
                "INSERT INTO events (id, contact_id, type, ts, properties) VALUES (?,?,?,?,?)",
                rows,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO contacts (id) VALUES (?)",
                ((f"c-{n:06d}",) for n in range(lo, hi)),
            )
        written += len(rows)
    conn.close()
    _write_deals(root / "deals.jsonl", rng, contacts)
    done.write_text(str(written))
    return root, written


def _rows(
    rng: np.random.Generator, lo: int, hi: int, per_contact: int
) -> list[tuple[str, str, str, int, str]]:
    n = hi - lo
    start = int((END - timedelta(days=DAYS)).timestamp() * 1e6)
    span = DAYS * 86_400_000_000
    pages = _page_events(rng, n, int(per_contact * 0.9), start, span)
    others = _other_events(rng, n, per_contact - int(per_contact * 0.9), start, span)
    contact = np.concatenate([pages[0], others[0]])
    ts = np.concatenate([pages[1], others[1]])
    kind = np.concatenate([pages[2], others[2]])
    props = np.concatenate([pages[3], others[3]])
    order = np.lexsort((ts, contact))
    vocabulary = _vocabulary()
    names = [f"c-{lo + c:06d}" for c in range(n)]
    return [
        (f"e{lo:06d}-{i:08d}", names[c], vocabulary[k][0], t, vocabulary[k][1][p])
        for i, (c, t, k, p) in enumerate(
            zip(
                contact[order].tolist(),
                ts[order].tolist(),
                kind[order].tolist(),
                props[order].tolist(),
                strict=True,
            )
        )
    ]


def _page_events(
    rng: np.random.Generator, n: int, per_contact: int, start: int, span: int
) -> tuple[np.ndarray, ...]:
    sessions_each = max(per_contact // 4, 1)
    session_contact = np.repeat(np.arange(n), sessions_each)
    session_at = start + rng.integers(0, span, len(session_contact))
    size = np.maximum(rng.poisson(4, len(session_contact)), 1)
    contact = np.repeat(session_contact, size)
    owner = np.repeat(np.arange(len(session_contact)), size)
    first = np.r_[True, owner[1:] != owner[:-1]]
    steps = rng.integers(20_000_000, 400_000_000, len(owner))  # 20 s to 6.7 min apart
    steps[first] = 0
    cumulative = np.cumsum(steps)
    offsets = cumulative - cumulative[np.flatnonzero(first)][owner]
    ts = session_at[owner] + offsets
    source = rng.choice(len(_SOURCES), len(session_contact), p=_SOURCE_P)[owner]
    source = np.where(first, source, 0)
    page = rng.integers(0, len(_PAGES), len(owner))
    return contact, ts, np.zeros(len(owner), dtype=np.int64), source * len(_PAGES) + page


def _other_events(
    rng: np.random.Generator, n: int, per_contact: int, start: int, span: int
) -> tuple[np.ndarray, ...]:
    count = n * per_contact
    contact = np.repeat(np.arange(n), per_contact)
    ts = start + rng.integers(0, span, count)
    p = np.array([w for _, w in _OTHER_TYPES])
    kind = 1 + rng.choice(len(_OTHER_TYPES), count, p=p / p.sum())
    props = rng.integers(0, 12, count)
    return contact, ts, kind, props


def _vocabulary() -> list[tuple[str, list[str]]]:
    """Per kind code: (event type, its property JSON strings)."""
    dump = json.JSONEncoder(separators=(",", ":")).encode
    page_props = [dump({**s, "path": p}) for s in _SOURCES for p in _PAGES]
    kinds: list[tuple[str, list[str]]] = [("page_view", page_props)]
    for name, _ in _OTHER_TYPES:
        props = {
            "email_open": lambda i: {"email_id": f"em-{i}", "campaign": f"nl-{i % 4}"},
            "email_click": lambda i: {"email_id": f"em-{i}", "campaign": f"nl-{i % 4}"},
            "content_download": lambda i: {"asset_id": f"eb-{i}", "title": f"Ebook {i}"},
            "webinar_registered": lambda i: {"webinar_id": f"wb-{i % 3}"},
            "webinar_attended": lambda i: {"webinar_id": f"wb-{i % 3}", "title": f"Web {i % 3}"},
            "form_submit": lambda i: {"form": "contact" if i % 2 else "newsletter"},
            "demo_requested": lambda i: {"form": "demo"},
        }.get(name, lambda i: {"event": f"feature_{i}"})
        kinds.append((name, [dump(props(i)) for i in range(12)]))
    return kinds


def _write_deals(path: Path, rng: np.random.Generator, contacts: int) -> None:
    lines = []
    chosen = rng.permutation(contacts)[: max(contacts // 20, 1)]
    cursor, number = 0, 0
    while cursor < len(chosen):
        size = int(rng.integers(1, 4))
        group = chosen[cursor : cursor + size]
        cursor += size
        number += 1
        created = END - timedelta(seconds=int(rng.integers(0, DAYS * 86_400)))
        stage = str(rng.choice(["won", "lost", "open"], p=[0.3, 0.3, 0.4]))
        closed = created + timedelta(days=int(rng.integers(5, 60)))
        deal = {
            "id": f"d-{number:06d}",
            "amount": float(rng.integers(5, 200) * 500),
            "stage": stage,
            "created_at": created.isoformat(),
            "closed_at": None if stage == "open" or closed > END else closed.isoformat(),
            "contact_ids": [f"c-{c:06d}" for c in sorted(group.tolist())],
        }
        lines.append(json.dumps(deal))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
