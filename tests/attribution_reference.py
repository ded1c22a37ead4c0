"""The per-contact attribution join as it stood before issue 15: the oracle of the bulk path.

Kept verbatim (docstrings trimmed) from `gtmflow.tools.attribution.touchpoints` and `.journeys`
as of commit ffe66a9: one query per contact, one `Event` and one `Touch` object at a time, bisect
windows, path files read row by row with the `csv` module. The equivalence tests run it and the
vectorised code on the same inputs and compare every field.
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import methodcaller
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError, InputError
from gtmflow.models import Deal, Event
from gtmflow.tools.attribution.journeys import PATH_COLUMNS, Journeys, _column, _column_positions
from gtmflow.tools.attribution.touchpoints import (
    Level,
    Outcome,
    Touch,
    TouchData,
    TouchpointConfig,
    default_as_of,
    touches_from_outbox,
)
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.events.event_store import EventStore

_ONSITE = ("page_view", "content_download", "form_submit")


def reference_touches_from_events(
    events: Sequence[Event], config: TouchpointConfig | None = None
) -> list[Touch]:
    """One contact's touches from its events (sorted by time), sessions resolved."""
    config = config or TouchpointConfig()
    gap = parse_duration(config.session_gap)
    touches: list[Touch] = []
    channel, last_onsite = "direct", None
    for event in sorted(events, key=lambda e: (e.timestamp, e.id)):
        onsite, starts = event.type in _ONSITE, False
        if onsite:
            source = (
                _source_channel(event.properties, config) if event.type == "page_view" else None
            )
            if source is not None or last_onsite is None or event.timestamp - last_onsite > gap:
                channel, starts = source or "direct", True
            last_onsite = event.timestamp
        if event.type not in config.types:
            continue
        touch = _touch(event, config, channel if onsite else None, starts)
        if touch is not None:
            touches.append(touch)
    return touches


def reference_collect_touches(
    store: EventStore,
    *,
    config: TouchpointConfig | None = None,
    outbox: Outbox | None = None,
    until: datetime | None = None,
) -> TouchData:
    """Read every contact's touches (and outbox touches) from a store into a `TouchData`."""
    config = config or TouchpointConfig()
    types = {"page_view", *config.types, *config.lead_types, *_ONSITE}
    data = TouchData()
    for contact_id in store.contact_ids():
        events = store.events(contact_id, types=sorted(types), until=until)
        if not events:
            continue
        data.touches[contact_id] = reference_touches_from_events(events, config)
        lead = next((e.timestamp for e in events if e.type in config.lead_types), None)
        if lead is not None:
            data.lead_times[contact_id] = lead
        _titles(events, config, data.titles)
        latest = events[-1].timestamp
        data.latest = latest if data.latest is None else max(data.latest, latest)
    if outbox is not None:
        for touch in touches_from_outbox(outbox.records(status="sent"), config):
            if until is None or touch.at <= until:
                data.touches.setdefault(touch.contact_id, []).append(touch)
        for touches in data.touches.values():
            touches.sort(key=lambda t: t.at)
    return data


def reference_build_journeys(
    data: TouchData,
    deals: Sequence[Deal],
    *,
    outcome: Outcome = "pipeline",
    level: Level = "channel",
    lookback: str | timedelta = "90d",
    as_of: datetime | None = None,
    since: datetime | None = None,
    currency: str | None = None,
    config: TouchpointConfig | None = None,
) -> Journeys:
    """Journeys of converting deals and of contacts that did not convert (see module doc).

    Args:
        data: Touches from `collect_touches`.
        deals: Deals to join (`load_deals` reads them from JSONL or CSV).
        outcome: `pipeline` (deals created, worth their amount) or `revenue` (deals won).
        level: `channel`, `content` or `agent`.
        lookback: How far before a conversion touches count.
        as_of: End of the window (default: the latest touch or deal date).
        since: Only conversions at or after this instant.
        currency: Only deals in this currency; required when deals mix currencies.
        config: For `won_stages`.

    Raises:
        ConfigError: Deals in several currencies without `currency=`, a bad outcome or level.
    """
    if outcome not in ("pipeline", "revenue"):
        raise ConfigError(f"outcome '{outcome}' is not known; use 'pipeline' or 'revenue'")
    if level not in ("channel", "content", "agent"):
        raise ConfigError(f"level '{level}' is not known; use 'channel', 'content' or 'agent'")
    config = config or TouchpointConfig()
    window = parse_duration(lookback)
    deals = _one_currency(deals, currency)
    end = as_of or default_as_of(data, deals)
    builder = _JourneyBuilder(data, level)
    converted: set[str] = set()
    for deal, at in _converting(deals, outcome, config, since, end):
        converted.update(deal.contact_ids)
        builder.add_deal(deal, at, window)
    for contact_id in sorted(data.touches):
        if contact_id not in converted and end is not None:
            builder.add_null(contact_id, end, window)
    return builder.journeys()


class _JourneyBuilder:
    """Accumulates journeys (keys, ages, milestones, outcomes) as flat lists."""

    def __init__(self, data: TouchData, level: Level) -> None:
        self.data, self.level = data, level
        self.paths: list[list[str]] = []
        self.ages: list[list[float]] = []
        self.outcomes: list[tuple[float, float, float]] = []
        self.milestones: list[tuple[int, int]] = []
        self.ids: list[str] = []
        self.unattributed = [0.0, 0.0]
        self._keyed: dict[str, tuple[list[datetime], list[str]]] = {}

    def keyed(self, contact_id: str) -> tuple[list[datetime], list[str]]:
        if contact_id not in self._keyed:
            pairs = [(t.at, t.key(self.level)) for t in self.data.touches.get(contact_id, [])]
            kept = [(at, key) for at, key in pairs if key is not None]
            self._keyed[contact_id] = ([a for a, _ in kept], [k for _, k in kept])
        return self._keyed[contact_id]

    def window(
        self, contacts: Iterable[str], lo: datetime, hi: datetime
    ) -> list[tuple[datetime, str]]:
        merged: list[tuple[datetime, str]] = []
        for contact_id in sorted(set(contacts)):
            times, keys = self.keyed(contact_id)
            start, stop = bisect_right(times, lo - _TICK), bisect_right(times, hi)
            merged += zip(times[start:stop], keys[start:stop], strict=True)
        return sorted(merged, key=lambda pair: pair[0])

    def add_deal(self, deal: Deal, at: datetime, window: timedelta) -> None:
        touches = self.window(deal.contact_ids, at - window, at)
        if not touches:
            self.unattributed[0] += 1
            self.unattributed[1] += deal.amount
            return
        times = [t for t, _ in touches]
        leads = [self.data.lead_times[c] for c in deal.contact_ids if c in self.data.lead_times]
        lead = bisect_right(times, min(leads)) - 1 if leads else -1
        opportunity = bisect_right(times, deal.created_at) - 1
        self._add(touches, at, deal.id, (1.0, deal.amount, 0.0), (lead, opportunity))

    def add_null(self, contact_id: str, end: datetime, window: timedelta) -> None:
        touches = self.window([contact_id], end - window, end)
        if touches:
            self._add(touches, end, f"contact:{contact_id}", (0.0, 0.0, 1.0), (-1, -1))

    def _add(
        self,
        touches: list[tuple[datetime, str]],
        at: datetime,
        journey_id: str,
        outcome: tuple[float, float, float],
        milestones: tuple[int, int],
    ) -> None:
        self.paths.append([key for _, key in touches])
        self.ages.append([(at - t).total_seconds() / 86_400 for t, _ in touches])
        self.outcomes.append(outcome)
        self.milestones.append(milestones)
        self.ids.append(journey_id)

    def journeys(self) -> Journeys:
        outcomes = np.asarray(self.outcomes, dtype=float).reshape(-1, 3)
        milestones = np.asarray(self.milestones, dtype=np.int64).reshape(-1, 2)
        built = Journeys.from_paths(
            self.paths,
            conversions=outcomes[:, 0],
            values=outcomes[:, 1],
            nulls=outcomes[:, 2],
            ages=self.ages,
            lead_at=milestones[:, 0],
            opportunity_at=milestones[:, 1],
            ids=self.ids,
        )
        return Journeys(
            **{f: getattr(built, f) for f in _JOURNEY_FIELDS},
            unattributed_conversions=self.unattributed[0],
            unattributed_value=self.unattributed[1],
        )


_TICK = timedelta(microseconds=1)
_JOURNEY_FIELDS = (
    "keys",
    "steps",
    "offsets",
    "conversions",
    "values",
    "nulls",
    "ages",
    "lead_at",
    "opportunity_at",
    "ids",
)


def _touch(
    event: Event, config: TouchpointConfig, channel: str | None, starts: bool
) -> Touch | None:
    props = event.properties
    content = None
    if event.type == "page_view":
        path = str(props.get("path", ""))
        if any(path.startswith(prefix) for prefix in config.content_paths):
            content = path
        elif not starts:
            return None  # a non-content page inside a session adds nothing
    else:
        content = next((str(props[p]) for p in config.content_properties if props.get(p)), None)
    return Touch(
        contact_id=event.contact_id,
        at=event.timestamp,
        channel=channel or config.type_channels.get(event.type, event.type),
        content_id=content,
        source_id=event.id,
        first_in_session=starts or channel is None,
        onsite=channel is not None,
    )


def _source_channel(props: Mapping[str, Any], config: TouchpointConfig) -> str | None:
    medium = str(props.get("utm_medium") or "").strip().lower()
    if medium:
        return config.medium_channels.get(medium, medium)
    source = str(props.get("utm_source") or "").strip().lower()
    if source:
        return "other_campaigns"
    referrer = str(props.get("referrer") or "").lower()
    if referrer:
        host = referrer.split("//", 1)[-1].split("/", 1)[0]
        return next((c for k, c in config.referrer_channels.items() if k in host), "referral")
    return None


def _titles(events: Sequence[Event], config: TouchpointConfig, titles: dict[str, str]) -> None:
    for event in events:
        title = event.properties.get("title")
        if not title:
            continue
        content = next(
            (event.properties[p] for p in config.content_properties if event.properties.get(p)),
            None,
        )
        if content is not None:
            titles.setdefault(str(content), str(title))


def _converting(
    deals: Sequence[Deal],
    outcome: Outcome,
    config: TouchpointConfig,
    since: datetime | None,
    end: datetime | None,
) -> Iterable[tuple[Deal, datetime]]:
    won = {s.lower() for s in config.won_stages}
    for deal in sorted(deals, key=lambda d: d.id):
        if outcome == "revenue" and deal.stage.lower() not in won:
            continue
        at = deal.created_at if outcome == "pipeline" else (deal.closed_at or deal.created_at)
        if (since is None or at >= since) and (end is None or at <= end):
            yield deal, at


def _one_currency(deals: Sequence[Deal], currency: str | None) -> list[Deal]:
    if currency is not None:
        return [d for d in deals if d.currency.upper() == currency.upper()]
    currencies = sorted({d.currency.upper() for d in deals})
    if len(currencies) > 1:
        raise ConfigError(
            f"deals are in {', '.join(currencies)}; amounts in different currencies cannot be "
            f"added: convert them first or pass currency='{currencies[0]}' to use only those"
        )
    return list(deals)


# ---------------------------------------------------------------------- path files


def reference_read_paths(
    path: str | Path,
    *,
    delimiter: str = ";",
    sep: str = ">",
    columns: Sequence[str] = PATH_COLUMNS,
) -> Journeys:
    """Read a ChannelAttribution-style aggregated path file.

    Args:
        path: CSV file with a header row.
        delimiter: Column separator (`;` in the package's example data).
        sep: Separator between the channels of a path.
        columns: Names of the path, conversions, conversion value and null columns; the last
            two may be absent from the file (value 0, no nulls).

    Raises:
        InputError: A missing path/conversions column or a number that does not parse.
    """
    source = Path(path)
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        rows = list(reader)
    if header is None:
        raise InputError(f"path file '{source}' is empty; it needs a header row {PATH_COLUMNS}")
    position = _column_positions(source, [h.strip() for h in header], columns, delimiter)
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    path_column = position[0]
    assert path_column is not None  # checked by _column_positions
    paths = [r[path_column] for r in rows]
    numbers = [
        _reference_numbers(source, rows, i, name)
        for i, name in zip(position[1:], columns[1:], strict=True)
    ]
    return _reference_parse(
        paths, sep=sep, conversions=numbers[0], values=numbers[1], nulls=numbers[2]
    )


def _reference_parse(
    paths: Sequence[str],
    *,
    sep: str = ">",
    conversions: npt.ArrayLike | None = None,
    values: npt.ArrayLike | None = None,
    nulls: npt.ArrayLike | None = None,
) -> Journeys:
    """Build journeys from path strings such as `"eta > iota > alpha"`.

    Keys are stripped of surrounding whitespace and empty keys are skipped, as
    ChannelAttribution does; a path with no key at all is an error.
    """
    if not sep:
        raise ConfigError("path separator 'sep' is empty; use e.g. '>'")
    tokens = sep.join(paths).split(sep)
    counts = np.fromiter(map(methodcaller("count", sep), paths), np.int64, len(paths)) + 1
    # Strip whitespace per distinct token, not per token: a million paths have few.
    index: dict[str, int] = {}
    raw = {t: index.setdefault(t.strip(), len(index)) for t in dict.fromkeys(tokens)}
    blank = index.pop("", None)
    codes = np.fromiter(map(raw.__getitem__, tokens), np.int64, len(tokens))
    kept = codes != blank if blank is not None else np.ones(len(codes), dtype=bool)
    if blank is not None:  # renumber the keys after the blank one
        codes = codes - (codes > blank)
    owner = np.repeat(np.arange(len(paths)), counts)
    lengths = np.bincount(owner[kept], minlength=len(paths))
    if len(paths) and not lengths.all():
        empty = int(np.flatnonzero(lengths == 0)[0])
        raise InputError(
            f"path {empty + 1} ({paths[empty]!r}) has no channel; every path needs at least "
            f"one key separated by '{sep}'"
        )
    n = len(paths)
    return Journeys(
        keys=tuple(index),
        steps=codes[kept],
        offsets=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        conversions=_column(conversions, n, 1.0, "conversions"),
        values=_column(values, n, 0.0, "values"),
        nulls=_column(nulls, n, 0.0, "nulls"),
    )


def _reference_numbers(
    source: Path, rows: list[list[str]], i: int | None, name: str
) -> list[float] | None:
    if i is None:
        return None
    try:
        return [float(r[i]) if r[i].strip() else 0.0 for r in rows]
    except (ValueError, IndexError):
        for line, row in enumerate(rows, 2):
            try:
                float(row[i] or 0)
            except (ValueError, IndexError):
                raise InputError(
                    f"path file '{source}' line {line}: '{name}' is not a number ({row!r})"
                ) from None
        raise
