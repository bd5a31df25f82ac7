"""The server itself and its store: health, info, workers, cleanup, query, barto's updates."""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

import barto
from barto.api import operations as ops
from barto.api import requests as r
from barto.api.answers import CleanupProgress, Cluster, Health, Info, Member, QueryResult, UpdatesReport
from barto.errors import Invalid
from barto.model import WorkerRecord
from barto.server.maintenance import cleanup as cleanups
from barto.server.maintenance import updates
from barto.server.operations._impl import implements
from barto.server.state import ServerState
from barto.store.readonly import NotASelectError, check_select


@implements(ops.HEALTH)
async def health(_: ServerState, __: r.Nothing) -> Health:
    """Liveness probe."""
    return Health(ok=True)


@implements(ops.INFO)
async def info(state: ServerState, _: r.Nothing) -> Info:
    """Server version, uptime, store and counts."""
    now = datetime.now(UTC)
    return Info(
        name="bartos",
        version=barto.__version__,
        python=platform.python_version(),
        started_at=state.started_at,
        uptime_seconds=round((now - state.started_at).total_seconds(), 3),
        database=state.store.dialect,
        config=state.config_path,
        connected_workers=len(state.hub.sessions()),
        schedules=len(state.scheduler.records()),
        counters=dict(state.hub.counters),
        cluster=await _cluster(state, now),
    )


async def _cluster(state: ServerState, now: datetime) -> Cluster:
    """Who leads, since when, and every instance sharing the database (as this one sees it)."""
    lease, me = state.leadership.seen, state.leadership.me
    grace = timedelta(seconds=3 * state.config.lease_seconds)
    members = [
        Member(
            **msgspec.structs.asdict(i),
            role="leader" if lease and i.id == lease.holder else "gone" if now - i.seen_at > grace else "standby",
            seen_seconds_ago=round((now - i.seen_at).total_seconds(), 3),
        )
        for i in await state.store.cluster.instances()
    ]
    return Cluster(
        instance=me.id,
        role="leader" if state.leading else "standby",
        leader=lease.holder if lease else None,
        lease_seconds=state.config.lease_seconds,
        lease_age_seconds=round((now - lease.acquired_at).total_seconds(), 3) if lease and lease.holder else None,
        renewed_seconds_ago=round((now - lease.renewed_at).total_seconds(), 3) if lease else None,
        instances=members,
    )


@implements(ops.CLIENTS)
async def clients(state: ServerState, _: r.Nothing) -> list[WorkerRecord]:
    """Every worker seen, with whether it is connected now."""
    return [msgspec.structs.replace(w, connected=state.hub.is_connected(w.name)) for w in await state.store.workers()]


@implements(ops.WORKER_SCHEDULES)
async def worker_schedules(state: ServerState, request: r.WorkerRef) -> list[str]:
    """Names of the schedules that ran on a worker (barto's ``list -n``)."""
    return await state.store.schedule_names(request.worker)


@implements(ops.UPDATES)
async def worker_updates(state: ServerState, request: r.Updates) -> UpdatesReport:
    """barto's ``updates``: parse the newest successful run that has updates of that kind."""
    parser = updates.PARSERS[request.kind]
    for candidate in await state.store.latest_successes(request.worker):
        report = parser([line.data for line in await state.store.output(candidate.id)])
        if not updates.is_empty(report):
            return UpdatesReport(run=candidate, kind=request.kind, report=report)
    return UpdatesReport(run=None, kind=request.kind, report=parser([]))


@implements(ops.CLEANUP)
async def cleanup(state: ServerState, request: r.Cleanup) -> CleanupProgress:
    """Apply the retention policy now (or delete everything finished more than
    ``older_than_days`` ago)."""
    return await cleanups.run(state.store, cleanups.policy(state.config, request.older_than_days), datetime.now(UTC))


@implements(ops.CLEANUP_PROGRESS)
async def cleanup_progress(state: ServerState, request: r.Cleanup) -> AsyncIterator[CleanupProgress]:
    """:func:`cleanup`, reporting the total first, then a line per batch."""
    return cleanups.sweep(state.store, cleanups.policy(state.config, request.older_than_days), datetime.now(UTC))


@implements(ops.QUERY)
async def query(state: ServerState, request: r.Query) -> QueryResult:
    """One SELECT on the store's read-only connection, within the time limit and the row cap.

    The database refuses every write and every file or server function on that connection
    (barto.store.readonly); the early check here only words the common mistakes kindly.
    """
    try:
        sql = check_select(request.sql)
    except NotASelectError as error:
        raise Invalid("not_a_select", str(error)) from None
    found = await state.store.query(sql, limit=state.config.query.max_rows, seconds=state.config.query.seconds)
    return QueryResult(
        columns=found.columns, rows=[[_plain(v) for v in row] for row in found.rows], truncated=found.truncated
    )


def _plain(value: Any) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
