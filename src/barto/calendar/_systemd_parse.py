"""Parser for systemd ``OnCalendar=`` expressions, accepting exactly what systemd 252 accepts.

The structure follows systemd's ``calendar_spec_from_string``: an optional trailing zone, a
shorthand or ``[weekdays] [date] [time]``, then normalisation and validation. Each rejection
says which part is wrong. With ``allow_random`` a whole field may be barto's ``R``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from barto.calendar import _random
from barto.calendar._civil import breakdown, decimal
from barto.calendar.errors import CalendarError
from barto.calendar.systemd import (
    ALL_WEEKDAYS,
    MAX_YEAR,
    MIN_YEAR,
    USEC_PER_SEC,
    Chain,
    Component,
    SystemdSpec,
    load_zone,
)

_INT_MAX = 2**31 - 1
_ULONG_MAX = 2**64 - 1
_MAX_COMPONENTS = 240
RANDOM: Component = (-7, -7, -7)  # placeholder for "R", resolved after the whole text is read
_FIELD_END = frozenset(" ,-~:")
_WEEKDAYS = (
    ("monday", 0), ("mon", 0), ("tuesday", 1), ("tue", 1), ("wednesday", 2), ("wed", 2),
    ("thursday", 3), ("thu", 3), ("friday", 4), ("fri", 4), ("saturday", 5), ("sat", 5),
    ("sunday", 6), ("sun", 6),
)  # fmt: skip
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


class Rejected(CalendarError):
    """systemd's grammar reads the text, and systemd rejects a value in it.

    The barto dialect falls back to barto's own grammar only for text that systemd cannot read
    at all (comma dates, ``+N``): what systemd reads, systemd's rules decide.
    """


def _midnight(*chains: str) -> dict[str, Chain]:
    values: dict[str, Chain] = {"hour": ((0, -1, 0),), "minute": ((0, -1, 0),)}
    values["usec"] = ((0, -1, 0),)
    for name in chains:
        values.pop(name, None)
    return values


_SHORTHANDS: dict[str, dict[str, Chain]] = {
    "minutely": {"usec": ((0, -1, 0),)},
    "hourly": {"minute": ((0, -1, 0),), "usec": ((0, -1, 0),)},
    "daily": _midnight(),
    "monthly": {"day": ((1, -1, 0),), **_midnight()},
    "weekly": _midnight(),
    "yearly": {"month": ((1, -1, 0),), "day": ((1, -1, 0),), **_midnight()},
    "quarterly": {"month": ((1, -1, 0), (4, -1, 0), (7, -1, 0), (10, -1, 0)),
                  "day": ((1, -1, 0),), **_midnight()},
    "semiannually": {"month": ((1, -1, 0), (7, -1, 0)), "day": ((1, -1, 0),), **_midnight()},
}  # fmt: skip
for _alias, _target in (("annually", "yearly"), ("anually", "yearly"), ("biannually",
        "semiannually"), ("bi-annually", "semiannually"), ("semi-annually", "semiannually")):  # fmt: skip
    _SHORTHANDS[_alias] = _SHORTHANDS[_target]


@lru_cache(maxsize=1024)
def valid_zone(name: str) -> bool:
    """Whether systemd would accept ``name`` as a time zone (a TZif file under zoneinfo)."""
    if name == "UTC":
        return True
    if not _ZONE_NAME.fullmatch(name):
        return False
    try:
        load_zone(name)
    except (ValueError, OSError, KeyError):
        return False
    return True


def parse_systemd(text: str, *, tz: str | None, seed: str | None, allow_random: bool) -> SystemdSpec:
    """Parse a systemd expression; ``tz`` applies when the text names no zone."""
    body, utc, zone = split_zone(text)
    if not body:
        raise CalendarError(text, "empty expression")
    fields = _SHORTHANDS.get(body.lower())
    if fields is not None:
        spec = SystemdSpec(**fields)  # type: ignore[arg-type]
        if body.lower() == "weekly":
            spec = replace(spec, weekdays=1)
    else:
        spec = _Parser(text, body, allow_random).parse()
    spec = resolve_random(spec, seed)
    if not utc and zone is None and tz is not None:
        utc, zone = zone_from_tz(text, tz)
    spec = replace(spec, utc=spec.utc or utc, timezone=zone, source=text)
    return validate(normalize(spec, fix_years=True), text)


def split_zone(text: str) -> tuple[str, bool, str | None]:
    if text[-4:].lower() == " utc":
        return text[:-4], True, None
    space = text.rfind(" ")
    if space >= 0 and valid_zone(text[space + 1 :]):
        return text[:space], False, text[space + 1 :]
    return text, False, None


def zone_from_tz(text: str, tz: str) -> tuple[bool, str | None]:
    if tz.upper() == "UTC":
        return True, None
    if not valid_zone(tz):
        raise CalendarError(text, f"unknown time zone {tz!r}")
    return False, tz


class _Parser:
    """A cursor over ``[weekdays] [date] [time]``, systemd's grammar step by step."""

    def __init__(self, text: str, body: str, allow_random: bool) -> None:
        self.text, self.s, self.i, self.allow_random = text, body, 0, allow_random
        self.fields: dict[str, Chain] = {}
        self.weekdays = 0
        self.end_of_month = False
        self.utc = False  # "@EPOCH" is a UTC instant

    def fail(self, reason: str) -> CalendarError:
        return CalendarError(self.text, reason)

    def reject(self, reason: str) -> Rejected:
        return Rejected(self.text, reason)

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.s[j] if j < len(self.s) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.i += 1

    def parse(self) -> SystemdSpec:
        self.parse_weekdays()
        if not self.parse_date():
            self.parse_time()
        if self.i != len(self.s):
            raise self.fail(f"unexpected {self.s[self.i :]!r} at the end")
        return SystemdSpec(
            weekdays=self.weekdays,
            end_of_month=self.end_of_month,
            utc=self.utc,
            **self.fields,  # type: ignore[arg-type]
        )

    # -- weekdays ---------------------------------------------------------------------------

    def parse_weekdays(self) -> None:
        first, low = True, -1
        while True:
            number = self.weekday_name()
            if number is None:
                if first:
                    return
                raise self.fail(f"weekday expected at {self.s[self.i :]!r}")
            if low >= 0:
                if low > number:
                    raise self.fail("weekday range runs backwards (weeks start on Monday)")
                for between in range(low + 1, number):
                    self.weekdays |= 1 << between
            self.weekdays |= 1 << number
            if self.peek() == "":
                return
            if self.peek() == " ":
                self.skip_spaces()
                return
            low = self.weekday_separator(low, number)
            if self.peek() in ("", " "):
                self.skip_spaces()
                if low >= 0:
                    raise self.fail("weekday range has no end")
                return
            first = False

    def weekday_name(self) -> int | None:
        for name, number in _WEEKDAYS:
            if self.s[self.i : self.i + len(name)].lower() == name:
                if self.peek(len(name)) not in ("", "-", ".", ",", " "):
                    raise self.fail(f"unknown weekday {self.s[self.i :].split()[0]!r}")
                self.i += len(name)
                return number
        return None

    def weekday_separator(self, low: int, number: int) -> int:
        """Consume ``..``, ``-`` or ``,`` after a weekday; return the open range start or -1."""
        char = self.peek()
        if char in (".", "-"):
            if low >= 0:
                raise self.fail("weekday range has more than two ends")
            if char == "." and self.peek(1) != ".":
                raise self.fail("weekday ranges are written 'Mon..Fri'")
            self.i += 2 if char == "." else 1
            return number
        self.i += 1  # ","
        return -1

    # -- date -------------------------------------------------------------------------------

    def parse_date(self) -> bool:
        """Parse a date if there is one; True means "done" (``@EPOCH`` has no time part)."""
        if self.peek() == "":
            return False
        if self.peek() == "@":
            self.parse_epoch()
            return True
        start = self.i
        first = self.chain("date", usec=False)
        if self.peek() in ("", ":"):
            self.i = start  # it was the hour: no date
            return False
        self.date_separator()
        second = self.chain("day", usec=False)
        if self.peek() in ("", " "):
            self.fields.update(month=first, day=second)
            self.skip_spaces()
            return False
        if self.end_of_month:
            raise self.fail("'~' may only separate the month from the day")
        self.date_separator()
        third = self.chain("day", usec=False)
        if self.peek() not in ("", " "):
            raise self.fail(f"unexpected {self.s[self.i :]!r} after the date")
        self.fields.update(year=first, month=second, day=third)
        self.skip_spaces()
        return False

    def date_separator(self) -> None:
        char = self.peek()
        if char == "~":
            self.end_of_month = True
        elif char != "-":
            raise self.fail(f"date fields are separated by '-' or '~', not {char!r}")
        self.i += 1

    def parse_epoch(self) -> None:
        self.i += 1
        match = re.match(r"[ \t\n\v\f\r]*[+-]?[0-9]+", self.s[self.i :])
        if match is None:
            raise self.fail("'@' must be followed by seconds since the epoch")
        value = decimal(match.group().lstrip(" \t\n\v\f\r"))
        if abs(value) > _ULONG_MAX:
            raise self.fail("epoch seconds out of range")
        self.i += match.end()
        seconds = value % 2**64
        seconds = seconds - 2**64 if seconds >= 2**63 else seconds  # C's (time_t) cast
        year, month, day, hour, minute, second = breakdown(seconds)
        self.fields = {
            "year": ((year, -1, 0),), "month": ((month, -1, 0),), "day": ((day, -1, 0),),
            "hour": ((hour, -1, 0),), "minute": ((minute, -1, 0),),
            "usec": ((second * USEC_PER_SEC, -1, 0),),
        }  # fmt: skip
        self.utc = True

    # -- time -------------------------------------------------------------------------------

    def parse_time(self) -> None:
        zero: Chain = ((0, -1, 0),)
        if self.peek() == "":
            self.fields.update(hour=zero, minute=zero, usec=zero)
            return
        hour = self.chain("hour", usec=False)
        if self.peek() != ":":
            raise self.fail("time must be written hh:mm[:ss]")
        self.i += 1
        minute = self.chain("minute", usec=False)
        usec = zero
        if self.peek() != "":
            if self.peek() != ":":
                raise self.fail(f"unexpected {self.s[self.i :]!r} after the minutes")
            self.i += 1
            usec = self.chain("second", usec=True)
            if self.peek() != "":
                raise self.fail(f"unexpected {self.s[self.i :]!r} after the seconds")
        self.fields.update(hour=hour, minute=minute, usec=usec)

    # -- chains -----------------------------------------------------------------------------

    def chain(self, name: str, *, usec: bool) -> Chain:
        if self.peek() == "*":
            self.i += 1
            return ((0, -1, USEC_PER_SEC),) if usec else None
        if self.allow_random and self.peek() == "R" and self.peek(1) in _FIELD_END | {""}:
            self.i += 1
            return (RANDOM,)
        components: list[Component] = []
        while True:
            if len(components) > _MAX_COMPONENTS:
                raise self.fail(f"{name} list longer than {_MAX_COMPONENTS} elements")
            components.append(self.component(name, usec))
            if self.peek() != ",":
                return tuple(components)
            self.i += 1

    def component(self, name: str, usec: bool) -> Component:
        start = self.decimal(name, usec)
        stop, repeat = -1, 0
        if self.peek() == "." and self.peek(1) == ".":
            self.i += 2
            stop = self.decimal(name, usec)
            repeat = USEC_PER_SEC if usec else 1
        if self.peek() == "/":
            self.i += 1
            repeat = self.decimal(name, usec)
            if repeat == 0:
                raise self.reject(f"{name} repetition must not be 0")
        elif usec and stop >= 0 and start + repeat > stop:
            shown = f"{_show(start, USEC_PER_SEC)}..{_show(stop, USEC_PER_SEC)}"
            raise self.reject(f"{name} range {shown} is shorter than its one-second step")
        if self.peek() not in _FIELD_END and self.peek() != "":
            raise self.fail(f"unexpected {self.s[self.i :]!r} in the {name}")
        return start, stop, repeat

    def decimal(self, name: str, usec: bool) -> int:
        match = re.match(r"[0-9]+", self.s[self.i :])
        if match is None:
            raise self.fail(f"{name} expected at {self.s[self.i :]!r}")
        self.i += match.end()
        value = decimal(match.group())
        if value > _ULONG_MAX:
            raise self.fail(f"{name} {match.group()} out of range")
        if usec:
            value = value * USEC_PER_SEC + self.fraction(name)
        if value > _INT_MAX:
            raise self.reject(f"{name} {match.group()} out of range")
        return value

    def fraction(self, name: str) -> int:
        """Up to six decimals, rounded on the seventh, as systemd's parse_fractional_part_u."""
        if not (self.peek() == "." and self.peek(1) != "."):
            return 0
        match = re.match(r"[0-9]+", self.s[self.i + 1 :])
        if match is None:
            raise self.fail(f"{name} has a '.' without decimals")
        self.i += 1 + match.end()
        digits = match.group()
        value = int(digits[:6].ljust(6, "0"))
        return value + (len(digits) > 6 and digits[6] >= "5")


def resolve_random(spec: SystemdSpec, seed: str | None) -> SystemdSpec:
    """Replace every ``R`` by its seeded value; the day is chosen among days of every month."""
    if spec.year == (RANDOM,):
        raise CalendarError(spec.source, "'R' is not allowed in the year")
    values: dict[str, Chain] = {}
    for name, low, high in (("month", 1, 12), ("hour", 0, 23), ("minute", 0, 59)):
        if getattr(spec, name) == (RANDOM,):
            values[name] = ((_random.pick(seed, name, low, high), -1, 0),)
    month = values.get("month", spec.month)
    if spec.day == (RANDOM,):
        high = _random.day_high(chain_values(month, 1, 12))
        values["day"] = ((_random.pick(seed, "day", 1, high), -1, 0),)
    if spec.usec == (RANDOM,):
        values["usec"] = ((_random.pick(seed, "second", 0, 59) * USEC_PER_SEC, -1, 0),)
    return replace(spec, **values) if values else spec  # type: ignore[arg-type]


def chain_values(chain: Chain, low: int, high: int) -> list[int]:
    if chain is None:
        return []
    values: set[int] = set()
    for start, stop, repeat in chain:
        end = stop if stop >= 0 else (high if repeat else start)
        values.update(range(start, min(end, high) + 1, repeat or 1))
    return sorted(v for v in values if low <= v <= high)


def normalize(spec: SystemdSpec, *, fix_years: bool) -> SystemdSpec:
    """systemd's calendar_spec_normalize: canonical chains, 2-digit years, "UTC" as a flag."""
    year = _fix_years(spec.year) if fix_years else spec.year
    weekdays = spec.weekdays if 0 < spec.weekdays < 127 else ALL_WEEKDAYS
    return replace(
        spec,
        weekdays=weekdays,
        utc=spec.utc or spec.timezone == "UTC",
        timezone=None if spec.timezone == "UTC" else spec.timezone,
        end_of_month=spec.end_of_month and spec.day is not None,
        year=_normalize_chain(year),
        month=_normalize_chain(spec.month),
        day=_normalize_chain(spec.day),
        hour=_normalize_chain(spec.hour),
        minute=_normalize_chain(spec.minute),
        usec=_normalize_chain(spec.usec),
    )


def _fix_years(chain: Chain) -> Chain:
    def fix(value: int) -> int:
        if 0 <= value < 70:
            return value + 2000
        return value + 1900 if 70 <= value < 100 else value

    return None if chain is None else tuple((fix(a), fix(b), r) for a, b, r in chain)


def _normalize_chain(chain: Chain) -> Chain:
    if chain is None:
        return None
    out = set()
    for start, stop, repeat in chain:
        if stop > start and repeat > 0:
            stop -= (stop - start) % repeat
        if (stop > start and repeat > 0 and start + repeat > stop) or start == stop:
            stop, repeat = -1, 0
        out.add((start, stop, repeat))
    return tuple(sorted(out))


def validate(spec: SystemdSpec, text: str) -> SystemdSpec:
    """systemd's calendar_spec_valid, with a reason for each rejection."""
    checks = (
        ("year", spec.year, MIN_YEAR, MAX_YEAR),
        ("month", spec.month, 1, 12),
        ("day", spec.day, 1, 31),
        ("hour", spec.hour, 0, 23),
        ("minute", spec.minute, 0, 59),
        ("second", spec.usec, 0, 60 * USEC_PER_SEC - 1),
    )
    for name, chain, low, high in checks:
        eom = spec.end_of_month and name == "day"
        for position, component in enumerate(chain or ()):
            # systemd subtracts 3 from the bound at every element of a "~" chain, not once.
            bound = high - 3 * (position + 1) if eom else high
            reason = _invalid(name, component, low, bound, eom)
            if reason:
                raise Rejected(text, reason)
    return spec


def _invalid(name: str, component: Component, low: int, high: int, eom: bool) -> str | None:
    start, stop, repeat = component
    unit = USEC_PER_SEC if name == "second" else 1
    shown = f"~{start}" if eom else _show(start, unit)
    if not low <= start <= high:
        return f"{name} {shown} out of range {low // unit}..{high // unit}"
    if repeat > high - low:
        return f"{name} repetition /{_show(repeat, unit)} is larger than the field"
    if stop >= 0:
        if not low <= stop <= high:
            return f"{name} {_show(stop, unit)} out of range {low // unit}..{high // unit}"
        if start + repeat > stop:
            return f"{name} range {shown}..{_show(stop, unit)} runs backwards"
    elif (eom and start - repeat < low) or (not eom and start + repeat > high):
        return f"{name} {shown}/{_show(repeat, unit)} never repeats within the field"
    return None


def _show(value: int, unit: int) -> str:
    return str(value) if unit == 1 else f"{value / unit:g}"
