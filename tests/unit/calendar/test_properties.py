"""Property tests: next_after equals a second-by-second search; parse only raises CalendarError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barto.calendar import CalendarError, parse

ZONES = (None, "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia")
WINDOW = timedelta(hours=3)
SECOND = timedelta(seconds=1)
# Bases near the DST changes of the zones above, and an ordinary day.
ANCHORS = [datetime(2025, 3, 30, 0, 30, tzinfo=UTC), datetime(2025, 10, 26, 0, 0, tzinfo=UTC),
           datetime(2025, 3, 9, 6, 0, tzinfo=UTC), datetime(2025, 11, 2, 4, 30, tzinfo=UTC),
           datetime(2025, 4, 5, 14, 0, tzinfo=UTC), datetime(2025, 10, 4, 14, 30, tzinfo=UTC),
           datetime(2011, 12, 30, 9, 0, tzinfo=UTC), datetime(2025, 7, 14, 11, 0, tzinfo=UTC)]  # fmt: skip


def values(low: int, high: int) -> st.SearchStrategy[tuple[str, set[int]]]:
    """A field as (systemd text, allowed values) and (cron text is the same shape with '-')."""
    star = st.just(("*", set(range(low, high + 1))))
    single = st.integers(low, high).map(lambda v: (str(v), {v}))
    step = (
        st.tuples(st.integers(low, high), st.integers(1, max(1, (high - low) // 2)))
        .filter(lambda p: p[0] + p[1] <= high)
        .map(lambda p: (f"{p[0]}/{p[1]}", set(range(p[0], high + 1, p[1]))))
    )
    return st.one_of(star, star, single, step)


fields = st.tuples(values(0, 23), values(0, 59), values(0, 59))


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, str, set[int], set[int], set[int], str | None]:
    (h, hs), (m, ms), (s, ss) = draw(fields)
    return f"{h}:{m}:{s}", f"{s} {m} {h} * * ?", hs, ms, ss, draw(st.sampled_from(ZONES))


def matches(wall: datetime, hours: set[int], minutes: set[int], seconds: set[int]) -> bool:
    return wall.hour in hours and wall.minute in minutes and wall.second in seconds


def naive_systemd(t: datetime, zone: ZoneInfo, allowed: tuple[set[int], ...]) -> datetime | None:
    """Step one second at a time; a repeated wall time counts only at its first occurrence."""
    u = t.replace(microsecond=0) + SECOND
    while u <= t + WINDOW:
        local = u.astimezone(zone)
        if not local.fold and matches(local, *allowed):
            return u
        u += SECOND
    return None


def naive_cron(t: datetime, zone: ZoneInfo, allowed: tuple[set[int], ...]) -> datetime | None:
    """As above, and an instant right after a gap fires if any skipped wall time matched."""
    u = t.replace(microsecond=0) + SECOND
    while u <= t + WINDOW:
        local, before = u.astimezone(zone), (u - SECOND).astimezone(zone)
        skipped = local.replace(tzinfo=None) - before.replace(tzinfo=None) - SECOND
        walls = [before.replace(tzinfo=None) + SECOND * (k + 1) for k in range(int(skipped / SECOND))]
        if (not local.fold and matches(local, *allowed)) or any(matches(w, *allowed) for w in walls):
            return u
        u += SECOND
    return None


@given(specs(), st.sampled_from(ANCHORS), st.integers(0, 7200))
def test_systemd_next_after_equals_naive_search(spec, anchor, shift) -> None:  # type: ignore[no-untyped-def]
    """In UTC and DST zones, from a base that is not a repeated wall time."""
    text, _, hours, minutes, seconds, zone_name = spec
    zone = ZoneInfo(zone_name or "UTC")
    t = anchor + timedelta(seconds=shift)
    if t.astimezone(zone).fold:
        return  # systemd keeps to the second occurrence there; covered by the oracle test
    expected = naive_systemd(t, zone, (hours, minutes, seconds))
    got = parse(f"*-*-* {text}", dialect="systemd", tz=zone_name).next_after(t)
    if expected is None:
        assert got is None or got > t + WINDOW
    else:
        assert got == expected


@given(specs(), st.sampled_from(ANCHORS), st.integers(0, 7200))
def test_quartz_next_after_equals_naive_search(spec, anchor, shift) -> None:  # type: ignore[no-untyped-def]
    """The cron DST rule: gaps fire once right after, repeats fire once (first occurrence)."""
    _, text, hours, minutes, seconds, zone_name = spec
    zone = ZoneInfo(zone_name or "UTC")
    t = anchor + timedelta(seconds=shift)
    expected = naive_cron(t, zone, (hours, minutes, seconds))
    got = parse(text, dialect="quartz", tz=zone_name).next_after(t)
    if expected is None:
        assert got is None or got > t + WINDOW
    else:
        assert got == expected


@given(st.text(max_size=40), st.sampled_from(["auto", "systemd", "barto", "cron", "quartz", "jobd"]))
def test_parse_raises_only_calendar_error(text: str, dialect: str) -> None:
    """Any string either parses or raises CalendarError (a ValueError), nothing else."""
    try:
        spec = parse(text, dialect=dialect)
    except CalendarError as error:
        message = str(error)
    else:
        spec.next_after(datetime(2025, 1, 1, tzinfo=UTC))
        return
    assert message.startswith(f"invalid calendar {text!r}: ")


@given(st.text(alphabet="*-:.,~/ 0123456789RLW?#@MonTueSatJANFEBZ", max_size=30))
def test_parse_raises_only_calendar_error_on_near_misses(text: str) -> None:
    """Texts made of calendar characters: still only CalendarError, and specs round-trip."""
    try:
        spec = parse(text)
    except CalendarError:
        return
    assert parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "dialect"),
    [("*/" + "9" * 5000 + " * * * *", "cron"), ("@" + "9" * 5000, "systemd"), ("*:" + "9" * 5000, "systemd"),
     ("* *,*," + "9" * 5000 + " 1:0:0", "barto"), ("0 0 1 " + "1" * 4400 + " *", "jobd"),
     ("H(0-" + "9" * 5000 + ") * * * *", "cron")],
)  # fmt: skip
def test_numbers_of_thousands_of_digits_are_calendar_errors(text: str, dialect: str) -> None:
    """Python refuses int() of over 4,300 digits with a plain ValueError; we say 'out of range'."""
    with pytest.raises(CalendarError, match="out of range"):
        parse(text, dialect=dialect)


def test_leading_zeros_do_not_count_as_digits() -> None:
    assert str(parse("0 " + "0" * 5000 + "5 * * *", dialect="cron")) != ""
    assert parse("@ -0", dialect="systemd") == parse("@0", dialect="systemd")
