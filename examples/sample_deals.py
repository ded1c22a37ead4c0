"""Deals for a sample world: a deterministic CRM pipeline derived from its contacts and events.

`generate_sample_deals(world_dir)` reads the `contacts.csv` and `events.jsonl` that
`generate_sample_world` wrote and writes `deals.jsonl` next to them, one `Deal` a line, so the
attribution models have pipeline and revenue to explain. Nothing is random in the usual sense:
every choice comes from `random.Random` seeded with the seed and the contact id.

How deals arise (the "ground truth" the models should recover, roughly):

- A contact who booked a meeting or requested a demo opens a deal 1 to 6 days later with
  probability 0.7; a researcher who downloaded two assets or attended a webinar, with 0.2;
  anyone else who read a customer story, with 0.06.
- Reading the Northwind case study (`/customers/northwind-analytics` or `cs-northwind`) doubles
  the odds of a deal and the attribution blog post (`/blog/attribution-models-compared`) adds
  half again: planted signals, so a test can check that data-driven models find them.
- Amounts grow with company size (`Number of Employees`), rounded to 500 USD.
- A deal closes 10 to 45 days after creation if that is before the world's end: won with
  probability 0.4, plus 0.15 for a customer-story reader and 0.1 for a webinar attendee;
  otherwise lost. Deals still running at the end are `open`.
- When another engaged contact works at the same company, they join the deal (buying groups).

Lines that are not native events (Segment payloads, the deliberately bad rows) are skipped.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

from gtmflow.errors import ConfigError
from gtmflow.models import Deal

__all__ = ["SampleDeals", "generate_sample_deals"]

_CASE_STUDY = ("/customers/northwind-analytics", "cs-northwind")
_BLOG_SIGNAL = "/blog/attribution-models-compared"


@dataclass(frozen=True)
class SampleDeals:
    """What `generate_sample_deals` wrote."""

    path: Path
    deals: tuple[Deal, ...]

    @property
    def won(self) -> int:
        """Number of won deals."""
        return sum(d.stage == "won" for d in self.deals)

    @property
    def pipeline(self) -> float:
        """Total amount of all deals."""
        return sum(d.amount for d in self.deals)

    @property
    def revenue(self) -> float:
        """Total amount of won deals."""
        return sum(d.amount for d in self.deals if d.stage == "won")


@dataclass
class _Signals:
    """What one contact did that matters for deals."""

    first: datetime | None = None
    meeting: datetime | None = None
    downloads: int = 0
    webinars: int = 0
    last_download: datetime | None = None
    stories: int = 0
    case_study: bool = False
    blog_signal: bool = False
    last: datetime | None = None


def generate_sample_deals(directory: str | Path, *, seed: int = 7) -> SampleDeals:
    """Write `deals.jsonl` for the sample world in `directory` and return the deals.

    Args:
        directory: Folder holding the world's `contacts.csv` and `events.jsonl`.
        seed: Seed of every choice; the same world and seed give the same file.

    Raises:
        ConfigError: If the world's files are missing.
    """
    folder = Path(directory)
    contacts_csv, events_jsonl = folder / "contacts.csv", folder / "events.jsonl"
    if not contacts_csv.exists() or not events_jsonl.exists():
        raise ConfigError(
            f"'{folder}' has no contacts.csv and events.jsonl; write a world first with "
            "gtmflow.examples.sample_world.generate_sample_world"
        )
    people = _contacts(contacts_csv)
    signals = _signals(events_jsonl)
    end = max(
        (s.last for s in signals.values() if s.last), default=datetime(2026, 1, 1, tzinfo=UTC)
    )
    companies: dict[str, list[str]] = defaultdict(list)
    for contact_id in sorted(signals):
        companies[people.get(contact_id, {}).get("Company Name", "")].append(contact_id)
    deals = []
    for contact_id in sorted(signals):
        rng = Random(f"{seed}/deal/{contact_id}")
        deal = _deal(contact_id, signals[contact_id], people.get(contact_id, {}), end, rng)
        if deal is not None:
            deals.append(_with_buying_group(deal, companies, signals, rng))
    path = folder / "deals.jsonl"
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for deal in deals:
            handle.write(json.dumps(deal.model_dump(mode="json"), separators=(",", ":")) + "\n")
    return SampleDeals(path=path, deals=tuple(deals))


def _contacts(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["Record ID"]: row for row in csv.DictReader(handle)}


def _signals(path: Path) -> dict[str, _Signals]:
    found: dict[str, _Signals] = defaultdict(_Signals)
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            event = _native(line)
            if event is not None:
                _observe(found[event["contact_id"]], event)
    return dict(found)


def _native(line: str) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
        row["at"] = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(row, dict) or "contact_id" not in row or row["at"].tzinfo is None:
        return None
    return row


def _observe(s: _Signals, event: dict[str, Any]) -> None:
    at, kind, props = event["at"], event.get("type"), event.get("properties") or {}
    s.first = at if s.first is None else min(s.first, at)
    s.last = at if s.last is None else max(s.last, at)
    if kind in ("meeting_booked", "demo_requested") and (s.meeting is None or at < s.meeting):
        s.meeting = at
    elif kind == "content_download":
        s.downloads += 1
        s.last_download = at if s.last_download is None else max(s.last_download, at)
        s.case_study |= props.get("asset_id") == _CASE_STUDY[1]
    elif kind == "webinar_attended":
        s.webinars += 1
    elif kind == "page_view":
        path = str(props.get("path", ""))
        s.stories += path.startswith("/customers/")
        s.case_study |= path == _CASE_STUDY[0]
        s.blog_signal |= path == _BLOG_SIGNAL


def _deal(
    contact_id: str, s: _Signals, person: dict[str, str], end: datetime, rng: Random
) -> Deal | None:
    anchor: datetime | None
    if s.meeting is not None:
        chance, anchor = 0.7, s.meeting
    elif s.downloads >= 2 or s.webinars:
        chance, anchor = 0.2, s.last_download or s.last
    elif s.stories:
        chance, anchor = 0.06, s.last
    else:
        return None
    odds = chance / (1 - chance) * (2.0 if s.case_study else 1.0) * (1.5 if s.blog_signal else 1.0)
    if anchor is None or rng.random() >= odds / (1 + odds):
        return None
    created = anchor + timedelta(days=rng.uniform(1, 6))
    if created >= end:
        return None
    amount = _amount(person.get("Number of Employees", "50"), rng)
    stage, closed = _stage(s, created, end, rng)
    return Deal(
        id=f"deal-{contact_id}",
        amount=amount,
        stage=stage,
        created_at=created.replace(microsecond=0),
        closed_at=closed,
        contact_ids=(contact_id,),
        account_id=person.get("Company Name") or None,
    )


def _amount(employees: str, rng: Random) -> float:
    try:
        size = max(float(employees), 1.0)
    except ValueError:
        size = 50.0
    base = 6000 * (size / 100) ** 0.45 * math.exp(rng.gauss(0, 0.35))
    return float(max(500, round(base / 500) * 500))


def _stage(
    s: _Signals, created: datetime, end: datetime, rng: Random
) -> tuple[str, datetime | None]:
    closed = created + timedelta(days=rng.uniform(10, 45))
    if closed >= end:
        return "open", None
    win = 0.4 + (0.15 if s.stories or s.case_study else 0.0) + (0.1 if s.webinars else 0.0)
    return ("won" if rng.random() < win else "lost"), closed.replace(microsecond=0)


def _with_buying_group(
    deal: Deal, companies: dict[str, list[str]], signals: dict[str, _Signals], rng: Random
) -> Deal:
    owner = deal.contact_ids[0]
    peers = [
        c
        for c in companies.get(deal.account_id or "", [])
        if c != owner and (signals[c].downloads or signals[c].meeting or signals[c].webinars)
    ]
    if not peers or rng.random() >= 0.5:
        return deal
    return deal.model_copy(update={"contact_ids": (owner, rng.choice(peers))})
