"""The scheduler on real stores (SQLite, PostgreSQL, MariaDB): claim ahead, dispatch on the slot,
account for every slot, overlap, offline queue, retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from barto.config import load_server, source
from barto.config.server import Calendars, ScheduleDef, WorkerSchedules
from barto.model import RunRecord, RunState
from barto.protocol import Cancel, Dispatch, HostInfo, Job
from barto.server.cluster.takeover import standby_view
from barto.server.gateway.hub import Hub, Session
from barto.server.scheduling.scheduler import LEAD, Scheduler, validated
from barto.store import Batch, Claim, Store
from barto.store.records import Finished as FinishedRow

pytestmark = pytest.mark.anyio

HOST = HostInfo(hostname="h", os_name="Linux", os_version="x", kernel="6", python="3.11")


def every_second(*names: str, **settings: Any) -> dict[str, WorkerSchedules]:
    schedules = [ScheduleDef(name=n, cmds=["true"], on_calendar="*:*:*", **settings) for n in names]
    return {"w": WorkerSchedules(schedules=schedules)}


async def until(check: Callable[[], Awaitable[Any]], limit: float = 5.0) -> None:
    """Wait (bounded) until the async ``check`` returns something truthy."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out after {limit} s")


def connect(hub: Hub, name: str = "w") -> Session:
    """A registered session that runs can be sent to, as after a hello."""
    session = Session(name, "0.1.0", HOST)
    assert hub.register(session)
    session.ready = True
    return session


@pytest.fixture
async def running(store: Store) -> AsyncIterator[tuple[Scheduler, Hub]]:
    hub = Hub()
    scheduler = Scheduler(store, hub)
    task = asyncio.ensure_future(scheduler.run())
    yield scheduler, hub
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_slots_are_claimed_ahead_and_sent_on_time(store: Store, running: tuple[Scheduler, Hub]) -> None:
    scheduler, hub = running
    session = connect(hub)
    scheduler.load(every_second("a", "b"), "UTC", datetime.now(UTC))
    dispatch = await asyncio.wait_for(session.outbound.get(), 5)
    received = datetime.now(UTC)
    assert isinstance(dispatch, Dispatch)
    assert sorted(job.schedule for job in dispatch.jobs) == ["a", "b"]  # one frame for the instant
    slot = dispatch.jobs[0].slot
    assert 0 <= (received - slot).total_seconds() < 0.5
    for job in dispatch.jobs:
        run = await store.run(job.run_id)
        assert run is not None
        assert run.slot == slot
        assert run.created_at <= slot  # claimed before its slot ...
        assert slot - run.created_at <= LEAD  # ... but not earlier than needed


async def test_slots_of_an_offline_worker_are_recorded_as_missed(store: Store, running: tuple[Scheduler, Hub]) -> None:
    scheduler, _ = running
    scheduler.load(every_second("a"), "UTC", datetime.now(UTC))

    async def missed() -> list[RunRecord]:
        return [r for r in await store.runs(schedule="a") if r.state is RunState.MISSED]

    await until(missed)
    (run,) = (await missed())[:1]
    assert run.reason == "worker offline"


async def test_a_pause_while_a_claim_is_in_flight_gives_that_claim_back(
    store: Store, running: tuple[Scheduler, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim of the next slot was on its way to the database when the pause came: the
    pause saw no claim to give back, the claim landed after it, and a pending run of a paused
    schedule stayed (a restart then recorded it missed, from the paused stretch; CI saw it)."""
    scheduler, hub = running
    connect(hub)
    in_flight, go_on = asyncio.Event(), asyncio.Event()
    real_claim = store.claim

    async def slow_claim(claims: list[Claim]) -> list[RunRecord]:
        in_flight.set()
        await go_on.wait()
        return await real_claim(claims)

    monkeypatch.setattr(store, "claim", slow_claim)
    scheduler.load(every_second("a"), "UTC", datetime.now(UTC))
    await asyncio.wait_for(in_flight.wait(), 5)
    entry = scheduler.find("w", "a")
    assert entry is not None
    await scheduler.pause(entry)
    go_on.set()

    async def settled() -> bool:
        return entry.claimed is None and not [r for r in await store.runs(schedule="a") if r.state is RunState.PENDING]

    await until(settled)
    await asyncio.sleep(2.5)  # past the slot it had claimed: nothing fires, nothing stays pending
    assert [r.state for r in await store.runs(schedule="a")] == []


async def test_a_schedule_removed_before_its_slot_gives_its_claim_back(
    store: Store, running: tuple[Scheduler, Hub]
) -> None:
    scheduler, hub = running
    session = connect(hub)
    scheduler.load(every_second("a"), "UTC", datetime.now(UTC))

    async def claimed() -> list[RunRecord]:
        entry = scheduler.find("w", "a")
        if entry is None or entry.claimed is None or entry.claimed.slot <= datetime.now(UTC):
            return []
        return [entry.claimed]

    await until(claimed)
    (run,) = await claimed()
    scheduler.load({}, "UTC", datetime.now(UTC))
    await until(lambda: _gone(store, run.id))
    await asyncio.sleep(max(0.0, (run.slot - datetime.now(UTC)).total_seconds()) + 0.2)
    sent = [m for m in _drain(session) if isinstance(m, Dispatch) for job in m.jobs if job.run_id == run.id]
    assert sent == []


async def _gone(store: Store, run_id: int) -> bool:
    return await store.run(run_id) is None


def _drain(session: Session) -> list[object]:
    messages: list[object] = []
    while not session.outbound.empty():
        messages.append(session.outbound.get_nowait())
    return messages


async def next_dispatch(session: Session, limit: float = 5.0) -> Dispatch:
    """The next Dispatch queued for ``session`` (other messages are passed over)."""
    async with asyncio.timeout(limit):
        while True:
            message = await session.outbound.get()
            if isinstance(message, Dispatch):
                return message


async def start_running(store: Store, run_id: int) -> None:
    """What a worker's accepted + started events do to the run."""
    now = datetime.now(UTC)
    await store.apply(Batch(accepted=[{"run_id": run_id, "at": now, "session": "s"}]))
    await store.apply(Batch(started=[{"run_id": run_id, "at": now}]))


async def first_running(store: Store, running: tuple[Scheduler, Hub], **settings: Any) -> tuple[Session, Job]:
    """Schedule "a" every second with ``settings``; its first run dispatched and running."""
    scheduler, hub = running
    session = connect(hub)
    scheduler.load(every_second("a", **settings), "UTC", datetime.now(UTC))
    first = (await next_dispatch(session)).jobs[0]
    await start_running(store, first.run_id)
    return session, first


async def test_overlap_skip_records_the_slot_as_skipped(store: Store, running: tuple[Scheduler, Hub]) -> None:
    session, first = await first_running(store, running)
    await until(lambda: store.runs(states=["skipped"]), 4)
    (skipped,) = await store.runs(states=["skipped"])
    assert (skipped.reason, skipped.slot) == ("overlap", first.slot + timedelta(seconds=1))
    assert [j for m in _drain(session) if isinstance(m, Dispatch) for j in m.jobs] == []


async def test_overlap_queue_holds_one_slot_until_the_run_ends(store: Store, running: tuple[Scheduler, Hub]) -> None:
    session, first = await first_running(store, running, overlap="queue")
    await until(lambda: store.runs(states=["skipped"]), 4)  # the second slot waits, the third is skipped
    await store.apply(finished_batch(first.run_id))
    running[0].wake()  # as ingest does after a commit with a finished run
    queued = (await next_dispatch(session, 2)).jobs[0]
    assert queued.slot == first.slot + timedelta(seconds=1)


async def test_overlap_replace_cancels_the_running_one(store: Store, running: tuple[Scheduler, Hub]) -> None:
    session, first = await first_running(store, running, overlap="replace")
    async with asyncio.timeout(4):
        while not isinstance(message := await session.outbound.get(), Cancel):
            pass
    assert message.run_id == first.run_id
    second = (await next_dispatch(session)).jobs[0]
    assert second.slot == first.slot + timedelta(seconds=1)


def finished_batch(run_id: int, state: str = "succeeded") -> Batch:
    now = datetime.now(UTC)
    row: FinishedRow = {
        "run_id": run_id,
        "state": state,
        "reason": None,
        "exit_code": 0 if state == "succeeded" else 1,
        "signal": None,
        "lines": 0,
        "started_at": now,
        "finished_at": now,
    }
    return Batch(finished=[row])


async def test_offline_queue_delivers_when_the_worker_connects(store: Store, running: tuple[Scheduler, Hub]) -> None:
    scheduler, hub = running
    scheduler.load(every_second("a", offline="queue"), "UTC", datetime.now(UTC))
    await until(lambda: _slot_passed(store), 4)  # a slot came while nobody was connected
    await asyncio.sleep(0.2)
    (held,) = [r.id for r in await store.runs() if r.slot < datetime.now(UTC)]
    session = connect(hub)
    scheduler.wake()  # as the server does once a worker's hello is settled
    dispatch = await next_dispatch(session, 2)
    assert dispatch.jobs[0].run_id == held
    assert await store.runs(states=["missed"]) == []


async def test_offline_queue_gives_up_after_the_ttl(store: Store, running: tuple[Scheduler, Hub]) -> None:
    scheduler, _ = running
    scheduler.load(every_second("a", offline="queue", queue_ttl=0.3), "UTC", datetime.now(UTC))
    await until(lambda: store.runs(states=["missed"]), 4)
    (missed, *_) = await store.runs(states=["missed"])
    assert missed.reason == "worker offline"


async def _slot_passed(store: Store) -> bool:
    return any(r.slot < datetime.now(UTC) for r in await store.runs())


async def test_a_failed_run_is_retried_as_new_attempts_of_its_slot(
    store: Store, running: tuple[Scheduler, Hub]
) -> None:
    scheduler, hub = running
    session = connect(hub)
    scheduler.load(every_second("a", retries=2, retry_delay=0.05, overlap="allow"), "UTC", datetime.now(UTC))
    first = (await next_dispatch(session)).jobs[0]
    attempts = [first]
    for _ in range(2):
        await store.apply(finished_batch(attempts[-1].run_id, "failed"))
        scheduler.ended([attempts[-1].run_id])  # as ingest does after the commit
        retry = await _next_attempt(session, first.slot)
        attempts.append(retry)
    assert [(j.slot, j.attempt) for j in attempts] == [(first.slot, 1), (first.slot, 2), (first.slot, 3)]
    await store.apply(finished_batch(attempts[-1].run_id, "failed"))
    scheduler.ended([attempts[-1].run_id])
    await asyncio.sleep(0.5)
    assert [r.attempt for r in await store.runs(schedule="a") if r.slot == first.slot] == [3, 2, 1]  # no 4th


async def test_retries_a_previous_leader_owed_are_planned_again(store: Store, running: tuple[Scheduler, Hub]) -> None:
    scheduler, hub = running
    session = connect(hub)
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    owed, done, out_of_retries = await store.claim(
        [
            Claim(schedule=name, worker="w", slot=slot, attempt=attempt)
            for name, attempt in (("a", 1), ("b", 1), ("c", 3))
        ]
    )
    (retried,) = await store.claim([Claim(schedule="b", worker="w", slot=slot, attempt=2)])
    for run in (owed, done, out_of_retries):
        await store.apply(finished_batch(run.id, "failed"))
    await store.apply(finished_batch(retried.id, "succeeded"))
    scheduler.load(every_second("a", "b", "c", retries=2, retry_delay=0.05, overlap="allow"), "UTC", datetime.now(UTC))
    await scheduler.recover_retries(datetime.now(UTC))
    job = await _next_attempt(session, slot)
    assert (job.schedule, job.attempt) == ("a", 2)  # b has its attempt 2 already; c used its retries
    await asyncio.sleep(0.3)
    assert sorted((r.schedule, r.attempt) for r in await store.runs() if r.slot == slot) == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
        ("c", 3),
    ]


async def _next_attempt(session: Session, slot: datetime) -> Job:
    """The next dispatched job of ``slot`` (the schedule's later slots pass by meanwhile)."""
    async with asyncio.timeout(3):
        while True:
            for job in (await next_dispatch(session)).jobs:
                if job.slot == slot:
                    return job


async def test_runs_wait_for_a_worker_resending_what_it_owed(store: Store, running: tuple[Scheduler, Hub]) -> None:
    """Connected, not ready (its hello said it owes events): its slots are neither sent, nor
    missed, nor judged for overlap until it is ready; then they go out, oldest first."""
    scheduler, hub = running
    session = Session("w", "0.1.0", HOST, owed=9)
    assert hub.register(session)
    scheduler.load(every_second("a"), "UTC", datetime.now(UTC))
    await until(lambda: _slot_passed(store), 4)
    await asyncio.sleep(1.2)  # a second slot passes too
    assert _drain(session) == []
    held = sorted(r.id for r in await store.runs() if r.slot < datetime.now(UTC))
    assert len(held) >= 2
    assert {r.state for r in await store.runs()} == {RunState.PENDING}
    session.ack(9)
    assert session.caught_up.is_set()
    session.ready = True  # as the worker endpoint does once caught up
    scheduler.wake()
    dispatch = await next_dispatch(session, 2)
    assert [job.run_id for job in dispatch.jobs][: len(held)] == held
    assert await store.runs(states=["missed", "skipped"]) == []


async def test_runs_held_for_a_worker_that_left_before_it_was_ready_follow_the_offline_policy(
    store: Store, running: tuple[Scheduler, Hub]
) -> None:
    scheduler, hub = running
    session = Session("w", "0.1.0", HOST, owed=9)
    assert hub.register(session)
    scheduler.load(every_second("a"), "UTC", datetime.now(UTC))  # offline = "skip": missed
    await until(lambda: _slot_passed(store), 4)
    hub.unregister(session)
    await until(lambda: store.runs(states=["missed"]), 4)
    (missed, *_) = await store.runs(states=["missed"])
    assert missed.reason == "worker offline"


async def test_slots_of_an_absent_worker_follow_its_offline_policy_not_overlap(
    store: Store, running: tuple[Scheduler, Hub]
) -> None:
    """A run held for an offline worker is not "going": the next slot is held too (queue), not
    skipped for overlap behind it, and both go out when the worker comes."""
    scheduler, hub = running
    scheduler.load(every_second("a", offline="queue"), "UTC", datetime.now(UTC))
    await until(lambda: _slots_passed(store, 2), 4)
    await asyncio.sleep(0.2)
    held = sorted(r.id for r in await store.runs() if r.slot < datetime.now(UTC))
    assert await store.runs(states=["skipped", "missed"]) == []
    session = connect(hub)
    scheduler.wake()
    sent = [job.run_id for job in (await next_dispatch(session, 2)).jobs]
    assert sent[: len(held)] == held


async def _slots_passed(store: Store, count: int) -> bool:
    return sum(r.slot < datetime.now(UTC) for r in await store.runs()) >= count


async def test_a_takeover_reuses_the_calendars_the_standby_parsed(store: Store) -> None:
    """The new term's scheduler takes the standby view's parsed calendars for unchanged
    definitions (one parse less per schedule at every takeover) and parses the changed ones."""
    now = datetime.now(UTC)
    standby = Scheduler(store, Hub())
    standby.load(every_second("a", "b"), "UTC", now)
    paris = every_second("b", timezone="Europe/Paris")["w"].schedules
    changed = {"w": WorkerSchedules(schedules=[*every_second("a")["w"].schedules, *paris])}
    leader = Scheduler(store, Hub())
    leader.load(changed, "UTC", now, parsed=standby.parsed)
    seen, fresh = standby.find("w", "a"), leader.find("w", "a")
    assert seen is not None
    assert fresh is not None
    assert fresh is not seen  # a new entry (its own state) ...
    assert fresh.spec is seen.spec  # ... with the calendar parsed once
    b_before, b_after = standby.find("w", "b"), leader.find("w", "b")
    assert b_before is not None
    assert b_after is not None
    assert b_after.spec is not b_before.spec  # its definition changed: parsed anew
    assert str(b_after.spec) != str(b_before.spec)


async def test_the_calendars_validation_parsed_are_the_ones_that_fire(store: Store, tmp_path: Path) -> None:
    """bartos parses each calendar once at start: the config's validation hands its parsed
    calendars to the first view of the schedules."""
    path = tmp_path / "bartos.toml"
    path.write_text('[schedules.w]\nschedules = [{ name = "a", on_calendar = "*:0/5", cmds = ["true"] }]\n')
    calendars: Calendars = {}
    config = load_server(source("bartos", path, {}, {}), calendars=calendars)
    ((definition, spec),) = calendars.values()
    assert str(spec) == "*-*-* *:00/5:00 UTC"
    term = await standby_view(config, store, Hub(), config.schedules, datetime.now(UTC), parsed=validated(calendars))
    entry = term.scheduler.find("w", "a")
    assert entry is not None
    assert entry.spec is spec
    assert entry.definition == definition
