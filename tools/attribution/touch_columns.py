"""Touches of many contacts as columns: sessions resolved with numpy, not an event at a time.

`touch_columns(events, config)` turns the `EventColumns` of a store (every contact's touch
events, ordered by contact and time) into `TouchColumns`, following the rules of
`gtmflow.tools.attribution.touchpoints` exactly. What depends on an event's properties (its
campaign source, its content id, its title) is worked out once per distinct property object;
what depends on its neighbours (where a session starts, which channel it carries) is worked out
on whole arrays:

- an on-site event starts a session when it is its contact's first, when more than
  `session_gap` has passed since the contact's previous on-site event, or when it is a page view
  carrying a campaign source;
- every on-site event takes the channel of the latest session start (a forward fill);
- a page view is a touch when it starts a session or is a content page; other touch types
  always are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gtmflow.clock import parse_duration
from gtmflow.tools.events.event_columns import EventColumns, TextColumn

if TYPE_CHECKING:
    from gtmflow.tools.attribution.touchpoints import Touch, TouchpointConfig

__all__ = [
    "ONSITE",
    "TouchColumns",
    "columns_from_touches",
    "concat_touches",
    "micros",
    "source_channel",
    "touch_columns",
]

ONSITE = ("page_view", "content_download", "form_submit")
"""Event types that happen on the website, and so belong to sessions."""

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True, eq=False)
class TouchColumns:
    """Touches as columns, ordered by contact code, then time.

    Attributes:
        contacts: Contact ids, sorted: every contact with a touch event, touched or not.
        contact: Per touch, its contact's code.
        at: Per touch, UTC microseconds.
        strings: Vocabulary of `channel`, `content` and `agent` codes.
        channel: Per touch, its channel's code.
        content: Per touch, its content id's code, -1 for none.
        agent: Per touch, its agent's code, -1 for none (event touches).
        first_in_session: Per touch, whether it starts its session (always for off-site).
        onsite: Per touch, whether it happened on the website.
        source_ids: Per touch, the event id or `outbox:<idempotency key>`.
        lead_contact: Contacts with a lead-creating event (codes, ascending).
        lead_at: Their first lead-creating event's time (UTC microseconds).
    """

    contacts: tuple[str, ...]
    contact: IntArray
    at: IntArray
    strings: tuple[str, ...]
    channel: IntArray
    content: IntArray
    agent: IntArray
    first_in_session: BoolArray
    onsite: BoolArray
    source_ids: TextColumn
    lead_contact: IntArray
    lead_at: IntArray

    def __len__(self) -> int:
        return len(self.at)

    def __repr__(self) -> str:
        return f"TouchColumns({len(self)} touches, {len(self.contacts)} contacts)"

    def touches(self, touch: type[Touch]) -> dict[str, list[Touch]]:
        """Every contact's touches as `Touch` objects (an entry for each contact)."""
        found: dict[str, list[Touch]] = {c: [] for c in self.contacts}
        s = self.strings
        for source, c, at, ch, co, ag, first, on in zip(
            self.source_ids, *(a.tolist() for a in self._arrays()), strict=True
        ):
            found[self.contacts[c]].append(
                touch(
                    contact_id=self.contacts[c],
                    at=_EPOCH + timedelta(microseconds=at),
                    channel=s[ch],
                    content_id=s[co] if co >= 0 else None,
                    agent=s[ag] if ag >= 0 else None,
                    source_id=source,
                    first_in_session=first,
                    onsite=on,
                )
            )
        return found

    def lead_times(self) -> dict[str, datetime]:
        """Each contact's first lead-creating event time."""
        return {
            self.contacts[c]: _EPOCH + timedelta(microseconds=t)
            for c, t in zip(self.lead_contact.tolist(), self.lead_at.tolist(), strict=True)
        }

    def _arrays(self) -> tuple[npt.NDArray[Any], ...]:
        return (
            self.contact,
            self.at,
            self.channel,
            self.content,
            self.agent,
            self.first_in_session,
            self.onsite,
        )


def touch_columns(
    events: EventColumns, config: TouchpointConfig
) -> tuple[TouchColumns, dict[str, str]]:
    """Touches (sessions resolved) and content titles from every contact's events.

    Args:
        events: The events of the touch, on-site and lead types, ordered by contact and time.
        config: Which events are touches and how to read them.

    Returns:
        The touches, and the title of each content id in order of first appearance.
    """
    strings = _Strings()
    kinds = _TypeFacts(events.types, config, strings)
    facts = _PropertyFacts(events.properties, config, strings)
    ty, pr = events.type, events.prop
    starts, channel = _sessions(events, kinds, facts, config, strings)
    pv = kinds.page_view[ty]
    keep = kinds.touch[ty] & ~(pv & (facts.path_content[pr] < 0) & ~starts)
    rows = np.flatnonzero(keep)
    content = np.where(pv, facts.path_content[pr], facts.prop_content[pr])[rows]
    lead_rows = np.flatnonzero(kinds.lead[ty])
    lead_contact, first = np.unique(events.contact[lead_rows], return_index=True)
    columns = TouchColumns(
        contacts=events.contacts,
        contact=events.contact[rows],
        at=events.ts[rows],
        strings=strings.values(),
        channel=channel[rows],
        content=content,
        agent=np.full(len(rows), -1, dtype=np.int64),
        first_in_session=starts[rows],
        onsite=kinds.onsite[ty][rows],
        source_ids=events.ids.take(rows),
        lead_contact=lead_contact.astype(np.int64),
        lead_at=events.ts[lead_rows[first]],
    )
    return columns, _titles(events, facts, strings)


def columns_from_touches(
    touches: Mapping[str, Sequence[Touch]], lead_times: Mapping[str, datetime]
) -> TouchColumns:
    """Columns from `Touch` objects per contact (each list in time order)."""
    contacts = tuple(sorted(set(touches) | set(lead_times)))
    code = {c: i for i, c in enumerate(contacts)}
    rows = [t for c in contacts for t in touches.get(c, ())]
    strings = _Strings()
    channel = _ints(strings.code(t.channel) for t in rows)
    content = _ints(strings.code_or_none(t.content_id) for t in rows)
    agent = _ints(strings.code_or_none(t.agent) for t in rows)
    leads = sorted((code[c], micros(t)) for c, t in lead_times.items())
    return TouchColumns(
        contacts=contacts,
        contact=_ints(code[t.contact_id] for t in rows),
        at=_ints(micros(t.at) for t in rows),
        strings=strings.values(),
        channel=channel,
        content=content,
        agent=agent,
        first_in_session=_flags(t.first_in_session for t in rows),
        onsite=_flags(t.onsite for t in rows),
        source_ids=TextColumn.of([t.source_id for t in rows]),
        lead_contact=_ints(c for c, _ in leads),
        lead_at=_ints(t for _, t in leads),
    )


def concat_touches(first: TouchColumns, second: TouchColumns) -> TouchColumns:
    """Both sets of touches in one, each contact's in time order (ties: `first`'s first)."""
    contacts = tuple(sorted(set(first.contacts) | set(second.contacts)))
    code = {c: i for i, c in enumerate(contacts)}
    strings = _Strings()
    parts = []
    for part in (first, second):
        remap_contacts = _ints(code[c] for c in part.contacts)
        remap_strings = np.append(_ints(strings.code(s) for s in part.strings), -1)
        parts.append((part, remap_contacts, remap_strings))
    contact = np.concatenate([m[p.contact] for p, m, _ in parts])
    at = np.concatenate([p.at for p, _, _ in parts])
    order = np.lexsort((np.arange(len(at)), at, contact))

    def joined(name: str) -> npt.NDArray[Any]:
        return np.concatenate([getattr(p, name) for p, _, _ in parts])[order]

    def recoded(name: str) -> IntArray:
        return np.concatenate([s[getattr(p, name)] for p, _, s in parts])[order]

    lead_contact = np.concatenate([m[p.lead_contact] for p, m, _ in parts])
    lead_at = np.concatenate([p.lead_at for p, _, _ in parts])
    lead_order = np.lexsort((lead_at, lead_contact))
    ids = TextColumn.concat([first.source_ids, second.source_ids])
    return TouchColumns(
        contacts=contacts,
        contact=contact[order],
        at=at[order],
        strings=strings.values(),
        channel=recoded("channel"),
        content=recoded("content"),
        agent=recoded("agent"),
        first_in_session=joined("first_in_session"),
        onsite=joined("onsite"),
        source_ids=ids.take(order),
        lead_contact=lead_contact[lead_order],
        lead_at=lead_at[lead_order],
    )


def source_channel(props: Mapping[str, Any], config: TouchpointConfig) -> str | None:
    """The campaign channel a page view's properties carry, or None (no campaign source)."""
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


# ---------------------------------------------------------------------- internals


class _Strings:
    """A growing vocabulary of strings; codes in order of first use."""

    def __init__(self) -> None:
        self._code: dict[str, int] = {}

    def code(self, value: str) -> int:
        return self._code.setdefault(value, len(self._code))

    def code_or_none(self, value: str | None) -> int:
        return -1 if value is None else self.code(value)

    def values(self) -> tuple[str, ...]:
        return tuple(self._code)


class _TypeFacts:
    """Per event type code: on-site, touch, page view, lead-creating; its off-site channel."""

    def __init__(self, types: Sequence[str], config: TouchpointConfig, strings: _Strings):
        self.onsite = _flags(t in ONSITE for t in types)
        self.touch = _flags(t in config.types for t in types)
        self.page_view = _flags(t == "page_view" for t in types)
        self.lead = _flags(t in config.lead_types for t in types)
        self.channel = _ints(strings.code(config.type_channels.get(t, t)) for t in types)


class _PropertyFacts:
    """Per distinct property object: campaign source, content ids, title."""

    def __init__(
        self, properties: Sequence[Mapping[str, Any]], config: TouchpointConfig, strings: _Strings
    ):
        sources = [source_channel(p, config) for p in properties]
        self.starts = _flags(s is not None for s in sources)
        self.source = _ints(strings.code(s or "direct") for s in sources)
        paths = (str(p.get("path", "")) for p in properties)
        self.path_content = _ints(
            strings.code(path) if path.startswith(tuple(config.content_paths)) else -1
            for path in paths
        )
        ids = [_content_property(p, config) for p in properties]
        self.prop_content = _ints(strings.code_or_none(i) for i in ids)
        self.title = [str(p["title"]) if p.get("title") else None for p in properties]


def _sessions(
    events: EventColumns,
    kinds: _TypeFacts,
    facts: _PropertyFacts,
    config: TouchpointConfig,
    strings: _Strings,
) -> tuple[BoolArray, IntArray]:
    """Per event: does it start a session (off-site: always), and its channel's code."""
    ty, pr = events.type, events.prop
    gap = parse_duration(config.session_gap) // _MICRO
    on = np.flatnonzero(kinds.onsite[ty])
    contact, ts = events.contact[on], events.ts[on]
    sourced = kinds.page_view[ty[on]] & facts.starts[pr[on]]
    starts_on = sourced.copy()
    starts_on[0:1] = True
    starts_on[1:] |= (contact[1:] != contact[:-1]) | (ts[1:] - ts[:-1] > gap)
    opening = np.where(sourced, facts.source[pr[on]], strings.code("direct"))
    latest_start = np.maximum.accumulate(np.where(starts_on, np.arange(len(on)), 0))
    channel = kinds.channel[ty].copy()
    channel[on] = opening[latest_start]  # never "": a source mapped to "" reads "direct"
    starts = np.ones(len(ty), dtype=bool)
    starts[on] = starts_on
    return starts, channel


def _content_property(props: Mapping[str, Any], config: TouchpointConfig) -> str | None:
    return next((str(props[p]) for p in config.content_properties if props.get(p)), None)


def _titles(events: EventColumns, facts: _PropertyFacts, strings: _Strings) -> dict[str, str]:
    """Title per content id, the first seen in (contact, time) order winning."""
    titled = np.array([t is not None for t in facts.title], dtype=bool)
    usable = titled & (facts.prop_content >= 0)
    rows = np.flatnonzero(usable[events.prop]) if len(usable) else np.zeros(0, np.int64)
    content = facts.prop_content[events.prop[rows]]
    _, first = np.unique(content, return_index=True)
    names = strings.values()
    titles: dict[str, str] = {}
    for row in rows[np.sort(first)].tolist():
        prop = int(events.prop[row])
        titles.setdefault(names[facts.prop_content[prop]], str(facts.title[prop]))
    return titles


def _flags(values: Iterable[bool]) -> BoolArray:
    return np.fromiter(values, dtype=bool)


def _ints(values: Iterable[int]) -> IntArray:
    return np.fromiter(values, dtype=np.int64)


def micros(moment: datetime) -> int:
    """An aware datetime as UTC microseconds since 1970-01-01."""
    return (moment - _EPOCH) // _MICRO
