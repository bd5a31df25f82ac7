"""Differential test: our systemd dialect against ``systemd-analyze calendar`` itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from barto.calendar import CalendarError, parse
from tests.conftest import require_or_skip
from tests.oracle import SYSTEMD_ANALYZE, Corpus, Verdict, ask_systemd

pytestmark = pytest.mark.systemd

CORPUS_SIZE = 3000
ITERATIONS = 5
BASES = ("2025-10-20 12:34:56 UTC", "2025-03-29 23:59:59 UTC", "2025-11-02 06:10:00 UTC")
DST_BASES = ("2025-03-09 06:50:00 UTC", "2025-03-30 00:10:00 UTC", "2025-10-26 00:10:00 UTC",
             "2025-11-02 05:10:00 UTC", "2025-04-05 15:10:00 UTC", "2025-10-04 15:20:00 UTC",
             "2011-12-29 09:00:00 UTC")  # fmt: skip
DST_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia")


def ours(text: str, base: str) -> Verdict:
    """Our answer in the oracle's shape."""
    try:
        spec = parse(text, dialect="systemd")
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


def disagreements(exprs: list[str], base: str) -> list[str]:
    theirs = ask_systemd(exprs, base, ITERATIONS)
    return [f"{e!r}: ours {ours(e, base)} systemd {theirs[e]}" for e in exprs
            if ours(e, base) != theirs[e]]  # fmt: skip


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
