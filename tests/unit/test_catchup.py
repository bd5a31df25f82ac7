"""server.catchup: which passed slots run late and which are recorded as missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from barto.calendar import parse
from barto.server.scheduling.catchup import split
from barto.server.scheduling.slots import slots_between

NOW = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)
SLOTS = [NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]


def test_passed_slots_are_those_after_the_last_up_to_now() -> None:
    spec = parse("*:0/10", dialect="barto", tz="UTC")  # every 10 minutes
    last = datetime(2026, 11, 22, 11, 10, tzinfo=UTC)
    assert list(slots_between(spec, last, NOW, "w/s")) == [
        datetime(2026, 11, 22, h, m, tzinfo=UTC) for h, m in [(11, 20), (11, 30), (11, 40), (11, 50), (12, 0)]
    ]
    assert list(slots_between(spec, NOW, NOW, "w/s")) == []


@pytest.mark.parametrize(
    ("policy", "late"),
    [("none", []), ("latest", SLOTS[-1:]), ("all", SLOTS[-3:])],  # "all": within the 35-minute window
)
def test_every_slot_is_either_run_late_or_missed(policy: str, late: list[datetime]) -> None:
    run, missed = split(SLOTS, policy, NOW, timedelta(minutes=35))  # type: ignore[arg-type]
    assert run == late
    assert sorted(run + missed) == SLOTS


def test_nothing_passed_nothing_to_do() -> None:
    assert split([], "all", NOW, timedelta(days=1)) == ([], [])
