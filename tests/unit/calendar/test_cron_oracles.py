"""Differential tests: the quartz dialect against Quartz 2.3 itself, jobd against cronexpr itself.

The expressions are drawn at random (seeded) from shapes both peers document, including
broken ones; acceptance and the next fire times (UTC) must agree.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from barto.calendar import CalendarError, parse
from tests.conftest import require_or_skip
from tests.cron_oracles import (
    PANIC,
    Answer,
    Question,
    ask,
    build_cronexpr,
    build_quartz,
    cronexpr_available,
    quartz_available,
)

pytestmark = pytest.mark.oracle

# 2025, the end of February 2024, 2000 (Quartz's last year is this year + 100, not 2099: not compared)
BASES = (1_760_963_696, 1_709_251_199, 946_684_800)
COUNT = 5
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class Shapes:
    """Field items: values, ranges, steps (some near or past the field's end), lists, names.

    Left out on purpose, where the peers' own parsers do things barto does not copy: a range
    whose end is before its start (Quartz wraps it round, cronexpr allows nothing and later
    panics), ``*`` inside a list (cronexpr then ignores the rest of the list, errors included)
    and a name with a step (Quartz skips the step's range check there).
    """

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def number(self, low: int, high: int) -> int:
        rng = self.rng
        return rng.choice((low, high, rng.randint(low, high), rng.randint(low, high), high + 1))

    def item(self, low: int, high: int, names: tuple[str, ...], alone: bool) -> str:
        rng = self.rng
        roll = rng.random()
        step = str(rng.choice((1, 2, 5, high - 1, high, high + 1, rng.randint(1, high + 2))))
        first, last = sorted((self.number(low, high), self.number(low, high)))
        if roll < 0.3:
            if names and rng.random() < 0.3:
                return rng.choice(names)
            return str(first)
        if roll < 0.45:
            if names and rng.random() < 0.3:
                a, b = sorted(rng.sample(range(min(len(names), 7)), 2))
                return f"{names[a]}-{names[b]}"
            return f"{first}-{last}"
        if roll < 0.6 and alone:
            return f"*/{step}"
        if roll < 0.75:
            return f"{first}/{step}"
        if roll < 0.85:
            return f"{first}-{last}/{step}"
        return "*" if alone else str(last)

    def field(self, low: int, high: int, names: tuple[str, ...] = ()) -> str:
        count = self.rng.choice((1, 1, 2, 3))
        if self.rng.random() < 0.3:
            return "*"
        return ",".join(self.item(low, high, names, count == 1) for _ in range(count))


def quartz_expression(shapes: Shapes) -> str:
    rng = shapes.rng
    sec, minute, hour = shapes.field(0, 59), shapes.field(0, 59), shapes.field(0, 23)
    month = shapes.field(1, 12, _MONTHS)
    if rng.random() < 0.5:
        dom = rng.choice(
            [
                shapes.field(1, 31),
                "L",
                f"L-{rng.randint(0, 31)}",
                f"{rng.randint(1, 32)}W",
                "LW",
                f"L-{rng.randint(0, 27)}W",
            ]
        )  # fmt: skip  (Quartz 2.3 hangs on L-30W)
        dow = "?"
    else:
        dom = "?"
        nth = f"{rng.randint(1, 7)}#{rng.randint(1, 6)}"
        dow = rng.choice(
            [shapes.field(1, 7, _DAYS), f"{rng.randint(1, 7)}L", nth, "L", f"{rng.choice(_DAYS)}#{rng.randint(1, 5)}"]
        )
    fields = [sec, minute, hour, dom, month, dow]
    if rng.random() < 0.4:
        fields.append(rng.choice(["*", str(rng.randint(1970, 2099)), f"{rng.randint(2020, 2030)}-2099",
                                  f"2024/{rng.randint(1, 30)}"]))  # fmt: skip
    return " ".join(fields)


def jobd_expression(shapes: Shapes) -> str:
    rng = shapes.rng
    minute, hour = shapes.field(0, 59), shapes.field(0, 23)
    dom = rng.choice([shapes.field(1, 31), shapes.field(1, 31), "L", f"{rng.randint(1, 31)}W", "LW", "?"])
    full_months = tuple(m for m in ("january", "march", "july", "december"))
    full_days = ("sunday", "monday", "friday", "saturday")
    month = shapes.field(1, 12, _MONTHS + full_months)
    dow = "-7"
    while re.search(r"-7\b|\b7/", dow):  # cronexpr reads 7 as 0 before expanding: 0-7 is Sunday, 7/6 Sun+Sat
        dow = rng.choice([shapes.field(0, 7, _DAYS + full_days), f"{rng.randint(0, 6)}L",
                          f"{rng.randint(0, 6)}#{rng.randint(1, 5)}", "?"])  # fmt: skip
    fields = [minute, hour, dom, month, dow]
    roll = rng.random()
    if roll < 0.3:
        fields.append(rng.choice(["*", str(rng.randint(1970, 2099)), "2020-2099"]))
    elif roll < 0.6:
        fields = [shapes.field(0, 59), *fields, "*"]
    return " ".join(fields)


def ours(dialect: str, q: Question) -> Answer:
    try:
        spec = parse(q.text, dialect=dialect, tz=q.zone)
    except CalendarError:
        return None
    out: list[int] = []
    t: datetime | None = datetime.fromtimestamp(q.base, UTC)
    while len(out) < q.count and t is not None:
        t = spec.next_after(t)
        if t is not None:
            out.append(int(t.timestamp()))
    return tuple(out)


def disagreements(dialect: str, command: list[str], texts: list[str]) -> list[str]:
    questions = [Question(text, "UTC", base, COUNT) for text in texts for base in BASES]
    theirs = ask(command, questions)
    return [f"{q.text!r} after {q.base}: ours {ours(dialect, q)}, peer {a}"
            for q, a in zip(questions, theirs, strict=True) if a != PANIC and ours(dialect, q) != a]  # fmt: skip


@pytest.fixture(scope="module")
def quartz(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    require_or_skip(quartz_available(), "Quartz 2.3 (Debian libquartz2-java) and a JDK")
    return build_quartz(tmp_path_factory.mktemp("quartz"))


@pytest.fixture(scope="module")
def cronexpr(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    require_or_skip(cronexpr_available(), "gorhill/cronexpr (Debian golang-github-gorhill-cronexpr-dev) and Go")
    return build_cronexpr(Path(tmp_path_factory.mktemp("cronexpr")))


def test_quartz_dialect_agrees_with_quartz(quartz: list[str]) -> None:
    shapes = Shapes("quartz-oracle")
    texts = list(dict.fromkeys(quartz_expression(shapes) for _ in range(1500)))
    texts += ["0 15 10 L-1W * ? 2010", "0 0/60 * * * ?", "0 0/59 * * * ?", "0 0 12 ? * 6L"]
    assert disagreements("quartz", quartz, texts) == []


def test_jobd_dialect_agrees_with_cronexpr(cronexpr: list[str]) -> None:
    shapes = Shapes("jobd-oracle")
    texts = list(dict.fromkeys(jobd_expression(shapes) for _ in range(1500)))
    texts += ["0 0 * * friday", "0 0 1 january *", "*/60 * * * *", "2/60 * * * *", "* * * * * * *"]
    assert disagreements("jobd", cronexpr, texts) == []
