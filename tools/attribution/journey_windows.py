"""Journeys cut from touch columns: every conversion's lookback window, found with numpy.

`window_journeys` is the array form of the join `gtmflow.tools.attribution.touchpoints.
build_journeys` describes. A journey is one (conversion, its contacts) window; each (journey,
contact) pair finds its slice of the contact's touches with two binary searches over one sorted
key (contact, time rank), the slices are gathered at once, and a single sort puts every
journey's touches in time order (ties: contact id, then the contact's own order). Milestones and
ages are per-touch comparisons summed per journey.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from gtmflow.models import Deal
from gtmflow.tools.attribution.journeys import Journeys
from gtmflow.tools.attribution.touch_columns import TouchColumns, micros

__all__ = ["touch_keys", "window_journeys"]

Level = Literal["channel", "content", "agent"]
IntArray = npt.NDArray[np.int64]
_DAY = 86_400.0
_NO_LEAD = np.iinfo(np.int64).max


def touch_keys(columns: TouchColumns, level: Level) -> tuple[IntArray, tuple[str, ...]]:
    """Per touch, the code of its key at `level` (-1: it does not count there), and the keys.

    The rules of `Touch.key`: at `content`, a touch's content id, else `(channel)` for a
    session start or an off-site touch; at `channel` and `agent`, only session starts and
    off-site touches count, keyed by channel (`agent`: by agent, else `(channel)`).
    """
    strings = columns.strings
    n = len(strings)
    counts = columns.first_in_session | ~columns.onsite
    bracketed = columns.channel + n  # code n + i is "(strings[i])"
    if level == "content":
        raw = np.where(columns.content >= 0, columns.content, np.where(counts, bracketed, -1))
    elif level == "agent":
        raw = np.where(columns.agent >= 0, columns.agent, bracketed)
        raw = np.where(counts, raw, -1)
    else:
        raw = np.where(counts, columns.channel, -1)
    # Two codes may spell one key (a content id written "(email)"): one code per spelling.
    spelled = [*strings, *(f"({s})" for s in strings)]
    index: dict[str, int] = {}
    unique = np.fromiter((index.setdefault(s, len(index)) for s in spelled), np.int64, 2 * n)
    return np.where(raw >= 0, np.append(unique, -1)[raw], -1), tuple(index)


def window_journeys(
    columns: TouchColumns,
    level: Level,
    conversions: Sequence[tuple[Deal, int]],
    *,
    window: int,
    end: int | None,
) -> Journeys:
    """Journeys of converting deals, then of every other touched contact.

    Args:
        columns: Every contact's touches.
        level: Which key each touch counts under.
        conversions: (deal, conversion time in UTC microseconds), in journey order.
        window: Lookback in microseconds; a window is `[at - window, at]`.
        end: As-of time of the non-converting journeys (None: there are none).
    """
    keys, names = touch_keys(columns, level)
    plan = _Plan(columns, conversions, end, window)
    kept = np.flatnonzero(keys >= 0)
    row, journey = _gather(columns, kept, plan)
    order = np.lexsort((row, columns.at[row], journey))
    row, journey = row[order], journey[order]
    counts = np.bincount(journey, minlength=plan.size)
    at = columns.at[row]
    ages = (plan.at[journey] - at) / 1e6 / _DAY
    lead = np.bincount(journey, at <= plan.lead[journey], plan.size).astype(np.int64) - 1
    opportunity = np.bincount(journey, at <= plan.created[journey], plan.size).astype(np.int64)
    opportunity -= 1
    touched = counts > 0
    deals = np.arange(plan.size) < len(conversions)
    unattributed = [0.0, 0.0]
    for j in np.flatnonzero(deals & ~touched).tolist():
        unattributed[0] += 1
        unattributed[1] += conversions[j][0].amount
    steps, vocabulary = _first_appearance(keys[row], names)
    return Journeys(
        keys=vocabulary,
        steps=steps,
        offsets=np.concatenate(([0], np.cumsum(counts[touched]))).astype(np.int64),
        conversions=plan.outcome[0][touched],
        values=plan.outcome[1][touched],
        nulls=plan.outcome[2][touched],
        ages=ages.astype(np.float64),
        lead_at=np.where(deals & (plan.lead != _NO_LEAD), lead, -1)[touched],
        opportunity_at=np.where(deals, opportunity, -1)[touched],
        ids=tuple(plan.ids[j] for j in np.flatnonzero(touched).tolist()),
        unattributed_conversions=unattributed[0],
        unattributed_value=unattributed[1],
    )


class _Plan:
    """The journeys to cut: per journey its end, outcome and milestones; per pair its window."""

    def __init__(
        self,
        columns: TouchColumns,
        conversions: Sequence[tuple[Deal, int]],
        end: int | None,
        window: int,
    ) -> None:
        code = {c: i for i, c in enumerate(columns.contacts)}
        lead_of = np.full(len(columns.contacts) + 1, _NO_LEAD, dtype=np.int64)
        lead_of[columns.lead_contact] = columns.lead_at
        pairs: list[tuple[int, int]] = []
        at, created, lead, values, self.ids = [], [], [], [], []
        converted: set[str] = set()
        for j, (deal, moment) in enumerate(conversions):
            converted.update(deal.contact_ids)
            pairs += [(j, code[c]) for c in sorted(set(deal.contact_ids)) if c in code]
            known = [code.get(c, len(columns.contacts)) for c in deal.contact_ids]
            at.append(moment)
            created.append(micros(deal.created_at))
            lead.append(int(lead_of[known].min()) if known else _NO_LEAD)
            values.append(deal.amount)
            self.ids.append(deal.id)
        deals = len(conversions)
        others = [] if end is None else [c for c in columns.contacts if c not in converted]
        pairs += [(deals + k, code[c]) for k, c in enumerate(others)]
        self.ids += [f"contact:{c}" for c in others]
        self.size = deals + len(others)
        self.at = np.array(at + [end or 0] * len(others), dtype=np.int64)
        self.created = np.array(created + [0] * len(others), dtype=np.int64)
        self.lead = np.array(lead + [_NO_LEAD] * len(others), dtype=np.int64)
        converts = np.arange(self.size) < deals
        amounts = np.array(values + [0.0] * len(others), dtype=np.float64)
        self.outcome = (converts.astype(np.float64), amounts, (~converts).astype(np.float64))
        table = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        self.journey, self.contact = table[:, 0], table[:, 1]
        self.hi = self.at[self.journey]
        self.lo = self.hi - window


def _gather(columns: TouchColumns, kept: IntArray, plan: _Plan) -> tuple[IntArray, IntArray]:
    """Rows (into `columns`) of every pair's window, and the journey each belongs to."""
    contact, at = columns.contact[kept], columns.at[kept]
    clock = _Clock(np.concatenate([at, plan.lo, plan.hi]), len(columns.contacts))
    key = contact * clock.span + clock(at)  # (contact, time) as one sortable integer
    start = np.searchsorted(key, plan.contact * clock.span + clock(plan.lo), "left")
    stop = np.searchsorted(key, plan.contact * clock.span + clock(plan.hi), "right")
    length = stop - start
    pair = np.repeat(np.arange(len(length)), length)
    within = np.arange(len(pair)) - np.repeat(np.cumsum(length) - length, length)
    return kept[start[pair] + within], plan.journey[pair]


class _Clock:
    """Times as small non-negative integers, so that `contact * span + time` fits in int64.

    Offsets from the earliest time when the range allows (the usual case), else ranks.
    """

    def __init__(self, times: IntArray, contacts: int) -> None:
        self.origin = int(times.min()) if len(times) else 0
        width = int(times.max()) - self.origin + 1 if len(times) else 1
        self.ranks = None if width * (contacts + 1) < 2**62 else np.unique(times)
        self.span = width if self.ranks is None else len(self.ranks)

    def __call__(self, times: IntArray) -> IntArray:
        if self.ranks is None:
            return times - self.origin
        return np.searchsorted(self.ranks, times).astype(np.int64)


def _first_appearance(steps: IntArray, names: tuple[str, ...]) -> tuple[IntArray, tuple[str, ...]]:
    """Recode keys in order of first appearance (as `Journeys.from_paths` numbers them)."""
    unique, first = np.unique(steps, return_index=True)
    ranked = unique[np.argsort(first)]
    recode = np.zeros(len(names) + 1, dtype=np.int64)
    recode[ranked] = np.arange(len(ranked))
    return recode[steps], tuple(names[k] for k in ranked.tolist())
