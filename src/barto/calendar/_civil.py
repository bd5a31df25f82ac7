"""Proleptic Gregorian arithmetic on plain integers.

The search loops work on broken-down wall-clock fields; these helpers convert between them and
seconds since the epoch without building ``datetime`` objects, which keeps the hot path cheap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_leap(year: int) -> bool:
    """Whether ``year`` has a 29th of February."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def month_days(year: int, month: int) -> int:
    """Number of days in ``month`` (1..12) of ``year``."""
    if month == 2 and is_leap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a valid date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day number counted from 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def weekday(days: int) -> int:
    """Day of the week of a day number, 0 = Monday .. 6 = Sunday."""
    return (days + 3) % 7


def wall_seconds(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Seconds since the epoch of wall-clock fields read as UTC; fields may be out of range.

    Out-of-range fields carry like C's ``timegm``: month 13 is January of the next year, day 0
    the last day of the previous month, hour 24 the next midnight.
    """
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    days = days_from_civil(year, month, 1) + day - 1
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def breakdown(seconds: int) -> tuple[int, int, int, int, int, int]:
    """Wall-clock (year, month, day, hour, minute, second) of epoch seconds in UTC."""
    days, rest = divmod(seconds, 86400)
    year, month, day = civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return year, month, day, hour, minute, second


_HUGE = 10**21  # more than any field, year or epoch second allows


def decimal(digits: str) -> int:
    """The value of ASCII digits (a sign allowed), saturated past 20 significant digits.

    Python refuses to convert a string of over 4,300 digits; a calendar field never holds more
    than 20, so a longer number becomes one that every range check rejects.
    """
    sign = -1 if digits.startswith("-") else 1
    significant = digits.lstrip("+-").lstrip("0") or "0"
    return sign * (_HUGE if len(significant) > 20 else int(significant))


def to_micros(t: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly (no float rounding)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {t.isoformat()}")
    delta = t - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)
