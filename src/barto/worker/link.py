"""The worker's link to the server: connect, hello, signatures, heartbeats, reconnect.

The link carries frames; what they mean is the agent's (runs, program control). It tries the
server URLs in turn, forever by default, with capped exponential backoff and jitter between
rounds; a standby's refusal sends it to the next URL soon, without counting as a failure.
Events go out from the outbox, from the last one the server acknowledged on, so a session that
drops loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

import barto
from barto.config import WorkerConfig
from barto.errors import Unavailable
from barto.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Control,
    ControlReply,
    Heartbeat,
    Hello,
    HostInfo,
    ProtocolError,
    Refused,
    Rejection,
    Welcome,
    decode_to_worker,
    encode,
    pack,
)
from barto.protocol.keys import Rejected, decode_key
from barto.worker.outbox import Outbox
from barto.worker.programs.feed import Feed

if TYPE_CHECKING:
    from barto.protocol.signing import Verifier

log = logging.getLogger("barto.worker")

_BACKOFF_CAP = 60.0
SESSION_ERRORS = (OSError, TimeoutError, WebSocketException, ProtocolError)


class GaveUpError(Unavailable):
    """``retry_count`` consecutive connection attempts failed."""

    code = "gave_up"


class SessionError(Unavailable):
    """The server refused us, broke the protocol or went silent; we reconnect."""

    code = "session_ended"


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


class Link:
    """One worker's connection to bartos, made again whenever it drops."""

    def __init__(  # noqa: PLR0913 - what the link carries, each from its owner
        self,
        config: WorkerConfig,
        outbox: Outbox,
        feed: Feed,
        *,
        runs: Callable[[], set[int]],
        on_welcome: Callable[[Welcome], None],
        on_message: Callable[[object], Awaitable[None]],
        on_control: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        tasks: Callable[[], asyncio.TaskGroup],
    ) -> None:
        self._config = config
        self._stopping = False
        self._outbox = outbox
        self._feed = feed
        self._runs = runs  # the runs executing now (the hello tells the server)
        self._on_welcome = on_welcome
        self._on_message = on_message
        self._on_control = on_control
        self._tasks = tasks  # where control answers run: they outlive a frame, not the agent
        self.connected = False
        key, window = config.server_public_key, config.replay_window_secs
        self._verifier = _verifier(decode_key(key), window) if key else None
        if self._verifier is not None:
            log.info("only signed frames are acted on (server key fingerprint %s)", self._verifier.fingerprint)

    def stop(self) -> None:
        """No more sessions: the attempt going on is the last. (bartoc then cancels the link as
        well; this is for when the cancel lands while the server closes the same session, and
        websockets turns it into a session error: the link would count a failed attempt and
        reconnect for ever, and a stopping bartoc wait for its SIGKILL.)"""
        self._stopping = True

    async def run(self) -> None:
        """Try the URLs in turn. A standby's refusal is not a failure: a leader is there or being
        chosen, so the next round comes soon and ``retry_count`` does not count it."""
        urls = self._config.bartos.worker_urls()
        index = failures = 0
        electing = False
        while True:
            outcome = await self._try(urls[index])
            if self._stopping:  # see stop()
                return
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
        except (*SESSION_ERRORS, SessionError) as error:
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
            self._on_welcome(welcome)
            log.info("connected to %s as %r (session %s)", url, self._config.name, welcome.session)
            self.connected = True
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._read(ws, welcome.timeout_seconds))
                    tg.create_task(self._write(ws))
                    tg.create_task(self._beat(ws, welcome.heartbeat_seconds))
                    tg.create_task(self._tell_programs(ws))
            except* (*SESSION_ERRORS, SessionError) as group:
                log.warning("session with %s ended: %s", url, group.exceptions[0])
            finally:
                self.connected = False
            return True

    def _ssl(self, url: str) -> ssl.SSLContext | None:
        """Our TLS settings for a ``wss://`` URL (also one from ``urls``), none for ``ws://``."""
        return self._config.bartos.ssl_context() if url.startswith("wss://") else None

    async def _handshake(self, ws: ClientConnection) -> Welcome:
        runs = sorted(set(await self._outbox.known_runs()).union(self._runs()))
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
            except (Rejected, ProtocolError) as error:  # acted on not at all; the server hears of it
                log.warning("dropped a frame from the server: %s", error)
                await ws.send(encode(Rejection(reason=str(error)[:1000])).decode())
                continue
            for message in messages:
                if isinstance(message, Control):
                    self._tasks().create_task(self._answer(ws, message))
                else:
                    await self._handle(ws, message)

    async def _handle(self, ws: ClientConnection, message: object) -> None:
        """Act on one message. Whatever goes wrong with it is this message's failure, said to
        the server as a rejection: the session, the runs and the programs go on."""
        try:
            await self._on_message(message)
        except SessionError:
            raise
        except Exception as error:
            log.exception("could not handle %s from the server", type(message).__name__)
            reason = f"bartoc could not handle {type(message).__name__}: {type(error).__name__}: {error}"
            await ws.send(encode(Rejection(reason=reason[:1000])).decode())

    def _open(self, frame: str | bytes) -> str | bytes:
        """The frame to decode: with ``server_public_key``, only what a valid seal carried.

        Raises:
            Rejected: unsigned, badly signed, stale or replayed.
        """
        if self._verifier is None:
            return frame
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        return self._verifier.open(text, time.time())

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
        response = await self._on_control(request.request)
        try:
            await ws.send(encode(ControlReply(id=request.id, response=response)).decode())
        except (*SESSION_ERRORS, ConnectionError) as error:
            log.warning("could not answer control request %d: %s", request.id, error)

    async def _beat(self, ws: ClientConnection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await ws.send(encode(Heartbeat(ts=datetime.now(UTC), backlog=self._outbox.backlog)).decode())


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
