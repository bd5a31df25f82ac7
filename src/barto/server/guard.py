"""What one client may cost bartos: connections, time to send a request, size of its body.

uvicorn bounds neither the time a client takes to send its headers (a connection that sends
one byte a minute is kept forever) nor the number of connections one address holds, and it
hands the app whatever body arrives. :class:`GuardedHttp` adds the first two at the connection,
before any of the app runs; :class:`RequestGuard` the third, as every request's body is read, so
that no route can forget it. The settings are ``[limits]`` (barto.config.server.Limits).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import resource
from collections.abc import Callable
from typing import Any

import h11
import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from barto.api.answers import ErrorBody, Problem
from barto.config.server import Limits
from barto.errors import BartoError, TooLarge, TooSlow, Unavailable

log = logging.getLogger("barto.server")


class Peers:
    """Open connections in all and by client address, shared by every connection of a listener."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.by_address: collections.Counter[str] = collections.Counter()

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address``; or say why it is refused (then not counted)."""
        if self.total >= self.limits.connections:
            return f"{self.total} connections are open (limits.connections)"
        if self.by_address[address] >= self.limits.connections_per_peer:
            return f"{address} holds {self.by_address[address]} connections (limits.connections_per_peer)"
        self.total += 1
        self.by_address[address] += 1
        return None

    def leave(self, address: str) -> None:
        """Forget a connection :meth:`admit` counted."""
        self.total -= 1
        self.by_address[address] -= 1
        if not self.by_address[address]:
            del self.by_address[address]


class GuardedHttp(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and a deadline for each request's headers.

    The deadline runs from a request's first byte (from the connection, for the first request)
    until its headers are complete; a WebSocket upgrade is a request like any other until then.
    Between requests uvicorn's keep-alive timeout (``idle_seconds``) applies.
    """

    def __init__(self, *args: Any, peers: Peers, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._peers = peers
        self._address: str | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else "?"
        if (why := self._peers.admit(address)) is not None:
            log.warning("refused a connection from %s: %s", address, why)
            _close_with(transport, 503, Unavailable("unavailable", f"too many connections: {why}; try again later"))
            return
        self._address = address
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            self._peers.leave(self._address)
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.get_protocol() is not self or self.conn.their_state is not h11.IDLE:
            self._disarm()  # upgraded to WebSocket, or the headers are in
        elif self._deadline is None:
            self._arm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """The connection stays counted until the WebSocket protocol that takes it over closes."""
        super().handle_websocket_upgrade(event)
        self._disarm()
        upgraded, address = self.transport.get_protocol(), self._address
        if isinstance(upgraded, Releasing) and address is not None:
            self._address = None
            upgraded.release = lambda: self._peers.leave(address)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self._peers.limits.header_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            _close_with(self.transport, 408, TooSlow("the request's headers took too long (limits.header_seconds)"))


class Releasing(asyncio.Protocol):
    """A protocol that takes a connection over from :class:`GuardedHttp` (the WebSocket one):
    it calls ``release`` when the connection is lost, so that the connection is counted once."""

    release: Callable[[], None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.release is not None:
            self.release()
            self.release = None


def _close_with(transport: asyncio.Transport, status: int, error: BartoError) -> None:
    """Answer a connection that never became a request, and close it."""
    body = _body(error)
    head = f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
    head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    transport.write(head.encode() + body)
    transport.close()


_REASONS = {408: "Request Timeout", 503: "Service Unavailable"}


class RequestGuard:
    """ASGI middleware: a request body larger than ``body_bytes`` is refused with 413 (at once
    when its ``content-length`` says so, else when the byte past the limit arrives), and one not
    sent within ``body_seconds`` of the request with 408. Reading stops there: nothing more of
    the body is held.

    A request still going when a stop's drain time is over is cancelled by uvicorn, which would
    log the cancellation as a crash and answer 500: here it is answered 503 ("stopping") when
    nothing was sent yet, and the cancellation ends the request quietly, as it is meant to.
    """

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self._app = app
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")  # h11 refused a malformed one
        if scope["type"] == "http" and declared.isdigit() and int(declared) > self._limits.body_bytes:
            await _send_error(send, 413, self._too_large())
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] in ("http.response.start", "websocket.accept")
            await send(message)

        http = scope["type"] == "http"
        try:
            await self._app(scope, self._bounded(receive) if http else receive, watched)
        except (TooLarge, TooSlow) as error:
            if not started:
                await _send_error(send, 408 if isinstance(error, TooSlow) else 413, error)
        except asyncio.CancelledError:
            if http and not started:
                with contextlib.suppress(Exception):
                    await _send_error(send, 503, Unavailable("stopping", "bartos is stopping; try again"))

    def _bounded(self, receive: Receive) -> Receive:
        deadline = asyncio.get_running_loop().time() + self._limits.body_seconds
        received, done = 0, False

        async def bounded() -> Message:
            nonlocal received, done
            if done:  # the body is in: what follows is the wait for a disconnect, unbounded
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise TooSlow("the request's body took too long (limits.body_seconds)") from None
            received += len(message.get("body", b""))
            if received > self._limits.body_bytes:
                raise self._too_large()
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return bounded

    def _too_large(self) -> TooLarge:
        return TooLarge(f"the request's body is larger than {self._limits.body_bytes} bytes (limits.body_bytes)")


def _body(error: BartoError) -> bytes:
    """The API's error body (barto.api.answers.ErrorBody) for ``error``."""
    return msgspec.json.encode(ErrorBody(error=Problem(code=error.code, kind=error.kind, message=str(error))))


async def _send_error(send: Send, status: int, error: BartoError) -> None:
    body = _body(error)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def raise_open_files(wanted: int) -> None:
    """Let this process hold ``wanted`` descriptors (up to the hard limit): the soft limit is
    often 1024, fewer than ``[limits] connections``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("at most %d open files (hard limit): fewer connections than limits.connections", target)
