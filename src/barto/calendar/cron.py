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
from functools import lru_cache

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


def next_wall(spec: CronSpec, wall: Wall) -> Wall | None:
    """The first wall-clock time at or after ``wall`` that the spec allows, field by field."""
    y, mo, d, h, mi, s = wall
    limit = spec.years[-1] if spec.years else min(y + _HORIZON_YEARS, 9999)
    while y <= limit:
        if spec.years is not None:
            i = bisect_left(spec.years, y)
            if i == len(spec.years):
                return None
            if spec.years[i] != y:
                y, mo, d, h, mi, s = spec.years[i], 1, 1, 0, 0, 0
        i = bisect_left(spec.months, mo)
        if i == len(spec.months):
            y, mo, d, h, mi, s = y + 1, 1, 1, 0, 0, 0
            continue
        if spec.months[i] != mo:
            mo, d, h, mi, s = spec.months[i], 1, 0, 0, 0
        days = day_list(spec.days, y, mo)
        i = bisect_left(days, d)
        if i == len(days):
            y, mo, d, h, mi, s = (y + 1, 1, 1, 0, 0, 0) if mo == 12 else (y, mo + 1, 1, 0, 0, 0)
            continue
        if days[i] != d:
            d, h, mi, s = days[i], 0, 0, 0
        found = _time_of_day(spec, h, mi, s)
        if found is None:
            d, h, mi, s = d + 1, 0, 0, 0
            continue
        return (y, mo, d, *found)
    return None


def _time_of_day(spec: CronSpec, h: int, mi: int, s: int) -> tuple[int, int, int] | None:
    """The first allowed (hour, minute, second) at or after the given one on the same day."""
    hours, minutes, seconds = spec.hours, spec.minutes, spec.seconds
    while True:
        i = bisect_left(hours, h)
        if i == len(hours):
            return None
        if hours[i] != h:
            h, mi, s = hours[i], 0, 0
        j = bisect_left(minutes, mi)
        if j == len(minutes):
            h, mi, s = h + 1, 0, 0
            continue
        if minutes[j] != mi:
            mi, s = minutes[j], 0
        k = bisect_left(seconds, s)
        if k == len(seconds):
            mi, s = mi + 1, 0
            if mi == 60:
                h, mi = h + 1, 0
            continue
        return h, mi, seconds[k]


@lru_cache(maxsize=8192)
def day_list(days: DaySpec, year: int, month: int) -> tuple[int, ...]:
    """The days of one month that the day-of-month and day-of-week rules allow, sorted."""
    count = month_days(year, month)
    first = (days_from_civil(year, month, 1) + 4) % 7  # weekday of the 1st, 0 = Sunday
    by_dom = days.dom_days(year, month, count, first)
    by_dow = days.dow_days(count, first)
    chosen = by_dom & by_dow if days.conjunctive else by_dom | by_dow
    return tuple(sorted(chosen))
