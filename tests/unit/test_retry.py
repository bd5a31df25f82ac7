"""server.retry: which ended runs are tried again, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from barto.config.server import ScheduleDef
from barto.model import RunRecord, RunState
from barto.server.scheduling.retry import MAX_DELAY, next_attempt

SLOT = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
ENDED = SLOT + timedelta(minutes=5)


def run(state: RunState, attempt: int) -> RunRecord:
    return RunRecord(
        id=1, uuid="u", schedule="s", worker="w", slot=SLOT, attempt=attempt, trigger="schedule", state=state,
        reason=None, exit_code=1, signal=None, lines=0, created_at=SLOT, dispatched_at=None, started_at=None,
        finished_at=ENDED,
    )  # fmt: skip


SCHEDULE = ScheduleDef(name="s", cmds=["x"], cron="@daily", retries=3, retry_delay=30)


@pytest.mark.parametrize(("attempt", "delay"), [(1, 30), (2, 60), (3, 120)])
def test_each_retry_waits_twice_as_long_as_the_one_before(attempt: int, delay: int) -> None:
    retry = next_attempt(run(RunState.FAILED, attempt), SCHEDULE, ENDED)
    assert retry is not None
    assert (retry.claim.slot, retry.claim.attempt, retry.at) == (SLOT, attempt + 1, ENDED + timedelta(seconds=delay))


def test_no_retry_beyond_retries_or_for_runs_that_did_not_fail() -> None:
    assert next_attempt(run(RunState.FAILED, 4), SCHEDULE, ENDED) is None
    for state in (RunState.SUCCEEDED, RunState.CANCELLED, RunState.LOST, RunState.MISSED):
        assert next_attempt(run(state, 1), SCHEDULE, ENDED) is None
    assert next_attempt(run(RunState.TIMED_OUT, 1), SCHEDULE, ENDED) is not None


def test_the_delay_is_capped() -> None:
    slow = ScheduleDef(name="s", cmds=["x"], cron="@daily", retries=30, retry_delay=600)
    retry = next_attempt(run(RunState.FAILED, 20), slow, ENDED)
    assert retry is not None
    assert retry.at == ENDED + MAX_DELAY
