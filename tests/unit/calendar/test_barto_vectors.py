"""The original barto's calendar vectors (barto-behaviour.md §3.10) in the barto dialect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from barto.calendar import CalendarError, parse

REF = datetime(2025, 10, 20, 12, 34, 56, tzinfo=UTC)  # §3.10.5 reference time, a Monday

ACCEPTED = ["minutely", "hourly", "daily", "weekly", "monthly", "quarterly", "semiannually",
            "yearly", "12:30:15", "*,*,* 10:R:R", "*,*,* 0/2:R:R", "Mon *,*,01 00:00:00",
            "Tuesday 2025,+07,31 +5:59:0", "*,*,* 10:10:R", "* * 0:0:0", "2025,1,15 00:00:00",
            "*,*,* +5:+05:00", "Mon..Fri *,*,* 09:00:00", "Mon..Mon *,*,* 0:0:0",
            "Tue..Friday *,*,* 0:0:0", "Sunday..Saturday *,*,* 0:0:0", "Mon..Wed,Tue * 0:0:0",
            "-5,1,1 0:0:0", "2020..2025/3,01,+07 0:0:0", "*,1..1,5..5 0:0:0", "* *,*,01 0:0:0",
            "*,*,* 0..1:24:0..24"]  # fmt: skip

REJECTED = ["", "Sun -1-1-1 0:0:0", "-1-1-1 0:0:0", "Mon Mon Mon 0:0:0", "*,*,* 00:00:00 extra",
            "*,*,*", "*,*,* 10:00", "2025,1,1,15 00:00:00", "*,*,* 1..3,5:0:0",
            "*,*,* */15:0:0", "Sat..Sun *,*,* 0:0:0", "mon *,*,* 0:0:0", "Mon..Hogwash,Wed * 0:0:0",
            "sUn * 0:0:0", "Funday * 0:0:0", "Wed..Mon * 0:0:0", "*,*,* 24:0:0", "*,*,* 0:60:0",
            "*,*,* 0:0:60", "*,*,* 5..3:0:0", "*,*,* 2..9/0:0:0", "R,*,* 0:0:0", "*,0,* 0:0:0",
            "*,13,* 0:0:0", "*,0/1,* 0:0:0", "*,*,0 0:0:0", "*,*,32 0:0:0", "--1,*,* 0:0:0",
            "5..3,*,* 0:0:0", "2020..2025/0,*,* 0:0:0", "*,*,* 5/300:0:0", "*,1/0,* 0:0:0"]  # fmt: skip

NEXT_FIRES = [
    ("minutely", "2025-10-20T12:35:00", "2025-10-20T12:36:00"),
    ("hourly", "2025-10-20T13:00:00", "2025-10-20T14:00:00"),
    ("daily", "2025-10-21T00:00:00", "2025-10-22T00:00:00"),
    ("weekly", "2025-10-27T00:00:00", "2025-11-03T00:00:00"),
    ("monthly", "2025-11-01T00:00:00", "2025-12-01T00:00:00"),
    ("quarterly", "2026-01-01T00:00:00", "2026-04-01T00:00:00"),
    ("semiannually", "2026-01-01T00:00:00", "2026-07-01T00:00:00"),
    ("yearly", "2026-01-01T00:00:00", "2027-01-01T00:00:00"),
    ("12:30:15", "2025-10-21T12:30:15", "2025-10-22T12:30:15"),
    ("*,*,* 0/2:0:0", "2025-10-20T14:00:00", "2025-10-20T16:00:00"),
    ("*,*,* 0/15:0:0", "2025-10-20T15:00:00", "2025-10-21T00:00:00"),
    ("*,*,* *:0/15:0", "2025-10-20T12:45:00", "2025-10-20T13:00:00"),
    ("Mon..Fri *,*,* 09:00:00", "2025-10-21T09:00:00", "2025-10-22T09:00:00"),
    ("Sat,Sun *,*,* 08:30:00", "2025-10-25T08:30:00", "2025-10-26T08:30:00"),
    ("Mon *,*,01 00:00:00", "2025-12-01T00:00:00", "2026-06-01T00:00:00"),
    ("*,*,1..7 06:00:00", "2025-11-01T06:00:00", "2025-11-02T06:00:00"),
    ("Fri *,*,13 0:0:0", "2026-02-13T00:00:00", "2026-03-13T00:00:00"),
    ("*,2,29 00:00:00", "2028-02-29T00:00:00", "2032-02-29T00:00:00"),
    ("2026,*,* 00:00:00", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),
    ("*,*,31 12:00:00", "2025-10-31T12:00:00", "2025-12-31T12:00:00"),
    ("*,1..12/3,1 0:0:0", "2026-01-01T00:00:00", "2026-04-01T00:00:00"),
    ("*,2..10/3,2..10/3 0:0:0", "2026-02-02T00:00:00", "2026-02-05T00:00:00"),
    ("*,*,* 10..12:0..59/20:0", "2025-10-20T12:40:00", "2025-10-21T10:00:00"),
    ("*,*,* 12:35:0..59/10", "2025-10-20T12:35:00", "2025-10-20T12:35:10"),
    ("*,*,* 1,5,23:0:0", "2025-10-20T23:00:00", "2025-10-21T01:00:00"),
    ("2025/2,*,* 0:0:0", "2025-10-21T00:00:00", "2025-10-22T00:00:00"),
    ("Tue *,*,* 12:34:56", "2025-10-21T12:34:56", "2025-10-28T12:34:56"),
    ("Mon *,*,* 12:34:56", "2025-10-27T12:34:56", "2025-11-03T12:34:56"),
    ("Mon *,*,* 12:34:57", "2025-10-20T12:34:57", "2025-10-27T12:34:57"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_barto_forms_parse(text: str) -> None:
    """Every form the original accepts still parses."""
    assert str(parse(text, dialect="barto"))


@pytest.mark.parametrize("text", REJECTED)
def test_barto_rejections(text: str) -> None:
    """What the original rejects is rejected (vectors 1, 14-15, 21-28, 31-32, 35-88)."""
    with pytest.raises(CalendarError):
        parse(text, dialect="barto")


@pytest.mark.parametrize(("text", "first", "second"), NEXT_FIRES)
def test_next_fire_vectors(text: str, first: str, second: str) -> None:
    """§3.10.5: first and second fire strictly after the reference instant, in UTC."""
    spec = parse(text, dialect="barto")
    one = spec.next_after(REF)
    assert one is not None
    two = spec.next_after(one)
    assert (one.isoformat(), two and two.isoformat()) == (first + "+00:00", second + "+00:00")


def test_never_fires() -> None:
    """A past year never fires (vector '2024,*,* 00:00:00')."""
    assert parse("2024,*,* 00:00:00", dialect="barto").next_after(REF) is None


def test_display_is_the_systemd_form() -> None:
    """Deliberate difference: str() gives the systemd normalized form, which parses back."""
    spec = parse("Mon..Fri *,*,* 09:00:00", dialect="barto")
    assert str(spec) == "Mon..Fri *-*-* 09:00:00"
    assert parse(str(spec)) == spec


def test_random_is_deterministic_per_seed() -> None:
    """Deliberate difference (vectors 11, 48): R depends on the seed only, never re-rolls."""
    a = parse("*,*,* 10:R:R", seed="worker-a/backup")
    assert a == parse("*,*,* 10:R:R", seed="worker-a/backup")
    others = {str(parse("*,*,* 10:R:R", seed=f"worker-{n}/backup")) for n in range(20)}
    assert len(others) > 10


def test_random_day_exists_in_every_month() -> None:
    """Deliberate difference: R never picks a day some month lacks (Feb: at most 28)."""
    for n in range(200):
        spec = parse("*,2,R 0:0:0", seed=str(n))
        assert spec.next_after(REF) is not None
        assert int(str(spec).split()[0].split("-")[2]) <= 28


def test_random_in_systemd_form() -> None:
    """The seed README's `*-*-* 10:R:R` (vector 17, an error in the original) works."""
    spec = parse("*-*-* 10:R:R", seed="s")
    assert str(spec) == str(parse("*,*,* 10:R:R", seed="s"))


def test_step_larger_than_field_is_rejected() -> None:
    """Deliberate difference (vector 54): the original parses 0..23/200 then panics."""
    with pytest.raises(CalendarError, match="step 200 is larger than the field"):
        parse("*,*,* 0..23/200:0:0", dialect="barto")
