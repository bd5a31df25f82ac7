"""What the leader runs, and how leadership passes from one bartos to another.

Every instance serves the same process: a standby answers ``/healthz`` and ``/v1/info``, sends
API clients to the leader and refuses workers (they try their next URL). Once it holds the
lease (``barto.server.cluster.lease``) it *takes over*: everything the previous leader kept in memory
is rebuilt from the store — schedules, pauses, the last handled slot of each schedule — the
slots claimed but never sent are recorded as missed (``server down``), the ones passed since are
caught up per policy, and the scheduler, the lost-run sweep and retention start. A fresh start
of a single server is the same takeover. When the lease is lost, the leader's work is cancelled
and its workers are disconnected, so they move to the new leader; their runs go on meanwhile
and report through their outboxes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import msgspec

from barto.config import ServerConfig
from barto.config.server import ScheduleDef, validate_schedule
from barto.rules import RQ_WORKER
from barto.server.gateway.hub import Hub
from barto.server.maintenance import cleanup
from barto.server.rq.bridge import RqBridge
from barto.server.scheduling.catalog import Catalog, Groups, Key, definition
from barto.server.scheduling.rows import schedule_rows
from barto.server.scheduling.scheduler import Parsed, Scheduler
from barto.server.scheduling.term import Term
from barto.server.state import ServerState
from barto.store import Store

log = logging.getLogger("barto.server.cluster.takeover")

_RETENTION_EVERY = 3600.0
_SWEEP_EVERY = 30.0
_END_WAIT = 10  # seconds


async def lead_forever(state: ServerState) -> None:
    """Stand by until this instance holds the lease, lead while it does; again, until cancelled."""
    leadership = state.leadership
    while True:
        await leadership.acquire()
        term = asyncio.create_task(_lead(state), name="leader")
        try:
            await leadership.hold(term)
        finally:
            _step_down(state)  # first: the workers move on even if the work is slow to stop
            failed = await _end(term)
        if failed:  # let another instance try; this one may again after a lease
            await leadership.release()
            await asyncio.sleep(state.config.lease_seconds)


async def _lead(state: ServerState) -> None:
    since = datetime.now(UTC)
    await take_over(state, since)
    state.leader_ready = True
    term = state.term  # this term's: the next takeover makes another
    log.info("leading: %d schedules", len(term.records()))
    async with asyncio.TaskGroup() as tg:
        tg.create_task(term.scheduler.run())
        tg.create_task(_retention(state))
        tg.create_task(_sweep_lost(state, since))
        tg.create_task(state.alerting.run())
        if state.config.redis:
            tg.create_task(_rq_bridge(state, term).run())
        if state.btu is not None:
            tg.create_task(state.btu.run(term, state.store))


def _rq_bridge(state: ServerState, term: Term) -> RqBridge:
    """The ``@rq`` worker of this term: it finds its schedules in the term's scheduler."""

    def definition_of(name: str) -> ScheduleDef | None:
        entry = term.scheduler.find(RQ_WORKER, name)
        return entry.definition if entry is not None else None

    return RqBridge(dict(state.config.redis), state.hub, state.ingest, state.store, definition_of)


async def _end(term: asyncio.Task[None]) -> bool:
    """Stop the leader's work and wait for it; True if it had failed on its own.

    Cancelled again every second: a database call cut short may wait in its own clean-up (a
    rollback on a link that went silent). After :data:`_END_WAIT` it is left to end on its own.
    """
    for _ in range(_END_WAIT):
        if term.done():
            break
        term.cancel()
        await asyncio.wait([term], timeout=1.0)
    if not term.done():
        log.error("the leader's work did not stop within %d s; leaving it to end on its own", _END_WAIT)
        return True
    if term.cancelled() or term.exception() is None:
        return False
    log.error("the leader's work failed; stepping down", exc_info=term.exception())
    return True


def _step_down(state: ServerState) -> None:
    state.leader_ready = False
    state.ingest.on_finished = lambda _: None  # no scheduler runs until the next term
    if count := state.hub.close_all("this server is not the leader any more"):
        log.warning("not leading any more: %d workers disconnected (they move to the leader)", count)


async def take_over(state: ServerState, now: datetime) -> None:
    """Become the scheduler: settle what the previous leader left, then rebuild its memory."""
    store, config = state.store, state.config
    await store.mark_all_disconnected(now)
    if missed := await store.server_down(now, spare=(RQ_WORKER,)):
        log.warning("%d claimed runs whose slot passed while no leader ran are recorded as missed", missed)
    await store.replace_schedules(schedule_rows(state.term.catalog.config, config.timezone))
    parsed = state.term.scheduler.parsed  # the standby's view: its calendars are parsed already
    state.term = term = await standby_view(config, store, state.hub, state.term.catalog.config, now, parsed)
    state.ingest.on_finished = term.scheduler.ended  # this term's scheduler hears of ended runs
    window = timedelta(seconds=config.catchup_window_seconds)
    await term.scheduler.catch_up(await store.last_slots(), now, config.catchup, window)
    await term.scheduler.recover_retries(now)


async def standby_view(
    config: ServerConfig, store: Store, hub: Hub, groups: Groups, now: datetime, parsed: Parsed | None = None
) -> Term:
    """The catalog and a loaded (not running) scheduler, as the store and ``groups`` say now
    (``parsed``: finds calendars parsed already)."""
    catalog = Catalog(groups, await _api_schedules(store, config))
    scheduler = Scheduler(store, hub)
    paused = await store.paused()
    scheduler.load(catalog.merged(), config.timezone, now, paused=paused, api=catalog.api_keys(), parsed=parsed)
    return Term(catalog, scheduler)


async def _api_schedules(store: Store, config: ServerConfig) -> dict[Key, ScheduleDef]:
    """The stored API schedules; one that no longer validates is skipped with an error logged."""
    found: dict[Key, ScheduleDef] = {}
    for worker, data in await store.api_schedules():
        try:
            schedule = definition(data)
            validate_schedule(schedule, worker, config.timezone, stored=True)
        except (msgspec.ValidationError, ValueError) as error:
            log.error(
                "API schedule %s of worker %s is not valid any more, skipped: %s", data.get("name"), worker, error
            )
            continue
        found[(worker, schedule.name)] = schedule
    return found


async def _retention(state: ServerState) -> None:
    """Apply the retention policy every hour (barto only cleaned up when asked)."""
    while True:
        try:
            done = await cleanup.run(state.store, cleanup.policy(state.config), datetime.now(UTC))
        except Exception:
            log.exception("retention failed; trying again in an hour")
        else:
            if done.runs:
                log.info("retention: deleted %d runs and %d output lines", done.runs, done.output_rows)
        await asyncio.sleep(_RETENTION_EVERY)


async def _sweep_lost(state: ServerState, since: datetime) -> None:
    """Runs of workers gone for ``lost_after_seconds`` (counted from ``since`` at the earliest:
    workers reconnect to a new leader only once it leads) become lost."""
    lost_after = timedelta(seconds=state.config.lost_after_seconds)
    while True:
        await asyncio.sleep(min(lost_after.total_seconds() / 4, _SWEEP_EVERY))
        now = datetime.now(UTC)
        if now - since >= lost_after and (count := await state.store.lose_absent(now - lost_after)):
            log.warning("%d runs of workers gone for %s are recorded as lost or missed", count, lost_after)
