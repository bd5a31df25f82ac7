"""The worker's connection to the server: hello, heartbeats, dispatches in, events out, reconnects.

Runs belong to the agent, not to a connection: a run keeps going when the connection drops and
its events wait (in order) until the next connection sends them. Events leave the queue only
once a send succeeded. (Issue 4 moves this queue into the SQLite outbox and deletes on ack.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

import barto
from barto.config import WorkerConfig
from barto.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Accepted,
    Ack,
    Dispatch,
    Heartbeat,
    Hello,
    HostInfo,
    Job,
    ProtocolError,
    Refused,
    ToServer,
    Welcome,
    decode_to_worker,
    encode,
    pack,
)
from barto.worker.executor import execute

log = logging.getLogger("barto.worker")

_BACKOFF_CAP = 60.0


class GaveUpError(Exception):
    """``retry_count`` consecutive connection attempts failed."""


class SessionError(Exception):
    """The server refused us or broke the protocol; the session ends and we reconnect."""


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


class Agent:
    """One worker process's link to bartos and the runs it executes."""

    def __init__(self, config: WorkerConfig, env: Mapping[str, str]) -> None:
        self._config = config
        self._env = env
        self._events: deque[ToServer] = deque()
        self._has_events = asyncio.Event()
        self._runs: asyncio.TaskGroup | None = None

    async def run(self) -> None:
        """Connect, serve and reconnect until cancelled (or out of retries)."""
        async with asyncio.TaskGroup() as runs:
            self._runs = runs
            await self._connect_forever()

    async def _connect_forever(self) -> None:
        failures = 0
        while True:
            welcomed = False
            try:
                welcomed = await self._session()
            except (OSError, TimeoutError, WebSocketException, SessionError, ProtocolError) as error:
                log.warning("connection to %s ended: %s", self._url, error)
            failures = 0 if welcomed else failures + 1
            if self._config.retry_count > 0 and failures >= self._config.retry_count:
                raise GaveUpError(f"gave up after {failures} failed connection attempts to {self._url}")
            await asyncio.sleep(_backoff(failures))

    @property
    def _url(self) -> str:
        return self._config.bartos.url("ws", "/v1/ws/worker")

    async def _session(self) -> bool:
        """One connection. Returns True if the server welcomed us (so the failure count resets)."""
        headers = {"Authorization": f"Bearer {self._config.bartos.api_key}"} if self._config.bartos.api_key else {}
        async with connect(
            self._url,
            additional_headers=headers,
            max_size=MAX_FRAME_BYTES,
            ping_interval=None,  # liveness is the protocol's heartbeat (docs/protocol.md)
            open_timeout=10,
            ssl=self._ssl(),
        ) as ws:
            welcome = await self._handshake(ws)
            log.info("connected to %s as %r (session %s)", self._url, self._config.name, welcome.session)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._read(ws, welcome.timeout_seconds))
                    tg.create_task(self._write(ws))
                    tg.create_task(self._beat(ws, welcome.heartbeat_seconds))
            except* (OSError, WebSocketException, SessionError, ProtocolError, TimeoutError) as group:
                log.warning("session ended: %s", group.exceptions[0])
            return True

    def _ssl(self) -> ssl.SSLContext | None:
        link = self._config.bartos
        if not link.is_tls:
            return None
        context = ssl.create_default_context(cafile=link.ca_cert)
        if link.client_cert and link.client_key:
            context.load_cert_chain(link.client_cert, link.client_key)
        return context

    async def _handshake(self, ws: ClientConnection) -> Welcome:
        hello = Hello(protocol=PROTOCOL_VERSION, name=self._config.name, version=barto.__version__, host=host_info())
        await ws.send(encode(hello).decode())
        async with asyncio.timeout(10):
            messages = decode_to_worker(await ws.recv())
        answer = messages[0] if len(messages) == 1 else None
        if isinstance(answer, Refused):
            raise SessionError(f"server refused us ({answer.code}): {answer.reason}")
        if not isinstance(answer, Welcome):
            raise SessionError("expected a welcome, alone in its frame")
        return answer

    async def _read(self, ws: ClientConnection, timeout: float) -> None:
        while True:
            try:
                async with asyncio.timeout(timeout):
                    frame = await ws.recv()
            except TimeoutError:
                raise SessionError(f"server silent for {timeout:g} s") from None
            for message in decode_to_worker(frame):
                if isinstance(message, Dispatch):
                    self._accept(message.jobs)
                elif not isinstance(message, Ack | Heartbeat):  # acks drive the outbox (issue 4)
                    raise SessionError(f"unexpected {type(message).__name__} during a session")

    def _accept(self, jobs: list[Job]) -> None:
        self.emit(Accepted(run_ids=[job.run_id for job in jobs]))
        assert self._runs is not None  # set in run()
        for job in jobs:
            self._runs.create_task(self._execute(job))

    async def _execute(self, job: Job) -> None:
        log.debug("run %d (%s) starting", job.run_id, job.schedule)
        finished = await execute(job, base_env=self._env, emit=self.emit, stop_wait=self._config.stop_wait_seconds)
        log.info(
            "run %d (%s) finished: exit %s signal %s", job.run_id, job.schedule, finished.exit_code, finished.signal
        )

    def emit(self, event: ToServer) -> None:
        """Queue an event for the server; it is sent as soon as a connection is up."""
        self._events.append(event)
        self._has_events.set()

    async def _write(self, ws: ClientConnection) -> None:
        """Send queued events in order, packed into as few frames as fit; drop them once sent."""
        while True:
            await self._has_events.wait()
            self._has_events.clear()
            encoded = [encode(event) for event in self._events]
            for frame, count in pack(encoded):
                await ws.send(frame.decode())
                for _ in range(count):
                    self._events.popleft()

    async def _beat(self, ws: ClientConnection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await ws.send(encode(Heartbeat(ts=datetime.now(UTC))).decode())


def _backoff(failures: int) -> float:
    """Capped exponential backoff with full jitter: 0 after a good session, then up to 1, 2, 4 ... 60 s."""
    if failures == 0:
        return 0.2
    return random.uniform(0.5, min(_BACKOFF_CAP, 2.0 ** (failures - 1)))


def environment() -> dict[str, str]:
    """The environment jobs inherit from (scrubbed per job by the executor)."""
    return dict(os.environ)
