"""Durations and clocks: parsing, formatting, and a virtual clock that never runs backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtmflow.clock import Clock, SystemClock, VirtualClock, format_duration, parse_duration
from gtmflow.errors import ConfigError

START = datetime(2026, 1, 1, tzinfo=UTC)
MAX_SECONDS = 10_000 * 86_400  # comfortably inside timedelta's range


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("1w 2d", timedelta(days=9)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("  3 D  ", timedelta(days=3)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration_reads_every_unit_and_combinations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_passes_timedeltas_through_and_rejects_negative_ones() -> None:
    assert parse_duration(timedelta(hours=5)) == timedelta(hours=5)
    with pytest.raises(ConfigError, match="negative"):
        parse_duration(timedelta(seconds=-1))


@pytest.mark.parametrize(
    "bad", ["", "   ", "7", "d", "7 days", "-7d", "1.5h", "7d x", "7y", "seven days"]
)
def test_bad_durations_raise_config_error_with_a_hint(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(bad)
    message = str(info.value)
    assert f"'{bad}'" in message
    assert "(s, m, h, d, w)" in message
    assert "'7d'" in message


def test_absurdly_long_duration_is_a_config_error_not_an_overflow() -> None:
    with pytest.raises(ConfigError, match="too long"):
        parse_duration("99999999999d")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=90), "90m"),
        (timedelta(hours=36), "36h"),
        (timedelta(days=7), "7d"),
        (timedelta(days=30), "30d"),
        (timedelta(days=1, seconds=1), "86401s"),
    ],
)
def test_format_duration_uses_the_largest_whole_unit_up_to_days(
    delta: timedelta, text: str
) -> None:
    assert format_duration(delta) == text


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=MAX_SECONDS))
def test_format_then_parse_round_trips_whole_seconds(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=500), st.sampled_from("smhdw")),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["", " "]),
)
def test_parse_then_format_is_canonical(parts: list[tuple[int, str]], sep: str) -> None:
    text = sep.join(f"{n}{unit}" for n, unit in parts)
    parsed = parse_duration(text)
    canonical = format_duration(parsed)
    assert parse_duration(canonical) == parsed
    assert format_duration(parse_duration(canonical)) == canonical


def test_virtual_clock_starts_where_told_and_advances() -> None:
    clock = VirtualClock(START)
    assert clock.now() == START
    assert clock.advance("1d") == START + timedelta(days=1)
    assert clock.advance(timedelta(hours=2)) == START + timedelta(days=1, hours=2)
    assert clock.now() == START + timedelta(days=1, hours=2)
    assert isinstance(clock, Clock)


def test_virtual_clock_set_may_stay_put_but_never_goes_backwards() -> None:
    clock = VirtualClock(START)
    clock.set(START + timedelta(days=3))
    assert clock.set(START + timedelta(days=3)) == START + timedelta(days=3)
    with pytest.raises(ConfigError, match="cannot go back") as info:
        clock.set(START + timedelta(days=2))
    assert "create a new clock" in str(info.value)
    assert clock.now() == START + timedelta(days=3)


def test_virtual_clock_cannot_advance_by_a_negative_duration() -> None:
    clock = VirtualClock(START)
    with pytest.raises(ConfigError, match="negative"):
        clock.advance(timedelta(seconds=-1))
    assert clock.now() == START


def test_virtual_clock_compares_instants_across_timezones() -> None:
    clock = VirtualClock(START)
    paris_earlier = datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ConfigError, match="cannot go back"):
        clock.set(paris_earlier)  # 23:30 UTC the day before


def test_naive_datetimes_are_rejected_with_a_fix() -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ConfigError, match=r"'start'.*no timezone") as info:
        VirtualClock(naive)
    assert "tzinfo=UTC" in str(info.value)
    clock = VirtualClock(START)
    with pytest.raises(ConfigError, match=r"'when'.*no timezone"):
        clock.set(datetime(2026, 2, 1))
    assert clock.now() == START


def test_system_clock_is_aware_utc() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)
