"""Vendor mentions and asks of the transcript analyst, scored against labelled calls.

`benchmarks/data/heldout_vendor_calls.json` holds 13 calls from industries `training/calls/`
does not cover (wineries, churches, aviation maintenance, funeral homes, cannabis compliance,
self-storage, marinas, youth sports, golf, newsrooms, parking, event venues, film budgeting),
written for gtmflow and committed before the vendor and ask detection was built; nothing was
tuned on them. Gold per call: the vendors the prospect named that compete for the deal (name,
role, sentiment for incumbents), the tools they keep (`stack`, not competitors) and the asks
(kind, the sentence that asks). `training/calls/set_i.json` has the same gold for tuning.

Scores: competitor precision and recall by name (a predicted name matches a gold one when their
letters agree or one is a whole word of the other: "Arc" and "Arc XP"); role accuracy over the
names found; asks recall (an ask counts when the analyser gives its sentence the gold kind) and
precision; and whether every evidence quote occurs verbatim in its utterance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gtmflow.agents._rules_analyst import RulesAnalyst
from gtmflow.agents.insights import TranscriptInsights, normalise
from gtmflow.models import Transcript
from gtmflow.tools.transcripts import parse_transcript

HERE = Path(__file__).resolve().parent
VENDOR_HELDOUT = HERE / "data" / "heldout_vendor_calls.json"


@dataclass(frozen=True)
class VendorCall:
    """A call with gold vendor mentions, kept tools and asks."""

    transcript: Transcript
    call_date: date
    seller_company: str
    competitors: tuple[str, ...]
    mentions: tuple[dict[str, Any], ...]
    asks: tuple[dict[str, str], ...]


@dataclass
class VendorScores:
    """Counts behind the vendor and ask figures."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    roles_right: int = 0
    asks_found: int = 0
    asks_gold: int = 0
    asks_predicted: int = 0
    quotes: int = 0
    quotes_verbatim: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def role_accuracy(self) -> float:
        return self.roles_right / self.tp if self.tp else 0.0

    @property
    def asks_recall(self) -> float:
        return self.asks_found / self.asks_gold if self.asks_gold else 0.0

    @property
    def asks_precision(self) -> float:
        return self.asks_found / self.asks_predicted if self.asks_predicted else 0.0


def load_vendor_calls(path: Path = VENDOR_HELDOUT) -> list[VendorCall]:
    """Calls in the held-out format (`text` turns) or the training format (`sentences`)."""
    calls = []
    for call in json.loads(path.read_text(encoding="utf-8"))["calls"]:
        lines = [f"{t['speaker']}: {_turn_text(t)}" for t in call["turns"]]
        parsed = parse_transcript(
            "\n".join(lines), transcript_id=call["id"], seller_company=call["seller_company"]
        )
        calls.append(
            VendorCall(
                parsed.transcript,
                date.fromisoformat(call["call_date"]),
                call["seller_company"],
                tuple(call["competitors"]),
                tuple(call["mentions"]),
                tuple(call["asks"]),
            )
        )
    return calls


def evaluate_vendors(
    make: Callable[[VendorCall], RulesAnalyst], calls: list[VendorCall]
) -> VendorScores:
    """Vendor and ask scores over labelled calls; `make` builds the analyser for one call."""
    scores = VendorScores()
    for call in calls:
        insights = make(call).analyze(call.transcript, call_date=call.call_date)
        _score_mentions(scores, call, insights)
        _score_asks(scores, call, insights)
        texts = [normalise(u.text) for u in call.transcript.utterances]
        for evidence in insights.quotes():
            scores.quotes += 1
            where = evidence.utterance
            scores.quotes_verbatim += (
                where is not None and normalise(evidence.quote) in texts[where]
            )
    return scores


def same_vendor(a: str, b: str) -> bool:
    """Whether two names name one vendor: same letters, or one a whole word of the other."""
    if _letters(a) == _letters(b):
        return True
    short, long = sorted((a.lower(), b.lower()), key=len)
    return len(short) >= 2 and f" {short} " in f" {long} "


def _score_mentions(scores: VendorScores, call: VendorCall, insights: TranscriptInsights) -> None:
    predicted = list(insights.competitors)
    for gold in call.mentions:
        found = next((m for m in predicted if same_vendor(m.name, gold["name"])), None)
        if found is None:
            scores.fn += 1
            scores.misses.append(f"{call.transcript.id}: missed {gold['name']} ({gold['role']})")
            continue
        scores.tp += 1
        scores.roles_right += found.role == gold["role"]
        if found.role != gold["role"]:
            wrong = f"{found.name} {found.role}, not {gold['role']}"
            scores.misses.append(f"{call.transcript.id}: {wrong}")
    for mention in predicted:
        if not any(same_vendor(mention.name, g["name"]) for g in call.mentions):
            scores.fp += 1
            scores.misses.append(f"{call.transcript.id}: reported {mention.name} ({mention.role})")


def _score_asks(scores: VendorScores, call: VendorCall, insights: TranscriptInsights) -> None:
    predicted = [(a.kind, normalise(e.quote)) for a in insights.asks for e in a.evidence]
    scores.asks_gold += len(call.asks)
    scores.asks_predicted += len(insights.asks)
    for gold in call.asks:
        quote = normalise(gold["quote"])
        if any(kind == gold["kind"] and (q in quote or quote in q) for kind, q in predicted):
            scores.asks_found += 1
        else:
            scores.misses.append(f"{call.transcript.id}: ask {gold['kind']} missed: {quote}")


def _turn_text(turn: dict[str, Any]) -> str:
    return str(turn["text"]) if "text" in turn else " ".join(s for s, _ in turn["sentences"])


def _letters(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
