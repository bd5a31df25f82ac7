"""A fire time never repeats and never goes back, forwards (next_after) or backwards (prev_before):
every dialect, every zone, around DST changes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from barto.calendar import CalendarError, Spec, parse
from tests.oracle import Corpus
from tests.zones import ALL_ZONES, changes

# systemd 252's own answers (systemd-analyze calendar --base-time=...), the issue's examples.
SYSTEMD_SAYS = [
    ("hourly", "Europe/Dublin", "2025-03-30T00:00:00", ["2025-03-30T01:00:00", "2025-03-30T02:00:00"]),
    ("daily", "Europe/Dublin", "2025-03-30T00:30:00", ["2025-03-30T23:00:00", "2025-03-31T23:00:00"]),
    ("hourly", "Africa/Casablanca", "2024-04-14T01:15:00", ["2024-04-14T02:00:00", "2024-04-14T03:00:00"]),
    ("*-*-* 01:30", "Europe/Dublin", "2025-10-26T00:10:00", ["2025-10-26T00:30:00", "2025-10-27T01:30:00"]),
]
POOLS = {
    "systemd": ["hourly", "daily", "weekly", "*:0/15", "*-*-* 01:30", "*-*-* 02:00", "*:*:0/20",
                "*-*-* 00,01,02,03:00:00", "Sun *-*-* 01:00", "*-*-* 0/2:30", "*-*~01 00:30", "*-*-* 23:59:59.5"],
    "barto": ["*,*,* 10:R:R", "* *,*,* 0..3:0/20:0", "Mon,Sun *,*,* 1:30:0", "hourly", "* *,*,1 0:0:0"],
    "cron": ["0 * * * *", "30 1 * * *", "0 2 * * *", "*/15 * * * *", "0 0 L * *", "30 0-3 * * 0",
             "1 1 */100,1-7 * MON", "59 23 * * *"],
    "quartz": ["0 0 * * * ?", "0 30 1 * * ?", "0 0/15 * * * ?", "0 0 0 L * ?", "0 15 10 L-1W * ?",
               "0/30 * 0-3 ? * SUN"],
    "jobd": ["0 * * * *", "0 0 * * * * *", "30 1 * * *", "0 0 * * sunday", "*/20 0-2 * * * *"],
}  # fmt: skip


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def walk(spec: Spec, t: datetime, steps: int) -> list[datetime]:
    """``steps`` successive fire times after ``t``, asserting each is later than the one before."""
    out = []
    for _ in range(steps):
        following = spec.next_after(t)
        assert following is not None, f"{spec} stopped after {t.isoformat()}"
        assert following > t, f"{spec}: next_after({t.isoformat()}) = {following.isoformat()}"
        out.append(following)
        t = following
    return out


@pytest.mark.parametrize(("text", "zone", "base", "expected"), SYSTEMD_SAYS)
def test_negative_dst_zones_agree_with_systemd(text: str, zone: str, base: str, expected: list[str]) -> None:
    """Dublin's and Casablanca's summer offset is the smaller one (tm_isdst set in winter)."""
    for dialect in ("systemd", "barto", "auto"):
        spec = parse(text, dialect=dialect, tz=zone)
        assert walk(spec, utc(base), 2) == [utc(e) for e in expected]


def test_where_systemd_gives_up_the_search_goes_on_past_the_gap() -> None:
    """systemd 252 reports 'Infinite loop in calendar calculation' for this one; 00:30 does not
    exist on 2037-04-24 in Cairo (midnight jumps to 01:00), so 02:30 local is next."""
    spec = parse("*-*-* 0/2:30 Egypt", dialect="systemd")
    assert walk(spec, utc("2037-04-23T21:30:00"), 2) == [utc("2037-04-23T23:30:00"), utc("2037-04-24T01:30:00")]


def bases(zone: str, rng: random.Random) -> list[datetime]:
    """Instants around two offset changes of ``zone`` (one before 2038, one after), or mid-year."""
    found = []
    for years in ((1970, 2037), (2038, 2100)):
        year = rng.randint(*years)
        moments = changes(zone, year) or (datetime(year, 6, 15, 12, tzinfo=UTC),)
        change = rng.choice(moments)
        found += [change + timedelta(seconds=rng.choice((-3601, -1800, -1, 0, 1, 1799, 3600)),
                                     microseconds=rng.choice((0, 1, 999_999))) for _ in range(3)]  # fmt: skip
    return found


@pytest.mark.parametrize("dialect", sorted(POOLS))
def test_every_zone_moves_forward_around_its_changes(dialect: str) -> None:
    """Every zone of the tz database, three successive fire times from bases next to changes."""
    rng = random.Random(f"monotonic-{dialect}")
    for zone in ALL_ZONES:
        for base in bases(zone, rng):
            spec = parse(rng.choice(POOLS[dialect]), dialect=dialect, tz=zone, seed="w/s")
            if base.year >= 2099 and dialect in ("quartz", "jobd"):
                continue  # their years end in 2099
            walk(spec, base, 3)


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, str]:
    """(dialect, text): from the pools, or systemd's test corpus (which also makes invalid ones)."""
    dialect = draw(st.sampled_from(sorted(POOLS)))
    if dialect == "systemd" and draw(st.booleans()):
        return dialect, Corpus(draw(st.integers(0, 2**32))).expression()
    return dialect, draw(st.sampled_from(POOLS[dialect]))


@st.composite
def near_a_change(draw: st.DrawFn, years: tuple[int, int]) -> tuple[Spec, datetime]:
    """A parsed expression in any zone, and an instant within two hours of one of its changes
    in a year drawn from ``years`` (or of New Year, for a zone with none that year)."""
    dialect, text = draw(expressions())
    zone = draw(st.sampled_from(ALL_ZONES))
    try:
        spec = parse(text, dialect=dialect, tz=zone, seed="w/s")
    except CalendarError:
        assume(False)
        raise
    year = draw(st.integers(*years))
    moments = changes(zone, year) or (datetime(year, 1, 1, tzinfo=UTC),)
    offset = timedelta(microseconds=draw(st.integers(-7_200_000_000, 7_200_000_000)))
    return spec, draw(st.sampled_from(moments)) + offset


@given(near_a_change((1970, 2100)))
def test_next_after_is_strictly_increasing(case: tuple[Spec, datetime]) -> None:
    """Three successive answers, each later than the one before."""
    spec, t = case
    for _ in range(3):
        following = spec.next_after(t)
        if following is None:
            return
        assert following > t
        t = following


@given(near_a_change((1971, 2090)))
def test_prev_before_is_the_fire_time_just_before(case: tuple[Spec, datetime]) -> None:
    """prev_before(t) < t, it is a fire time, and the next one after it is not before t."""
    spec, t = case
    before = spec.prev_before(t)
    if before is None:  # then nothing fires from 1970 up to t
        first = spec.next_after(datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=1))
        assert first is None or first >= t
        return
    assert before < t
    assert spec.next_after(before - timedelta(microseconds=1)) == before
    following = spec.next_after(before)
    assert following is None or following >= t


@pytest.mark.parametrize(
    "text", ["0 0 29 2 *", "*/7 3-5 * * 1-5", "0 12 1,15 * *", "5 4 * * sun", "1 1 */100,1-7 * MON"]
)
def test_prev_before_agrees_with_cronsim_walking_backwards(text: str) -> None:
    """cronsim's reverse iteration is the peer (croniter's get_prev does the same)."""
    from cronsim import CronSim

    t = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    peer = CronSim(text, t.replace(tzinfo=None), reverse=True)
    spec = parse(text, dialect="cron")
    ours = []
    for _ in range(5):
        found = spec.prev_before(t)
        assert found is not None
        ours.append(found.replace(tzinfo=None))
        t = found
    assert ours == [next(peer) for _ in range(5)]


@pytest.mark.parametrize(
    ("text", "dialect", "t", "expected"),
    [
        # many fire times lie between where the stride lands and t: it bisects from there
        ("*/20 0-2 * * * *", "jobd", "1971-01-01T00:00:00", "1970-12-31T02:40:00"),
        ("hourly", "systemd", "2025-03-30T01:00:00", "2025-03-30T00:00:00"),  # Dublin's gap
        ("*-*-* 00:00:00", "systemd", "1970-01-01T00:00:00", None),  # nothing before the epoch
    ],
)
def test_prev_before_cases(text: str, dialect: str, t: str, expected: str | None) -> None:
    spec = parse(text, dialect=dialect, tz="Europe/Dublin" if text == "hourly" else None)
    found = spec.prev_before(utc(t))
    assert found == (utc(expected) if expected else None)
