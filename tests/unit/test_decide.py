"""The scheduler's send / wait / miss decision, as a table: no clock, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from barto.server.scheduling.decide import SETTLE_GRACE, Link, Miss, Send, Wait, decide

SLOT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("link", "offline", "ttl", "late", "expected"),
    [
        (Link.READY, "skip", 3600, 0, Send()),
        (Link.READY, "queue", 3600, 10_000, Send()),  # a ready worker gets even a late run
        (Link.SETTLING, "skip", 3600, 5, Wait(expires=SLOT + timedelta(seconds=5) + SETTLE_GRACE, settling=True)),
        (Link.SETTLING, "queue", 1, 5, Wait(expires=SLOT + timedelta(seconds=5) + SETTLE_GRACE, settling=True)),
        (Link.ABSENT, "skip", 3600, 0, Miss()),
        (Link.ABSENT, "queue", 3600, 0, Wait(expires=SLOT + timedelta(hours=1), settling=False)),
        (Link.ABSENT, "queue", 3600, 3599, Wait(expires=SLOT + timedelta(hours=1), settling=False)),
        (Link.ABSENT, "queue", 3600, 3600, Miss()),  # its queue time is over at the instant it ends
        (Link.ABSENT, "queue", 0.5, 1, Miss()),
    ],
)
def test_decide(link: Link, offline: Literal["skip", "queue"], ttl: float, late: float, expected: object) -> None:
    now = SLOT + timedelta(seconds=late)
    assert decide(SLOT, link, offline, ttl, now) == expected
