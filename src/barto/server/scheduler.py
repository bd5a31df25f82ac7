"""The scheduler: sleep until the earliest next fire time, claim those slots, dispatch them.

It never polls: each schedule's next slot comes from ``barto.calendar``, and the loop sleeps
until the earliest one (at most :data:`_MAX_SLEEP` at a time, so that a wall-clock step is
noticed). Every slot becomes a run row *before* anything is sent; a slot whose worker is not
connected is recorded as ``missed`` (reason ``worker offline``) instead of vanishing. After
dispatching, the next slot is computed from the one just handled, so a late wake-up still
handles every slot in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec

from barto.calendar import Spec
from barto.config.server import ScheduleDef, WorkerSchedules
from barto.model import RunRecord, RunState, ScheduleRecord
from barto.protocol import Job
from barto.server.hub import Hub
from barto.store import Claim, Store

log = logging.getLogger("barto.server.scheduler")

_MAX_SLEEP = 30.0


class Entry(msgspec.Struct, kw_only=True):
    """A live schedule and its next slot."""

    worker: str
    definition: ScheduleDef
    spec: Spec
    timezone: str
    next_fire: datetime | None


class Scheduler:
    """Owns the live schedule set and the fire loop."""

    def __init__(self, store: Store, hub: Hub) -> None:
        self._store = store
        self._hub = hub
        self._entries: dict[tuple[str, str], Entry] = {}
        self._changed = asyncio.Event()

    def load(self, groups: Mapping[str, WorkerSchedules], default_tz: str, now: datetime) -> None:
        """Replace the live set. Unchanged schedules keep their next slot; new ones start after now."""
        entries: dict[tuple[str, str], Entry] = {}
        for worker, group in groups.items():
            for definition in group.schedules:
                old = self._entries.get((worker, definition.name))
                if old is not None and old.definition == definition:
                    entries[(worker, definition.name)] = old
                    continue
                spec = definition.spec(worker, default_tz)
                upcoming = spec.next_after(now) if definition.enabled else None
                tz = definition.timezone or default_tz
                entries[(worker, definition.name)] = Entry(
                    worker=worker, definition=definition, spec=spec, timezone=tz, next_fire=upcoming
                )
        self._entries = entries
        self._changed.set()

    def find(self, worker: str, name: str) -> Entry | None:
        """The live schedule ``name`` of ``worker``."""
        return self._entries.get((worker, name))

    def records(self) -> list[ScheduleRecord]:
        """The live set with next fire times, by worker and name."""
        return [
            ScheduleRecord(
                worker=e.worker,
                name=e.definition.name,
                calendar=e.definition.expression,
                normalized=str(e.spec),
                timezone=e.timezone,
                cmds=e.definition.cmds,
                enabled=e.definition.enabled,
                source="config",
                next_fire=e.next_fire,
            )
            for _, e in sorted(self._entries.items())
        ]

    async def run(self) -> None:
        """Fire due slots until cancelled."""
        while True:
            now = datetime.now(UTC)
            due = [e for e in self._entries.values() if e.next_fire is not None and e.next_fire <= now]
            if due:
                await self._fire(due)
                continue
            self._changed.clear()
            try:
                async with asyncio.timeout(self._delay(now)):
                    await self._changed.wait()
            except TimeoutError:
                pass

    def _delay(self, now: datetime) -> float:
        upcoming = [e.next_fire for e in self._entries.values() if e.next_fire is not None]
        if not upcoming:
            return _MAX_SLEEP
        return min(_MAX_SLEEP, max(0.0, (min(upcoming) - now).total_seconds()))

    async def _fire(self, due: list[Entry]) -> None:
        claims = [self._claim(entry) for entry in due]
        claimed = await self._store.claim(claims)
        self._dispatch(claimed, {(e.worker, e.definition.name): e for e in due})
        for entry in due:
            assert entry.next_fire is not None  # only entries with a next slot are due
            entry.next_fire = entry.spec.next_after(entry.next_fire)

    def _claim(self, entry: Entry) -> Claim:
        assert entry.next_fire is not None  # only entries with a next slot are due
        name = entry.definition.name
        if self._hub.is_connected(entry.worker):
            return Claim(schedule=name, worker=entry.worker, slot=entry.next_fire)
        log.warning("slot %s of %s on %s missed: worker offline", entry.next_fire, name, entry.worker)
        return Claim(
            schedule=name, worker=entry.worker, slot=entry.next_fire, state=RunState.MISSED, reason="worker offline"
        )

    def _dispatch(self, claimed: list[RunRecord], entries: Mapping[tuple[str, str], Entry]) -> None:
        by_worker: dict[str, list[Job]] = {}
        for run in claimed:
            if run.state is RunState.PENDING:
                by_worker.setdefault(run.worker, []).append(
                    job_for(run, entries[(run.worker, run.schedule)].definition)
                )
        for worker, jobs in by_worker.items():
            if not self._hub.dispatch(worker, jobs):
                log.warning("worker %s left before %d runs could be sent; they stay pending", worker, len(jobs))


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
    )
