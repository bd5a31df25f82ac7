"""The store on real databases: slot claims, idempotent ingest, retention, the read-only query.

Every test runs on SQLite, PostgreSQL and MariaDB, each time in a database of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from barto.model import ProgramEvent, Reason, RunState
from barto.store import Batch, Claim, Retention, ScheduleRow, Store
from barto.store.alerts import NewAlert
from barto.store.readonly import NotASelectError, check_select

pytestmark = pytest.mark.anyio

SLOT = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)
SESSION = "5f0c7a52-0000-4000-8000-000000000000"


async def claim_one(store: Store, schedule: str = "s", slot: datetime = SLOT) -> int:
    (run,) = await store.claim([Claim(schedule=schedule, worker="w", slot=slot)])
    return run.id


def finished(run_id: int, exit_code: int = 0, lines: int = 0) -> Batch:
    now = datetime.now(UTC)
    state = "succeeded" if exit_code == 0 else "failed"
    row = {"run_id": run_id, "state": state, "reason": None, "exit_code": exit_code, "signal": None}
    return Batch(finished=[{**row, "lines": lines, "started_at": now, "finished_at": now}])  # type: ignore[typeddict-item]


async def test_a_slot_is_claimed_once(store: Store) -> None:
    first = await store.claim([Claim(schedule="s", worker="w", slot=SLOT)])
    again = await store.claim([Claim(schedule="s", worker="w", slot=SLOT), Claim(schedule="t", worker="w", slot=SLOT)])
    retry = await store.claim([Claim(schedule="s", worker="w", slot=SLOT, attempt=2)])
    assert [r.schedule for r in first] == ["s"]
    assert [r.schedule for r in again] == ["t"]  # s at SLOT was taken; only t is new
    assert [(r.schedule, r.attempt) for r in retry] == [("s", 2)]
    assert first[0].slot == SLOT  # microseconds and the zone survive the round trip
    assert first[0].state is RunState.PENDING


async def test_resent_output_is_stored_once(store: Store) -> None:
    run_id = await claim_one(store)
    now = datetime.now(UTC)
    chunk = (run_id, 1, "stdout", now, ["a", "b", "c"], [0, 0, 0])
    await store.apply(Batch(lines=[chunk]))
    await store.apply(Batch(lines=[chunk, (run_id, 3, "stdout", now, ["c", "d"], [0, 0])]))  # overlaps: resent 3
    assert [(line.seq, line.data) for line in await store.output(run_id)] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert [line.seq for line in await store.output(run_id, after=2, limit=1)] == [3]
    assert (await store.output(run_id))[0].ts == now


async def test_a_run_id_is_never_given_twice(store: Store) -> None:
    """Deleting the newest runs (clients forget --with-runs) must not hand their ids out again:
    SQLite without AUTOINCREMENT took the largest id left plus one."""
    first, newest = await claim_one(store), await claim_one(store, slot=SLOT + timedelta(minutes=1))
    async for _ in store.delete_runs([newest]):
        pass
    later = await claim_one(store, slot=SLOT + timedelta(minutes=2))
    assert later > newest > first
    assert await store.run(first) is not None


async def test_runs_page_by_the_last_run_seen_and_filter_by_slot_time(store: Store) -> None:
    """Keyset pages: each page starts after the previous page's last run, in (slot, id) order,
    ties on the slot included (two schedules firing at the same second)."""
    slots = [SLOT + timedelta(minutes=m) for m in (0, 1, 1, 2, 3)]
    ids = [await claim_one(store, schedule=f"s{i}", slot=slot) for i, slot in enumerate(slots)]
    newest_first = [ids[4], ids[3], ids[2], ids[1], ids[0]]
    pages, before = [], None
    for _ in range(5):
        page = [run.id for run in await store.runs(limit=2, before=before)]
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    window = await store.runs(since=SLOT + timedelta(minutes=1), until=SLOT + timedelta(minutes=2))
    assert [run.id for run in window] == [ids[3], ids[2], ids[1]]
    assert await store.runs(before=10**12) == []


async def test_slots_are_counted_by_worker_minute_and_state_in_the_database(store: Store) -> None:
    start = SLOT.replace(second=0, microsecond=0)
    at = [
        start,
        start + timedelta(seconds=59.999),
        start + timedelta(minutes=2, seconds=1),
        start - timedelta(seconds=1),
    ]
    for i, slot in enumerate(at):
        await store.claim([Claim(schedule=f"s{i}", worker="w", slot=slot)])
    await store.claim([Claim(schedule="m", worker="v", slot=start + timedelta(minutes=2), state=RunState.MISSED,
                             reason=Reason.WORKER_OFFLINE)])  # fmt: skip
    counted = sorted(await store.slot_counts(start, start + timedelta(minutes=3)))
    assert counted == [("v", 2, "missed", 1), ("w", 0, "pending", 2), ("w", 2, "pending", 1)]


async def test_run_lifecycle_and_a_late_result(store: Store) -> None:
    run_id = await claim_one(store)
    now = datetime.now(UTC)
    await store.apply(Batch(accepted=[{"run_id": run_id, "at": now, "session": SESSION}]))
    assert (await store.run(run_id)).state is RunState.DISPATCHED  # type: ignore[union-attr]
    await store.apply(Batch(started=[{"run_id": run_id, "at": now}]))
    await store.apply(Batch(accepted=[{"run_id": run_id, "at": now, "session": SESSION}]))  # resent: no step back
    assert (await store.run(run_id)).state is RunState.RUNNING  # type: ignore[union-attr]
    await store.apply(finished(run_id, exit_code=3, lines=2))
    run = await store.run(run_id)
    assert run is not None
    assert (run.state, run.exit_code, run.lines) == (RunState.FAILED, 3, 2)
    assert [r.id for r in await store.failed()] == [run_id]


async def test_release_and_miss_touch_only_pending_runs(store: Store) -> None:
    pending, dispatched = await claim_one(store, "a"), await claim_one(store, "b")
    await store.apply(Batch(accepted=[{"run_id": dispatched, "at": datetime.now(UTC), "session": SESSION}]))
    await store.release([pending, dispatched])
    assert await store.run(pending) is None
    assert (await store.run(dispatched)).state is RunState.DISPATCHED  # type: ignore[union-attr]
    offline = await claim_one(store, "c")
    await store.miss([offline, dispatched], Reason.WORKER_OFFLINE)
    missed = await store.run(offline)
    assert missed is not None
    assert (missed.state, missed.reason) == (RunState.MISSED, "worker offline")
    assert missed.finished_at is not None
    assert (await store.run(dispatched)).state is RunState.DISPATCHED  # type: ignore[union-attr]


async def test_a_claimed_slot_never_sent_is_found_for_adoption_and_only_while_unsent(store: Store) -> None:
    now = datetime.now(UTC)
    unsent, sent = await claim_one(store, "a", now), await claim_one(store, "b", now)
    await store.miss([sent], Reason.WORKER_OFFLINE)
    claims = [Claim(schedule=name, worker="w", slot=now) for name in ("a", "b", "c")]
    assert [run.schedule for run in await store.claim(claims)] == ["c"]
    assert [run.id for run in await store.unsent(claims[:2])] == [unsent]
    manual = Claim(schedule="a", worker="w", slot=now + timedelta(seconds=1), trigger="manual")
    assert len(await store.claim([manual])) == 1
    assert await store.unsent([manual]) == []  # only scheduled slots are adopted


async def ended(store: Store, schedule: str, state: str, ago: timedelta, slot_offset: int = 0) -> int:
    """A run of ``schedule`` that ended ``ago`` in ``state``."""
    run_id = await claim_one(store, schedule, SLOT + timedelta(minutes=slot_offset))
    at = datetime.now(UTC) - ago
    row = {"run_id": run_id, "state": state, "reason": None, "exit_code": 0, "signal": None, "lines": 0}
    await store.apply(Batch(finished=[{**row, "started_at": at, "finished_at": at}]))  # type: ignore[typeddict-item]
    return run_id


async def test_retention_by_age_keeps_failures_longer_and_never_touches_running_runs(store: Store) -> None:
    day = timedelta(days=1)
    old_ok = await ended(store, "a", "succeeded", 10 * day)
    old_missed = await ended(store, "a", "missed", 10 * day, 1)
    old_failure = await ended(store, "a", "failed", 10 * day, 2)
    older_failure = await ended(store, "a", "timed_out", 50 * day, 3)
    young_ok = await ended(store, "a", "succeeded", day / 2, 4)
    going = await claim_one(store, "a", SLOT + timedelta(minutes=5))
    policy = Retention(max_age=7 * day, max_age_failed=28 * day)
    assert await store.expired(policy, datetime.now(UTC)) == [old_ok, old_missed, older_failure]
    assert {old_failure, young_ok, going}.isdisjoint(await store.expired(policy, datetime.now(UTC)))


async def test_retention_by_count_keeps_the_newest_per_schedule_and_class(store: Store) -> None:
    oks = [await ended(store, "a", "succeeded", timedelta(0), i) for i in range(5)]
    failures = [await ended(store, "a", "failed", timedelta(0), 10 + i) for i in range(5)]
    other = [await ended(store, "b", "succeeded", timedelta(0), i) for i in range(2)]
    policy = Retention(keep=2, keep_failed=4)
    assert await store.expired(policy, datetime.now(UTC)) == oks[:3] + failures[:1]
    assert set(other).isdisjoint(await store.expired(policy, datetime.now(UTC)))


async def test_deleting_runs_takes_their_output_and_reports_progress(store: Store) -> None:
    old = await ended(store, "old", "succeeded", timedelta(days=40))
    await store.apply(Batch(lines=[(old, 1, "stdout", datetime.now(UTC), ["x"] * 10, [0] * 10)]))
    new = await claim_one(store, "new", SLOT + timedelta(seconds=1))
    await store.apply(Batch(lines=[(new, 1, "stdout", datetime.now(UTC), ["y"], [0])]))
    ids = await store.expired(Retention(max_age=timedelta(days=30)), datetime.now(UTC))
    assert [step async for step in store.delete_runs(ids)] == [(1, 10)]
    assert await store.run(old) is None
    assert await store.output(old) == []
    assert [line.data for line in await store.output(new)] == ["y"]


async def test_barto_views_answer_barto_queries(store: Store) -> None:
    run_id = await claim_one(store, "backup")
    now = datetime.now(UTC)
    await store.apply(Batch(accepted=[{"run_id": run_id, "at": now, "session": SESSION}]))
    await store.apply(Batch(lines=[(run_id, 1, "stdout", now, ["done"], [0])]))
    await store.apply(finished(run_id, lines=1))
    found = await store.query(
        "SELECT output.bartoc_name, output.cmd_name, output.data, exit_status.exit_code, exit_status.success "
        "FROM output RIGHT JOIN exit_status ON exit_status.cmd_uuid = output.cmd_uuid WHERE output.bartoc_name = 'w'"
    )
    assert found.columns == ["bartoc_name", "cmd_name", "data", "exit_code", "success"]
    assert found.rows == [["w", "backup", "done", 0, 1]]


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("", "empty"),
        ("DELETE FROM runs", "only SELECT"),
        ("select 1; drop table runs", "one statement"),
        ("WITH x AS (DELETE FROM runs RETURNING id) SELECT * FROM x", "DELETE"),
        ("SELECT * INTO OUTFILE '/tmp/x' FROM runs", "INTO"),
        ("PRAGMA writable_schema = 1", "only SELECT"),
    ],
)
def test_the_query_gate_refuses_anything_but_one_select(sql: str, why: str) -> None:
    with pytest.raises(NotASelectError, match=why):
        check_select(sql)


def test_the_query_gate_ignores_words_in_strings_and_comments() -> None:
    sql = "SELECT data FROM output WHERE data = 'please delete; me' -- drop it\n;"
    assert check_select(sql) == "SELECT data FROM output WHERE data = 'please delete; me' -- drop it"


async def accept(store: Store, *run_ids: int, start: bool = False) -> None:
    now = datetime.now(UTC)
    await store.apply(Batch(accepted=[{"run_id": i, "at": now, "session": SESSION} for i in run_ids]))
    if start:
        await store.apply(Batch(started=[{"run_id": i, "at": now} for i in run_ids]))


async def states(store: Store, *run_ids: int) -> list[tuple[str, str | None]]:
    runs = [await store.run(i) for i in run_ids]
    return [(r.state.value, r.reason) for r in runs if r is not None]


async def test_reconcile_settles_what_the_worker_does_not_know(store: Store) -> None:
    known, forgotten, never_sent, unaccepted, other = [
        await claim_one(store, name) for name in ("known", "forgotten", "never", "unaccepted", "other")
    ]
    await accept(store, known, start=True)
    await accept(store, forgotten)
    (elsewhere,) = await store.claim([Claim(schedule="x", worker="w2", slot=SLOT)])
    await accept(store, elsewhere.id)
    lost, missed = await store.reconcile("w", [known, unaccepted], {never_sent, unaccepted})
    assert (lost, missed) == (1, 1)
    assert await states(store, known, forgotten, never_sent, unaccepted, other, elsewhere.id) == [
        ("running", None),
        ("lost", "the worker no longer has this run"),
        ("missed", "dispatch not received"),
        ("pending", None),  # the worker has it: its Accepted is on the way
        ("pending", None),  # never sent to this worker: not reconcile's business
        ("dispatched", None),  # another worker's
    ]


async def test_runs_of_a_worker_gone_past_the_cutoff_are_lost(store: Store) -> None:
    host = {"hostname": "h"}
    await store.worker_connected("w", "0.1", host, SESSION)
    await store.worker_connected("here", "0.1", host, SESSION)
    await store.worker_disconnected("w", SESSION)
    running, waiting = await claim_one(store, "a"), await claim_one(store, "b")
    (present,) = await store.claim([Claim(schedule="c", worker="here", slot=SLOT)])
    await accept(store, running, present.id, start=True)
    assert await store.lose_absent(datetime.now(UTC) - timedelta(minutes=1)) == 0  # gone only just now
    assert await store.lose_absent(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert await states(store, running, waiting, present.id) == [
        ("lost", "worker did not come back"),
        ("missed", "worker offline"),
        ("running", None),  # its worker is connected
    ]


async def test_server_down_misses_claims_whose_slot_passed(store: Store) -> None:
    now = datetime.now(UTC)
    passed, future = (
        await claim_one(store, "a", now - timedelta(seconds=5)),
        await claim_one(store, "b", now + timedelta(1)),
    )
    assert await store.server_down(now) == 1
    assert await states(store, passed, future) == [("missed", "server down"), ("pending", None)]
    await store.apply(finished(passed, lines=0))  # the worker had it after all: a late result wins
    assert await states(store, passed) == [("succeeded", None)]


async def test_last_slots_are_per_worker_and_schedule_and_ignore_manual_runs(store: Store) -> None:
    later = SLOT + timedelta(minutes=1)
    await store.claim([Claim(schedule="a", worker="w", slot=SLOT), Claim(schedule="a", worker="w", slot=later)])
    await store.claim([Claim(schedule="a", worker="w", slot=later + timedelta(hours=1), trigger="manual")])
    await store.claim([Claim(schedule="a", worker="v", slot=SLOT)])
    assert await store.last_slots() == {("w", "a"): later, ("v", "a"): SLOT}


async def test_cancel_pending_and_a_finish_without_a_line_count(store: Store) -> None:
    waiting, interrupted = await claim_one(store, "a"), await claim_one(store, "b")
    await store.settle_pending([waiting], RunState.CANCELLED, Reason.CANCELLED)
    assert await states(store, waiting) == [("cancelled", "cancelled")]
    now = datetime.now(UTC)
    await store.apply(Batch(lines=[(interrupted, 1, "stdout", now, ["x", "y", "z"], [0, 0, 0])]))
    await store.apply(finished(interrupted, lines=None))  # type: ignore[arg-type]
    run = await store.run(interrupted)
    assert run is not None
    assert run.lines == 3  # counted from what was stored


async def test_any_exit_code_and_a_signal_death_are_stored(store: Store) -> None:
    big, killed = await claim_one(store, "big"), await claim_one(store, "killed")
    now = datetime.now(UTC)
    rows = [
        {"run_id": big, "state": "failed", "reason": None, "exit_code": 3_221_225_477, "signal": None, "lines": 0},
        {
            "run_id": killed,
            "state": "failed",
            "reason": "killed by signal 9",
            "exit_code": None,
            "signal": 9,
            "lines": 0,
        },
    ]
    await store.apply(Batch(finished=[{**r, "started_at": now, "finished_at": now} for r in rows]))  # type: ignore[typeddict-item]
    stored = {r.id: (r.exit_code, r.signal) for r in await store.runs()}
    assert stored == {big: (3_221_225_477, None), killed: (None, 9)}  # a Windows NTSTATUS needs 64 bits


async def test_api_schedules_are_kept_and_a_config_name_displaces_them(store: Store) -> None:
    def row(name: str, source: str) -> ScheduleRow:
        return ScheduleRow(
            worker="w", name=name, calendar="hourly", timezone="UTC", cmds=["true"], env={}, cwd=None,
            timeout_seconds=None, enabled=True, source=source,
        )  # fmt: skip

    await store.put_api_schedule(row("mine", "api"), {"name": "mine", "cmds": ["true"], "on_calendar": "hourly"})
    await store.put_api_schedule(row("other", "api"), {"name": "other", "cmds": ["x"], "cron": "@daily"})
    await store.put_api_schedule(row("mine", "api"), {"name": "mine", "cmds": ["echo 2"], "on_calendar": "hourly"})
    assert await store.api_schedules() == [
        ("w", {"name": "other", "cmds": ["x"], "cron": "@daily"}),
        ("w", {"name": "mine", "cmds": ["echo 2"], "on_calendar": "hourly"}),  # replaced, not doubled
    ]
    await store.replace_schedules([row("mine", "config")])  # the file now defines "mine"
    assert [d["name"] for _, d in await store.api_schedules()] == ["other"]
    assert await store.delete_api_schedule("w", "other")
    assert not await store.delete_api_schedule("w", "other")
    assert await store.api_schedules() == []


def program_event(worker: str, name: str, state: str, at: datetime) -> ProgramEvent:
    return ProgramEvent(
        worker=worker,
        name=name,
        program=name.split("_")[0],
        state=state,
        previous="STARTING",
        at=at,
        pid=4242,
        description="",
        exit_status=None,
        suppressed=0,
    )


async def test_program_events_are_stored_queried_newest_last_and_forgotten_by_age(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=123456)
    rows = [
        program_event("w1", "web_00", "RUNNING", now - timedelta(days=40)),
        program_event("w1", "web_01", "RUNNING", now - timedelta(seconds=2)),
        program_event("w2", "db", "FATAL", now - timedelta(seconds=1)),
        program_event("w1", "web_00", "EXITED", now),
    ]
    await store.apply(Batch(program_events=rows))
    every = await store.program_events(None, None, 10)
    assert [(e.worker, e.name, e.state) for e in every] == [
        ("w1", "web_00", "RUNNING"),
        ("w1", "web_01", "RUNNING"),
        ("w2", "db", "FATAL"),
        ("w1", "web_00", "EXITED"),
    ]
    assert every[-1].at == now  # sub-second precision, UTC
    assert [e.name for e in await store.program_events("w1", "web", 2)] == ["web_01", "web_00"]  # a program's
    assert [e.state for e in await store.program_events(None, "db", 10)] == ["FATAL"]
    assert await store.forget_program_events(now - timedelta(days=30)) == 1
    assert len(await store.program_events(None, None, 10)) == 3


async def test_alerts_of_one_subject_found_in_one_look_are_throttled_but_the_first(store: Store) -> None:
    """Three failures of one schedule that end within one look of the watcher: the first is
    sent, the others wait for the throttle window (they were all sent when the rows of one look
    could not see each other)."""
    new = [NewAlert(alert="ops", channel="webhook", key=f"failed:run:{i}", event="failed", subject="w/s", payload="{}")
           for i in (1, 2, 3)]  # fmt: skip
    assert await store.alerts.record(new, SLOT, {"ops": 60.0}) == 3
    assert sorted(r.state for r in await store.alerts.recent(10)) == ["pending", "throttled", "throttled"]
    assert await store.alerts.record(new, SLOT, {"ops": 60.0}) == 0  # found again: nothing new
    later = [NewAlert(alert="ops", channel="webhook", key="failed:run:4", event="failed", subject="w/s", payload="{}")]
    await store.alerts.record(later, SLOT + timedelta(seconds=61), {"ops": 60.0})
    newest = (await store.alerts.recent(1))[0]
    assert (newest.state, newest.suppressed) == ("pending", 2)


async def test_forty_thousand_runs_are_claimed_missed_and_released_in_bounded_statements(store: Store) -> None:
    """The busy boundary of issue 21: hundreds of thousands of slots for offline workers were
    marked missed in one UPDATE ... IN (every id); SQLite refused it (more than 32,766
    variables), and PostgreSQL refuses more than 65,535 parameters."""
    claims = [Claim(schedule=f"s{i}", worker="w", slot=SLOT) for i in range(40_000)]
    claimed = await store.claim(claims)
    assert len(claimed) == 40_000
    ids = [run.id for run in claimed]
    assert len(await store.runs_by_id(ids)) == 40_000
    assert len(await store.run_workers(ids)) == 40_000
    await store.miss(ids[:32_768], Reason.WORKER_OFFLINE)
    await store.release(ids[32_768:])
    assert await store.unfinished() == {"pending": 0, "dispatched": 0, "running": 0}
    assert store.ended[(RunState.MISSED.value, Reason.WORKER_OFFLINE.value)] == 32_768
    assert len(await store.runs(states=["missed"], limit=100_000)) == 32_768  # the rest were released
