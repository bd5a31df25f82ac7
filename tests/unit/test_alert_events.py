"""What deserves an alert (barto.server.alerting.events), as tables: pure, no clock read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from barto.config.alerts import Alert
from barto.model import ProgramEvent, RunRecord, RunState, WorkerRecord
from barto.server.alerting import events
from barto.server.alerting.channels import signature
from barto.server.alerting.watcher import backoff

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def run(run_id: int, state: RunState, *, started: float | None = None, lasted: float | None = None,
        slot_ago: float = 0.0, schedule: str = "backup", worker: str = "w1") -> RunRecord:  # fmt: skip
    started_at = NOW - timedelta(seconds=started) if started is not None else None
    finished_at = started_at + timedelta(seconds=lasted) if started_at is not None and lasted is not None else None
    return RunRecord(id=run_id, uuid=str(run_id), schedule=schedule, worker=worker,
                     slot=NOW - timedelta(seconds=slot_ago), attempt=1, trigger="schedule", state=state, reason=None,
                     exit_code=3 if state == RunState.FAILED else None, signal=None, lines=0, created_at=NOW,
                     dispatched_at=None, started_at=started_at, finished_at=finished_at)  # fmt: skip


def test_ended_runs_are_failures_misses_or_possible_recoveries() -> None:
    found = events.ended([run(1, RunState.FAILED), run(2, RunState.TIMED_OUT), run(3, RunState.LOST),
                          run(4, RunState.MISSED), run(5, RunState.SUCCEEDED), run(6, RunState.SKIPPED),
                          run(7, RunState.CANCELLED)])  # fmt: skip
    assert [(f.event, f.key) for f in found] == [
        ("failed", "failed:run:1"), ("failed", "failed:run:2"), ("failed", "failed:run:3"),
        ("missed", "missed:run:4"), ("recovered", "recovered:run:5")]  # fmt: skip
    assert "exit code 3" in found[0].message
    assert found[0].subject == "w1/backup"


def test_late_is_not_started_past_the_grace() -> None:
    unfinished = [
        run(1, RunState.PENDING, slot_ago=61),
        run(2, RunState.PENDING, slot_ago=59),
        run(3, RunState.DISPATCHED, slot_ago=120),
        run(4, RunState.RUNNING, started=100, slot_ago=120),
    ]
    assert [f.key for f in events.late(unfinished, NOW, 60)] == ["late:run:1", "late:run:3"]


@pytest.mark.parametrize(
    ("timeout", "history", "started", "stuck"),
    [
        (10.0, [], 11, True),  # past its timeout
        (10.0, [], 9, False),
        (None, [2.0] * 5, 6.1, True),  # 3 x p95 = 6 s
        (None, [2.0] * 5, 5.9, False),
        (None, [2.0] * 4, 100, False),  # too little history to judge
        (None, [0.01] * 5, 0.9, False),  # never under a second
        (None, [0.01] * 5, 1.1, True),
    ],
)
def test_stuck_is_past_the_timeout_or_far_past_the_p95(
    timeout: float | None, history: list[float], started: float, stuck: bool
) -> None:
    past = [run(10 + i, RunState.SUCCEEDED, started=500, lasted=d) for i, d in enumerate(history)]
    found = events.stuck([run(1, RunState.RUNNING, started=started)], NOW, lambda _: timeout, lambda _: past, 3.0)
    assert bool(found) == stuck


def test_offline_once_per_absence_and_back() -> None:
    def worker(name: str, seen_ago: float) -> WorkerRecord:
        return WorkerRecord(name=name, connected=False, version="1", host={}, first_seen=NOW,
                            last_seen=NOW - timedelta(seconds=seen_ago))  # fmt: skip

    found = events.offline([worker("gone", 120), worker("blip", 10), worker("back", 500)],
                           lambda name: name == "back", NOW, 60)  # fmt: skip
    assert [(f.event, f.subject) for f in found] == [("worker_offline", "gone"), ("recovered", "back")]
    # the key is the absence's (its last_seen): looking again a second later finds the same event
    again = events.offline([worker("gone", 120)], lambda _: False, NOW + timedelta(seconds=1), 60)
    assert again[0].key == found[0].key


def test_programs_fatal_and_running_again() -> None:
    def event(eid: int, state: str) -> ProgramEvent:
        return ProgramEvent(id=eid, worker="w1", name="web", program="web", state=state, previous="STARTING", at=NOW,
                            pid=None, description="", exit_status=None, suppressed=0)  # fmt: skip

    found = events.programs([event(1, "FATAL"), event(2, "BACKOFF"), event(3, "RUNNING")])
    assert [(f.event, f.key, f.subject) for f in found] == [
        ("program_fatal", "program_fatal:1", "w1/web"), ("recovered", "recovered:program:3", "w1/web")]  # fmt: skip


def test_an_alert_concerns_its_events_workers_and_schedules_by_glob() -> None:
    alert = msgspec.convert({"on": ["failed"], "schedules": ["back*"], "workers": ["w?"], "command": ["true"]}, Alert)
    failed = events.ended([run(1, RunState.FAILED)])[0]
    assert events.concerns(alert, failed)
    assert not events.concerns(alert, events.ended([run(2, RunState.FAILED, schedule="report")])[0])
    assert not events.concerns(alert, events.ended([run(3, RunState.FAILED, worker="w10")])[0])
    assert not events.concerns(alert, events.ended([run(4, RunState.MISSED)])[0])


def test_signature_is_githubs_convention() -> None:
    # echo -n '{"a":1}' | openssl dgst -sha256 -hmac secret
    expected = "aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
    assert signature("secret", b'{"a":1}') == f"sha256={expected}"


def test_backoff_doubles_up_to_ten_minutes() -> None:
    assert [backoff(n).total_seconds() for n in (0, 1, 2, 3, 7, 20)] == [5, 10, 20, 40, 600, 600]
