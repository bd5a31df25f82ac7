"""Table tests of the systemd dialect; expected values were read off systemd-analyze 252."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from barto.calendar import CalendarError, parse

BASE = datetime(2025, 10, 20, 12, 34, 56, tzinfo=UTC)


def elapses(text: str, count: int = 3, base: datetime = BASE, **kw: str) -> list[str]:
    spec = parse(text, **kw)
    out: list[str] = []
    t: datetime | None = base
    while len(out) < count:
        t = spec.next_after(t) if t else None
        if t is None:
            break
        out.append(t.isoformat())
    return out


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Mon..Fri *-*-* 9:00", "Mon..Fri *-*-* 09:00:00"),
        ("Sat..Sun", "Sat,Sun *-*-* 00:00:00"),
        ("*-*~1", "*-*~01 00:00:00"),
        ("daily Europe/Berlin", "*-*-* 00:00:00 Europe/Berlin"),
        ("*:0/20:0.5", "*-*-* *:00/20:00.500000"),
        ("weekly", "Mon *-*-* 00:00:00"),
        ("daily utc", "*-*-* 00:00:00 UTC"),
        ("@1700000000", "2023-11-14 22:13:20 UTC"),
        ("minutely", "*-*-* *:*:00"),
        ("quarterly", "*-01,04,07,10-01 00:00:00"),
        ("*-08~25..29/3", "*-08~25..28/3 00:00:00"),
        ("12-24", "*-12-24 00:00:00"),
        ("mon,wed,fri 15-1-1", "Mon,Wed,Fri 2015-01-01 00:00:00"),
    ],
)
def test_normalized_form(text: str, normalized: str) -> None:
    """str(spec) is systemd's "Normalized form"."""
    assert str(parse(text, dialect="systemd")) == normalized


@pytest.mark.parametrize(
    "text",
    [" daily", "daily ", "daily  UTC", "2200-01-01", "1969-12-31", "*-13-01", "Sun..Mon",
     "*-08~25..28,08", "*-02-30 25:00", "*:*:60", "Mon-", "10:00:00:00", "*/5 * * * *"],
)  # fmt: skip
def test_rejected_like_systemd(text: str) -> None:
    """Texts systemd 252 refuses are refused, with a CalendarError."""
    with pytest.raises(CalendarError):
        parse(text, dialect="systemd")


def test_error_names_the_part_and_why() -> None:
    """The message quotes the text and says which field is wrong and why."""
    with pytest.raises(CalendarError, match=r"'\*-13-01': month 13 out of range 1\.\.12"):
        parse("*-13-01")


def test_never_fires_again() -> None:
    """Impossible dates and past years give None quickly."""
    assert elapses("*-02-30") == []
    assert elapses("2024-*-* 00:00") == []
    assert elapses("1970-01-01") == []


def test_dst_gap_is_skipped_and_repeat_fires_once() -> None:
    """Spring-forward wall times are skipped; a repeated wall time fires on its first occurrence."""
    assert elapses("Sun *-*-* 02:15 Europe/Berlin", 1, datetime(2025, 3, 30, tzinfo=UTC)) == [
        "2025-04-06T00:15:00+00:00"
    ]
    fall_back = datetime(2025, 11, 2, 5, 0, tzinfo=UTC)
    assert elapses("*:0/20 America/New_York", 4, fall_back) == [
        "2025-11-02T05:20:00+00:00", "2025-11-02T05:40:00+00:00",
        "2025-11-02T07:00:00+00:00", "2025-11-02T07:20:00+00:00",
    ]  # fmt: skip


def test_tz_argument_applies_when_text_names_no_zone() -> None:
    """tz= is used only when the expression has no zone of its own."""
    assert elapses("daily", 1, tz="Europe/Berlin") == ["2025-10-20T22:00:00+00:00"]
    assert elapses("daily UTC", 1, tz="Europe/Berlin") == ["2025-10-21T00:00:00+00:00"]
    with pytest.raises(CalendarError, match="unknown time zone"):
        parse("daily", tz="Mars/Olympus")


def test_sub_second_precision() -> None:
    """Fractional seconds are kept to the microsecond."""
    assert elapses("*:*:0/0.25", 2) == ["2025-10-20T12:34:56.250000+00:00",
                                       "2025-10-20T12:34:56.500000+00:00"]  # fmt: skip


def test_spec_is_immutable_and_hashable() -> None:
    """Equal texts give equal specs with equal hashes; the normalized form parses back equal."""
    spec = parse("Mon..Fri 9:00")
    assert spec == parse("Mon,Tue,Wed,Thu,Fri *-*-* 09:00:00")
    assert hash(spec) == hash(parse(str(spec)))
    with pytest.raises(AttributeError):
        spec.timezone = "UTC"  # type: ignore[misc]


def test_naive_datetime_is_refused() -> None:
    """next_after needs an aware datetime."""
    with pytest.raises(ValueError, match="timezone-aware"):
        parse("daily").next_after(datetime(2025, 1, 1))  # noqa: DTZ001
