"""server.slots: the server never acts on a calendar answer that does not move forward."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from barto.calendar import parse
from barto.server.scheduling.slots import next_slot, slots_between

T = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Broken:
    """An engine with a bug: at ``stuck`` it answers ``answer`` instead of moving on."""

    stuck: datetime
    answer: datetime
    timezone: str | None = None

    def next_after(self, t: datetime) -> datetime | None:
        if self.stuck <= t < self.stuck + SECOND:
            return self.answer
        return parse("*:*:0/10", dialect="systemd").next_after(t)  # every 10 seconds

    def prev_before(self, t: datetime) -> datetime | None:
        return None

    def __str__(self) -> str:
        return "broken"


def test_a_correct_answer_is_taken_as_it_is() -> None:
    spec = parse("hourly", dialect="systemd", tz="Europe/Dublin")
    assert next_slot(spec, T, "w/s") == spec.next_after(T)


@pytest.mark.parametrize("answer", [T, T - timedelta(hours=1)], ids=["repeats", "goes-back"])
def test_a_non_increasing_answer_is_logged_and_skipped_past(answer: datetime, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="barto.server.scheduling.slots"):
        slot = next_slot(Broken(stuck=T, answer=answer), T, "w1/backup")
    assert slot == T + timedelta(seconds=10)  # what the engine says one second later
    assert "calendar bug" in caplog.text
    assert "w1/backup" in caplog.text


def test_an_engine_that_never_moves_on_stops_the_schedule_loudly(caplog: pytest.LogCaptureFixture) -> None:
    @dataclass(frozen=True)
    class Frozen(Broken):
        def next_after(self, t: datetime) -> datetime | None:
            return self.answer

    with caplog.at_level(logging.ERROR, logger="barto.server.scheduling.slots"):
        assert next_slot(Frozen(stuck=T, answer=T), T, "w/s") is None
    assert [r.levelname for r in caplog.records] == ["ERROR", "CRITICAL"]


def test_passed_slots_never_repeat_even_when_the_engine_does() -> None:
    spec = Broken(stuck=T + timedelta(seconds=20), answer=T + timedelta(seconds=20))
    slots = list(slots_between(spec, T, T + timedelta(minutes=1), "w/s"))
    assert slots == [T + timedelta(seconds=s) for s in (10, 20, 30, 40, 50, 60)]
