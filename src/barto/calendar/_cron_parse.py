"""Parsers for the cron dialects: Vixie cron, Quartz and jobd (gorhill/cronexpr).

| dialect | fields | day of week | extras |
|---|---|---|---|
| cron | min hour dom mon dow | 0-7, 0 and 7 = Sunday | ``L`` (dom), ``nL``, ``n#k`` (dow), ``@daily`` |
| quartz | sec min hour dom mon dow [year] | 1-7, 1 = Sunday | ``?``, ``L``, ``L-n``, ``nW``, ``LW``, ``nL``, ``n#k`` |
| jobd | 5: as cron; 6: min..dow year; 7: sec..year | 0-7 | as Quartz but no ``L-n`` or bare ``L`` in dow |

When both day fields are restricted a day matches if either matches (Vixie); when one is ``*``
(or ``?``) both must. A leading ``CRON_TZ=Zone`` (or ``TZ=Zone``) names the time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from barto.calendar import _random
from barto.calendar._civil import decimal
from barto.calendar._systemd_parse import valid_zone
from barto.calendar.errors import CalendarError

_MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_DOW_NAMES = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
# gorhill/cronexpr (jobd) also reads the full names.
_FULL_MONTHS = {
    m: i + 1 for i, m in enumerate(["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST",
                                    "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"])
}  # fmt: skip
_FULL_DAYS = {
    d: i for i, d in enumerate(["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"])
}
_INT_MAX = 2**31 - 1
# H takes its value from the seed under the same names as barto's R: `H 10 * * *` fires at the
# minute that `*-*-* 10:R:00` does, for the same worker and schedule.
_HASH_FIELDS = {"day-of-month": "day", "day-of-week": "weekday"}
_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
            "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@hourly": "0 * * * *"}  # fmt: skip
_YEARS = (1970, 2099)


@dataclass(frozen=True)
class DaySpec:
    """Which days of a month fire: day-of-month rules, day-of-week rules, and how they combine."""

    dom: frozenset[int]
    dow: frozenset[int]  # 0 = Sunday
    conjunctive: bool  # True: both must match (one of them was "*"); False: either (Vixie OR)
    dom_last: tuple[int, ...] = ()  # "L" = 0, "L-3" = 3 days before the last
    dom_nearest: tuple[int, ...] = ()  # "15W": the weekday nearest the 15th
    dom_last_weekday: bool = False  # "LW"
    dom_last_nearest: tuple[int, ...] = ()  # "L-3W": the weekday nearest the 3rd-last day
    dow_nth: tuple[tuple[int, int], ...] = ()  # "5#3": (Friday, third)
    dow_last: tuple[int, ...] = ()  # "5L": last Friday

    def dom_days(self, year: int, month: int, count: int, first: int) -> set[int]:
        """Days allowed by the day-of-month field in a month of ``count`` days."""
        days = {d for d in self.dom if d <= count}
        days.update(count - back for back in self.dom_last if count - back >= 1)
        days.update(_nearest_weekday(d, count, first) for d in self.dom_nearest if d <= count)
        if self.dom_last_weekday:
            days.add(_nearest_weekday(count, count, first))
        days.update(_nearest_weekday(count - back, count, first) for back in self.dom_last_nearest if count - back >= 1)
        return days

    def dow_days(self, count: int, first: int) -> set[int]:
        """Days allowed by the day-of-week field; ``first`` is the weekday of the 1st."""
        days = {d for d in range(1, count + 1) if (first + d - 1) % 7 in self.dow}
        for weekday, nth in self.dow_nth:
            day = 1 + (weekday - first) % 7 + 7 * (nth - 1)
            if day <= count:
                days.add(day)
        for weekday in self.dow_last:
            days.add(count - (first + count - 1 - weekday) % 7)
        return days


def _nearest_weekday(day: int, count: int, first: int) -> int:
    """Quartz ``W``: the Monday-to-Friday day nearest ``day``, never leaving the month."""
    weekday = (first + day - 1) % 7
    if weekday == 6:  # Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 0:  # Sunday
        return day + 1 if day < count else day - 2
    return day


@dataclass(frozen=True)
class CronFields:
    """The parsed fields of one expression, ready to become a CronSpec."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: DaySpec
    months: tuple[int, ...]
    years: tuple[int, ...] | None
    timezone: str | None
    normalized: str = field(compare=False)

    def days_of(self, year: int, month: int) -> tuple[int, ...]:
        """The days of one month that fire, sorted; remembered per spec (hashing the day rules
        for a shared cache cost more than computing them)."""
        memo: dict[int, tuple[int, ...]] = self.__dict__.setdefault("_days_of", {})
        key = year * 16 + month
        days = memo.get(key)
        if days is None:
            from barto.calendar.cron import day_list

            days = memo[key] = day_list(self.days, year, month)
        return days


def parse_cron(text: str, dialect: str, tz: str | None, seed: str | None = None) -> CronFields:
    """Parse ``text`` in the ``cron``, ``quartz`` or ``jobd`` dialect; ``seed`` fixes ``H``."""
    body, zone = _split_zone(text, tz)
    body = _ALIASES.get(body.strip().lower(), body) if body.strip().startswith("@") else body
    if body.strip().startswith("@"):
        raise CalendarError(text, f"unknown alias {body.strip()!r} (@reboot is not a time)")
    parts = body.upper().split()
    fields = _layout(text, dialect, parts)
    normalized = " ".join(parts)
    return _build(text, dialect, fields, zone, f"CRON_TZ={zone} {normalized}" if zone else normalized, seed)


def _split_zone(text: str, tz: str | None) -> tuple[str, str | None]:
    match = re.match(r"\s*(?:CRON_)?TZ=(\S+)\s+(.*)$", text, re.DOTALL)
    body, zone = (match.group(2), match.group(1)) if match else (text, tz)
    if zone is not None and zone.upper() in ("UTC", "Z"):
        return body, None
    if zone is not None and not valid_zone(zone):
        raise CalendarError(text, f"unknown time zone {zone!r}")
    return body, zone


def _layout(text: str, dialect: str, parts: list[str]) -> list[str]:
    """Fields as [sec, min, hour, dom, month, dow, year] for every dialect's field count."""
    count = len(parts)
    if dialect == "cron" and count == 5:
        return ["0", *parts, "*"]
    if dialect == "quartz" and count in (6, 7):
        return parts if count == 7 else [*parts, "*"]
    if dialect == "jobd" and count >= 5:
        if count == 5:
            return ["0", *parts, "*"]
        return ["0", *parts] if count == 6 else parts[:7]
    wanted = {"cron": "5", "quartz": "6 or 7", "jobd": "5 to 7"}[dialect]
    raise CalendarError(text, f"{dialect} expressions have {wanted} fields, this one has {count}")


def _build(text: str, dialect: str, f: list[str], zone: str | None, normalized: str, seed: str | None) -> CronFields:
    quartz_like = dialect in ("quartz", "jobd")
    field = _FieldParser(text, dialect, seed)
    days = _days(field, dialect, f[3], f[5])
    years = None if not quartz_like else field.values("year", f[6], *_YEARS)
    months = _MONTHS | _FULL_MONTHS if dialect == "jobd" else _MONTHS
    return CronFields(
        seconds=field.values("second", f[0], 0, 59),
        minutes=field.values("minute", f[1], 0, 59),
        hours=field.values("hour", f[2], 0, 23),
        days=days,
        months=field.values("month", f[4], 1, 12, months),
        years=years,
        timezone=zone,
        normalized=normalized,
    )


def _days(field: _FieldParser, dialect: str, dom: str, dow: str) -> DaySpec:
    if dialect == "cron":
        conjunctive = dom.startswith("*") or dow.startswith("*")
    else:
        conjunctive = dom in ("*", "?") or dow in ("*", "?")
    dom_rules = field.dom_rules(dom, allow_offset=dialect == "quartz")
    dow_rules = field.dow_rules(dow, dialect)
    return DaySpec(conjunctive=conjunctive, **dom_rules, **dow_rules)  # type: ignore[arg-type]


class _FieldParser:
    """Reads one field: lists of ``*``, ``a``, ``a-b``, ``*/n``, ``a/n``, ``a-b/n``.

    The largest step differs: Vixie cron takes any (``*/100`` in the day of month is day 1,
    the "first Monday" idiom ``1 1 */100,1-7 * MON``); Quartz and cronexpr take at most the
    field's largest value (``*/60`` is no minute step; Quartz does not check after a range),
    cronexpr's day of week at most 6.
    """

    def __init__(self, text: str, dialect: str, seed: str | None) -> None:
        self.text, self.dialect, self.seed = text, dialect, seed
        self.wildcard_query = dialect in ("quartz", "jobd")

    def step_high(self, name: str, high: int, after_range: bool) -> int:
        """The largest step allowed in field ``name`` whose largest value is ``high``.

        Quartz checks the step only after ``*`` or a single value (``1-23/24`` is allowed).
        """
        if self.dialect == "cron" or (self.dialect == "quartz" and (name == "year" or after_range)):
            return _INT_MAX
        if self.dialect == "jobd" and name == "day-of-week":
            return 6
        return min(high, 59)  # cronexpr reads a step as a number up to 59

    def fail(self, name: str, item: str, why: str) -> CalendarError:
        return CalendarError(self.text, f"{name} {item!r}: {why}")

    def values(self, name: str, spec: str, low: int, high: int, names: dict[str, int] | None = None) -> tuple[int, ...]:
        out: set[int] = set()
        for item in spec.split(","):
            out.update(self.item(name, item, low, high, names or {}))
        return tuple(sorted(out))

    def item(self, name: str, item: str, low: int, high: int, names: dict[str, int]) -> range:
        body, slash, step_text = item.partition("/")
        if body.startswith("H") and self.dialect in ("cron", "quartz"):
            return self.hashed(name, item, low, high)
        first_text, dash, last_text = body.partition("-")
        step = self.number(name, item, step_text, 1, self.step_high(name, high, bool(dash)), {}) if slash else 1
        if body == "*" or (body == "?" and self.wildcard_query):
            return range(low, high + 1, step)
        first = self.number(name, item, first_text, low, high, names)
        last = self.number(name, item, last_text, low, high, names) if dash else first
        if slash and not dash:
            last = high
        if last < first:
            raise self.fail(name, item, "range runs backwards")
        return range(first, last + 1, step)

    def hashed(self, name: str, item: str, low: int, high: int) -> range:
        """Jenkins' and croniter's ``H``, ``H(a-b)``, ``H/n``, ``H(a-b)/n``: a value (or a step's
        offset) derived from the seed, as barto's ``R`` is; in the day of month 1-28 by default.
        """
        match = re.fullmatch(r"H(?:\((\d+)-(\d+)\))?(?:/(\d+))?", item)
        if match is None:
            raise self.fail(name, item, "H is written H, H(a-b), H/n or H(a-b)/n")
        first_text, last_text, step_text = match.groups()
        if first_text is None:  # the whole field; days that every month has; each weekday once
            first, last = low, {"day-of-month": 28, "day-of-week": low + 6}.get(name, high)
        else:
            first = self.number(name, item, first_text, low, high, {})
            last = self.number(name, item, last_text, low, high, {})
            if last < first:
                raise self.fail(name, item, "range runs backwards")
        key = _HASH_FIELDS.get(name, name)
        if step_text is None:
            value = _random.pick(self.seed, key, first, last)
            return range(value, value + 1)
        step = self.number(name, item, step_text, 1, max(1, last - first + 1), {})
        return range(first + _random.pick(self.seed, key, 0, step - 1), last + 1, step)

    def number(self, name: str, item: str, text: str, low: int, high: int, names: dict[str, int]) -> int:
        value = names.get(text)
        if value is None:
            if not text.isdigit() or not text.isascii():
                raise self.fail(name, item, f"{text!r} is not a number or name")
            value = decimal(text)
        if not low <= value <= high:
            raise self.fail(name, item, f"{value} out of range {low}..{high}")
        return value

    def dom_rules(self, spec: str, *, allow_offset: bool) -> dict[str, object]:
        plain, last, nearest, last_nearest, last_weekday = [], [], [], [], False
        for item in spec.split(","):
            if item == "LW":
                last_weekday = True
            elif item == "L" or (allow_offset and re.fullmatch(r"L-\d+", item)):
                last.append(self.number("day-of-month", item, item[2:] or "0", 0, 30, {}))
            elif allow_offset and re.fullmatch(r"L-\d+W", item):
                last_nearest.append(self.number("day-of-month", item, item[2:-1], 0, 30, {}))
            elif re.fullmatch(r"\d+W", item):
                nearest.append(self.number("day-of-month", item, item[:-1], 1, 31, {}))
            else:
                plain.append(item)
        dom = self.values("day-of-month", ",".join(plain), 1, 31) if plain else ()
        return {"dom": frozenset(dom), "dom_last": tuple(last), "dom_nearest": tuple(nearest),
                "dom_last_weekday": last_weekday, "dom_last_nearest": tuple(last_nearest)}  # fmt: skip

    def dow_rules(self, spec: str, dialect: str) -> dict[str, object]:
        low, high = (1, 7) if dialect == "quartz" else (0, 7)
        names = {k: v + low for k, v in (_DOW_NAMES | (_FULL_DAYS if dialect == "jobd" else {})).items()}
        plain, nth, last = [], [], []
        for item in spec.split(","):
            if match := re.fullmatch(r"(\w+)#(\d+)", item):
                day = self.weekday(item, match.group(1), low, high, names, dialect)
                nth.append((day, self.number("day-of-week", item, match.group(2), 1, 5, {})))
            elif match := re.fullmatch(r"(\w+)L", item):
                last.append(self.weekday(item, match.group(1), low, high, names, dialect))
            elif item == "L" and dialect == "quartz":
                plain.append("7")
            else:
                plain.append(item)
        raw = self.values("day-of-week", ",".join(plain), low, high, names) if plain else ()
        dow = {self.to_sunday_zero(v, dialect) for v in raw}
        return {"dow": frozenset(dow), "dow_nth": tuple(nth), "dow_last": tuple(last)}

    def weekday(self, item: str, text: str, low: int, high: int, names: dict[str, int], dialect: str) -> int:
        return self.to_sunday_zero(self.number("day-of-week", item, text, low, high, names), dialect)

    @staticmethod
    def to_sunday_zero(value: int, dialect: str) -> int:
        return value - 1 if dialect == "quartz" else value % 7
