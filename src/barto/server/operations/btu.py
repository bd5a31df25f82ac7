"""BTU: its table of schedules read now or by the leader's clock, one schedule stopped, one
task enqueued now (docs/btu.md). The socket door and REST call these alike."""

from __future__ import annotations

import uuid

from sqlalchemy.engine import make_url

from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.errors import Conflict, Invalid, NotFound, Unavailable
from barto.rules import RQ_WORKER
from barto.server.btu.rows import BadRow
from barto.server.btu.source import BtuSource, Report, SourceError, owned
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts
from barto.server.operations.rq import ask
from barto.server.rq import calls


@implements(ops.BTU_STATUS)
async def status(parts: Parts, _: r.Nothing) -> a.BtuStatus:
    """Where ``[btu]`` reads and listens, the schedules its table gave, its last full refresh."""
    source = _source(parts)
    url = source.settings.database_url
    return a.BtuStatus(
        database=make_url(url).render_as_string(hide_password=True) if url else None,
        socket_path=source.settings.socket_path,
        refresh_seconds=source.settings.refresh_seconds,
        schedules=sorted(owned(parts.term())),
        last=_report(source.last) if source.last is not None else None,
    )


@implements(ops.BTU_REFRESH)
async def refresh(parts: Parts, request: r.BtuRefresh) -> a.BtuReport:
    """Make the schedules agree with BTU's table now (all rows, or the one asked for)."""
    report = await _source(parts).refresh(parts.term(), parts.store, request.schedule)
    if report.error is not None:
        raise Unavailable("btu_unavailable", report.error)
    return _report(report)


@implements(ops.BTU_CANCEL)
async def cancel(parts: Parts, request: r.BtuRef) -> a.Removed:
    """Stop one schedule of the table (exactly that name) until the table gives it again."""
    if not await _source(parts).cancel(parts.term(), parts.store, request.name):
        raise NotFound("schedule_not_found", f"no schedule from BTU's table named {request.name!r}")
    return a.Removed(removed=request.name, worker=RQ_WORKER)


@implements(ops.BTU_QUEUE_TASK)
async def queue_task(parts: Parts, request: r.BtuRef) -> a.BtuQueued:
    """Enqueue a BTU Task now, as BTU's ``queue-task-now`` did: an RQ job of its own, no run."""
    source = _source(parts)
    try:
        call = await source.task(request.name)
    except SourceError as error:
        raise Unavailable("btu_unavailable", str(error)) from None
    except LookupError as error:
        raise NotFound("task_not_found", str(error)) from None
    except BadRow as error:
        raise Invalid("bad_task", str(error)) from None
    name = source.settings.redis
    job_id = f"btu-{calls.safe(request.name)}-{uuid.uuid4().hex}"
    item = calls.Enqueue(0, job_id, call, f"BTU Task {request.name} (queue-task-now)")
    await ask(name, parts.config.redis[name], calls.enqueue, item)
    return a.BtuQueued(task=request.name, redis=name, queue=call.queue, job_id=job_id)


def _source(parts: Parts) -> BtuSource:
    if parts.btu is None:
        raise Conflict("btu_off", "this server has no [btu] section")
    return parts.btu


def _report(report: Report) -> a.BtuReport:
    return a.BtuReport(
        at=report.at, scope=report.scope, added=report.added, changed=report.changed, removed=report.removed,
        unchanged=report.unchanged, skipped=report.skipped, error=report.error,
    )  # fmt: skip
