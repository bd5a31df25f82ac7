"""Differential test: our systemd dialect against ``systemd-analyze calendar`` itself."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from barto.calendar import CalendarError, parse
from tests.conftest import require_or_skip
from tests.oracle import SYSTEMD_ANALYZE, Corpus, Verdict, ask_systemd
from tests.zones import ALL_ZONES, changes

pytestmark = pytest.mark.systemd

CORPUS_SIZE = 3000
ITERATIONS = 5
BASES = ("2025-10-20 12:34:56 UTC", "2025-03-29 23:59:59 UTC", "2025-11-02 06:10:00 UTC")
DST_BASES = ("2025-03-09 06:50:00 UTC", "2025-03-30 00:10:00 UTC", "2025-10-26 00:10:00 UTC",
             "2025-11-02 05:10:00 UTC", "2025-04-05 15:10:00 UTC", "2025-10-04 15:20:00 UTC",
             "2011-12-29 09:00:00 UTC")  # fmt: skip
DST_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia")


def ours(text: str, base: str, dialect: str = "systemd") -> Verdict:
    """Our answer in the oracle's shape."""
    try:
        spec = parse(text, dialect=dialect)
    except CalendarError:
        return Verdict(accepted=False)
    t: datetime | None = datetime.strptime(base, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    elapses = []
    for _ in range(ITERATIONS):
        t = spec.next_after(t) if t else None
        if t is None:
            break
        elapses.append(t.strftime("%a %Y-%m-%d %H:%M:%S UTC"))
    return Verdict(accepted=True, normalized=str(spec), elapses=tuple(elapses))


def agree(ours: Verdict, theirs: Verdict) -> bool:
    """Where systemd gives up on an accepted expression (its loop valve), any answer of ours
    will do here: test_monotonic checks that it moves forward."""
    return ours.accepted if theirs.gave_up else ours == theirs


def disagreements(exprs: list[str], base: str, dialect: str = "systemd") -> list[str]:
    theirs = ask_systemd(exprs, base, ITERATIONS)
    return [f"{e!r}: ours {ours(e, base, dialect)} systemd {theirs[e]}" for e in exprs
            if not agree(ours(e, base, dialect), theirs[e])]  # fmt: skip


def dst_corpus() -> list[str]:
    times = ("*:0/15", "01..03:30", "02:30", "0/2:00", "*:0/20:0/30", "1:0/15", "00,02,04:00")
    days = ("*-*-*", "*-03-*", "*-10,11-*", "Sun *-*-*", "Sat,Sun *-*-*", "*-*~01", "2011-12-30")
    return [f"{d} {t} {z}" for z in DST_ZONES for d in days for t in times]


@pytest.mark.parametrize("base", BASES)
def test_generated_corpus_agrees_with_systemd(base: str) -> None:
    """Acceptance, normalized form and five elapses agree on a few thousand expressions."""
    require_or_skip(SYSTEMD_ANALYZE is not None, "systemd-analyze")
    corpus = Corpus(seed=2026)
    exprs = list(dict.fromkeys(corpus.expression() for _ in range(CORPUS_SIZE)))
    assert len(exprs) > 2500
    assert disagreements(exprs, base) == []


@pytest.mark.parametrize("base", DST_BASES)
def test_dst_transitions_agree_with_systemd(base: str) -> None:
    """Around spring-forward and fall-back changes (incl. 30-minute and skipped-day zones)."""
    require_or_skip(SYSTEMD_ANALYZE is not None, "systemd-analyze")
    assert disagreements(dst_corpus(), base) == []


# Weekday ranges that start on Sunday are backwards in systemd's week and a whole week in barto's.
_BARTO_WEEK = re.compile(r"(?i)\bsun(day)?(\.\.|-)")


def test_barto_dialect_agrees_with_systemd_on_systemd_forms() -> None:
    """What systemd's grammar reads, the barto and auto dialects judge as systemd does: the same
    rejections (22:57/12:16, 17:*:59..59), the same normalized forms and elapses."""
    require_or_skip(SYSTEMD_ANALYZE is not None, "systemd-analyze")
    corpus = Corpus(seed=15, noise=False)
    exprs = [e for e in dict.fromkeys(corpus.expression() for _ in range(1500)) if not _BARTO_WEEK.search(e)]
    exprs += ["22:57/12:16", "*:26:56/27", "22:57/2:16", "17:*:59..59", "*:05..05", "*-*-* 23:59:58/2"]
    for dialect in ("barto", "auto"):
        assert disagreements(exprs, BASES[0], dialect) == []


ZONE_EXPRESSIONS = ("hourly", "daily", "*:0/15", "*-*-* 01:30", "*-*-* 02:00", "*-*-* 00,01,02,03:00:00",
                    "Sun *-*-* 01:00", "*:*:0/20", "*-*-* 0/2:30", "*-*~01 00:30", "*-*-* 23:30")  # fmt: skip


@pytest.mark.parametrize("part", range(4))
def test_zones_agree_with_systemd_around_their_changes(part: int) -> None:
    """A quarter of the tz database's zones each run (a different sample per part), at an offset
    change in a random year before 2038, including Dublin's and Casablanca's negative DST."""
    require_or_skip(SYSTEMD_ANALYZE is not None, "systemd-analyze")
    rng = random.Random(f"zones-{part}")
    zones = ALL_ZONES[part::4]
    found = []
    for zone in [*rng.sample(zones, 25), ("Europe/Dublin", "Africa/Casablanca")[part % 2]]:
        moments = changes(zone, rng.randint(1970, 2037))
        if not moments:
            continue
        base = (rng.choice(moments) + timedelta(seconds=rng.choice((-3600, -1800, -1, 0, 1, 1800)))).strftime(
            "%Y-%m-%d %H:%M:%S UTC"
        )
        found += disagreements([f"{e} {zone}" for e in ZONE_EXPRESSIONS], base)
    assert found == []
