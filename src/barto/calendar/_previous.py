"""The last fire time before an instant, for every dialect, derived from ``next_after`` alone.

``next_after`` is the one place where each dialect's rules live (systemd's DST quirks
included); walking backwards separately would be a second copy of them that could disagree.
Instead: step back from ``t`` by the spacing of the next two fire times, doubling the stride
until ``next_after`` lands before ``t``, then walk forward to the last fire time before ``t``;
where many lie in between, bisect the microseconds instead. For a regular schedule that is some
four calls of ``next_after``; the bisection costs some 60.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # nothing fires before the epoch here
_MICRO = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_WALK = 8  # fire times walked forward before bisecting
NextAfter = Callable[[datetime], datetime | None]


def prev_before(next_after: NextAfter, t: datetime) -> datetime | None:
    """The last fire time strictly before ``t``, or None, for the rule ``next_after``."""
    low = _landing_before(next_after, t, _spacing(next_after, t))
    if low is None:
        return None
    fire = next_after(low)
    assert fire is not None  # _landing_before found next_after(low) < t
    fire, last = _walk(next_after, fire, t)
    return fire if last else _bisect(next_after, fire - _MICRO, t)  # next_after(fire - 1 us) is fire


def _walk(next_after: NextAfter, fire: datetime, t: datetime) -> tuple[datetime, bool]:
    """From a fire time before ``t``, up to _WALK fire times on: (the one reached, whether it
    is the last before ``t``)."""
    for _ in range(_WALK):
        following = next_after(fire)
        if following is None or following >= t:
            return fire, True
        fire = following
    return fire, False


def _spacing(next_after: NextAfter, t: datetime) -> timedelta:
    """The gap between the next two fire times after ``t``: a guess of the one before it."""
    first = next_after(t)
    second = next_after(first) if first is not None else None
    if first is None or second is None:
        return _SECOND
    return max(second - first, _SECOND)


def _landing_before(next_after: NextAfter, t: datetime, stride: timedelta) -> datetime | None:
    """An instant whose next fire time is before ``t``, found by doubling strides back from ``t``."""
    while True:
        low = max(t - stride, _EARLIEST - _MICRO)
        found = next_after(low)
        if found is not None and found < t:
            return low
        if low < _EARLIEST:
            return None
        stride *= 2


def _bisect(next_after: NextAfter, low: datetime, t: datetime) -> datetime:
    """The last fire time before ``t``, knowing that ``next_after(low)`` is before ``t``."""
    high = t  # invariant: next_after(low) < t <= next_after(high) (or None)
    while high - low > _MICRO:
        middle = low + (high - low) // 2
        found = next_after(middle)
        if found is not None and found < t:
            low = middle
        else:
            high = middle
    fire = next_after(low)
    assert fire is not None  # the invariant
    return _walk(next_after, fire, t)[0]  # in case next_after jumps back somewhere
