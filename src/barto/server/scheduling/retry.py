"""Retries: a failed or timed-out run is tried again, each attempt its own run row.

``retries = N`` allows N more attempts of the same slot; attempt k+1 starts ``retry_delay``
seconds after attempt k ended, doubled for every attempt before (capped at
:data:`MAX_DELAY`). Each attempt is claimed like a slot, UNIQUE on (schedule, worker, slot,
attempt), so two servers can never both retry it. Cancelled, lost and missed runs are not
retried: a cancel is deliberate, and a lost run may well have run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

from barto.config.server import ScheduleDef
from barto.model import RunRecord, RunState
from barto.store import Claim, Store

MAX_DELAY = timedelta(hours=1)
RETRIED = frozenset({RunState.FAILED, RunState.TIMED_OUT})


class Retry(msgspec.Struct, frozen=True, kw_only=True):
    """The next attempt of a slot, due at ``at``."""

    claim: Claim
    at: datetime


def next_attempt(run: RunRecord, definition: ScheduleDef, ended: datetime) -> Retry | None:
    """The retry of ``run`` its schedule asks for, if any."""
    if run.state not in RETRIED or run.attempt > definition.retries:
        return None
    delay = min(MAX_DELAY, timedelta(seconds=definition.retry_delay * 2 ** (run.attempt - 1)))
    claim = Claim(schedule=run.schedule, worker=run.worker, slot=run.slot, attempt=run.attempt + 1, trigger=run.trigger)
    return Retry(claim=claim, at=ended + delay)


# The live definition of (worker, schedule), None once it is gone from the config.
Definitions = Callable[[str, str], ScheduleDef | None]


class Retries:
    """Runs that ended and may need a retry, and the retries planned (kept in memory)."""

    def __init__(self, store: Store, definitions: Definitions) -> None:
        self._store = store
        self._definitions = definitions
        self._ended: list[int] = []
        self._planned: list[Retry] = []

    async def recover(self, now: datetime) -> int:
        """Plan again the retries owed for runs that ended within :data:`MAX_DELAY` and have no
        next attempt yet (a previous leader planned them in its memory); returns how many."""
        owed = 0
        for run in await self._store.unretried(sorted(RETRIED), now - MAX_DELAY):
            definition = self._definitions(run.worker, run.schedule)
            retry = next_attempt(run, definition, run.finished_at or now) if definition else None
            if retry is not None:
                self._planned.append(retry)
                owed += 1
        return owed

    def ended(self, run_ids: list[int]) -> None:
        """These runs' results are committed."""
        self._ended.extend(run_ids)

    def wake_times(self) -> list[datetime]:
        """When planned retries fall due."""
        return [retry.at for retry in self._planned]

    def busy(self, now: datetime) -> bool:
        """Whether there is something to do now."""
        return bool(self._ended) or any(retry.at <= now for retry in self._planned)

    async def due(self, now: datetime) -> list[tuple[RunRecord, ScheduleDef]]:
        """Plan retries of the runs that ended; claim the ones due now and return them to send.

        Due retries of schedules that are gone are dropped.
        """
        ended, self._ended = self._ended, []
        for run in await self._store.runs_by_id(ended) if ended else []:
            definition = self._definitions(run.worker, run.schedule)
            if definition is not None and (retry := next_attempt(run, definition, now)) is not None:
                self._planned.append(retry)
        due = [r for r in self._planned if r.at <= now and self._definitions(r.claim.worker, r.claim.schedule)]
        self._planned = [r for r in self._planned if r.at > now]
        claimed = await self._store.claim([r.claim for r in due]) if due else []
        return [(run, d) for run in claimed if (d := self._definitions(run.worker, run.schedule)) is not None]
