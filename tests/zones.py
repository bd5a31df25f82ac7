"""Where the tz database changes a zone's UTC offset: bases for tests around DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

ALL_ZONES = tuple(sorted(available_timezones()))
_STEP = timedelta(hours=6)  # no zone changes its offset twice within six hours
_SECOND = timedelta(seconds=1)


@lru_cache(maxsize=4096)
def changes(zone: str, year: int) -> tuple[datetime, ...]:
    """The instants (UTC, whole seconds) in ``year`` at which ``zone`` takes a new UTC offset."""
    tz = ZoneInfo(zone)
    found = []
    t, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = t.astimezone(tz).utcoffset()
    while t < end:
        later = t + _STEP
        if (new := later.astimezone(tz).utcoffset()) != offset:
            found.append(_bisect(tz, t, later, offset))
        t, offset = later, new
    return tuple(found)


def _bisect(tz: ZoneInfo, low: datetime, high: datetime, offset: timedelta | None) -> datetime:
    while high - low > _SECOND:
        middle = (low + (high - low) / 2).replace(microsecond=0)
        low, high = (middle, high) if middle.astimezone(tz).utcoffset() == offset else (low, middle)
    return high
