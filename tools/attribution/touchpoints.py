"""Touchpoints from the event store and the outbox, joined to deals as attribution journeys.

Which events are touches, what a touch's channel is and which content it is about are set by a
`TouchpointConfig` (a value you can print and compare). The defaults read web analytics the way
GA and HubSpot do:

- Page views are grouped into sessions (a new session after `session_gap` of quiet, or when a
  page view carries a campaign source). A session's channel comes from its first page view:
  `utm_medium` (`cpc` -> `paid_search`, ...), else `utm_source`, else the referrer's host
  (`google.` -> `organic_search`, ...), else `direct`. Every page view in the session shares it.
- A page under one of `content_paths` (`/blog/`, `/customers/`, ...) is a content touch whose
  content id is the path. Other touch events take their content id from the first of
  `content_properties` they carry (`asset_id`, `webinar_id`, `campaign`, ...).
- Off-site touches (`email_click`, `webinar_attended`) take their channel from `type_channels`.
- Outbox actions of the kinds in `outbox_channels` that were `sent` are touches too, and carry
  the agent (graph/source, `@prompt_version` when the payload records one) that produced them.

The level of attribution picks the key of each touch: `channel` counts one touch per session
(plus off-site touches), `content` counts every content touch (touches without content appear
as `(channel)`), `agent` keys outbox touches by agent and the rest as `(channel)`.

`build_journeys` joins touches to deals: for `outcome="pipeline"` every deal created in the
window converts at its creation time, worth its amount; for `outcome="revenue"` only won deals,
at their close time. A deal's journey is the touches of all its contacts in
`[conversion - lookback, conversion]`. Contacts on no converting deal give non-converting
journeys over `[as_of - lookback, as_of]`. The W-shaped milestones are the last touch at or
before the first lead-creating event (`lead_types`) and the last touch at or before the deal's
creation.

Both steps run on arrays: `collect_touches` reads every contact's events in one bulk pass
(`EventStore.event_columns`) and resolves sessions with numpy (`touch_columns`);
`build_journeys` cuts all windows at once (`journey_windows`). A 100k-contact workspace is
attributed in seconds; `touches_from_events` applies the same code to one contact's events.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError, InputError
from gtmflow.models import Deal, Event, Touchpoint
from gtmflow.tools.attribution.journey_windows import window_journeys
from gtmflow.tools.attribution.journeys import Journeys
from gtmflow.tools.attribution.touch_columns import (
    ONSITE,
    TouchColumns,
    columns_from_touches,
    concat_touches,
    micros,
    touch_columns,
)
from gtmflow.tools.delivery.outbox import Outbox, OutboxRecord
from gtmflow.tools.events.event_columns import columns_from_events
from gtmflow.tools.events.event_store import EventStore

__all__ = [
    "Level",
    "Outcome",
    "Touch",
    "TouchData",
    "TouchpointConfig",
    "build_journeys",
    "collect_touches",
    "deal_to_json",
    "default_as_of",
    "load_deals",
    "touches_from_events",
    "touches_from_outbox",
]

Level = Literal["channel", "content", "agent"]
Outcome = Literal["pipeline", "revenue"]


class TouchpointConfig(BaseModel):
    """Which events are touches, and how to read their channel and content id."""

    model_config = ConfigDict(frozen=True)

    types: tuple[str, ...] = ("page_view", "email_click", "content_download", "webinar_attended")
    content_paths: tuple[str, ...] = ("/blog/", "/customers/", "/resources/", "/docs/")
    content_properties: tuple[str, ...] = (
        "content_id",
        "asset_id",
        "webinar_id",
        "campaign",
        "email_id",
    )
    medium_channels: dict[str, str] = {
        "cpc": "paid_search",
        "ppc": "paid_search",
        "paidsearch": "paid_search",
        "paid_search": "paid_search",
        "paid_social": "paid_social",
        "paidsocial": "paid_social",
        "social": "organic_social",
        "email": "email",
        "referral": "referral",
        "display": "display",
        "banner": "display",
        "affiliate": "affiliate",
    }
    referrer_channels: dict[str, str] = {
        "google.": "organic_search",
        "bing.": "organic_search",
        "duckduckgo.": "organic_search",
        "yahoo.": "organic_search",
        "linkedin.": "organic_social",
        "twitter.": "organic_social",
        "x.com": "organic_social",
        "facebook.": "organic_social",
        "reddit.": "organic_social",
    }
    type_channels: dict[str, str] = {
        "email_click": "email",
        "email_open": "email",
        "webinar_attended": "webinar",
        "webinar_registered": "webinar",
    }
    outbox_channels: dict[str, str] = {
        "send_email": "email",
        "send_followup": "email",
        "enroll": "email",
    }
    lead_types: tuple[str, ...] = (
        "form_submit",
        "content_download",
        "webinar_registered",
        "demo_requested",
    )
    session_gap: str = "30m"
    won_stages: tuple[str, ...] = ("won", "closed_won", "closedwon", "closed won")


@dataclass(frozen=True, slots=True)
class Touch:
    """One touch on a contact's journey (an event or a sent outbox action)."""

    contact_id: str
    at: datetime
    channel: str
    content_id: str | None = None
    agent: str | None = None
    source_id: str = ""
    first_in_session: bool = True
    onsite: bool = False

    def key(self, level: Level) -> str | None:
        """The attribution key at a level, or None when the touch does not count there."""
        if level == "content":
            if self.content_id is not None:
                return self.content_id
            return f"({self.channel})" if self.first_in_session or not self.onsite else None
        if self.onsite and not self.first_in_session:
            return None
        if level == "agent" and self.agent is not None:
            return self.agent
        return self.channel if level == "channel" else f"({self.channel})"

    def touchpoint(self) -> Touchpoint:
        """The public `Touchpoint` model of this touch."""
        return Touchpoint(
            contact_id=self.contact_id,
            timestamp=self.at,
            channel=self.channel,
            content_id=self.content_id,
            event_id=self.source_id or None,
        )


class TouchData:
    """Every contact's touches in time order, first lead-creation times, content titles.

    `collect_touches` fills it with columns (`TouchColumns`, what `build_journeys` reads);
    `touches` and `lead_times` are built from them on first read. Made by hand (`TouchData()`,
    then entries put into `touches` and `lead_times`), the dicts are what `build_journeys` reads,
    and so they are once `touches` or `lead_times` has been read.
    """

    def __init__(
        self,
        touches: dict[str, list[Touch]] | None = None,
        lead_times: dict[str, datetime] | None = None,
        titles: dict[str, str] | None = None,
        latest: datetime | None = None,
        *,
        columns: TouchColumns | None = None,
    ) -> None:
        self._touches = touches if touches is not None or columns is not None else {}
        self._lead_times = lead_times if lead_times is not None or columns is not None else {}
        self._columns = columns
        self.titles: dict[str, str] = titles if titles is not None else {}
        self.latest = latest

    def __repr__(self) -> str:
        return f"TouchData({self.columns()!r}, {len(self.titles)} titles, latest={self.latest})"

    @property
    def touches(self) -> dict[str, list[Touch]]:
        """Touches per contact id, in time order (built from the columns on first read)."""
        if self._touches is None:
            assert self._columns is not None
            self._touches = self._columns.touches(Touch)
        return self._touches

    @property
    def lead_times(self) -> dict[str, datetime]:
        """Each contact's first lead-creating event time."""
        if self._lead_times is None:
            assert self._columns is not None
            self._lead_times = self._columns.lead_times()
        return self._lead_times

    def columns(self) -> TouchColumns:
        """The touches as columns: as collected, or built from the dicts once they were read."""
        if self._columns is not None and self._touches is None and self._lead_times is None:
            return self._columns
        return columns_from_touches(self.touches, self.lead_times)


def touches_from_events(
    events: Sequence[Event], config: TouchpointConfig | None = None
) -> list[Touch]:
    """One contact's touches from its events (sorted by time), sessions resolved."""
    config = config or TouchpointConfig()
    columns, _ = touch_columns(columns_from_events(events), config)
    return [touch for touches in columns.touches(Touch).values() for touch in touches]


def touches_from_outbox(
    records: Iterable[OutboxRecord], config: TouchpointConfig | None = None
) -> list[Touch]:
    """Sent outbox actions of the configured kinds, as touches carrying their agent."""
    config = config or TouchpointConfig()
    touches = []
    for record in records:
        action = record.action
        if record.status != "sent" or action.kind not in config.outbox_channels:
            continue
        payload = action.payload
        agent = str(payload.get("agent") or f"{action.graph}/{action.source}")
        if payload.get("prompt_version"):
            agent += f"@{payload['prompt_version']}"
        content = payload.get("content_id") or payload.get("sequence") or payload.get("template")
        touches.append(
            Touch(
                contact_id=action.contact_id,
                at=action.created_at,
                channel=config.outbox_channels[action.kind],
                content_id=None if content is None else str(content),
                agent=agent,
                source_id=f"outbox:{action.idempotency_key}",
            )
        )
    return touches


def collect_touches(
    store: EventStore,
    *,
    config: TouchpointConfig | None = None,
    outbox: Outbox | None = None,
    until: datetime | None = None,
) -> TouchData:
    """Read every contact's touches (and outbox touches) from a store into a `TouchData`.

    The events come in one bulk read (`EventStore.event_columns`) and sessions are resolved on
    arrays (`gtmflow.tools.attribution.touch_columns`), so the cost follows the events read, not
    the number of contacts.
    """
    config = config or TouchpointConfig()
    types = sorted({"page_view", *config.types, *config.lead_types, *ONSITE})
    events = store.event_columns(types=types, until=until)
    columns, titles = touch_columns(events, config)
    if outbox is not None:
        sent: dict[str, list[Touch]] = {}
        for touch in touches_from_outbox(outbox.records(status="sent"), config):
            if until is None or touch.at <= until:
                sent.setdefault(touch.contact_id, []).append(touch)
        columns = concat_touches(columns, columns_from_touches(sent, {}))
    latest = events.timestamp(int(events.ts.argmax())) if len(events) else None
    return TouchData(titles=titles, latest=latest, columns=columns)


def build_journeys(
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
    conversions = [(d, micros(at)) for d, at in _converting(deals, outcome, config, since, end)]
    return window_journeys(
        data.columns(),
        level,
        conversions,
        window=window // _TICK,
        end=None if end is None else micros(end),
    )


def load_deals(path: str | Path) -> list[Deal]:
    """Read deals from JSONL (one `Deal` object a line) or CSV.

    CSV columns: `id, amount, currency, stage, created_at, closed_at, contact_ids,
    account_id`; `contact_ids` holds ids separated by `;` or `|`.

    Raises:
        InputError: A row that is not a valid deal, with its line number and the reason.
    """
    source = Path(path)
    if not source.exists():
        raise ConfigError(f"deals file '{source}' does not exist; pass --deals FILE")
    text = source.read_text(encoding="utf-8-sig")
    if source.suffix.lower() == ".csv":
        rows: list[tuple[int, Any]] = [
            (n, _csv_deal(row)) for n, row in enumerate(csv.DictReader(text.splitlines()), 2)
        ]
    else:
        rows = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    deals = []
    for number, row in rows:
        try:
            deal = Deal.model_validate_json(row) if isinstance(row, str) else Deal(**row)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            raise InputError(
                f"deals file '{source}' line {number}: {where}: {first['msg']}; each deal needs "
                "id, amount, stage and an ISO created_at with a timezone"
            ) from None
        deals.append(deal)
    return deals


# ---------------------------------------------------------------------- internals


_TICK = timedelta(microseconds=1)


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


def default_as_of(data: TouchData, deals: Sequence[Deal]) -> datetime | None:
    """The default end of an attribution window: the latest touch or deal date (None: no data).

    `gtmflow attribution` and `gtmflow report` both judge as of this moment unless told
    otherwise, so deals after the last event still count.
    """
    moments = [d.closed_at or d.created_at for d in deals]
    if data.latest is not None:
        moments.append(data.latest)
    return max(moments) if moments else None


def _csv_deal(row: dict[str, str]) -> dict[str, Any]:
    clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
    ids = clean.pop("contact_ids", "").replace("|", ";")
    deal: dict[str, Any] = {k: v for k, v in clean.items() if v != ""}
    deal["contact_ids"] = tuple(i.strip() for i in ids.split(";") if i.strip())
    return deal


def deal_to_json(deal: Deal) -> str:
    """One JSONL line for a deal (the format `load_deals` reads)."""
    return json.dumps(deal.model_dump(mode="json"), separators=(",", ":"))
