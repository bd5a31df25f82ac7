"""The runs a worker executes: accepted on disk before they start, stopped as their schedule
says, reported through the outbox. A run belongs to the worker, not to a connection: it keeps
going when the link drops, and its events wait in the outbox until the server has them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import msgspec

from barto.model import StopReason
from barto.protocol import Accepted, Finished, Job, RunEvent
from barto.worker.executor import execute
from barto.worker.outbox import Outbox
from barto.worker.process import kill_leftover

log = logging.getLogger("barto.worker")


class _Execution:
    """A run being executed: its task and the future that asks it to stop."""

    def __init__(self, task: asyncio.Task[None], request: asyncio.Future[StopReason]) -> None:
        self.task = task
        self.request = request

    def stop(self, reason: StopReason) -> None:
        if not self.request.done():
            self.request.set_result(reason)


class Jobs:
    """The runs of one worker process."""

    def __init__(self, env: Mapping[str, str], outbox: Outbox, tasks: Callable[[], asyncio.TaskGroup]) -> None:
        self._env = env
        self._outbox = outbox
        self._tasks = tasks  # every run is a task of the agent's group: none outlives it
        self._executing: dict[int, _Execution] = {}
        self.stopping = False

    def running(self) -> set[int]:
        """The ids of the runs executing now."""
        return set(self._executing)

    def report_interrupted(self) -> None:
        """Runs that were executing when a previous bartoc died: what they left running is
        killed, and as their outcome is unknown they are reported lost."""
        for pgid, ticks in self._outbox.leftovers:
            if kill_leftover(pgid, ticks):
                log.warning("killed process group %d, left running by the previous bartoc", pgid)
            self._outbox.untrack_program(pgid)  # a program's record goes now; a run's with its report
        for run_id in self._outbox.interrupted:
            log.warning("run %d was interrupted by the previous bartoc's death; reporting it lost", run_id)
            self._emit(msgspec.structs.replace(self._failed(run_id, None), stopped=StopReason.RESTART))

    @staticmethod
    def _failed(run_id: int, error: str | None) -> Finished:
        """The report of a run whose outcome this worker does not know (``error``: why)."""
        now = datetime.now(UTC)
        return Finished(run_id=run_id, started_at=now, finished_at=now, lines=None, exit_code=None, error=error)

    async def drain(self, connected: Callable[[], bool], deliver_seconds: float) -> None:
        """Stop every run, save their reports, and give the server (while ``connected``) up to
        ``deliver_seconds`` to take them."""
        self.stopping = True
        log.info("stopping: %d runs to stop", len(self._executing))
        for execution in self._executing.values():
            execution.stop(StopReason.SHUTDOWN)
        if self._executing:
            await asyncio.wait([e.task for e in self._executing.values()])
        await self._outbox.flush()
        if connected():
            try:
                async with asyncio.timeout(deliver_seconds):
                    await self._outbox.settled()
            except TimeoutError:
                log.warning("the server did not acknowledge every event; they are sent on the next start")

    async def accept(self, jobs: list[Job]) -> None:
        """Take the runs: the acceptance is on disk (and on its way) before any of them starts,
        so a run that started is never one this worker could forget. A run it already has (sent
        again by a second server that briefly also believed it led) is not run twice."""
        unique: dict[int, Job] = {}
        for job in jobs:  # a run twice in one frame runs once
            unique.setdefault(job.run_id, job)
        fresh = [j for j in unique.values() if j.run_id not in self._executing and not self._outbox.holds(j.run_id)]
        if self.stopping or not fresh:
            return  # the server accounts for runs a stopping worker did not accept
        self._emit(Accepted(run_ids=[job.run_id for job in fresh]))
        await self._outbox.flush()
        loop = asyncio.get_running_loop()
        for job in fresh:
            request: asyncio.Future[StopReason] = loop.create_future()
            task = self._tasks().create_task(self._execute(job, request))
            self._executing[job.run_id] = _Execution(task, request)

    async def _execute(self, job: Job, request: asyncio.Future[StopReason]) -> None:
        log.debug("run %d (%s) starting", job.run_id, job.schedule)
        try:
            finished = await execute(
                job,
                base_env=self._env,
                emit=self._emit,
                request=request,
                on_spawn=lambda pid: self._outbox.track(job.run_id, pid),
            )
        except Exception as error:  # a bug, or a job nothing could run: that run fails, not bartoc
            log.exception("run %d (%s) could not be executed", job.run_id, job.schedule)
            finished = self._failed(job.run_id, f"bartoc could not execute it: {type(error).__name__}: {error}")
            self._emit(finished)
        finally:
            del self._executing[job.run_id]
        log.info(
            "run %d (%s) finished: exit %s signal %s%s",
            job.run_id,
            job.schedule,
            finished.exit_code,
            finished.signal,
            f" ({finished.stopped})" if finished.stopped else "",
        )

    def cancel(self, run_id: int) -> None:
        execution = self._executing.get(run_id)
        if execution is None:
            log.info("cancel of run %d: not running here", run_id)
            return
        log.info("cancelling run %d", run_id)
        execution.stop(StopReason.CANCEL)

    def _emit(self, event: RunEvent) -> None:
        self._outbox.add(event)
