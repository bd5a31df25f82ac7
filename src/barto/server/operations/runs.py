"""Runs: list, one, its output (at once or followed live), cancel, the failed ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

from barto.api import operations as ops
from barto.api import requests as r
from barto.errors import Conflict, NotFound
from barto.model import FINAL_STATES, OutputLine, Reason, RunRecord, RunState
from barto.protocol import Cancel
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts

FOLLOW_BATCH = 10_000


@implements(ops.RUNS)
async def listing(parts: Parts, request: r.Runs) -> list[RunRecord]:
    """Runs, newest first, filtered by schedule, worker, states and slot time, a page at a time."""
    return await parts.store.runs(
        schedule=request.schedule,
        worker=request.worker,
        states=[s.value for s in request.state],
        since=request.since,
        until=request.until,
        before=request.before,
        limit=request.limit,
    )


@implements(ops.RUN)
async def one(parts: Parts, request: r.RunRef) -> RunRecord:
    """One run."""
    return await _run(parts, request.run_id)


@implements(ops.OUTPUT)
async def output(parts: Parts, request: r.Output) -> list[OutputLine]:
    """A run's output lines after ``after``."""
    found = await _run(parts, request.run_id)
    return await parts.store.output(found.id, after=request.after, limit=request.limit)


@implements(ops.FOLLOW)
async def follow(parts: Parts, request: r.Output) -> AsyncIterator[OutputLine]:
    """A run's output lines after ``after``, then each new one as it is stored, until it ends."""
    found = await _run(parts, request.run_id)  # a missing run is refused before the stream begins
    return _follow(parts, found.id, request.after)


async def _follow(parts: Parts, run_id: int, after: int) -> AsyncIterator[OutputLine]:
    while True:
        lines = await parts.store.output(run_id, after=after, limit=FOLLOW_BATCH)
        for line in lines:
            yield line
        after = lines[-1].seq if lines else after
        if not lines:
            current = await parts.store.run(run_id)
            if current is None or current.state in FINAL_STATES:
                return
            await parts.ingest.wait_commit(1.0)


@implements(ops.CANCEL)
async def cancel(parts: Parts, request: r.RunRef) -> RunRecord:
    """Stop a run: its worker sends the stop signal to the run's process group, waits, then KILLs.

    A run no worker has accepted yet is cancelled at once; the run ends ``cancelled`` either way.
    """
    found = await _run(parts, request.run_id)
    if found.state in FINAL_STATES:
        raise Conflict("run_finished", f"run {found.id} already ended ({found.state})")
    session = parts.hub.session(found.worker)
    if found.state != RunState.PENDING and session is None:
        raise Conflict("worker_offline", f"worker {found.worker!r} is not connected; cannot stop run {found.id}")
    if session is not None:
        session.send(Cancel(run_id=found.id))
    if found.state == RunState.PENDING:
        await parts.store.settle_pending([found.id], RunState.CANCELLED, Reason.CANCELLED)
    return await _run(parts, found.id)


@implements(ops.FAILED)
async def failed(parts: Parts, request: r.Failed) -> list[RunRecord]:
    """Runs that failed, timed out or were lost, newest first."""
    return await parts.store.failed(request.limit, request.before)


async def _run(parts: Parts, run_id: int) -> RunRecord:
    found = await parts.store.run(run_id)
    if found is None:
        raise NotFound("run_not_found", f"no run with id {run_id}")
    return found
