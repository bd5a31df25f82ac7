"""The worker's link to the server: hello, heartbeats, dispatches in, events out, reconnects.

Runs belong to the agent, not to a connection: a run keeps going when the connection drops,
and its events wait in the outbox (on disk) until a connection delivers them and the server
acknowledges them. The agent tries its server URLs in turn, forever by default, with capped
exponential backoff and jitter between rounds.

Stopping (SIGTERM) is a drain: every run is stopped as its schedule says (stop signal, wait,
KILL) and reported ``cancelled``; the reports are saved, and sent if a server is reachable
within :data:`_DELIVER_SECONDS`, else on the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

import barto
from barto.config import WorkerConfig
from barto.config._load import KeyedError
from barto.config.programs import ProgramDef, check_programs
from barto.config.worker import UnixHttpServer
from barto.model import StopReason
from barto.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Accepted,
    Ack,
    Cancel,
    Control,
    ControlReply,
    Dispatch,
    Finished,
    Heartbeat,
    Hello,
    HostInfo,
    Job,
    Programs,
    ProtocolError,
    Refused,
    Rejection,
    RunEvent,
    Welcome,
    decode_to_worker,
    encode,
    pack,
)
from barto.protocol.keys import Rejected, decode_key
from barto.worker.executor import execute
from barto.worker.outbox import Outbox
from barto.worker.process import kill_leftover
from barto.worker.programs import control
from barto.worker.programs.feed import Feed
from barto.worker.programs.supervisor import Hooks, Supervisor

if TYPE_CHECKING:
    from barto.protocol.signing import Verifier

log = logging.getLogger("barto.worker")

_BACKOFF_CAP = 60.0
_DELIVER_SECONDS = 5.0  # at shutdown, how long to wait for the server to acknowledge the last events
_SESSION_ERRORS = (OSError, TimeoutError, WebSocketException, ProtocolError)


class GaveUpError(Exception):
    """``retry_count`` consecutive connection attempts failed."""


class SessionError(Exception):
    """The server refused us, broke the protocol or went silent; we reconnect."""


class StandbyError(SessionError):
    """The server is a standby (another instance leads, or one is being chosen)."""


def host_info() -> HostInfo:
    """Facts about this machine for ``barto-cli clients``."""
    uname = platform.uname()
    return HostInfo(
        hostname=socket.gethostname(),
        os_name=uname.system,
        os_version=platform.freedesktop_os_release().get("PRETTY_NAME", uname.version)
        if uname.system == "Linux"
        else uname.version,
        kernel=uname.release,
        python=platform.python_version(),
    )


class _Execution:
    """A run being executed: its task and the future that asks it to stop."""

    def __init__(self, task: asyncio.Task[None], request: asyncio.Future[StopReason]) -> None:
        self.task = task
        self.request = request

    def stop(self, reason: StopReason) -> None:
        if not self.request.done():
            self.request.set_result(reason)


class Agent:
    """One worker process's link to bartos and the runs it executes."""

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
        self._env = env
        self._outbox = outbox
        self._executing: dict[int, _Execution] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()
        self._connected = False
        key, window = config.server_public_key, config.replay_window_secs
        self._verifier = _verifier(decode_key(key), window) if key else None
        self._feed = Feed(lambda: self.programs.snapshot())
        hooks = Hooks(
            spawned=outbox.track_program,
            reaped=outbox.untrack_program,
            changed=self._feed.changed,
            output=self._feed.output,
            updated=self._feed.programs_changed,
        )
        self.programs = Supervisor(config.programs, log_dir=config.program_logs(env), env=env, hooks=hooks)
        self._controls = control.Control(self.programs, shutdown=self.stop, reread=self._reread_programs)
        if self._verifier is not None:
            log.info("only signed frames are acted on (server key fingerprint %s)", self._verifier.fingerprint)

    def stop(self) -> None:
        """Begin a graceful stop (the first SIGTERM/SIGINT)."""
        self._stopping.set()

    async def run(self) -> None:
        """Supervise the programs, connect, serve and reconnect until stopped (or out of
        retries). Whichever way it ends, the programs are stopped first: none outlives bartoc."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                helpers = [tasks.create_task(self._outbox.keep()), tasks.create_task(self.programs.run())]
                if (control := self._config.unix_http_server) is not None:
                    helpers.append(tasks.create_task(self._control(control)))
                link = tasks.create_task(self._connect_forever())
                self._report_interrupted()
                await self._stopping.wait()
                await asyncio.gather(self._drain(), self.programs.shutdown())
                for task in (link, *helpers):
                    task.cancel()
        finally:
            await asyncio.shield(self.programs.shutdown())

    async def _control(self, settings: UnixHttpServer) -> None:
        """The local control socket; a relative ``file`` is relative to the config file's directory."""
        await self._controls.serve(self._config_dir / settings.file, settings.chmod, settings.chown)

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
            assert self._tasks is not None  # set in run()
            self._tasks.create_task(self._update_programs())

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

    def _report_interrupted(self) -> None:
        """Runs that were executing when a previous bartoc died: what they left running is
        killed, and as their outcome is unknown they are reported lost."""
        for pgid, ticks in self._outbox.leftovers:
            if kill_leftover(pgid, ticks):
                log.warning("killed process group %d, left running by the previous bartoc", pgid)
            self._outbox.untrack_program(pgid)  # a program's record goes now; a run's with its report
        now = datetime.now(UTC)
        for run_id in self._outbox.interrupted:
            log.warning("run %d was interrupted by the previous bartoc's death; reporting it lost", run_id)
            self._emit(
                Finished(
                    run_id=run_id,
                    started_at=now,
                    finished_at=now,
                    lines=None,
                    exit_code=None,
                    stopped=StopReason.RESTART,
                )
            )

    async def _drain(self) -> None:
        """Stop every run, save their reports, and give the server a moment to take them."""
        log.info("stopping: %d runs to stop", len(self._executing))
        for execution in self._executing.values():
            execution.stop(StopReason.SHUTDOWN)
        if self._executing:
            await asyncio.wait([e.task for e in self._executing.values()])
        await self._outbox.flush()
        if self._connected:
            try:
                async with asyncio.timeout(_DELIVER_SECONDS):
                    await self._outbox.settled()
            except TimeoutError:
                log.warning("the server did not acknowledge every event; they are sent on the next start")

    # -- connections -----------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        """Try the URLs in turn. A standby's refusal is not a failure: a leader is there or being
        chosen, so the next round comes soon and ``retry_count`` does not count it."""
        urls = self._config.bartos.worker_urls()
        index = failures = 0
        electing = False
        while True:
            outcome = await self._try(urls[index])
            if outcome == "welcomed":
                failures = 0
                await asyncio.sleep(_backoff(0))
                continue
            electing |= outcome == "standby"
            failures += outcome == "failed"
            if self._config.retry_count > 0 and failures >= self._config.retry_count:
                raise GaveUpError(f"gave up after {failures} failed connection attempts to {', '.join(urls)}")
            index = (index + 1) % len(urls)
            if index == 0:  # every URL failed this round
                await asyncio.sleep(random.uniform(0.5, 1.0) if electing else _backoff(failures // len(urls)))
                electing = False

    async def _try(self, url: str) -> Literal["welcomed", "standby", "failed"]:
        """One session on ``url``."""
        try:
            return "welcomed" if await self._session(url) else "failed"
        except StandbyError as error:
            log.info("%s is a standby: %s", url, error)
            return "standby"
        except (*_SESSION_ERRORS, SessionError) as error:
            log.warning("cannot connect to %s: %s", url, error)
            return "failed"

    async def _session(self, url: str) -> bool:
        headers = {"Authorization": f"Bearer {self._config.bartos.api_key}"} if self._config.bartos.api_key else {}
        async with connect(
            url,
            additional_headers=headers,
            max_size=MAX_FRAME_BYTES,
            ping_interval=None,  # liveness is the protocol's heartbeat (docs/protocol.md)
            open_timeout=10,
            close_timeout=2,
            ssl=self._ssl(url),
        ) as ws:
            welcome = await self._handshake(ws)
            self._server_programs_changed(welcome.programs)
            log.info("connected to %s as %r (session %s)", url, self._config.name, welcome.session)
            self._connected = True
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._read(ws, welcome.timeout_seconds))
                    tg.create_task(self._write(ws))
                    tg.create_task(self._beat(ws, welcome.heartbeat_seconds))
                    tg.create_task(self._tell_programs(ws))
            except* (*_SESSION_ERRORS, SessionError) as group:
                log.warning("session with %s ended: %s", url, group.exceptions[0])
            finally:
                self._connected = False
            return True

    def _ssl(self, url: str) -> ssl.SSLContext | None:
        """Our TLS settings for a ``wss://`` URL (also one from ``urls``), none for ``ws://``."""
        return self._config.bartos.ssl_context() if url.startswith("wss://") else None

    async def _handshake(self, ws: ClientConnection) -> Welcome:
        runs = sorted(set(await self._outbox.known_runs()).union(self._executing))
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            name=self._config.name,
            version=barto.__version__,
            host=host_info(),
            runs=runs,
            owed=self._outbox.owed,
        )
        await ws.send(encode(hello).decode())
        async with asyncio.timeout(10):
            try:
                messages = decode_to_worker(self._open(await ws.recv()))
            except Rejected as error:
                raise SessionError(f"the server's answer to our hello was rejected: {error}") from None
        answer = messages[0] if len(messages) == 1 else None
        if isinstance(answer, Refused) and answer.code == "not_leader":
            raise StandbyError(answer.reason)
        if isinstance(answer, Refused):
            raise SessionError(f"server refused us ({answer.code}): {answer.reason}")
        if not isinstance(answer, Welcome):
            raise SessionError("expected a welcome, alone in its frame")
        return answer

    async def _read(self, ws: ClientConnection, timeout: float) -> None:
        """Handle the server's frames; silence for ``timeout`` seconds means the link is dead."""
        while True:
            try:
                async with asyncio.timeout(timeout):
                    frame = await ws.recv()
            except TimeoutError:
                raise SessionError(f"server silent for {timeout:g} s") from None
            try:
                messages = decode_to_worker(self._open(frame))
            except Rejected as error:  # acted on not at all; the server hears of it
                log.warning("dropped a frame from the server: %s", error)
                await ws.send(encode(Rejection(reason=str(error))).decode())
                continue
            for message in messages:
                if isinstance(message, Control):
                    assert self._tasks is not None  # set in run()
                    self._tasks.create_task(self._answer(ws, message))
                else:
                    await self._handle(message)

    def _open(self, frame: str | bytes) -> str | bytes:
        """The frame to decode: with ``server_public_key``, only what a valid seal carried.

        Raises:
            Rejected: unsigned, badly signed, stale or replayed.
        """
        if self._verifier is None:
            return frame
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        return self._verifier.open(text, time.time())

    async def _handle(self, message: object) -> None:
        match message:
            case Dispatch(jobs=jobs):
                await self._accept(jobs)
            case Ack(eid=eid):
                self._outbox.ack(eid)
            case Cancel(run_id=run_id):
                self._cancel(run_id)
            case Programs(programs=programs):
                self._server_programs_changed(programs)
            case Heartbeat():
                pass
            case _:
                raise SessionError(f"unexpected {type(message).__name__} during a session")

    async def _write(self, ws: ClientConnection) -> None:
        """Send saved events from the last acknowledged one on, packed into as few frames as fit."""
        after = self._outbox.acked
        while True:
            items = await self._outbox.after(after)
            for frame, _ in pack([body for _, body in items]):
                await ws.send(frame.decode())
            after = items[-1][0]

    async def _tell_programs(self, ws: ClientConnection) -> None:
        """Program news for the server (the feed bounds it), from a snapshot on."""
        self._feed.connected()
        while True:
            messages = await self._feed.take()
            for frame, _ in pack([encode(m) for m in messages]):
                await ws.send(frame.decode())
            await self._feed.pace(messages)

    async def _answer(self, ws: ClientConnection, request: Control) -> None:
        """Do a control request that came through the server and send the answer back (a stop
        may take a while: it does not hold up the session)."""
        log.info("control request from the server: %s", request.request)
        response = await self._controls.handle(request.request)
        try:
            await ws.send(encode(ControlReply(id=request.id, response=response)).decode())
        except (*_SESSION_ERRORS, ConnectionError) as error:
            log.warning("could not answer control request %d: %s", request.id, error)

    async def _beat(self, ws: ClientConnection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await ws.send(encode(Heartbeat(ts=datetime.now(UTC))).decode())

    # -- runs ------------------------------------------------------------------------------

    async def _accept(self, jobs: list[Job]) -> None:
        """Take the runs: the acceptance is on disk (and on its way) before any of them starts,
        so a run that started is never one this worker could forget. A run it already has (sent
        again by a second server that briefly also believed it led) is not run twice."""
        fresh = [job for job in jobs if job.run_id not in self._executing and not self._outbox.holds(job.run_id)]
        if self._stopping.is_set() or not fresh:
            return  # the server accounts for runs a stopping worker did not accept
        self._emit(Accepted(run_ids=[job.run_id for job in fresh]))
        await self._outbox.flush()
        assert self._tasks is not None  # set in run()
        loop = asyncio.get_running_loop()
        for job in fresh:
            request: asyncio.Future[StopReason] = loop.create_future()
            task = self._tasks.create_task(self._execute(job, request))
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

    def _cancel(self, run_id: int) -> None:
        execution = self._executing.get(run_id)
        if execution is None:
            log.info("cancel of run %d: not running here", run_id)
            return
        log.info("cancelling run %d", run_id)
        execution.stop(StopReason.CANCEL)

    def _emit(self, event: RunEvent) -> None:
        self._outbox.add(event)


def _verifier(public: bytes, window: float) -> Verifier:
    """The checker of the server's seals (cryptography is loaded only by workers that check)."""
    from barto.protocol.signing import Verifier

    return Verifier(public, window)


def _backoff(rounds: int) -> float:
    """Capped exponential backoff with jitter: ~0.2 s after a good session, then 1, 1.5, 2.3 ... 60 s
    (each between half and all of that). A gentle factor: a restarting server is back in seconds,
    and the jitter already keeps a fleet from reconnecting in step."""
    if rounds == 0:
        return random.uniform(0.1, 0.3)
    ceiling = min(_BACKOFF_CAP, 1.5 ** (rounds - 1))
    return random.uniform(ceiling / 2, ceiling)


def environment() -> dict[str, str]:
    """The environment jobs inherit from (scrubbed per job by the executor)."""
    return dict(os.environ)
