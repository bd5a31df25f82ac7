"""The server's own worker, ``@rq``: it runs the schedules of ``[schedules."@rq"]`` by
enqueuing Python RQ jobs, and follows each job until it ends (docs/rq.md).

It is a worker as the scheduler sees it: a session in the hub that the leader dispatches runs
to and cancels runs on, and whose events (accepted, started, output, finished) go through the
same ingest into the same store as a bartoc's. So every feature of a schedule applies as it
is: calendars and zones, catch-up, overlap (judged on the runs, whose states follow the RQ
jobs), pause, run-now, backfill, retries, retention, alerts, metrics.

Exactly once: a run's RQ job id is derived from its slot (barto.server.rq.calls.job_id) and
enqueued with ``unique=True``; when this leader starts, it enqueues the runs still pending
(claimed by a leader that may have died before or after enqueuing: the id tells) and follows
the ones already dispatched. A Redis that cannot be reached keeps a run waiting, tried again
every second, until ``queue_ttl`` seconds after its slot; then it is ``missed: redis unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import redis

import barto
from barto.config.server import Redis, ScheduleDef
from barto.model import Reason, RunRecord, RunState, StopReason, Stream
from barto.protocol import Accepted, Cancel, Dispatch, Finished, HostInfo, Job, Output, Started
from barto.rules import RQ_WORKER
from barto.server.gateway.hub import Hub, Session
from barto.server.gateway.ingest import Ingest
from barto.server.rq import calls
from barto.store import Store

log = logging.getLogger("barto.server.rq")
T = TypeVar("T")

POLL_SECONDS = 0.5
LINES_MAX = 1000  # of a result's text, as output lines
_HOST = HostInfo(
    hostname=socket.gethostname(), os_name="bartos", os_version=barto.__version__, kernel=platform.release(),
    python=platform.python_version(),
)  # fmt: skip


@dataclass
class _Followed:
    """A run whose job is in Redis: until it ends."""

    run_id: int
    job_id: str
    target: str
    started: bool = False


@dataclass
class _Waiting:
    """A run not enqueued yet (its Redis could not be reached): tried again until ``until``."""

    item: calls.Enqueue
    target: str
    until: datetime


@dataclass
class RqBridge:
    """The ``@rq`` worker of one leader's term."""

    targets: Mapping[str, Redis]
    hub: Hub
    ingest: Ingest
    store: Store
    definition_of: Callable[[str], ScheduleDef | None]  # an @rq schedule by name, as the scheduler holds it
    _clients: dict[str, redis.Redis] = field(default_factory=dict)
    _followed: dict[int, _Followed] = field(default_factory=dict)
    _waiting: list[_Waiting] = field(default_factory=list)
    _eid: int = 0
    _session: Session | None = None
    _idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while no dispatch is being enqueued
    _io: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="barto-rq"))

    async def run(self) -> None:
        """Be ``@rq`` until cancelled (the term ends)."""
        session = Session(RQ_WORKER, barto.__version__, _HOST)
        if not self.hub.register(session):
            log.error("%s is connected already (a worker of that name?): RQ schedules do not run", RQ_WORKER)
            return
        self._session = session
        self._idle.set()
        try:
            await self._resume(await self.store.unfinished_runs())
            session.ready = True
            async with asyncio.TaskGroup() as tg:
                poller = tg.create_task(self._poll())
                await self._read(session)  # until the hub closes the session: the term ends
                poller.cancel()
        finally:
            self.hub.unregister(session)
            self._io.shutdown(wait=False, cancel_futures=True)
            for client in self._clients.values():
                client.close()

    # -- taking runs ---------------------------------------------------------------------------

    async def _read(self, session: Session) -> None:
        while (message := await session.outbound.get()) is not None:
            if isinstance(message, Dispatch):
                self._idle.clear()  # a burst goes to Redis before anything is looked at
                try:
                    await self._take(message.jobs)
                finally:
                    self._idle.set()
            elif isinstance(message, Cancel):
                await self._cancel(message.run_id)

    async def _take(self, jobs: list[Job]) -> None:
        """Enqueue dispatched runs; those that cannot be, wait (or end failed: no such schedule)."""
        now = datetime.now(UTC)
        entries = []
        for job in jobs:
            definition = self.definition_of(job.schedule)
            if definition is None or definition.rq is None or definition.redis not in self.targets:
                self._finish(job.run_id, now, now, exit_code=None, error="no RQ schedule of that name any more")
                continue
            entries.append(self._entry(job.run_id, job.schedule, job.slot, job.attempt, definition))
        failed = await self._enqueue(entries)
        self._waiting.extend(failed)

    @staticmethod
    def _entry(run_id: int, schedule: str, slot: datetime, attempt: int, definition: ScheduleDef) -> _Waiting:
        assert definition.rq is not None  # an @rq schedule (checked by the caller)
        item = calls.Enqueue(run_id, calls.job_id(schedule, slot, attempt), definition.rq,
                             f"barto {schedule} {slot.isoformat()}")  # fmt: skip
        return _Waiting(item, definition.redis, slot + timedelta(seconds=definition.queue_ttl))

    async def _enqueue(self, entries: list[_Waiting], *, again: bool = False) -> list[_Waiting]:
        """Enqueue runs, in one call per Redis (pipelined: calls.enqueue_many), or find their
        jobs there; those whose Redis cannot be reached are returned, to wait (logged unless
        tried ``again``). A Redis that does not answer costs one timeout."""
        by_target: dict[str, list[_Waiting]] = {}
        for entry in entries:
            by_target.setdefault(entry.target, []).append(entry)
        waiting = []
        for target, group in by_target.items():
            try:
                fresh = await self._call(target, calls.enqueue_many, [e.item for e in group])
            except calls.REDIS_ERRORS as error:
                if not again:
                    log.warning("cannot enqueue %d runs into redis %s, trying again: %s", len(group), target, error)
                waiting += group
                continue
            self._enqueued(group, fresh)
        return waiting

    def _enqueued(self, chunk: list[_Waiting], fresh: list[bool]) -> None:
        found = sum(not new for new in fresh)
        if found:
            log.info("%d RQ jobs were enqueued already (by an earlier leader); following them", found)
        for entry in chunk:
            self._followed[entry.item.run_id] = _Followed(entry.item.run_id, entry.item.job_id, entry.target)
        run_ids = [entry.item.run_id for entry in chunk]
        self.hub.accepted(RQ_WORKER, run_ids)
        self._emit(Accepted(eid=self._next(), run_ids=run_ids))

    async def _resume(self, unfinished: list[RunRecord]) -> None:
        """At the start of a term: enqueue the runs still pending (unique ids make that safe
        whether or not the last leader did) and follow those already enqueued."""
        pending = []
        for run in (r for r in unfinished if r.worker == RQ_WORKER):
            definition = self.definition_of(run.schedule)
            if definition is None or definition.rq is None or definition.redis not in self.targets:
                continue  # a run of a schedule that is gone: settled like any worker's (lost after)
            if run.state == RunState.PENDING:
                pending.append(self._entry(run.id, run.schedule, run.slot, run.attempt, definition))
            else:
                wanted = calls.job_id(run.schedule, run.slot, run.attempt)
                started = run.state == RunState.RUNNING
                self._followed[run.id] = _Followed(run.id, wanted, definition.redis, started=started)
        failed = await self._enqueue(pending)
        self._waiting.extend(failed)
        if self._followed or self._waiting:
            log.info("%s: following %d RQ jobs, %d runs wait for Redis", RQ_WORKER, len(self._followed),
                     len(self._waiting))  # fmt: skip

    async def _cancel(self, run_id: int) -> None:
        followed = self._followed.get(run_id)
        if followed is None:
            return
        try:
            await self._call(followed.target, calls.cancel, followed.job_id)
        except calls.REDIS_ERRORS as error:
            log.warning("cannot cancel run %d's RQ job %s: %s", run_id, followed.job_id, error)

    # -- following jobs ------------------------------------------------------------------------

    async def _poll(self) -> None:
        """Where each followed job is (one round trip per Redis), and another try for the runs
        waiting for their Redis: every :data:`POLL_SECONDS`, or less often while a look takes
        long (a burst of thousands of jobs), so that following never takes more than a fifth of
        the time from enqueuing."""
        pause = POLL_SECONDS
        while True:
            await asyncio.sleep(pause)
            await self._idle.wait()
            began = time.monotonic()
            await self._retry()
            await self._look()
            pause = max(POLL_SECONDS, 4 * (time.monotonic() - began))

    async def _look(self) -> None:
        by_target: dict[str, list[_Followed]] = {}
        for followed in self._followed.values():
            by_target.setdefault(followed.target, []).append(followed)
        for target, runs in by_target.items():
            try:
                seen = await self._call(target, calls.look, [f.job_id for f in runs])
            except calls.REDIS_ERRORS as error:
                log.warning("cannot reach redis %s to follow %d jobs: %s", target, len(runs), error)
                continue
            for followed, job in zip(runs, seen, strict=True):
                self._saw(followed, job)

    async def _retry(self) -> None:
        """Another try for the runs waiting for their Redis; those past their ``queue_ttl`` are missed."""
        now = datetime.now(UTC)
        expired = [w for w in self._waiting if w.until <= now]
        self._waiting = [w for w in self._waiting if w.until > now]
        if self._waiting:
            trying, self._waiting = self._waiting, []  # runs dispatched meanwhile join the new list
            failed = await self._enqueue(trying, again=True)
            self._waiting.extend(failed)
        if expired:
            await self.store.miss([w.item.run_id for w in expired], Reason.REDIS_UNAVAILABLE)
            log.warning("%d RQ runs missed: their Redis could not be reached in time", len(expired))

    def _saw(self, followed: _Followed, job: calls.Seen) -> None:
        now = datetime.now(UTC)
        if job.status is None:
            del self._followed[followed.run_id]
            self._finish(followed.run_id, now, now, exit_code=None, error=Reason.RQ_JOB_GONE.value)
            return
        if job.started_at is not None and not followed.started:
            followed.started = True
            self._emit(Started(eid=self._next(), run_id=followed.run_id, ts=job.started_at))
        if job.status not in calls.FINAL.values():
            return
        del self._followed[followed.run_id]
        ended = job.ended_at or now
        lines = self._text(followed.run_id, job, ended)
        stopped = StopReason.CANCEL if job.status in ("stopped", "canceled") else None
        exit_code = None if stopped else 0 if job.status == "finished" else 1
        self._finish(followed.run_id, job.started_at or ended, ended, exit_code=exit_code, error=job.error,
                     stopped=stopped, lines=lines)  # fmt: skip

    def _text(self, run_id: int, job: calls.Seen, at: datetime) -> int:
        """The job's result (stdout) or exception (stderr) as the run's output; how many lines."""
        lines = job.text.splitlines()[:LINES_MAX] if job.text else []
        if lines:
            stream = Stream.STDOUT if job.status == "finished" else Stream.STDERR
            self._emit(Output(eid=self._next(), run_id=run_id, seq=1, stream=stream, ts=at, lines=lines))
        return len(lines)

    # -- events --------------------------------------------------------------------------------

    def _finish(self, run_id: int, started: datetime, ended: datetime, **how: Any) -> None:
        lines = how.pop("lines", 0)
        self._emit(Finished(eid=self._next(), run_id=run_id, started_at=started, finished_at=ended, lines=lines, **how))

    def _emit(self, event: Accepted | Started | Output | Finished) -> None:
        assert self._session is not None
        self.ingest.put(self._session, event)

    def _next(self) -> int:
        self._eid += 1
        return self._eid

    async def _call(self, target: str, function: Callable[..., T], *args: Any) -> T:
        client = self._clients.get(target)
        if client is None:
            client = self._clients[target] = calls.connect(self.targets[target])
        return await asyncio.get_running_loop().run_in_executor(self._io, function, client, *args)
