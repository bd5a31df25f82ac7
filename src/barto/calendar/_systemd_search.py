"""systemd's elapse search (``find_next`` in calendarspec.c), field by field.

Starting one microsecond after the base time, each field in turn is moved to its next allowed
value; when a field overflows, the next larger one is carried and the search restarts from the
top. Every step normalises through the spec's clock (``timegm`` or glibc ``mktime``), which is
where systemd's DST behaviour comes from: a wall time inside a spring-forward gap normalises
past the gap and is skipped; a repeated wall time resolves to its first occurrence.
"""

from __future__ import annotations

from collections.abc import Callable

from barto.calendar._civil import days_from_civil, weekday
from barto.calendar._clock import Clock, Tm
from barto.calendar.systemd import MAX_YEAR, USEC_PER_SEC, Chain, SystemdSpec

_MAX_ITERATIONS = 1000  # systemd's safety valve; past it systemd reports an error
_RESTARTS = 4  # searches again past an offset change after the valve
_GAVE_UP = -(2**63)  # the search reached the valve
_NONE = -1  # "no matching value" / out of bounds
_YEAR, _MONTH, _DAY, _HOUR, _MINUTE, _SECOND = range(6)


def next_micros(spec: SystemdSpec, base: int, clock: Clock) -> int | None:
    """Microseconds since the epoch of the first elapse after ``base``, or None.

    Where systemd's search goes round in circles and gives up ("Infinite loop in calendar
    calculation": ``*-*-* 0/2:30 Egypt`` at a spring-forward change at midnight), systemd
    reports an error and the timer never elapses again. We search again from the end of the
    offset change that caught the search: the wall times in the gap are skipped, as they are
    everywhere else, and the schedule goes on.
    """
    for _ in range(_RESTARTS):
        found = _search(spec, base, clock)
        if found != _GAVE_UP:
            return found
        change = clock.next_change(base // USEC_PER_SEC)
        if change is None:
            return None
        base = change * USEC_PER_SEC - 1
    return None


def _search(spec: SystemdSpec, base: int, clock: Clock) -> int | None:
    """systemd's search from just after ``base``: the elapse, None for never, or _GAVE_UP."""
    seconds, usec = divmod(base + 1, USEC_PER_SEC)
    search = _Search(spec, clock, list(clock.localtime(seconds)), usec)
    outcome = search.run()
    if outcome is not True:
        return _GAVE_UP if outcome is None else None
    result = clock.mktime(search.tm_tuple())
    return None if result is None else result[0] * USEC_PER_SEC + search.usec


class _Search:
    """Mutable ``struct tm`` plus microseconds, walked forward as systemd does."""

    def __init__(self, spec: SystemdSpec, clock: Clock, tm: list[int], usec: int) -> None:
        self.spec, self.clock, self.tm, self.usec = spec, clock, tm, usec
        self.start = (tuple(tm[:6]), usec)
        self.keep_dst = False  # set once the search got stuck: mktime then decides the DST flag

    def tm_tuple(self) -> Tm:
        y, mo, d, h, mi, s, dst = self.tm
        return y, mo, d, h, mi, s, dst

    def normalize(self) -> None:
        result = self.clock.mktime(self.tm_tuple())
        if result is not None:
            self.tm[:] = result[1]

    def reset_below(self, unit: int) -> None:
        """Zero every field smaller than ``unit`` (day and month restart at 1)."""
        for index in range(unit + 1, 6):
            self.tm[index] = 1 if index in (_MONTH, _DAY) else 0
        self.usec = 0

    def carry(self, unit: int) -> None:
        """Advance ``unit`` by one and restart everything below it."""
        self.tm[unit] += 1
        self.reset_below(unit)

    def run(self) -> bool | None:
        """True: found; False: never elapses again; None: stopped by the safety valve."""
        for _ in range(_MAX_ITERATIONS):
            self.normalize()
            if not self.keep_dst:
                self.tm[6] = -1
            outcome = self.step()
            if outcome is False:
                return False
            if outcome is True:
                if not self.stuck():
                    return True
                self.keep_dst = True
                self.tm[_HOUR] += 1
        return None

    def stuck(self) -> bool:
        """Whether the match is not after the start, compared as wall-clock fields.

        This happens where ``mktime`` moves a wall time inside a spring-forward gap backwards
        (a zone whose DST offset is negative, Europe/Dublin's winter time, resolves the gap with
        the earlier offset). systemd 252 then steps one hour on and lets ``mktime`` choose the
        DST flag from there on; we do the same.
        """
        wall, usec = self.start
        here = tuple(self.tm[:6])
        return here < wall or (here == wall and self.usec < usec)

    def step(self) -> bool | None:
        """One pass over the fields: True = found, False = never, None = go round again."""
        spec = self.spec
        if self.match(spec.year, _YEAR) < 0 or self.within_bounds() <= 0:
            return False
        for chain, unit in ((spec.month, _MONTH), (spec.day, _DAY)):
            if not self.advance(chain, unit):
                return None
        if not self.matches_weekday():
            self.carry(_DAY)
            return None
        for chain, unit in ((spec.hour, _HOUR), (spec.minute, _MINUTE)):
            if not self.advance(chain, unit):
                return None
        return self.advance_usec()

    def advance(self, chain: Chain, unit: int) -> bool:
        """Move ``unit`` to its next allowed value; False when the search must go round."""
        r = self.match(chain, unit)
        if r < 0 or (r := self.within_bounds()) < 0:
            self.carry(unit - 1)
            return False
        return r != 0

    def advance_usec(self) -> bool | None:
        value = self.tm[_SECOND] * USEC_PER_SEC + self.usec
        r, value = _find(self.spec.usec, value, None)
        if r >= 0:
            self.tm[_SECOND], self.usec = divmod(value, USEC_PER_SEC)
        if r < 0 or (r := self.within_bounds()) < 0:
            self.carry(_MINUTE)
            return None
        return True if r else None

    def match(self, chain: Chain, unit: int) -> int:
        """Set ``unit`` to the earliest allowed value >= its current one; -1 if none."""
        eom = self.spec.end_of_month and unit == _DAY
        r, value = _find(chain, self.tm[unit], self.end_of_month if eom else None)
        if r > 0:
            self.tm[unit] = value
            self.reset_below(unit)
        return r

    def end_of_month(self, day: int) -> int:
        """The day of month that is ``day`` days from the end (1 = last day), or -1."""
        y, mo = self.tm[_YEAR], self.tm[_MONTH]
        h, mi, s, dst = self.tm[3:7]
        result = self.clock.mktime((y, mo + 1, 1 - day, h, mi, s, dst))
        if result is None or result[1][_MONTH] != mo:
            return _NONE
        return result[1][_DAY]

    def within_bounds(self) -> int:
        """1 if the fields are a real time, 0 if they normalised forward, -1 if impossible.

        After a forward normalisation only the next smaller field restarts (systemd 252 quirk:
        "23:59:86" becomes "00:00:26" of the next day, not "00:00:00"), and the DST flag is the
        one ``mktime`` gave the normalised time.
        """
        if self.tm[_YEAR] > MAX_YEAR:
            return _NONE
        result = self.clock.mktime(self.tm_tuple())
        if result is None:
            return _NONE
        normal = list(result[1])
        for unit in range(6):
            if normal[unit] != self.tm[unit]:
                if normal[unit] < self.tm[unit]:
                    return _NONE  # systemd refuses to go backward
                if unit < _SECOND:
                    normal[unit + 1] = 1 if unit + 1 in (_MONTH, _DAY) else 0
                self.tm[:] = normal
                return 0
        return 1

    def matches_weekday(self) -> bool:
        bits = self.spec.weekdays
        if bits < 0 or bits >= 127:
            return True
        result = self.clock.mktime(self.tm_tuple())
        if result is None:
            return False
        y, mo, d = result[1][:3]
        return bool(bits & (1 << weekday(days_from_civil(y, mo, d))))


def _find(chain: Chain, value: int, end_of_month: Callable[[int], int] | None) -> tuple[int, int]:
    """The earliest value >= ``value`` allowed by ``chain``: (changed?, value), or (-1, value)."""
    if chain is None:
        return 0, value
    best = None
    for start, stop, repeat in chain:
        if end_of_month is not None:
            start, stop = end_of_month(start), end_of_month(stop)
            if stop > 0:
                start, stop = stop, start
        if start >= value:
            candidate = start
        elif repeat > 0:
            candidate = start + repeat * -((start - value) // repeat)
            if stop >= 0 and candidate > stop:
                continue
        else:
            continue
        if best is None or candidate < best:
            best = candidate
    if best is None:
        return _NONE, value
    return int(best != value), best
