"""The original barto dialect: ``[DOW] [Y,M,D] h:m:s`` with ``+N`` numbers and ``R`` fields.

Its semantics (every field AND-ed, ranges ``a..b``, repetitions ``s[..e]/n``) are a subset of
systemd's, so a barto expression becomes a :class:`SystemdSpec`; ``str()`` gives the systemd
form. Two deliberate differences from barto 1.5: ``R`` is derived from the seed instead of
re-rolled on every connect, and a step larger than its field is rejected here instead of
panicking the worker later.
"""

from __future__ import annotations

import re
from dataclasses import replace

from barto.calendar._civil import decimal
from barto.calendar._systemd_parse import (
    RANDOM,
    normalize,
    resolve_random,
    split_zone,
    zone_from_tz,
)
from barto.calendar.errors import CalendarError
from barto.calendar.systemd import USEC_PER_SEC, Component, SystemdSpec

_DAYS = {"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6, "Sunday": 0,
         "Monday": 1, "Tuesday": 2, "Wednesday": 3, "Thursday": 4, "Friday": 5, "Saturday": 6}  # fmt: skip
_SHORTCUTS = {
    "minutely": "* *,*,* *:*:0", "hourly": "* *,*,* *:0:0", "daily": "* *,*,* 0:0:0",
    "weekly": "Mon *,*,* 0:0:0", "monthly": "* *,*,1 0:0:0", "quarterly": "* *,1..10/3,1 0:0:0",
    "semiannually": "* *,1..7/6,1 0:0:0", "yearly": "* *,1,1 0:0:0",
}  # fmt: skip
_NUMBER = r"\+?\d+"
_YEAR_NUMBER = r"[+-]?\d+"
_FIELDS = {  # name: (low, high, R allowed)
    "year": (-(2**31), 2**31 - 1, False), "month": (1, 12, True), "day": (1, 31, True),
    "hour": (0, 23, True), "minute": (0, 59, True), "second": (0, 59, True),
}  # fmt: skip


def parse_barto(text: str, *, tz: str | None, seed: str | None) -> SystemdSpec:
    """Parse a barto expression into the equivalent systemd spec."""
    body, utc, zone = split_zone(text)
    if zone is None and not utc and tz is not None:
        utc, zone = zone_from_tz(text, tz)
    tokens = _SHORTCUTS.get(body, body).split()
    if not tokens or len(tokens) > 3:
        raise CalendarError(text, "expected '[DOW] [Y,M,D] h:m:s' (1 to 3 parts)")
    tokens = ["*"] * (3 - len(tokens)) + tokens
    fields = {**_date(text, tokens[1]), **_time(text, tokens[2])}
    spec = SystemdSpec(weekdays=_weekdays(text, tokens[0]), utc=utc, timezone=zone, source=text)
    spec = replace(spec, **fields)  # type: ignore[arg-type]
    return normalize(resolve_random(spec, seed), fix_years=False)


def _weekdays(text: str, token: str) -> int:
    if token == "*":
        return -1
    bits = 0
    for item in token.split(","):
        low, _, high = item.partition("..")
        if low not in _DAYS or (high and high not in _DAYS):
            raise CalendarError(text, f"unknown day of week {item!r} (names are case-sensitive)")
        first, last = _DAYS[low], _DAYS[high or low]
        if last < first:
            raise CalendarError(text, f"day-of-week range {item!r} runs backwards (Sun..Sat)")
        for day in range(first, last + 1):
            bits |= 1 << ((day + 6) % 7)  # barto counts from Sunday, systemd from Monday
    return bits


def _date(text: str, token: str) -> dict[str, tuple[Component, ...] | None]:
    if token == "*":
        return {}
    parts = token.split(",")
    if len(parts) != 3:
        raise CalendarError(text, f"date {token!r} must be '*' or 'Y,M,D'")
    return {name: _field(text, name, part) for name, part in zip(("year", "month", "day"), parts, strict=True)}


def _time(text: str, token: str) -> dict[str, tuple[Component, ...] | None]:
    parts = token.split(":")
    if len(parts) != 3:
        raise CalendarError(text, f"time {token!r} must be 'h:m:s'")
    hour, minute, second = (_field(text, n, p) for n, p in zip(("hour", "minute", "second"), parts, strict=True))
    if second is None:
        return {"hour": hour, "minute": minute, "usec": ((0, -1, USEC_PER_SEC),)}
    if second != (RANDOM,):
        second = tuple((a * USEC_PER_SEC, b * USEC_PER_SEC if b >= 0 else b, r * USEC_PER_SEC)
                       for a, b, r in second)  # fmt: skip
    return {"hour": hour, "minute": minute, "usec": second}


def _field(text: str, name: str, value: str) -> tuple[Component, ...] | None:
    random_ok = _FIELDS[name][2]
    number = _YEAR_NUMBER if name == "year" else _NUMBER
    if value == "*":
        return None
    if value == "R":
        if not random_ok:
            raise CalendarError(text, f"'R' is not allowed in the {name}")
        return (RANDOM,)
    if match := re.fullmatch(rf"({number})(?:\.\.({number}))?/({_NUMBER})", value):
        return (_repetition(text, name, match.groups()),)
    if match := re.fullmatch(rf"({number})\.\.({number})", value):
        start, stop = (_number(text, name, v) for v in match.groups())
        if stop < start:
            raise CalendarError(text, f"{name} range {value!r} runs backwards")
        return ((start, stop, 1),)
    items = value.split(",")
    if not all(re.fullmatch(number, item) for item in items):
        raise CalendarError(text, f"{name} {value!r} is not a number, range, list or step")
    return tuple((_number(text, name, item), -1, 0) for item in items)


def _repetition(text: str, name: str, groups: tuple[str | None, ...]) -> Component:
    start_text, stop_text, step_text = groups
    start = _number(text, name, start_text or "")
    stop = -1 if stop_text is None else _number(text, name, stop_text)
    step = decimal(step_text or "0")
    if step == 0:
        raise CalendarError(text, f"{name} step must not be 0")
    if stop >= 0 and stop < start:
        raise CalendarError(text, f"{name} range {start}..{stop} runs backwards")
    if name != "year" and step > _FIELDS[name][1]:
        raise CalendarError(text, f"{name} step {step} is larger than the field (max {_FIELDS[name][1]})")
    return start, stop, step


def _number(text: str, name: str, value: str) -> int:
    low, high, _ = _FIELDS[name]
    number = decimal(value)
    limit = 255 if name != "year" else high  # barto reads u8 fields
    if not low <= number <= min(high, limit):
        raise CalendarError(text, f"{name} {number} out of range {low}..{high}")
    return number
