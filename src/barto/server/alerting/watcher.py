"""The leader's alerting: every second it looks at what ended, what is late or stuck, which
workers are gone and which programs are FATAL, records what each ``[alerts.<name>]`` wants in
the store, then delivers what is due. Recording first makes delivery at-least-once across a
crash, a restart or a failover; only the leader looks and sends, and the store's unique key
keeps an event found twice (a new leader looks back :data:`LOOKBACK`) to one delivery."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from barto.config.alerts import Alert
from barto.model import FAILED_STATES, RunRecord, RunState
from barto.server.alerting import events
from barto.server.alerting.channels import SendError, send
from barto.server.gateway.hub import Hub
from barto.store import Store
from barto.store.alerts import AlertRow, NewAlert

log = logging.getLogger("barto.server.alerting")

TICK = 1.0
LOOKBACK = timedelta(minutes=10)  # how far back a new leader looks for ended runs
OVERLAP = timedelta(seconds=60)  # each look goes back this far too: worker clocks differ
ATTEMPTS = 20  # then a delivery is given up (state failed)
PARALLEL = 8
_ENDED = [*sorted(FAILED_STATES), RunState.MISSED.value, RunState.SUCCEEDED.value]
_BATCH = 5_000


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: 5 s, doubling, at most 10 min."""
    return timedelta(seconds=min(5 * 2**attempts, 600))


class Alerting:
    """The alerts of one server: its configuration, the store, and what is connected."""

    def __init__(
        self,
        alerts: dict[str, Alert],
        store: Store,
        hub: Hub,
        timeout_of: Callable[[RunRecord], float | None] = lambda _: None,
    ) -> None:
        self.alerts = alerts
        self._store = store
        self._hub = hub
        self.timeout_of = timeout_of  # a run's schedule's timeout (the leader's scheduler knows)
        self._seen: dict[str, datetime] = {}  # keys recorded lately: not asked of the store again

    async def run(self) -> None:
        """Look and deliver every :data:`TICK` until cancelled (the leader's task)."""
        if not self.alerts:
            return
        now = datetime.now(UTC)
        since, after = now - LOOKBACK, await self._store.last_program_event()
        while True:
            now = datetime.now(UTC)
            try:
                since, after = await self.look(now, since, after)
                await self.deliver(now)
            except Exception:  # a store that went away: the next look tries again
                log.exception("alerting: a look failed; trying again in %g s", TICK)
            await asyncio.sleep(TICK)

    async def look(self, now: datetime, since: datetime, after: int) -> tuple[datetime, int]:
        """Record the events found since the last look; the watermarks for the next one."""
        ended = await self._store.ended_since(_ENDED, since - OVERLAP, _BATCH)
        unfinished = await self._store.unfinished_runs()
        workers = await self._store.workers()
        changes = await self._store.program_events_after(after, ("FATAL", "RUNNING"), _BATCH)
        running = sorted({(r.worker, r.schedule) for r in unfinished if r.state == RunState.RUNNING})
        histories = dict(zip(running, await self._store.recent_runs(running, 30), strict=True))

        def history(run: RunRecord) -> list[RunRecord]:
            return histories.get((run.worker, run.schedule), [])

        base = [*events.ended(ended), *events.programs(changes)]
        found: list[tuple[str, events.Found]] = []
        for name, alert in self.alerts.items():
            own = [
                *base,
                *events.late(unfinished, now, alert.late_secs),
                *events.stuck(unfinished, now, self.timeout_of, history, alert.stuck_factor),
                *events.offline(workers, self._hub.is_connected, now, alert.offline_secs),
            ]
            found += [(name, f) for f in own if events.concerns(alert, f) and f.key not in self._seen]
        await self._record(found, now)
        latest = max((r.finished_at for r in ended if r.finished_at is not None), default=since)
        return max(since, latest), max([after, *(c.id for c in changes)])

    async def _record(self, found: list[tuple[str, events.Found]], now: datetime) -> None:
        new = []
        for name, item in found:
            if item.event == "recovered" and not await self._store.alerts.open_problem(name, item.subject):
                self._seen[item.key] = now  # nothing was wrong: not a recovery
                continue
            body = json.dumps(events.payload(name, item, now), sort_keys=True)
            new += [NewAlert(alert=name, channel=channel, key=item.key, event=item.event, subject=item.subject,
                             payload=body) for channel in self.alerts[name].channels()]  # fmt: skip
            self._seen[item.key] = now
        if new:
            await self._store.alerts.record(new, now, {n: a.throttle_secs for n, a in self.alerts.items()})
        for key in [k for k, at in self._seen.items() if now - at > LOOKBACK + OVERLAP]:
            del self._seen[key]

    async def deliver(self, now: datetime) -> list[AlertRow]:
        """Send what is due, a few at a time; record each outcome."""
        due = await self._store.alerts.due(now, 50)
        gate = asyncio.Semaphore(PARALLEL)
        async with asyncio.TaskGroup() as tg:
            for row in due:
                tg.create_task(self._one(row, gate))
        return due

    async def _one(self, row: AlertRow, gate: asyncio.Semaphore) -> str | None:
        """Deliver ``row``; None when it was taken, else why not."""
        alert = self.alerts.get(row.alert)
        async with gate:
            try:
                if alert is None:
                    raise SendError(f"no [alerts.{row.alert}] in the config any more")
                body = json.loads(row.payload)
                body["suppressed"] = row.suppressed
                await send(alert, row.channel, json.dumps(body, sort_keys=True).encode(), row.id)
            except SendError as error:
                give_up = row.attempts + 1 >= ATTEMPTS or alert is None
                wait = backoff(row.attempts)
                await self._store.alerts.undelivered(row.id, str(error), datetime.now(UTC) + wait, give_up=give_up)
                log.warning("alert %s (%s, %s) not delivered%s: %s", row.alert, row.channel, row.event,
                            ", given up" if give_up else f", again in {wait.total_seconds():g} s", error)  # fmt: skip
                return str(error)
        await self._store.alerts.delivered(row.id, datetime.now(UTC))
        log.info("alert %s sent by %s: %s %s", row.alert, row.channel, row.event, row.subject)
        return None

    async def test(self, name: str) -> list[AlertRow]:
        """Record a test event for ``name``'s channels and send it now; the rows as they ended."""
        now = datetime.now(UTC)
        item = events.Found(event="test", key=f"test:{uuid.uuid4()}", subject="test", worker="-",
                            message=f"a test of [alerts.{name}], sent by barto-cli alerts test")  # fmt: skip
        body = json.dumps(events.payload(name, item, now, test=True), sort_keys=True)
        rows = [NewAlert(alert=name, channel=c, key=item.key, event="test", subject="test", payload=body)
                for c in self.alerts[name].channels()]  # fmt: skip
        await self._store.alerts.record(rows, now, {})
        mine = [r for r in await self._store.alerts.recent(len(rows) * 4) if r.key == item.key]
        gate = asyncio.Semaphore(PARALLEL)
        await asyncio.gather(*(self._one(row, gate) for row in mine))
        return [r for r in await self._store.alerts.recent(len(rows) * 4) if r.key == item.key]
