"""Cron dialects: Vixie cron (5 fields), Quartz (6-7 fields, seconds first) and jobd's cronexpr.

A spec is a set of allowed values per field plus the day rules (``L``, ``W``, ``#``). The next
fire time is found field by field on wall-clock values, then placed on the time line:

* a wall time skipped by a spring-forward change fires once, at the first instant after the gap;
* a wall time that happens twice in a fall-back change fires once, at its first occurrence.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from barto.calendar._civil import breakdown, days_from_civil, month_days, to_micros
from barto.calendar._cron_parse import CronFields, DaySpec, parse_cron
from barto.calendar._previous import prev_before
from barto.calendar.systemd import load_zone

Wall = tuple[int, int, int, int, int, int]
_HORIZON_YEARS = 400  # the Gregorian calendar repeats every 400 years
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class CronSpec(CronFields):
    """A parsed cron, Quartz or jobd expression: its fields plus the fire-time search."""

    def __str__(self) -> str:
        return self.normalized

    @classmethod
    def parse(cls, text: str, dialect: str, tz: str | None, seed: str | None = None) -> CronSpec:
        """Parse ``text`` in the ``cron``, ``quartz`` or ``jobd`` dialect; ``seed`` fixes ``H``."""
        return cls(**parse_cron(text, dialect, tz, seed).__dict__)

    def next_after(self, t: datetime) -> datetime | None:
        """The first fire time strictly after ``t`` (aware), in UTC, or None."""
        seconds = to_micros(t) // 1_000_000 + 1
        if self.timezone is None:
            wall = next_wall(self, breakdown(seconds))
            return None if wall is None else datetime(*wall, tzinfo=UTC)
        return self._next_in_zone(t)

    def prev_before(self, t: datetime) -> datetime | None:
        """The last fire time strictly before ``t`` (aware), in UTC; None if none since 1970."""
        return prev_before(self.next_after, t)

    def _next_in_zone(self, t: datetime) -> datetime | None:
        zone = load_zone(self.timezone or "UTC")
        local = t.astimezone(zone)
        start = local.replace(tzinfo=None, microsecond=0) + _SECOND
        if local.fold and local.utcoffset() != local.replace(fold=0).utcoffset():
            start = max(start, _fold_end(local))  # the first occurrences are already past
        for _ in range(4):
            wall = next_wall(self, _as_tuple(start))
            if wall is None:
                return None
            fire = _place(datetime(*wall, tzinfo=zone))
            if fire > t:
                return fire
            start = datetime(*wall) + _SECOND  # noqa: DTZ001 - a naive wall-clock time
        return None


def _as_tuple(moment: datetime) -> Wall:
    return moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second


def _place(wall: datetime) -> datetime:
    """The UTC instant of a wall time: first occurrence, or the end of a gap it falls into."""
    instant = wall.astimezone(UTC)
    if instant.astimezone(wall.tzinfo).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    low, high = wall.replace(fold=1).astimezone(UTC), instant  # before / after the change
    offset = high.astimezone(wall.tzinfo).utcoffset()
    while high - low > _SECOND:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(wall.tzinfo).utcoffset() == offset:
            high = middle
        else:
            low = middle
    return high


def _fold_end(local: datetime) -> datetime:
    """The first wall time after the repeated period that ``local`` (second occurrence) is in."""
    low = local.replace(tzinfo=None, microsecond=0)
    high = low + (local.replace(fold=0).utcoffset() or timedelta()) - (local.utcoffset() or timedelta())
    zone = local.tzinfo
    while high - low > _SECOND:
        middle = (low + (high - low) / 2).replace(microsecond=0)
        aware = middle.replace(tzinfo=zone)
        if aware.utcoffset() != aware.replace(fold=1).utcoffset():
            low = middle
        else:
            high = middle
    return high


def next_wall(spec: CronFields, wall: Wall) -> Wall | None:
    """The first wall-clock time at or after ``wall`` that the spec allows, field by field.

    Only the day ``wall`` is on can need a search within the day; any later day fires at the
    first allowed time of day.
    """
    y, mo, d, h, mi, s = wall
    years, months = spec.years, spec.months
    limit = years[-1] if years else min(y + _HORIZON_YEARS, 9999)
    first_time = (spec.hours[0], spec.minutes[0], spec.seconds[0])
    while y <= limit:
        if years is not None:
            i = bisect_left(years, y)
            if i == len(years):
                return None
            if years[i] != y:
                y, mo, d, h, mi, s = years[i], 1, 1, 0, 0, 0
        for month in months[bisect_left(months, mo) :]:
            if month != mo:
                d = 1
            days = spec.days_of(y, month)
            k = bisect_left(days, d)
            if k < len(days) and days[k] == d and month == mo:
                found = _time_of_day(spec, h, mi, s)
                if found is not None:
                    return (y, month, d, *found)
                k += 1
            if k < len(days):
                return (y, month, days[k], *first_time)
        y, mo, d, h, mi, s = y + 1, 1, 1, 0, 0, 0
    return None


def _time_of_day(spec: CronFields, h: int, mi: int, s: int) -> tuple[int, int, int] | None:
    """The first allowed (hour, minute, second) at or after the given one on the same day."""
    hours, minutes, seconds = spec.hours, spec.minutes, spec.seconds
    i = bisect_left(hours, h)
    if i == len(hours):
        return None
    if hours[i] == h:
        j = bisect_left(minutes, mi)
        if j < len(minutes) and minutes[j] == mi:
            k = bisect_left(seconds, s)
            if k < len(seconds):
                return h, mi, seconds[k]
            j += 1
        if j < len(minutes):
            return h, minutes[j], seconds[0]
        i += 1
        if i == len(hours):
            return None
    return hours[i], minutes[0], seconds[0]


def day_list(days: DaySpec, year: int, month: int) -> tuple[int, ...]:
    """The days of one month that the day-of-month and day-of-week rules allow, sorted."""
    count = month_days(year, month)
    first = (days_from_civil(year, month, 1) + 4) % 7  # weekday of the 1st, 0 = Sunday
    by_dom = days.dom_days(year, month, count, first)
    by_dow = days.dow_days(count, first)
    chosen = by_dom & by_dow if days.conjunctive else by_dom | by_dow
    return tuple(sorted(chosen))
