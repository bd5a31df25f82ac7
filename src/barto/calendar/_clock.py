"""Wall clocks for the systemd search: UTC arithmetic, or glibc's ``mktime`` in a time zone.

systemd computes calendar elapses on ``struct tm`` and lets ``mktime(3)`` normalise it. Around
DST changes the result depends on how glibc resolves a wall time that does not exist or exists
twice, and glibc keeps a guess of the last UTC offset between calls. To agree with systemd to
the microsecond we reproduce that algorithm (glibc 2.36 ``__mktime_internal``) over zoneinfo.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from barto.calendar._civil import breakdown, wall_seconds

# (year, month 1..12, day, hour, minute, second, isdst); isdst is 0/1, or -1 for "unknown".
Tm = tuple[int, int, int, int, int, int, int]

_PROBES = 6
_STRIDE = 601_200  # glibc: shortest DST or non-DST period in the tz database, in seconds
_DELTA_BOUND = 536_454_000 // 2 + _STRIDE
_HOUR = 3600
_CHANGE_HORIZON = 2 * 86400


class Clock(Protocol):
    """Converts between epoch seconds and wall-clock fields of one zone."""

    def localtime(self, t: int) -> Tm:
        """Wall-clock fields of epoch second ``t``."""
        ...

    def mktime(self, tm: Tm) -> tuple[int, Tm] | None:
        """Epoch second and normalised fields of possibly out-of-range wall-clock fields."""
        ...

    def next_change(self, t: int) -> int | None:
        """The first epoch second after ``t`` with another UTC offset, if one comes within 2 days."""
        ...


class UtcClock:
    """``timegm``/``gmtime``: plain arithmetic, no DST."""

    def localtime(self, t: int) -> Tm:
        return (*breakdown(t), 0)

    def mktime(self, tm: Tm) -> tuple[int, Tm] | None:
        t = wall_seconds(*tm[:6])
        return t, (*breakdown(t), 0)

    def next_change(self, t: int) -> int | None:
        return None


class ZoneClock:
    """``localtime``/``mktime`` in an IANA zone, with glibc's cached offset guess.

    One instance models one process: systemd forks a child per elapse computation for a spec
    with a time zone, so the guess starts at 0 (UTC, the parent's zone) for each computation.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.offset = 0  # glibc's guess of (epoch seconds - wall seconds) of the next result

    def localtime(self, t: int) -> Tm:
        dt = datetime.fromtimestamp(t, self.zone)
        isdst = 1 if dt.dst() else 0
        return dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, isdst

    def mktime(self, tm: Tm) -> tuple[int, Tm] | None:
        isdst, sec_requested = tm[6], tm[5]
        sec = min(max(sec_requested, 0), 59)
        wall = wall_seconds(*tm[:5], sec)
        found = self._probe(wall, isdst)
        if found is None:
            return None
        t, local = found
        self.offset = t - wall
        if sec_requested != local[5]:
            t += (sec == 0 and local[5] == 60) - sec + sec_requested
            local = self.localtime(t)
        return t, local

    def next_change(self, t: int) -> int | None:
        offset = self._utcoffset(t)
        low = t
        for high in range(t + _HOUR, t + _CHANGE_HORIZON + 1, _HOUR):
            if self._utcoffset(high) != offset:
                while high - low > 1:
                    middle = (low + high) // 2
                    low, high = (middle, high) if self._utcoffset(middle) == offset else (low, middle)
                return high
            low = high
        return None

    def _utcoffset(self, t: int) -> object:
        return datetime.fromtimestamp(t, self.zone).utcoffset()

    def _probe(self, wall: int, isdst: int) -> tuple[int, Tm] | None:
        """Invert ``localtime`` by fixed-point iteration from the cached guess."""
        t = t1 = t2 = wall + self.offset
        dst2 = 0
        probes = _PROBES
        while True:
            local = self.localtime(t)
            dt = wall - wall_seconds(*local[:6])
            if dt == 0:
                break
            if t == t1 and t != t2 and _oscillation_settles(isdst, dst2, local[6]):
                return t, local  # inside a spring-forward gap: glibc's "common practice"
            probes -= 1
            if probes == 0:
                return None
            t1, t2, t, dst2 = t2, t, t + dt, local[6]
        if isdst >= 0 and bool(isdst) != bool(local[6]):
            return self._neighbour_with_isdst(wall, isdst, t)
        return t, local

    def _neighbour_with_isdst(self, wall: int, isdst: int, t: int) -> tuple[int, Tm] | None:
        """Use the UTC offset of the nearest time whose DST flag is the requested one."""
        for delta in range(_STRIDE, _DELTA_BOUND, _STRIDE):
            for ot in (t - delta, t + delta):
                other = self.localtime(ot)
                if bool(other[6]) == bool(isdst):
                    gt = ot + wall - wall_seconds(*other[:6])
                    return gt, self.localtime(gt)
        return None


def _oscillation_settles(isdst: int, dst2: int, probe_isdst: int) -> bool:
    """glibc's rule for giving up inside a gap: prefer the probe whose DST flag differs."""
    if isdst < 0:
        return dst2 <= probe_isdst
    return bool(isdst) != bool(probe_isdst)
