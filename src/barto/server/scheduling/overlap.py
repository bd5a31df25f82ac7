"""Overlap: what a schedule's new slot does while its previous run is still going.

``skip`` (the default) records the new slot as ``skipped`` (reason ``overlap``); ``queue`` holds
it until the running one ends (at most one waits: a further slot while one waits is skipped);
``allow`` runs both; ``replace`` cancels the running one (its stop signal, then KILL) and runs
the new one. "Still going" means sent and not ended: pending past its slot, dispatched or
running. Asked of the store at the slot, so it holds across server restarts. (The scheduler
asks only for workers that are connected and have delivered what they owed: the others' runs
follow their offline policy, or wait.)

Backfilled runs use the same queue, without the limit of one: they run one after another.
"""

from __future__ import annotations

import logging

from barto.config.server import ScheduleDef
from barto.model import Reason, RunRecord, RunState
from barto.protocol import Cancel
from barto.server.gateway.hub import Hub
from barto.store import Store

log = logging.getLogger("barto.server.scheduling.overlap")

Run = tuple[RunRecord, ScheduleDef]
_Key = tuple[str, str]  # (worker, schedule)


class Overlaps:
    """Applies each schedule's overlap policy to the runs about to be sent; holds queued ones."""

    def __init__(self, store: Store, hub: Hub) -> None:
        self._store = store
        self._hub = hub
        self._queued: dict[_Key, list[Run]] = {}

    async def admit(self, runs: list[Run]) -> list[Run]:
        """The runs to send now; the others are skipped or queued as their schedule says."""
        checked = [run for run in runs if run[1].overlap != "allow"]
        if not checked:
            return runs
        busy = await self._busy({run.worker for run, _ in checked}, {run.id for run, _ in runs})
        send: list[Run] = []
        skipped: list[int] = []
        for run, definition in runs:
            key = (run.worker, run.schedule)
            if definition.overlap == "allow" or key not in busy:
                send.append((run, definition))
            elif definition.overlap == "replace":
                self._cancel(run.worker, busy[key])
                send.append((run, definition))
            elif definition.overlap == "queue" and not self._queued.get(key):
                self._queued[key] = [(run, definition)]
            else:
                skipped.append(run.id)
        await self._store.settle_pending(skipped, RunState.SKIPPED, Reason.OVERLAP)
        return send

    def backlog(self, runs: list[Run]) -> None:
        """Queue ``runs`` (backfilled slots, in order) to be sent one after another."""
        for run, definition in runs:
            self._queued.setdefault((run.worker, run.schedule), []).append((run, definition))

    async def release(self) -> list[Run]:
        """The first queued run of every schedule whose previous run has ended, out of the queue."""
        if not any(self._queued.values()):
            return []
        busy = await self._busy({worker for worker, _ in self._queued}, set())
        ready = [key for key, queue in self._queued.items() if queue and key not in busy]
        return [self._queued[key].pop(0) for key in ready]

    async def _busy(self, workers: set[str], exclude: set[int]) -> dict[_Key, list[int]]:
        queued = {run.id for queue in self._queued.values() for run, _ in queue}
        return await self._store.going(sorted(workers), exclude | queued)

    def _cancel(self, worker: str, run_ids: list[int]) -> None:
        session = self._hub.session(worker)
        for run_id in run_ids:
            log.info("run %d of worker %s is replaced by a new slot: cancelling it", run_id, worker)
            if session is not None:
                session.send(Cancel(run_id=run_id))
