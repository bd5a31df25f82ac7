"""systemd ``OnCalendar=`` expressions: the spec, its normalized form and its elapses.

The semantics are those of systemd 252's ``calendarspec.c``: a spec is a set of value chains,
one per field, each element ``start[..stop][/repeat]``; seconds are kept in microseconds. The
search in :mod:`barto.calendar._systemd_search` follows systemd's field-by-field algorithm,
DST quirks included, so ``systemd-analyze calendar`` can serve as the test oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property, lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from barto.calendar._civil import from_micros, to_micros
from barto.calendar._clock import Clock, UtcClock, ZoneClock

if TYPE_CHECKING:
    from barto.calendar._cron_parse import CronFields
from barto.calendar._previous import prev_before

USEC_PER_SEC = 1_000_000
MIN_YEAR = 1970
MAX_YEAR = 2199
ALL_WEEKDAYS = -1

# One chain element: (start, stop, repeat); stop is -1 when open, repeat 0 when absent.
Component = tuple[int, int, int]
# A field's elements in normalized order; None stands for "*" (every value).
Chain = tuple[Component, ...] | None

_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class SystemdSpec:
    """A parsed systemd calendar expression (also the target of the barto dialect)."""

    weekdays: int = ALL_WEEKDAYS  # bit 0 = Monday .. bit 6 = Sunday; -1 = every day
    year: Chain = None
    month: Chain = None
    day: Chain = None
    hour: Chain = None
    minute: Chain = None
    usec: Chain = None  # the seconds field, in microseconds
    end_of_month: bool = False  # "~": days count back from the end of the month
    utc: bool = False
    timezone: str | None = None
    source: str = field(default="", compare=False)

    def __str__(self) -> str:
        return format_spec(self)

    def next_after(self, t: datetime) -> datetime | None:
        """The first elapse strictly after ``t`` (aware), in UTC, or None if there is none."""
        fast_next, next_micros = _searches()
        base = to_micros(t)
        micros = fast_next(self, base)
        if micros is None:
            micros = next_micros(self, base, self.clock())
        return None if micros is None else from_micros(micros)

    def prev_before(self, t: datetime) -> datetime | None:
        """The last fire time strictly before ``t`` (aware), in UTC; None if none since 1970."""
        return prev_before(self.next_after, t)

    @cached_property
    def plain(self) -> CronFields | None:
        """The spec as sets of values for the fast path, or None (see ``_systemd_fast``)."""
        from barto.calendar._systemd_fast import plain_fields

        return plain_fields(self)

    def clock(self) -> Clock:
        """A fresh wall clock for one computation (systemd forks one per computation)."""
        if self.utc or self.timezone is None:
            return _UTC_CLOCK
        return ZoneClock(load_zone(self.timezone))


_UTC_CLOCK = UtcClock()


@cache
def _searches() -> tuple[Callable[[SystemdSpec, int], int | None], Callable[[SystemdSpec, int, Clock], int | None]]:
    """The fast and the exact search, imported on first use (they import this module)."""
    from barto.calendar._systemd_fast import fast_next
    from barto.calendar._systemd_search import next_micros

    return fast_next, next_micros


@lru_cache(maxsize=512)
def load_zone(name: str) -> ZoneInfo:
    """The zoneinfo of an IANA name (cached; names are validated by the parser)."""
    return ZoneInfo(name)


def format_spec(spec: SystemdSpec) -> str:
    """systemd's "Normalized form" of a spec."""
    parts = []
    if 0 < spec.weekdays < 127:
        parts.append(_format_weekdays(spec.weekdays) + " ")
    parts += [
        _format_chain(spec.year, 4),
        "-",
        _format_chain(spec.month, 2),
        "~" if spec.end_of_month else "-",
        _format_chain(spec.day, 2),
        " ",
        _format_chain(spec.hour, 2),
        ":",
        _format_chain(spec.minute, 2),
        ":",
        _format_chain(spec.usec, 2, usec=True),
    ]
    if spec.utc:
        parts.append(" UTC")
    elif spec.timezone:
        parts.append(" " + spec.timezone)
    return "".join(parts)


def _format_weekdays(bits: int) -> str:
    """Runs of three or more days as ``Mon..Wed``, shorter runs as lists."""
    out: list[str] = []
    day = 0
    while day < 7:
        if not bits & (1 << day):
            day += 1
            continue
        end = day
        while end + 1 < 7 and bits & (1 << (end + 1)):
            end += 1
        if end - day >= 2:
            out.append(f"{_WEEKDAY_NAMES[day]}..{_WEEKDAY_NAMES[end]}")
        else:
            out.extend(_WEEKDAY_NAMES[day : end + 1])
        day = end + 1
    return ",".join(out)


def _is_star(chain: Chain, usec: bool) -> bool:
    if chain is None:
        return True
    return usec and any(c == (0, -1, USEC_PER_SEC) for c in chain)


def _format_chain(chain: Chain, width: int, *, usec: bool = False) -> str:
    if chain is None or _is_star(chain, usec):
        return "*"
    return ",".join(_format_component(c, width, usec) for c in chain)


def _format_component(component: Component, width: int, usec: bool) -> str:
    start, stop, repeat = component
    unit = USEC_PER_SEC if usec else 1
    text = f"{start // unit:0{width}d}" + _fraction(start, unit)
    if stop > 0:
        text += f"..{stop // unit:0{width}d}"
    text += _fraction(stop, unit)
    if repeat > 0 and not (stop > 0 and repeat == unit):
        text += f"/{repeat // unit}"
    return text + _fraction(repeat, unit)


def _fraction(value: int, unit: int) -> str:
    """systemd prints a sub-second part as six digits when there is one."""
    return f".{value % unit:06d}" if value > 0 and value % unit else ""
