"""A worker process: its link to the server, the runs it executes and the programs it
supervises, wired together (barto.worker.link, .jobs, .programs).

Stopping (SIGTERM) is a drain: every run is stopped as its schedule says (stop signal, wait,
KILL) and reported ``cancelled``; the reports are saved, and sent if a server is reachable
within :data:`_DELIVER_SECONDS`, else on the next start. The programs are stopped too, and
whichever way bartoc ends, none outlives it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from barto.config import WorkerConfig
from barto.config._load import KeyedError
from barto.config.programs import ProgramDef, check_programs
from barto.config.worker import UnixHttpServer
from barto.protocol import Ack, Cancel, Dispatch, Heartbeat, Programs, Welcome
from barto.worker.jobs import Jobs
from barto.worker.link import GaveUpError, Link, SessionError
from barto.worker.outbox import Outbox
from barto.worker.programs import control
from barto.worker.programs.feed import Feed
from barto.worker.programs.supervisor import Hooks, Supervisor

__all__ = ["Agent", "GaveUpError", "environment"]

log = logging.getLogger("barto.worker")

_DELIVER_SECONDS = 5.0  # at shutdown, how long to wait for the server to acknowledge the last events


class Agent:
    """One worker process: its link to bartos, the runs it executes, the programs it supervises."""

    def __init__(
        self,
        config: WorkerConfig,
        env: Mapping[str, str],
        outbox: Outbox,
        config_dir: Path = Path(),
        reload: Callable[[], WorkerConfig] | None = None,
    ) -> None:
        self._config = config
        self._config_dir = config_dir
        self._reload = reload or (lambda: config)
        self._local_programs = config.programs
        self._server_programs: dict[str, ProgramDef] = {}
        self._programs_lock = asyncio.Lock()  # one update of the program set at a time
        self._outbox = outbox
        self._group: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()
        self._feed = Feed(lambda: self.programs.snapshot())
        hooks = Hooks(
            spawned=outbox.track_program,
            saved=outbox.flush,
            reaped=outbox.untrack_program,
            changed=self._feed.changed,
            output=self._feed.output,
            updated=self._feed.programs_changed,
        )
        self.programs = Supervisor(
            config.programs, log_dir=config.program_logs(env), env=env, hooks=hooks, here=config_dir
        )
        self._controls = control.Control(self.programs, shutdown=self.stop, reread=self._reread_programs)
        self._jobs = Jobs(env, outbox, self._tasks)
        self._link = Link(
            config,
            outbox,
            self._feed,
            runs=self._jobs.running,
            on_welcome=self._welcomed,
            on_message=self._handle,
            on_control=self._controls.handle,
            tasks=self._tasks,
        )

    def stop(self) -> None:
        """Begin a graceful stop (the first SIGTERM/SIGINT)."""
        self._stopping.set()

    async def run(self) -> None:
        """Supervise the programs, connect, serve and reconnect until stopped (or out of
        retries). Whichever way it ends, the programs are stopped first: none outlives bartoc."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                helpers = [group.create_task(self._outbox.keep()), group.create_task(self.programs.run())]
                if (settings := self._config.unix_http_server) is not None:
                    helpers.append(group.create_task(self._control(settings)))
                link = group.create_task(self._link.run())
                self._jobs.report_interrupted()
                await self._stopping.wait()
                drained = self._jobs.drain(lambda: self._link.connected, _DELIVER_SECONDS)
                await asyncio.gather(drained, self.programs.shutdown())
                self._link.stop()
                for task in (link, *helpers):
                    task.cancel()
        finally:
            await asyncio.shield(self.programs.shutdown())

    def _tasks(self) -> asyncio.TaskGroup:
        """The agent's task group: every run, control answer and program update is one of its
        tasks, so none outlives :meth:`run`."""
        assert self._group is not None  # set in run(), before anything can ask
        return self._group

    async def _control(self, settings: UnixHttpServer) -> None:
        """The local control socket; a relative ``file`` is relative to the config file's directory."""
        await self._controls.serve(self._config_dir / settings.file, settings.chmod, settings.chown)

    def _welcomed(self, welcome: Welcome) -> None:
        self._server_programs_changed(welcome.programs)

    async def _handle(self, message: object) -> None:
        match message:
            case Dispatch(jobs=jobs):
                await self._jobs.accept(jobs)
            case Ack(eid=eid):
                self._outbox.ack(eid)
            case Cancel(run_id=run_id):
                self._jobs.cancel(run_id)
            case Programs(programs=programs):
                self._server_programs_changed(programs)
            case Heartbeat():
                pass
            case _:
                raise SessionError(f"unexpected {type(message).__name__} during a session")

    # -- programs --------------------------------------------------------------------------

    def _reread_programs(self) -> dict[str, ProgramDef]:
        """A local reload (control socket): the config file's programs, merged with the server's.

        Raises:
            ConfigError: when the file does not load (nothing changes).
        """
        self._local_programs = self._reload().programs
        return self._merged_programs()

    def _server_programs_changed(self, raw: dict[str, Any]) -> None:
        """The server's definitions for this worker (at the welcome, and when it reloads)."""
        found: dict[str, ProgramDef] = {}
        for name, data in raw.items():
            try:
                found[name] = msgspec.convert(data, ProgramDef)
            except msgspec.ValidationError as error:
                log.warning("the server's program %s is not valid here, ignored: %s", name, error)
        if found != self._server_programs:
            self._server_programs = found
            self._tasks().create_task(self._update_programs())

    async def _update_programs(self) -> None:
        async with self._programs_lock:
            await self.programs.update(self._merged_programs())

    def _merged_programs(self) -> dict[str, ProgramDef]:
        """The server's programs and the local ones; the local definition wins for a name both have."""
        for name in sorted(set(self._server_programs) & set(self._local_programs)):
            log.info("program %s is defined here and by the server; the local definition is used", name)
        merged = {**self._server_programs, **self._local_programs}
        try:
            check_programs(merged)
        except KeyedError as error:
            log.error("the server's programs do not fit with the local ones (%s); only the local ones run", error)
            return dict(self._local_programs)
        return merged


def environment() -> dict[str, str]:
    """The environment jobs inherit from (scrubbed per job by the executor)."""
    return dict(os.environ)
