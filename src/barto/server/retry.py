"""Retries: a failed or timed-out run is tried again, each attempt its own run row.

``retries = N`` allows N more attempts of the same slot; attempt k+1 starts ``retry_delay``
seconds after attempt k ended, doubled for every attempt before (capped at
:data:`MAX_DELAY`). Each attempt is claimed like a slot, UNIQUE on (schedule, worker, slot,
attempt), so two servers can never both retry it. Cancelled, lost and missed runs are not
retried: a cancel is deliberate, and a lost run may well have run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from barto.config.server import ScheduleDef
from barto.model import RunRecord, RunState
from barto.store import Claim

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
