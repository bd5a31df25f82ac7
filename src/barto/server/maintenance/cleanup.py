"""Applying retention: the server does it every hour, ``barto-cli cleanup`` on demand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from barto.api.answers import CleanupProgress
from barto.config import ServerConfig
from barto.store import Retention, Store

PROGRAM_EVENTS_DEFAULT = timedelta(days=30)


def policy(config: ServerConfig, older_than_days: float | None = None) -> Retention:
    """The configured retention, or "everything finished more than ``older_than_days`` ago"."""
    if older_than_days is not None:
        age = timedelta(days=older_than_days)
        return Retention(max_age=age, max_age_failed=age)
    age, age_failed, keep, keep_failed = config.retention()
    return Retention(max_age=age, max_age_failed=age_failed, keep=keep, keep_failed=keep_failed)


async def sweep(store: Store, retention: Retention, now: datetime) -> AsyncIterator[CleanupProgress]:
    """Delete what ``retention`` says, reporting progress after each batch (first: the total)."""
    ids = await store.expired(retention, now)
    cutoff = now - retention.max_age if retention.max_age is not None else None
    runs = lines = 0
    yield CleanupProgress(total=len(ids), runs=0, output_rows=0, cutoff=cutoff)
    async for deleted, deleted_lines in store.delete_runs(ids):
        runs, lines = runs + deleted, lines + deleted_lines
        yield CleanupProgress(total=len(ids), runs=runs, output_rows=lines, cutoff=cutoff)
    events = await store.forget_program_events(now - program_events_age(retention))
    yield CleanupProgress(total=len(ids), runs=runs, output_rows=lines, cutoff=cutoff, program_events=events)


def program_events_age(retention: Retention) -> timedelta:
    """Program state changes are kept as long as the longest-kept runs (30 days when runs have
    no age limit: they are not counted per schedule, so only an age bounds them)."""
    ages = [age for age in (retention.max_age, retention.max_age_failed) if age is not None]
    return max(ages, default=PROGRAM_EVENTS_DEFAULT)


async def run(store: Store, retention: Retention, now: datetime) -> CleanupProgress:
    """Delete what ``retention`` says; the final tally."""
    steps = [step async for step in sweep(store, retention, now)]
    return steps[-1]
