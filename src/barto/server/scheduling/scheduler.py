"""The scheduler: claim each slot shortly before it is due, dispatch it on the second.

It never polls: each schedule's next slot comes from ``barto.calendar``, and the loop sleeps
until the next thing to do (at most :data:`_MAX_SLEEP` at a time, so that a wall-clock step is
noticed). A slot is claimed — its run row inserted, UNIQUE on (schedule, worker, slot,
attempt) — up to :data:`LEAD` before it is due, so that at the slot itself only an already
claimed run is sent: dispatch latency does not grow with the number of schedules due at once.
A claimed slot whose worker is not connected when it comes due is recorded as ``missed``
(reason ``worker offline``) instead of vanishing. The next slot is computed from the one just
handled, so a late wake-up still handles every slot in between.

At start-up, :meth:`Scheduler.catch_up` accounts for the slots that passed while no server ran
(see ``catchup``); the ones to run late wait for their worker to connect, up to
:data:`CATCHUP_GRACE`, since workers reconnect only after the server is back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import msgspec

from barto.calendar import Spec
from barto.config.common import parse_signal
from barto.config.server import Calendars, Catchup, ScheduleDef, WorkerSchedules
from barto.model import Reason, RunRecord, RunState, ScheduleRecord
from barto.protocol import Job
from barto.server.gateway.hub import Hub
from barto.server.scheduling.catchup import claims as catchup_claims
from barto.server.scheduling.catchup import split
from barto.server.scheduling.decide import Link, Miss, Send, Wait, decide
from barto.server.scheduling.overlap import Overlaps
from barto.server.scheduling.retry import Retries
from barto.server.scheduling.slots import next_slot, slots_between
from barto.store import Claim, Store

log = logging.getLogger("barto.server.scheduling.scheduler")

LEAD = timedelta(seconds=2)
BACKFILL_MAX = 10_000
CATCHUP_GRACE = timedelta(seconds=60)
_MAX_SLEEP = 30.0
_CLAIM_BATCH = 5_000
_SLICE = 0.002  # seconds of next-slot computation (~50 us each) between yields to the event loop
_Key = tuple[str, str]  # (worker, schedule name)
# Finds a calendar already parsed for (worker, definition), or None.
Parsed = Callable[[str, ScheduleDef], Spec | None]


class Entry(msgspec.Struct, kw_only=True):
    """A live schedule, its next slot, and that slot's run once claimed."""

    worker: str
    definition: ScheduleDef
    spec: Spec
    timezone: str
    next_fire: datetime | None
    claimed: RunRecord | None = None

    @property
    def key(self) -> _Key:
        return (self.worker, self.definition.name)

    @property
    def label(self) -> str:
        """``worker/name``, how logs name the schedule."""
        return f"{self.worker}/{self.definition.name}"

    def wake_at(self) -> datetime | None:
        """When this entry next needs the loop: its slot if claimed, else the claim time."""
        if self.next_fire is None:
            return None
        return self.next_fire if self.claimed is not None else self.next_fire - LEAD

    def is_due(self, now: datetime) -> bool:
        """Its slot is claimed and has come."""
        return self.claimed is not None and self.claimed.slot <= now

    def claim_due(self, now: datetime) -> Claim | None:
        """The claim for its next slot, when that slot is unclaimed and within :data:`LEAD`."""
        if self.claimed is not None or self.next_fire is None or self.next_fire - LEAD > now:
            return None
        return Claim(schedule=self.definition.name, worker=self.worker, slot=self.next_fire)

    def take(self) -> RunRecord:
        """The claimed run, which from now on is the caller's to dispatch or give back."""
        assert self.claimed is not None  # only claimed entries are taken
        run, self.claimed = self.claimed, None
        return run

    def advance(self) -> None:
        """Move on to the slot after the current one."""
        assert self.next_fire is not None  # only entries with a slot are advanced
        self.next_fire = next_slot(self.spec, self.next_fire, self.label)


class Waiting(msgspec.Struct, frozen=True, kw_only=True):
    """A claimed run held until its worker is ready, or until ``expires`` (then missed)."""

    run: RunRecord
    definition: ScheduleDef
    expires: datetime
    settling: bool = False  # its worker was connected but not ready yet; if it leaves, offline applies


@functools.lru_cache(maxsize=65_536)
def _normalized(spec: Spec) -> str:
    """A calendar's normalized form, built once per calendar (specs are values; 10,000 schedules
    share a few calendars, and formatting one is most of what listing a schedule costs)."""
    return str(spec)


class Scheduler:
    """Owns the live schedule set and the claim/fire loop."""

    def __init__(self, store: Store, hub: Hub, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._hub = hub
        self._clock = clock  # aware UTC "now": the only clock the scheduler reads
        self._entries: dict[_Key, Entry] = {}
        self._orphans: list[Entry] = []  # claimed and due under a config that was replaced since
        self._released: list[int] = []  # claimed runs of slots the new config does not have
        self._waiting: list[Waiting] = []
        self._paused: set[_Key] = set()
        self._api: frozenset[_Key] = frozenset()
        self._retries = Retries(store, self._definition)
        self._overlaps = Overlaps(store, hub)
        self._changed = asyncio.Event()

    def wake(self) -> None:
        """Look again now (a worker connected, the config changed)."""
        self._changed.set()

    def ended(self, run_ids: list[int]) -> None:
        """These runs ended (their results are committed): queued slots and retries may follow."""
        self._retries.ended(run_ids)
        self._changed.set()

    async def recover_retries(self, now: datetime) -> None:
        """Plan the retries a previous leader (or process) owed; see :meth:`Retries.recover`."""
        if owed := await self._retries.recover(now):
            log.warning("%d retries owed by the previous leader are planned again", owed)
            self._changed.set()

    def _definition(self, worker: str, name: str) -> ScheduleDef | None:
        entry = self._entries.get((worker, name))
        return None if entry is None else entry.definition

    def load(
        self,
        groups: Mapping[str, WorkerSchedules],
        default_tz: str,
        now: datetime,
        paused: set[_Key] | None = None,
        api: frozenset[_Key] = frozenset(),
        parsed: Parsed | None = None,
    ) -> None:
        """Replace the live set. Unchanged schedules keep their state; new ones start after now.

        ``paused`` (at start-up, from the store) are the schedules an operator paused; ``api``
        those added through the API (the rest come from the config file). ``parsed`` finds a
        calendar parsed already (by the config's validation, by the standby's view), so that an
        unchanged one is not parsed again.
        """
        if paused is not None:
            self._paused = set(paused)
        self._api = api
        entries: dict[_Key, Entry] = {}
        for worker, group in groups.items():
            for definition in group.schedules:
                key = (worker, definition.name)
                old = self._entries.get(key)
                if old is not None and old.definition == definition:
                    entries[key] = old
                    continue
                spec = parsed(worker, definition) if parsed is not None else None
                entries[key] = _entry(worker, definition, default_tz, now, key in self._paused, spec)
        previous, self._entries = self._entries, entries
        for entry in previous.values():
            self._drop_if_replaced(entry, now)
        self._changed.set()

    def _drop_if_replaced(self, entry: Entry, now: datetime) -> None:
        """A replaced entry's claim still fires if already due, else is given back."""
        if entry.claimed is None or self._entries.get(entry.key) is entry:
            return
        if entry.is_due(now):
            self._orphans.append(entry)
        else:
            self._released.append(entry.take().id)

    def parsed(self, worker: str, definition: ScheduleDef) -> Spec | None:
        """The calendar of ``definition`` if this scheduler holds it already (a :data:`Parsed`)."""
        entry = self._entries.get((worker, definition.name))
        return entry.spec if entry is not None and entry.definition == definition else None

    def now(self) -> datetime:
        """The scheduler's clock."""
        return self._clock()

    def held(self) -> int:
        """Claimed runs held for a worker that is not connected (yet)."""
        return len(self._waiting)

    def firing(self) -> list[Entry]:
        """The live schedules that fire (enabled, not paused), by worker and name."""
        return [e for _, e in sorted(self._entries.items()) if e.definition.enabled and e.key not in self._paused]

    def find(self, worker: str, name: str) -> Entry | None:
        """The live schedule ``name`` of ``worker``."""
        return self._entries.get((worker, name))

    def records(self) -> list[ScheduleRecord]:
        """The live set with next fire times, by worker and name."""
        return [self.record(e) for _, e in sorted(self._entries.items())]

    def page(self, worker: str | None, offset: int, limit: int) -> tuple[int, list[ScheduleRecord]]:
        """How many live schedules there are (of ``worker``), and the records of one page of
        them by worker and name (only those are built)."""
        keys = sorted(k for k in self._entries if worker is None or k[0] == worker)
        return len(keys), [self.record(self._entries[k]) for k in keys[offset : offset + limit]]

    def record(self, e: Entry) -> ScheduleRecord:
        """One live schedule as the API shows it."""
        return ScheduleRecord(
            worker=e.worker,
            name=e.definition.name,
            calendar=e.definition.expression,
            normalized=_normalized(e.spec),
            timezone=e.timezone,
            cmds=e.definition.cmds,
            enabled=e.definition.enabled,
            source="api" if e.key in self._api else "config",
            next_fire=e.next_fire,
            paused=e.key in self._paused,
        )

    def count(self) -> int:
        """How many live schedules there are."""
        return len(self._entries)

    async def run(self) -> None:
        """Claim and fire slots until cancelled."""
        while True:
            self._changed.clear()  # here, not in _sleep: a wake() during _step must not be lost
            now = self._clock()
            if not await self._step(now):
                await self._sleep(now)

    async def catch_up(self, last: Mapping[_Key, datetime], now: datetime, default: Catchup, window: timedelta) -> None:
        """Account for every slot after ``last`` (per schedule) up to ``now``, per catch-up policy."""
        claims: list[Claim] = []
        for entry in self._entries.values():
            if entry.key not in last or entry.next_fire is None:  # disabled, paused, or never again
                continue
            slots = await self._slots_between(entry, last[entry.key], now, cap=None)
            late, missed = split(slots, entry.definition.catchup_policy(default), now, window)
            claims += catchup_claims(entry.worker, entry.definition.name, late, missed)
            await asyncio.sleep(0)
        for start in range(0, len(claims), _CLAIM_BATCH):
            for run in await self._store.claim(claims[start : start + _CLAIM_BATCH]):
                if run.state == RunState.PENDING:
                    definition = self._entries[(run.worker, run.schedule)].definition
                    self._waiting.append(Waiting(run=run, definition=definition, expires=now + CATCHUP_GRACE))
        if claims:
            log.warning("catch-up: %d slots passed while no server ran, %d run late", len(claims), len(self._waiting))
        self._changed.set()

    async def _step(self, now: datetime) -> bool:
        """Do the most urgent thing due at ``now``; False when nothing is."""
        if self._waiting and await self._deliver_waiting(now):
            return True
        if self._retries.busy(now):
            await self._dispatch(await self._retries.due(now))
            return True
        if queued := await self._overlaps.release():
            await self._dispatch(queued)
            return True
        if self._released:
            released, self._released = self._released, []
            await self._store.release(released)
            return True
        due = [e for e in self._entries.values() if e.is_due(now)]
        if due or self._orphans:
            due, self._orphans = due + self._orphans, []
            await self._fire(due)
            return True
        claims = [(e, c) for e in self._entries.values() if (c := e.claim_due(now)) is not None]
        if claims:
            await self._claim(claims, now)
            return True
        return False

    async def pause(self, entry: Entry) -> None:
        """Stop firing ``entry`` until resumed; its claimed slot, if any, is given back."""
        self._paused.add(entry.key)
        await self._store.set_paused(entry.worker, entry.definition.name, True)
        if entry.claimed is not None:
            await self._store.release([entry.take().id])
        entry.next_fire = None
        self._changed.set()

    async def resume(self, entry: Entry) -> None:
        """Fire ``entry`` again from its next slot; the slots passed while paused are not made up."""
        self._paused.discard(entry.key)
        await self._store.set_paused(entry.worker, entry.definition.name, False)
        if entry.next_fire is None and entry.definition.enabled:
            entry.next_fire = next_slot(entry.spec, self._clock(), entry.label)
        self._changed.set()

    async def run_now(self, entry: Entry, *, force: bool) -> RunRecord:
        """A manual run of ``entry`` now; it follows the schedule's overlap policy unless ``force``."""
        claim = Claim(schedule=entry.definition.name, worker=entry.worker, slot=self._clock(), trigger="manual")
        (run,) = await self._store.claim([claim])
        pairs = [(run, entry.definition)]
        await self._dispatch(pairs if force else await self._admit(pairs))
        return await self._store.run(run.id) or run

    async def backfill(self, entry: Entry, start: datetime, end: datetime) -> list[RunRecord]:
        """Runs for the slots of ``entry`` in [start, end] that have not succeeded, one after another.

        A slot with no run gets attempt 1; a slot that failed, was missed or skipped gets its next
        attempt. Slots that succeeded, or have a run going, are left alone.
        """
        slots = await self._slots_between(entry, start - timedelta(microseconds=1), min(end, self._clock()))
        if len(slots) > BACKFILL_MAX:
            raise ValueError(f"more than {BACKFILL_MAX} slots in that range; backfill at most {BACKFILL_MAX} at a time")
        attempts = await self._store.attempts(entry.worker, entry.definition.name, slots)
        claims = [
            Claim(schedule=entry.definition.name, worker=entry.worker, slot=slot, attempt=last + 1, trigger="backfill")
            for slot in slots
            if (last := attempts.get(slot, 0)) >= 0
        ]
        runs = await self._store.claim(claims)
        self._overlaps.backlog([(run, entry.definition) for run in sorted(runs, key=lambda r: r.slot)])
        self._changed.set()
        return runs

    async def _slots_between(
        self, entry: Entry, last: datetime, now: datetime, cap: int | None = BACKFILL_MAX + 1
    ) -> list[datetime]:
        """The slots of ``entry`` after ``last`` up to ``now``, at most ``cap`` (a backfill's
        range is never enumerated whole; catch-up's, bounded by the downtime, is), computed in
        slices that let the event loop run between them."""
        found: list[datetime] = []
        slice_end = time.monotonic() + _SLICE
        for slot in slots_between(entry.spec, last, now, entry.label):
            found.append(slot)
            if cap is not None and len(found) >= cap:
                break
            if time.monotonic() >= slice_end:
                await asyncio.sleep(0)
                slice_end = time.monotonic() + _SLICE
        return found

    async def _deliver_waiting(self, now: datetime) -> bool:
        """Send waiting runs whose worker is ready; record expired ones as missed; apply the
        offline policy to those whose worker left before it was ready."""
        ready: list[Waiting] = []
        expired: list[Waiting] = []
        gone: list[Waiting] = []
        kept: list[Waiting] = []
        for waiting in self._waiting:
            worker = waiting.run.worker
            if self._hub.is_ready(worker):
                ready.append(waiting)
            elif waiting.expires <= now:
                expired.append(waiting)
            else:
                (gone if waiting.settling and not self._hub.is_connected(worker) else kept).append(waiting)
        if len(kept) == len(self._waiting):
            return False
        self._waiting = kept
        missed = self._send(await self._overlaps.admit([(w.run, w.definition) for w in ready]))
        missed += self._hold([(w.run, w.definition) for w in gone])
        await self._store.miss(missed + [w.run.id for w in expired], Reason.WORKER_OFFLINE)
        return True

    async def _admit(self, pairs: list[tuple[RunRecord, ScheduleDef]]) -> list[tuple[RunRecord, ScheduleDef]]:
        """The runs to send now under their schedules' overlap policy. Those of a worker not ready
        yet wait for it: until it has resent what it owed, the store may still count a run as
        going that has ended (docs/protocol.md, "owed"). Those of an absent worker are not judged
        for overlap (a run held for it would count as going): its offline policy decides."""
        ready: list[tuple[RunRecord, ScheduleDef]] = []
        absent: list[tuple[RunRecord, ScheduleDef]] = []
        for pair in self._defer(pairs):
            (ready if self._hub.is_connected(pair[0].worker) else absent).append(pair)
        return await self._overlaps.admit(ready) + absent

    def _defer(self, pairs: list[tuple[RunRecord, ScheduleDef]]) -> list[tuple[RunRecord, ScheduleDef]]:
        """``pairs`` but for the runs of workers connected and not ready yet, which wait."""
        now = self._clock()
        rest: list[tuple[RunRecord, ScheduleDef]] = []
        for run, definition in pairs:
            if self._hub.is_settling(run.worker):
                decision = decide(run.slot, Link.SETTLING, definition.offline, definition.queue_ttl, now)
                assert isinstance(decision, Wait)  # a settling worker is always waited for
                self._wait(run, definition, decision)
            else:
                rest.append((run, definition))
        return rest

    def _wait(self, run: RunRecord, definition: ScheduleDef, decision: Wait | Miss) -> bool:
        """Keep ``run`` waiting if ``decision`` says so; whether it does."""
        if isinstance(decision, Miss):
            return False
        self._waiting.append(
            Waiting(run=run, definition=definition, expires=decision.expires, settling=decision.settling)
        )
        return True

    async def _sleep(self, now: datetime) -> None:
        """Until the next thing to do, a reload, or :data:`_MAX_SLEEP`."""
        wakes = [t for e in self._entries.values() if (t := e.wake_at()) is not None]
        wakes += [w.expires for w in self._waiting] + self._retries.wake_times()
        delay = _MAX_SLEEP if not wakes else min(_MAX_SLEEP, max(0.0, (min(wakes) - now).total_seconds()))
        try:
            async with asyncio.timeout(delay):
                await self._changed.wait()
        except TimeoutError:
            pass

    async def _claim(self, claims: list[tuple[Entry, Claim]], now: datetime) -> None:
        """Insert run rows for the entries' next slots. A slot already claimed but never sent (by
        a leader that stopped just before it) is adopted: the same run, never a second one. A
        slot someone else already handled is passed over."""
        rows = await self._store.claim([claim for _, claim in claims])
        if len(rows) < len(claims):
            taken = {(r.worker, r.schedule, r.slot) for r in rows}
            rows += await self._store.unsent([c for _, c in claims if (c.worker, c.schedule, c.slot) not in taken])
        claimed = {(r.worker, r.schedule, r.slot): r for r in rows}
        paused = []
        for entry, claim in claims:
            entry.claimed = claimed.get((claim.worker, claim.schedule, claim.slot))
            if entry.claimed is None:
                log.info("slot %s of %s on %s was already claimed", claim.slot, claim.schedule, claim.worker)
                entry.advance()
            elif entry.key in self._paused:  # paused while we waited for the store: give it back
                paused.append(entry.take().id)
                entry.next_fire = None
            else:
                self._drop_if_replaced(entry, now)  # reloaded while we waited for the store
        if paused:
            await self._store.release(paused)

    async def _fire(self, due: list[Entry]) -> None:
        """Send each due run to its worker (one frame per worker); record the rest as missed.

        Next slots are computed only after everything is sent: that is what the workers wait for.
        Runs waiting for a worker that connected meanwhile go first: they are older slots (the
        catch-up run before the slot after it, for the overlap policy).
        """
        if self._waiting:
            await self._deliver_waiting(self._clock())
        missed = self._send(await self._admit([(entry.take(), entry.definition) for entry in due]))
        slice_end = 0.0
        for entry in due:
            if time.monotonic() >= slice_end:  # let frames, acks and reads through meanwhile
                await asyncio.sleep(0)
                slice_end = time.monotonic() + _SLICE
            entry.advance()
        await self._store.miss(missed, Reason.WORKER_OFFLINE)

    async def _dispatch(self, runs: list[tuple[RunRecord, ScheduleDef]]) -> None:
        """Send ``runs`` now; those whose worker is offline (and not queued for it) are missed."""
        await self._store.miss(self._send(runs), Reason.WORKER_OFFLINE)

    def _send(self, runs: list[tuple[RunRecord, ScheduleDef]]) -> list[int]:
        """Dispatch ``runs``, one frame per worker. A run whose worker is offline waits for it if
        its schedule says ``offline = "queue"``; the ids of the others are returned (missed)."""
        by_worker: dict[str, list[tuple[RunRecord, ScheduleDef]]] = {}
        for run, definition in runs:
            by_worker.setdefault(run.worker, []).append((run, definition))
        missed: list[int] = []
        for worker, pairs in by_worker.items():
            if not self._hub.dispatch(worker, [job_for(run, definition) for run, definition in pairs]):
                missed += self._hold(pairs)
        return missed

    def _hold(self, pairs: list[tuple[RunRecord, ScheduleDef]]) -> list[int]:
        """Queue the runs of an offline worker whose schedule says so; returns the rest. (Runs of
        a worker that is connecting wait for it whatever the policy.)"""
        now = self._clock()
        missed: list[int] = []
        if not (pairs := self._defer(pairs)):
            return []
        for run, definition in pairs:
            decision = decide(run.slot, Link.ABSENT, definition.offline, definition.queue_ttl, now)
            assert not isinstance(decision, Send)  # an absent worker's run is never sent
            if not self._wait(run, definition, decision):
                missed.append(run.id)
        held = len(pairs) - len(missed)
        log.warning("worker %s offline: %d slots missed, %d queued for it", pairs[0][0].worker, len(missed), held)
        return missed


def validated(calendars: Calendars) -> Parsed:
    """A :data:`Parsed` over the calendars the config's validation parsed."""

    def parsed(worker: str, definition: ScheduleDef) -> Spec | None:
        found = calendars.get((worker, definition.name))
        return found[1] if found is not None and found[0] == definition else None

    return parsed


def _entry(
    worker: str, definition: ScheduleDef, default_tz: str, now: datetime, paused: bool, spec: Spec | None = None
) -> Entry:
    spec = spec if spec is not None else definition.spec(worker, default_tz)
    return Entry(
        worker=worker,
        definition=definition,
        spec=spec,
        timezone=definition.timezone or default_tz,
        next_fire=next_slot(spec, now, f"{worker}/{definition.name}") if definition.enabled and not paused else None,
    )


def job_for(run: RunRecord, definition: ScheduleDef) -> Job:
    """The wire form of a claimed run."""
    return Job(
        run_id=run.id,
        schedule=run.schedule,
        slot=run.slot,
        attempt=run.attempt,
        cmds=definition.cmds,
        env=definition.env,
        cwd=definition.cwd,
        timeout_seconds=definition.timeout,
        stop_signal=parse_signal(definition.stopsignal),
        stop_wait_seconds=definition.stopwaitsecs,
        max_output_bytes=definition.max_output_bytes,
    )
