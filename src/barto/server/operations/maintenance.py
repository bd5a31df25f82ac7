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
from barto.api.answers import CleanupProgress, Cluster, Forgotten, Health, Info, Member, QueryResult, UpdatesReport
from barto.errors import Conflict, Invalid, NotFound
from barto.model import WorkerRecord
from barto.server.maintenance import cleanup as cleanups
from barto.server.maintenance import updates
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts
from barto.store.readonly import NotASelectError, check_select


@implements(ops.HEALTH)
async def health(_: Parts, __: r.Nothing) -> Health:
    """Liveness probe."""
    return Health(ok=True)


@implements(ops.INFO)
async def info(parts: Parts, _: r.Nothing) -> Info:
    """Server version, uptime, store and counts."""
    now = datetime.now(UTC)
    return Info(
        name="bartos",
        version=barto.__version__,
        python=platform.python_version(),
        started_at=parts.started_at,
        uptime_seconds=round((now - parts.started_at).total_seconds(), 3),
        database=parts.store.dialect,
        config=parts.config_path,
        connected_workers=len(parts.hub.sessions()),
        schedules=parts.term().scheduler.count(),
        counters=dict(parts.hub.counters),
        cluster=await _cluster(parts, now),
    )


async def _cluster(parts: Parts, now: datetime) -> Cluster:
    """Who leads, since when, and every instance sharing the database (as this one sees it)."""
    lease, me = parts.leadership.seen, parts.leadership.me
    grace = timedelta(seconds=3 * parts.config.lease_seconds)
    members = [
        Member(
            **msgspec.structs.asdict(i),
            role="leader" if lease and i.id == lease.holder else "gone" if now - i.seen_at > grace else "standby",
            seen_seconds_ago=round((now - i.seen_at).total_seconds(), 3),
        )
        for i in await parts.store.cluster.instances()
    ]
    return Cluster(
        instance=me.id,
        role="leader" if parts.leading() else "standby",
        leader=lease.holder if lease else None,
        lease_seconds=parts.config.lease_seconds,
        lease_age_seconds=round((now - lease.acquired_at).total_seconds(), 3) if lease and lease.holder else None,
        renewed_seconds_ago=round((now - lease.renewed_at).total_seconds(), 3) if lease else None,
        instances=members,
    )


@implements(ops.CLIENTS)
async def clients(parts: Parts, _: r.Nothing) -> list[WorkerRecord]:
    """Every worker seen, with whether it is connected now."""
    return [_live(parts, w) for w in await parts.store.workers()]


def _live(parts: Parts, worker: WorkerRecord) -> WorkerRecord:
    session = parts.hub.session(worker.name)
    if session is None:
        return msgspec.structs.replace(worker, connected=False, address=None, backlog=None)
    return msgspec.structs.replace(worker, connected=True, address=session.address, backlog=session.backlog)


@implements(ops.FORGET)
async def forget(parts: Parts, request: r.Forget) -> Forgotten:
    """Forget a worker that is not connected (a fake hello, a retired machine). Its runs stay,
    unless ``with_runs``; a worker that comes back later is simply seen again.

    Raises:
        Conflict: the worker is connected now.
        NotFound: no worker of that name was ever seen.
    """
    if parts.hub.is_connected(request.worker):
        raise Conflict("worker_connected", f"worker {request.worker!r} is connected; stop it first")
    runs, lines = await parts.store.forget_worker(request.worker, with_runs=request.with_runs)
    if runs is None:
        raise NotFound("worker_not_found", f"no worker named {request.worker!r} was ever seen")
    return Forgotten(worker=request.worker, runs_removed=runs, output_lines_removed=lines)


@implements(ops.WORKER_SCHEDULES)
async def worker_schedules(parts: Parts, request: r.WorkerRef) -> list[str]:
    """Names of the schedules that ran on a worker (barto's ``list -n``)."""
    return await parts.store.schedule_names(request.worker)


@implements(ops.UPDATES)
async def worker_updates(parts: Parts, request: r.Updates) -> UpdatesReport:
    """barto's ``updates``: parse the newest successful run that has updates of that kind."""
    parser = updates.PARSERS[request.kind]
    for candidate in await parts.store.latest_successes(request.worker):
        report = parser([line.data for line in await parts.store.output(candidate.id)])
        if not updates.is_empty(report):
            return UpdatesReport(run=candidate, kind=request.kind, report=report)
    return UpdatesReport(run=None, kind=request.kind, report=parser([]))


@implements(ops.CLEANUP)
async def cleanup(parts: Parts, request: r.Cleanup) -> CleanupProgress:
    """Apply the retention policy now (or delete everything finished more than
    ``older_than_days`` ago)."""
    return await cleanups.run(parts.store, cleanups.policy(parts.config, request.older_than_days), datetime.now(UTC))


@implements(ops.CLEANUP_PROGRESS)
async def cleanup_progress(parts: Parts, request: r.Cleanup) -> AsyncIterator[CleanupProgress]:
    """:func:`cleanup`, reporting the total first, then a line per batch."""
    return cleanups.sweep(parts.store, cleanups.policy(parts.config, request.older_than_days), datetime.now(UTC))


@implements(ops.QUERY)
async def query(parts: Parts, request: r.Query) -> QueryResult:
    """One SELECT on the store's read-only connection, within the time limit and the row cap.

    The database refuses every write and every file or server function on that connection
    (barto.store.readonly); the early check here only words the common mistakes kindly.
    """
    try:
        sql = check_select(request.sql)
    except NotASelectError as error:
        raise Invalid("not_a_select", str(error)) from None
    found = await parts.store.query(sql, limit=parts.config.query.max_rows, seconds=parts.config.query.seconds)
    return QueryResult(
        columns=found.columns, rows=[[_plain(v) for v in row] for row in found.rows], truncated=found.truncated
    )


def _plain(value: Any) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
