"""The last fire time before an instant, for every dialect, derived from ``next_after`` alone.

``next_after`` is the one place where each dialect's rules live (systemd's DST quirks
included); walking backwards separately would be a second copy of them that could disagree.
Instead: the last fire time ``p`` before ``t`` is the one instant with ``next_after(p) >= t``
whose predecessor answers ``p``. We step back from ``t`` in doubling strides until
``next_after`` lands before ``t``, then bisect the microseconds in between: some 60 to 100 calls
of ``next_after``, whatever the spacing of the fire times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # nothing fires before the epoch here
_MICRO = timedelta(microseconds=1)
_FIRST_STRIDE = timedelta(seconds=1)
_CHECKS = 64  # bounded repair steps where next_after is not monotone in its argument


def prev_before(next_after: Callable[[datetime], datetime | None], t: datetime) -> datetime | None:
    """The last fire time strictly before ``t``, or None, for the rule ``next_after``."""
    low = _landing_before(next_after, t)
    if low is None:
        return None
    high = t  # invariant: next_after(low) < t <= next_after(high) (or None)
    while high - low > _MICRO:
        middle = low + (high - low) // 2
        found = next_after(middle)
        if found is not None and found < t:
            low = middle
        else:
            high = middle
    fire = next_after(low)
    assert fire is not None  # the invariant: next_after(low) < t
    for _ in range(_CHECKS):  # one more look, in case next_after jumps back somewhere
        following = next_after(fire)
        if following is None or following >= t:
            return fire
        fire = following
    return fire


def _landing_before(next_after: Callable[[datetime], datetime | None], t: datetime) -> datetime | None:
    """An instant whose next fire time is before ``t``, found by doubling strides back from ``t``."""
    stride = _FIRST_STRIDE
    while True:
        low = max(t - stride, _EARLIEST - _MICRO)
        found = next_after(low)
        if found is not None and found < t:
            return low
        if low < _EARLIEST:
            return None
        stride *= 2
