"""The fast path of systemd expressions: the cron dialects' field search, where it is exact.

The exact search (:mod:`barto.calendar._systemd_search`) replays systemd's loop over ``struct
tm`` with glibc's ``mktime`` for every step, which costs some 30 ``mktime`` calls per answer.
Away from the places where that machinery matters, its answer is simply the first wall time
after the base whose fields all match, at the zone's one UTC offset: what
:func:`barto.calendar.cron.next_wall` computes over sets of values. This module takes that
route when both of these hold, and otherwise answers None so that the caller runs the exact
search:

* the spec is plain: whole seconds, ``~`` only with single days, and no repetition whose run past
  its field's end makes systemd skip values (see :func:`_skips`: ``*:0/7`` skips 00:00 at every
  day change in systemd, ``*:0/15`` skips nothing);
* no offset change is near: none from 8 hours before the base to 8 hours after the answer
  (longer than any change back in the tz database since 1970, so neither is a wall time that
  happens twice), and the answer at most 4 days after the base; or, nearer a change, neither
  the base's nor the answer's wall time is in a gap or happens twice, and the offset is the same
  at both (:func:`_near_a_change`). Near a change a wall time can exist twice or not at all, and
  which instant glibc's ``mktime`` picks then depends on its cached guess (Pyongyang's 2015
  change: 23:45 is taken at its second occurrence). Two changes of one zone are at least 601,200
  s apart (glibc relies on it too), so equal offsets at both ends of a shorter span mean none in
  between; the spans proven so are remembered on the spec, one look-up in the zone per 6 days of
  answers.

The differential test against the exact search (tests/unit/calendar/test_systemd_fast.py) and
the oracle test against systemd itself keep both honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from barto.calendar._civil import breakdown, wall_seconds
from barto.calendar._cron_parse import CronFields, DaySpec
from barto.calendar._systemd_parse import chain_values
from barto.calendar.cron import next_wall
from barto.calendar.systemd import MAX_YEAR, MIN_YEAR, USEC_PER_SEC, Chain, SystemdSpec, load_zone

# No offset change this near the base or the answer: a change back by more would make a wall time
# repeat there (the largest since 1970 is Antarctica/Vostok's 7 h in 1994, then Casey's 3 h).
_AROUND = 8 * 3600
_AHEAD = 4 * 86400  # answers further away go the exact way
# Two changes of one zone are >= 601,200 s apart, so one offset at both ends of a shorter span
# means one offset all along it. Spans are proven in steps of this length:
_SPAN = 6 * 86400
_ALL_WEEKDAYS = frozenset(range(7))


def fast_next(spec: SystemdSpec, base: int) -> int | None:
    """Microseconds of the first elapse after ``base`` (microseconds), or None: not answered here."""
    fields = spec.plain
    if fields is None:
        return None
    second = base // USEC_PER_SEC + 1  # whole seconds only: the first one after the base
    if spec.utc or spec.timezone is None:
        found = next_wall(fields, breakdown(second))
        return None if found is None else wall_seconds(*found) * USEC_PER_SEC
    steady = _steady(spec, second)
    if steady is None:
        return _near_a_change(spec, fields, second)
    since, until, offset = steady
    found = next_wall(fields, breakdown(second + offset))
    if found is None:
        return None
    t = wall_seconds(*found) - offset
    if t - second > _AHEAD:
        return None
    if t + _AROUND > until:  # prove more: a whole span ahead if it holds, else up to what is needed
        # second <= until and t - second <= _AHEAD, so t + _AROUND is within one span of until
        for end in (until + _SPAN, t + _AROUND):
            if _offset(spec, end) == offset:
                spec.__dict__["_steady"] = (since, end, offset)
                break
        else:
            return _near_a_change(spec, fields, second)
    return t * USEC_PER_SEC


def _near_a_change(spec: SystemdSpec, fields: CronFields, second: int) -> int | None:
    """The answer near an offset change, if neither the base's nor the answer's wall time is in
    a gap or happens twice and the offset is the same at both (so also in between); else None.

    Every wall time between two unambiguous ones with no change between them is unambiguous too,
    so systemd's search meets no gap or repeat on its way and ``mktime`` has one answer for each.
    """
    offset = _offset(spec, second)
    wall = breakdown(second + offset)
    if _ambiguous(spec, wall):
        return None
    found = next_wall(fields, wall)
    if found is None:
        return None
    t = wall_seconds(*found) - offset
    if t - second > _AHEAD or _offset(spec, t) != offset or _ambiguous(spec, found):
        return None
    return t * USEC_PER_SEC


def _ambiguous(spec: SystemdSpec, wall: tuple[int, int, int, int, int, int]) -> bool:
    """Whether a wall time of the spec's zone is in a gap or happens twice (PEP 495's two folds differ)."""
    moment = datetime(*wall, tzinfo=load_zone(spec.timezone or "UTC"))
    return moment.utcoffset() != moment.replace(fold=1).utcoffset()


def _steady(spec: SystemdSpec, second: int) -> tuple[int, int, int] | None:
    """(since, until, offset): a span around ``second`` with one UTC offset, from 8 hours before
    it at least; None if the offset changed in those 8 hours.

    A scheduler walks from one slot to the next, so the span proven so far is remembered on the
    spec: most answers then need no look-up in the zone at all.
    """
    steady: tuple[int, int, int] | None = spec.__dict__.get("_steady")
    if steady is not None and steady[0] <= second - _AROUND and second <= steady[1]:
        return steady
    offset = _offset(spec, second)
    if _offset(spec, second - _AROUND) != offset:
        return None
    steady = (second - _AROUND, second, offset)
    spec.__dict__["_steady"] = steady
    return steady


def _offset(spec: SystemdSpec, t: int) -> int:
    """The UTC offset of the spec's zone at epoch second ``t``, in seconds."""
    delta = datetime.fromtimestamp(t, load_zone(spec.timezone or "UTC")).utcoffset()
    return 0 if delta is None else delta.days * 86400 + delta.seconds


def plain_fields(spec: SystemdSpec) -> CronFields | None:
    """The spec as sets of allowed values, or None where only the exact search will do."""
    seconds = _seconds(spec.usec)
    if seconds is None:
        return None
    if spec.end_of_month:
        if any(repeat or stop >= 0 for _, stop, repeat in spec.day or ()):
            return None
        days = DaySpec(dom=frozenset(), dow=_weekdays(spec.weekdays), conjunctive=True,
                       dom_last=tuple(start - 1 for start, _, _ in spec.day or ()))  # fmt: skip
    else:
        days = DaySpec(dom=frozenset(_values(spec.day, 1, 31)), dow=_weekdays(spec.weekdays), conjunctive=True)
    fields = CronFields(
        seconds=seconds,
        minutes=_values(spec.minute, 0, 59),
        hours=_values(spec.hour, 0, 23),
        days=days,
        months=_values(spec.month, 1, 12),
        years=_values(spec.year, MIN_YEAR, MAX_YEAR),
        timezone=spec.timezone,
        normalized="",
    )
    overflowing = (
        (_whole_seconds(spec.usec), fields.seconds, 59, 60),
        (spec.minute, fields.minutes, 59, 60),
        (spec.hour, fields.hours, 23, 24),
        (None if spec.end_of_month else spec.day, sorted(days.dom), 31, 31),
    )
    if any(_skips(chain, allowed, high, length) for chain, allowed, high, length in overflowing):
        return None
    if not all((fields.seconds, fields.minutes, fields.hours, fields.months, fields.years)):
        return None
    return fields


def _skips(chain: Chain, allowed: Sequence[int], high: int, length: int) -> bool:
    """Whether systemd's search skips allowed values after this field runs past its end.

    A repetition ``start/step`` with no end yields one value past the field (``0/7`` minutes:
    63) once the field has no value left; ``mktime`` turns that into the next hour's minute 3.
    When the larger field overflows too (23:63 is the next day's 00:03), systemd restarts only the
    field below the largest one that changed, so the minute stays 3 and 00:00 is skipped: the
    quirk holds for seconds, minutes, hours (at a month's end) and days (in December). It cannot
    skip anything when that value wraps to the field's first allowed one (``0/15`` minutes: 60).
    """
    past = [start + step * ((high - start) // step + 1) for start, stop, step in chain or () if step and stop < 0]
    if not past or not allowed:
        return False
    wrapped = min(past) - length
    return allowed[0] < wrapped


def _values(chain: Chain, low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1)) if chain is None else tuple(chain_values(chain, low, high))


def _seconds(chain: Chain) -> tuple[int, ...] | None:
    """Allowed whole seconds, or None if the seconds field has a fraction anywhere."""
    if chain is None:
        return tuple(range(60))
    if any(v > 0 and v % USEC_PER_SEC for component in chain for v in component):
        return None
    return _values(_whole_seconds(chain), 0, 59)


def _whole_seconds(chain: Chain) -> Chain:
    """A seconds chain (in microseconds, no fractions) in seconds."""
    if chain is None:
        return None
    return tuple((a // USEC_PER_SEC, b // USEC_PER_SEC if b >= 0 else b, r // USEC_PER_SEC) for a, b, r in chain)


def _weekdays(bits: int) -> frozenset[int]:
    """systemd's bits (bit 0 = Monday) as cron's weekday numbers (0 = Sunday)."""
    if bits < 0 or bits >= 127:
        return _ALL_WEEKDAYS
    return frozenset((day + 1) % 7 for day in range(7) if bits & (1 << day))
