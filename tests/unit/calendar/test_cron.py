"""The cron, Quartz and jobd dialects: tables, a differential test against cronsim, and DST."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from cronsim import CronSim

from barto.calendar import CalendarError, parse

REF = datetime(2025, 10, 20, 12, 34, 56, tzinfo=UTC)


def fires(text: str, count: int = 3, base: datetime = REF, **kw: str) -> list[str]:
    spec = parse(text, **kw)
    out: list[str] = []
    t: datetime | None = base
    while len(out) < count and t is not None:
        t = spec.next_after(t)
        if t is not None:
            out.append(t.isoformat().replace("+00:00", "Z"))
    return out


@pytest.mark.parametrize(
    ("text", "dialect", "expected"),
    [
        ("0 0 30 2 *", "cron", []),
        ("0 0 12 ? * 6L", "quartz", ["2025-10-31T12:00:00Z", "2025-11-28T12:00:00Z"]),
        ("0 0 12 LW * ?", "quartz", ["2025-10-31T12:00:00Z", "2025-11-28T12:00:00Z"]),
        ("0 0 12 L-2 * ?", "quartz", ["2025-10-29T12:00:00Z", "2025-11-28T12:00:00Z"]),
        ("0 0 12 15W * ?", "quartz", ["2025-11-14T12:00:00Z", "2025-12-15T12:00:00Z"]),
        ("0 0 12 ? * 2#1", "quartz", ["2025-11-03T12:00:00Z", "2025-12-01T12:00:00Z"]),
        ("0 0 12 ? * L", "quartz", ["2025-10-25T12:00:00Z", "2025-11-01T12:00:00Z"]),
        ("0 0/5 * * * ? *", "jobd", ["2025-10-20T12:35:00Z", "2025-10-20T12:40:00Z"]),
        ("0 12 * * 1 2027", "jobd", ["2027-01-04T12:00:00Z", "2027-01-11T12:00:00Z"]),
        ("0 0 1 1 * 2024", "jobd", []),
        ("0 0 13 * 5", "cron", ["2025-10-24T00:00:00Z", "2025-10-31T00:00:00Z"]),
        ("@weekly", "cron", ["2025-10-26T00:00:00Z", "2025-11-02T00:00:00Z"]),
        ("0 0 * * 7", "cron", ["2025-10-26T00:00:00Z", "2025-11-02T00:00:00Z"]),
    ],
)
def test_table(text: str, dialect: str, expected: list[str]) -> None:
    """Hand-checked fire times (Oct 31 2025 is a Friday; Nov 3 the first Monday)."""
    assert fires(text, 2, dialect=dialect) == expected


@pytest.mark.parametrize(
    ("text", "dialect"),
    [("* * * *", "cron"), ("* * * * * *", "cron"), ("60 * * * *", "cron"), ("* * * * 8", "cron"),
     ("*/0 * * * *", "cron"), ("5-1 * * * *", "cron"), ("? * * * *", "cron"), ("@reboot", "cron"),
     ("0 0 12 ? * L", "jobd"), ("0 0 0 * * ? 1969", "quartz"), ("0 0 0 * * 0", "quartz"),
     ("0 0 * * 5#6", "cron"), ("CRON_TZ=Mars/Base 0 0 * * *", "cron")],
)  # fmt: skip
def test_rejections(text: str, dialect: str) -> None:
    """Malformed fields, wrong field counts and unknown zones raise CalendarError."""
    with pytest.raises(CalendarError):
        parse(text, dialect=dialect)


def test_auto_dialect() -> None:
    """auto reads 5 fields as cron and 6-7 fields without ':' as Quartz."""
    assert fires("0 9 * * 1", 1) == ["2025-10-27T09:00:00Z"]
    assert fires("30 0 9 * * ?", 1) == ["2025-10-21T09:00:30Z"]
    assert fires("Mon 9:00", 1) == ["2025-10-27T09:00:00Z"]


def random_cron(rng: random.Random) -> str:
    def field(low: int, high: int, names: list[str] | None = None) -> str:
        roll = rng.random()
        if roll < 0.3:
            return "*"
        if roll < 0.45:
            return f"*/{rng.randint(1, high - low + 1)}"
        items = []
        for _ in range(rng.randint(1, 3)):
            a = rng.randint(low, high)
            if rng.random() < 0.4 and a < high:
                b = rng.randint(a + 1, high)  # cronsim reads "a-a/n" as "a/n"; Vixie as "a"
                items.append(f"{a}-{b}" + (f"/{rng.randint(1, high - low + 1)}" if rng.random() < 0.3 else ""))
            else:
                items.append(names[a - low] if names and rng.random() < 0.3 else str(a))
        return ",".join(items)

    dow = field(0, 6, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
    dom = field(1, 31) if rng.random() < 0.9 else "L"
    return f"{field(0, 59)} {field(0, 23)} {dom} {field(1, 12)} {dow}"


def test_cron_agrees_with_cronsim() -> None:
    """Five fire times of 2,000 generated Vixie expressions equal cronsim's, in UTC."""
    rng = random.Random(7)
    compared = 0
    for _ in range(2000):
        text = random_cron(rng)
        base = REF + timedelta(seconds=rng.randint(0, 10**8))
        try:
            theirs = CronSim(text, base)
        except Exception:
            assert fires(text, 1, base, dialect="cron") == []
            continue
        expected = [next(theirs).isoformat().replace("+00:00", "Z") for _ in range(5)]
        assert fires(text, 5, base, dialect="cron") == expected, text
        compared += 1
    assert compared > 1900


@pytest.mark.parametrize(
    ("zone", "base", "expected"),
    [
        # spring forward 02:00 -> 03:00: 02:00, 02:30 and 03:00 fire once, at 03:00 CEST
        (
            "Europe/Berlin",
            "2025-03-29T12:00:00Z",
            ["2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z", "2025-03-31T00:00:00Z"],
        ),
        # fall back 02:00 -> 01:00: 01:30 fires once (EDT), not again an hour later
        (
            "America/New_York",
            "2025-11-01T12:00:00Z",
            ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"],
        ),
        # Lord Howe moves 30 minutes: 02:15 falls in the gap and fires at 02:30
        (
            "Australia/Lord_Howe",
            "2025-10-04T12:00:00Z",
            ["2025-10-04T15:30:00Z", "2025-10-05T15:15:00Z"],
        ),
        # Apia skipped 30 December 2011 (-10 -> +14): the 30th's 00:00 and 10:00 and the 31st's
        # 00:00 all fire once, at the end of the gap (31st 00:00 +14 = 30th 10:00 UTC)
        (
            "Pacific/Apia",
            "2011-12-29T00:00:00Z",
            [
                "2011-12-29T10:00:00Z",
                "2011-12-29T20:00:00Z",
                "2011-12-30T10:00:00Z",
                "2011-12-30T20:00:00Z",
            ],
        ),
    ],
)
def test_dst_rule(zone: str, base: str, expected: list[str]) -> None:
    """Skipped wall times fire once right after the gap; repeated ones fire once, first."""
    text = {"Europe/Berlin": "30 2 * * *", "America/New_York": "30 1 * * *",
            "Australia/Lord_Howe": "15 2 * * *", "Pacific/Apia": "0 10 * * *"}[zone]  # fmt: skip
    if zone == "Europe/Berlin":
        text = "0,30 2,3 30,31 3 *"
    if zone == "Pacific/Apia":
        text = "0 0,10 * * *"
    start = datetime.fromisoformat(base)
    assert fires(text, len(expected), start, dialect="cron", tz=zone) == expected
    assert fires(f"CRON_TZ={zone} {text}", len(expected), start, dialect="cron") == expected


def test_second_occurrence_start_does_not_refire() -> None:
    """Starting inside the repeated hour, the repeated wall times do not fire a second time."""
    start = datetime(2025, 11, 2, 6, 10, tzinfo=UTC)  # 01:10 EST, the second 01:10
    assert fires("*/20 * * * *", 2, start, dialect="cron", tz="America/New_York") == [
        "2025-11-02T07:00:00Z", "2025-11-02T07:20:00Z"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text", ["1 1 */100,1-7 * MON", "0 0 */100 * *", "*/60 * * * *", "0 */24 * * *", "0 0 * */13 *"]
)
def test_cron_takes_steps_larger_than_the_field_as_vixie_does(text: str) -> None:
    """``*/100`` in the day of month is day 1 alone; the first-Monday idiom. cronsim (which
    follows Vixie and Debian cron) is the peer."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    peer = CronSim(text, base.replace(tzinfo=None))
    assert fires(text, 4, base, dialect="cron") == [next(peer).isoformat() + "Z" for _ in range(4)]


@pytest.mark.parametrize(
    ("text", "dialect", "base", "expected"),
    [
        ("0 0 * * friday", "jobd", "2026-01-01", ["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"]),
        ("0 0 1 january *", "jobd", "2026-01-01", ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
        # Quartz 2.3's own answers; the day before the last is a Saturday, a Saturday, a Tuesday.
        ("0 15 10 L-1W * ? 2010", "quartz", "2010-01-01",
         ["2010-01-29T10:15:00Z", "2010-02-26T10:15:00Z", "2010-03-30T10:15:00Z"]),
    ],
)  # fmt: skip
def test_names_and_nearest_weekday_to_the_last_days(text: str, dialect: str, base: str, expected: list[str]) -> None:
    """cronexpr's full names; Quartz's L-nW."""
    start = datetime.fromisoformat(base).replace(tzinfo=UTC)
    assert fires(text, len(expected), start, dialect=dialect) == expected


@pytest.mark.parametrize(
    ("text", "dialect", "reason"),
    [("*/60 * * * *", "jobd", "60 out of range 1..59"), ("2/60 * * * *", "jobd", "60 out of range 1..59"),
     ("0 0 * * */7", "jobd", "7 out of range 1..6"), ("0 0/60 * * * ?", "quartz", "60 out of range 1..59"),
     ("0 0 * * FRIDAY", "cron", "not a number or name"), ("0 0 ? * 1", "cron", "not a number or name")],
)  # fmt: skip
def test_steps_past_the_field_and_names_each_peer_refuses(text: str, dialect: str, reason: str) -> None:
    """cronexpr and Quartz refuse a step past the field's largest value; Vixie cron has only
    three-letter names and no ``?``."""
    with pytest.raises(CalendarError, match=re.escape(reason)):
        parse(text, dialect=dialect)


def test_h_is_derived_from_the_seed_like_r() -> None:
    """Stable per seed, different between seeds, and the same value R gives that field."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = {parse("H * * * *", seed=f"w1/job{n}").next_after(base).minute for n in range(40)}  # type: ignore[union-attr]
    assert len(minutes) > 20  # 40 jobs spread over the hour
    for seed in ("w1/backup", "w2/backup"):
        r = parse("*-*-* 10:R:00", seed=seed).next_after(base)
        assert parse("H 10 * * *", seed=seed).next_after(base) == r
        assert parse("0 H 10 * * ?", dialect="quartz", seed=seed).next_after(base) == r
        assert parse("H 10 * * *", seed=seed) == parse("H 10 * * *", seed=seed)


@pytest.mark.parametrize(
    ("text", "low", "high", "step"),
    [("H/15 * * * *", 0, 59, 15), ("H(10-29)/5 * * * *", 10, 29, 5), ("H(9-17) * * * *", 9, 17, 0)],
)
def test_h_ranges_and_steps_stay_inside_their_bounds(text: str, low: int, high: int, step: int) -> None:
    for n in range(30):
        spec = parse(text, dialect="cron", seed=f"s{n}")
        minutes = {t.minute for t in _walk(spec, 12)}
        assert all(low <= m <= high for m in minutes)
        if step:
            assert len({m % step for m in minutes}) == 1  # one offset, every step
            assert min(minutes) - low < step


def _walk(spec: object, count: int) -> list[datetime]:
    out, t = [], datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(count):
        t = spec.next_after(t)  # type: ignore[attr-defined]
        out.append(t)
    return out


@pytest.mark.parametrize(
    ("text", "dialect"),
    [("H(5-1) * * * *", "cron"), ("H(0-99) * * * *", "cron"), ("H/0 * * * *", "cron"), ("Hx * * * *", "cron"),
     ("H * * * *", "jobd")],
)  # fmt: skip
def test_h_mistakes_are_calendar_errors(text: str, dialect: str) -> None:
    with pytest.raises(CalendarError):
        parse(text, dialect=dialect, seed="w/s")
