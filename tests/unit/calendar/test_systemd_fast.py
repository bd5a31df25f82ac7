"""The fast path of systemd expressions answers exactly what the exact search answers, or passes.

The exact search is the one compared with systemd-analyze itself (test_systemd_oracle.py); here
the fast path is compared with it on generated expressions, in every zone, from bases next to
offset changes and far from them, walking from answer to answer as a scheduler does (which is
what the remembered offset span is for).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from barto.calendar import CalendarError, parse
from barto.calendar._civil import to_micros
from barto.calendar._systemd_fast import fast_next
from barto.calendar._systemd_search import next_micros
from barto.calendar.systemd import SystemdSpec
from tests.oracle import Corpus
from tests.zones import ALL_ZONES, changes

WALK = 6
# Shapes where systemd's own quirks decide (a repetition running past its field: 0/7 minutes
# skip 00:00 at a day change, 1/7 days skip January 1st), and the common ones.
SHAPES = ("*-*-* *:0/7:00", "*-*-* 0/5:00", "*-*-01/7,20 17:*:*", "*-*-* *:*:0/7", "*-*-* 22:57/2:16",
          "hourly", "daily", "*:0/15", "*-*-* 01:30", "*-*-* 02:00", "Sun *-*-* 01:00", "*-*-* 0/2:30",
          "*-*~01 00:30", "*-12-* 23:*:0/13", "*-*-31 23:59:0/11", "weekly", "Mon..Fri 09:00")  # fmt: skip


def specs(seed: int, count: int) -> list[SystemdSpec]:
    corpus = Corpus(seed, noise=False)
    out: list[SystemdSpec] = []
    while len(out) < count:
        try:
            spec = parse(corpus.expression(), dialect="systemd")
        except CalendarError:
            continue
        assert isinstance(spec, SystemdSpec)
        out.append(spec)
    return out


def systemd(text: str) -> SystemdSpec:
    spec = parse(text, dialect="systemd")
    assert isinstance(spec, SystemdSpec)
    return spec


def mismatches(spec: SystemdSpec, base: int) -> tuple[list[str], int]:
    """Walk WALK answers from ``base``; the places where the fast path differs, and how often it answered."""
    wrong, answered = [], 0
    for _ in range(WALK):
        exact = next_micros(spec, base, spec.clock())
        fast = fast_next(spec, base)
        if fast is not None:
            answered += 1
            if fast != exact:
                wrong.append(f"{spec} after {base}: fast {fast}, exact {exact}")
        if exact is None:
            break
        base = exact
    return wrong, answered


@pytest.mark.parametrize("part", range(4))
def test_fast_path_equals_the_exact_search(part: int) -> None:
    rng = random.Random(f"fast-{part}")
    wrong: list[str] = []
    answered = asked = 0
    for spec in specs(seed=part, count=300) + [systemd(text) for text in SHAPES] * 8:
        zone = rng.choice((None, None, *ALL_ZONES[part::4]))
        if zone is not None and spec.timezone is None and not spec.utc:
            spec = systemd(f"{spec} {zone}")
        moments = changes(zone, rng.randint(1970, 2100)) if zone else ()
        near = rng.choice(moments) if moments else datetime(rng.randint(1970, 2150), 6, 1, tzinfo=UTC)
        if moments and rng.random() < 0.4:  # next to a change: the base or the answer may be a repeated wall time
            near = rng.choice(moments) + timedelta(minutes=rng.choice((-120, -60, -45, -30, -15, 0, 15, 30, 60)))
        elif rng.random() < 0.3:  # just before a month's or a year's end
            near = datetime(rng.randint(1971, 2150), rng.choice((1, 12)), 31, 23, tzinfo=UTC)
        base = near + timedelta(seconds=rng.randint(-3 * 86400, 3 * 86400), microseconds=rng.choice((0, 1, 999_999)))
        found, hits = mismatches(spec, to_micros(base))
        wrong += found
        answered += hits
        asked += WALK
    assert wrong == []
    assert answered > asked // 3  # the fast path is taken, not just declined


def test_a_wall_time_repeated_just_after_the_answer_goes_the_exact_way() -> None:
    """Pyongyang went back 30 minutes at midnight on 2015-08-15 (15:00 UTC): 23:45 happened twice,
    and systemd 252 takes the second (15:15 UTC), as glibc's mktime resolves it from a fresh guess."""
    spec = parse("*:0/15 Asia/Pyongyang", dialect="systemd")
    t = datetime(2015, 8, 14, 14, 30, tzinfo=UTC)
    answers = []
    for _ in range(4):
        found = spec.next_after(t)
        assert found is not None
        answers.append(found.strftime("%H:%M"))
        t = found
    assert answers == ["15:15", "15:30", "15:45", "16:00"]  # systemd-analyze calendar says so


def test_the_tz_database_keeps_what_the_fast_path_relies_on() -> None:
    """Two offset changes of one zone are at least 601,200 s apart and none goes back by 8 hours
    or more, since 1970; read from the TZif files themselves (zoneinfo's own reader), so that a
    tzdata update that breaks either fails here."""
    import os
    import zoneinfo
    from zoneinfo import _common  # the stdlib's TZif reader; private, but only a test leans on it

    from barto.calendar._systemd_fast import _AROUND

    closest, furthest_back, read = 10**9, 0, 0
    for name in ALL_ZONES:
        path = next((p for d in zoneinfo.TZPATH if os.path.isfile(p := os.path.join(d, name))), None)
        if path is None:
            continue
        with open(path, "rb") as file:
            indices, transitions, offsets, *_ = _common.load_data(file)
        read += 1
        steps = zip(transitions[1:], pairwise(indices), strict=False)
        moves = [(t, offsets[i], offsets[j]) for t, (i, j) in steps if t >= 0 and offsets[i] != offsets[j]]
        for (a, _, _), (b, _, _) in pairwise(moves):
            closest = min(closest, b - a)
        furthest_back = max([furthest_back, *(before - after for _, before, after in moves)])
    assert read > 500
    assert closest >= 601_200
    assert furthest_back < _AROUND
