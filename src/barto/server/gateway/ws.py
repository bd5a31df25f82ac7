"""The worker endpoint ``/v1/ws/worker``: hello, welcome, then frames both ways until either side stops.

A malformed frame closes this one connection (code 1008) and is counted; it never reaches the
rest of the server. A worker silent for ``peer_timeout_seconds`` is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

import barto
from barto import rules
from barto.config import ServerConfig
from barto.model import Instance
from barto.protocol import (
    PROTOCOL_VERSION,
    Accepted,
    ControlReply,
    Heartbeat,
    Hello,
    ProgramOutput,
    ProgramStates,
    ProtocolError,
    Refused,
    Rejection,
    Welcome,
    decode_to_server,
    encode,
    pack,
)
from barto.protocol.signing import Signer
from barto.server.auth import SCOPE_KEY, Principal
from barto.server.cluster.lease import not_leading
from barto.server.gateway.fleet import Fleet
from barto.server.gateway.hub import Hub, Session
from barto.server.gateway.ingest import Ingest
from barto.store import Store

log = logging.getLogger("barto.server.gateway.ws")

_POLICY_VIOLATION = 1008
_TRY_AGAIN_LATER = 1013
_GOING_AWAY = 1001
_FLEET_MESSAGES = (ProgramStates, ProgramOutput, ControlReply)  # what the fleet view takes, not ingest
_SETTLE_SECONDS = 30.0  # a worker slower than this to deliver what it owed gets runs anyway


class _Silent(Exception):
    """The worker sent nothing for the peer timeout."""


class _Closing(Exception):
    """The server ends the session (it stopped leading)."""


@dataclass(frozen=True)
class Parts:
    """What the worker endpoint works with, given by the app (no locator): the live pieces and,
    as functions, what changes with leadership."""

    config: ServerConfig
    store: Store
    hub: Hub
    fleet: Fleet
    ingest: Ingest
    signer: Signer | None
    leading: Callable[[], bool]
    leader: Callable[[], Instance | None]  # the instance leading instead of this one
    programs_of: Callable[[str], dict[str, Any]]
    wake: Callable[[], None]  # the scheduler of the current term looks again


class WorkerEndpoint:
    """The ``/v1/ws/worker`` endpoint; it serves once the app has given it its parts."""

    def __init__(self) -> None:
        self._parts: Parts | None = None

    def serve_with(self, parts: Parts | None) -> None:
        """Serve workers with ``parts`` from now on (None: refuse them, the server is stopping)."""
        self._parts = parts

    async def serve(self, ws: WebSocket) -> None:
        """Serve one worker connection (a method: Starlette wraps a function, not an ASGI app)."""
        if self._parts is None:
            await ws.close(_TRY_AGAIN_LATER, "the server is starting or stopping")
            return
        await worker_endpoint(ws, self._parts)


async def worker_endpoint(ws: WebSocket, state: Parts) -> None:
    """Serve one worker connection."""
    await ws.accept()
    try:
        session = await _handshake(ws, state)
    except (ProtocolError, TimeoutError) as error:
        state.hub.counters["malformed_frames"] += 1
        log.warning("closing a worker connection before hello: %s", error)
        await ws.close(_POLICY_VIOLATION, str(error)[:120])
        return
    except WebSocketDisconnect:
        return
    if session is not None:
        await _serve(ws, state, *session)


async def _handshake(ws: WebSocket, state: Parts) -> tuple[Session, list[int]] | None:
    async with asyncio.timeout(state.config.peer_timeout):
        messages = decode_to_server(await _receive(ws))
    hello = messages[0] if len(messages) == 1 else None
    if not isinstance(hello, Hello):
        raise ProtocolError("expected a hello, alone in its frame")
    if hello.protocol != PROTOCOL_VERSION:
        await _refuse(ws, state, "protocol", f"this server speaks protocol {PROTOCOL_VERSION}, not {hello.protocol}")
        return None
    if (bad := rules.name_problem(hello.name)) is not None:
        await _refuse(ws, state, "identity", f"worker name: {bad}")
        return None
    if hello.name == rules.RQ_WORKER:
        await _refuse(ws, state, "identity", f"{rules.RQ_WORKER} is the server's own worker (it enqueues RQ jobs)")
        return None
    if (mismatch := _identity_problem(ws, state, hello.name)) is not None:
        await _refuse(ws, state, "identity", mismatch)
        return None
    if not state.leading():
        await _refuse(ws, state, "not_leader", not_leading(state.leader()))
        return None
    peer = f"{ws.client.host}:{ws.client.port}" if ws.client else None
    session = Session(hello.name, hello.version, hello.host, hello.owed, peer)
    if not state.hub.register(session):
        await _refuse(ws, state, "name_in_use", f"a worker named {hello.name!r} is already connected")
        return None
    return session, hello.runs


def _identity_problem(ws: WebSocket, state: Parts, name: str) -> str | None:
    """A worker is accepted only under the name of its credential (a ``worker`` token) and, with
    ``client_ca_cert``, a name its certificate carries (common name or DNS subject alternative
    name); why not, or None when it may go on."""
    credential: Principal | None = ws.scope.get(SCOPE_KEY)
    if credential is not None and credential.role == "worker" and credential.name != name:
        return f"worker {name!r} presented the credential of worker {credential.name!r}"
    tls = state.config.actix.tls
    if tls is None or tls.client_ca_cert is None:
        return None
    cert = ws.scope.get("extensions", {}).get("tls", {}).get("client_cert")
    if not cert:
        return f"worker {name!r} came without a client certificate (plain HTTP?); mTLS is required"
    names = cert_names(cert)
    if name not in names:
        return f"worker {name!r} presented a certificate for {', '.join(sorted(names)) or 'no name'}"
    return None


def cert_names(cert: dict[str, Any]) -> set[str]:
    """The names a verified peer certificate (``getpeercert()`` form) vouches for."""
    common = {value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"}
    return common | {value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"}


async def _refuse(ws: WebSocket, state: Parts, code: str, reason: str) -> None:
    log.log(logging.INFO if code == "not_leader" else logging.WARNING, "refusing a worker: %s", reason)
    await _send(ws, state, encode(Refused(code=code, reason=reason)).decode())
    await ws.close(_POLICY_VIOLATION, reason[:120])


async def _serve(ws: WebSocket, state: Parts, session: Session, known: list[int]) -> None:
    config = state.config
    try:
        await state.store.worker_connected(session.name, session.version, _host(session), session.id)
        await _reconcile(state, session, known)
        welcome = Welcome(
            protocol=PROTOCOL_VERSION,
            server_version=barto.__version__,
            session=session.id,
            heartbeat_seconds=config.heartbeat_seconds,
            timeout_seconds=config.peer_timeout,
            programs=state.programs_of(session.name),
        )
        await _send(ws, state, encode(welcome).decode())  # alone in its frame, before any dispatch
        log.info("worker %s connected (session %s, version %s)", session.name, session.id, session.version)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_settle(state, session))
            tg.create_task(_read(ws, state, session))
            tg.create_task(_write(ws, state, session))
            tg.create_task(_beat(session, config.heartbeat_seconds))
    except* WebSocketDisconnect:
        log.info("worker %s disconnected", session.name)
    except* _Closing as group:
        log.info("closing the session of worker %s: %s", session.name, group.exceptions[0])
        await _close_quietly(ws, str(group.exceptions[0]), _GOING_AWAY)
    except* (ProtocolError, _Silent) as group:
        state.hub.counters["malformed_frames" if isinstance(group.exceptions[0], ProtocolError) else "timeouts"] += 1
        log.warning("dropping worker %s: %s", session.name, group.exceptions[0])
        await _close_quietly(ws, str(group.exceptions[0]))
    finally:
        state.hub.unregister(session)
        state.fleet.gone(session.name)
        await asyncio.shield(_disconnected(state, session))


async def _settle(state: Parts, session: Session) -> None:
    """Open the session to runs once the events the worker owed from before are committed
    (docs/protocol.md, "owed"): until then the store may show a run as going that has ended."""
    try:
        async with asyncio.timeout(_SETTLE_SECONDS):
            await session.caught_up.wait()
    except TimeoutError:
        log.warning("worker %s still resends events up to eid %d; sending it runs anyway", session.name, session.owed)
    if not session.closing:
        session.ready = True
        state.wake()  # runs may be waiting for this worker


async def _disconnected(state: Parts, session: Session) -> None:
    """Record the end of a session; a database that fails now costs that record only (the next
    leader marks every worker disconnected when it takes over)."""
    try:
        await state.store.worker_disconnected(session.name, session.id)
    except Exception as error:
        log.warning("could not record that worker %s disconnected: %s", session.name, error)


async def _reconcile(state: Parts, session: Session, known: list[int]) -> None:
    """Settle the runs this worker should have but does not know (its hello lists those it has)."""
    lost, missed = await state.store.reconcile(session.name, known, state.hub.unaccepted(session.name))
    if lost or missed:
        log.warning(
            "worker %s: %d runs it no longer has are lost, %d it never received are missed", session.name, lost, missed
        )


async def _read(ws: WebSocket, state: Parts, session: Session) -> None:
    timeout = state.config.peer_timeout
    while True:
        try:
            async with asyncio.timeout(timeout):
                frame = await _receive(ws)
        except TimeoutError:
            raise _Silent(f"silent for {timeout:g} s") from None
        for message in decode_to_server(frame):
            if isinstance(message, Hello):
                raise ProtocolError("a second hello")
            if isinstance(message, Accepted):
                state.hub.accepted(session.name, message.run_ids)
            if isinstance(message, Rejection):
                state.hub.counters["rejected_by_workers"] += 1
                log.warning("worker %s rejected a frame from this server: %s", session.name, message.reason)
                continue
            if isinstance(message, _FLEET_MESSAGES):
                _to_fleet(state.fleet, session.name, message)
            elif isinstance(message, Heartbeat):
                session.backlog = message.backlog
            else:
                state.ingest.put(session, message)


def _to_fleet(fleet: Fleet, worker: str, message: ProgramStates | ProgramOutput | ControlReply) -> None:
    match message:
        case ProgramStates():
            fleet.states(worker, message)
        case ProgramOutput():
            fleet.output(worker, message)
        case ControlReply():
            fleet.answered(worker, message)


async def _send(ws: WebSocket, state: Parts, frame: str) -> None:
    """Send one frame, sealed with the server's signing key when it has one."""
    await ws.send_text(frame if state.signer is None else state.signer.seal(frame, time.time()))


async def _receive(ws: WebSocket) -> str | bytes:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message.get("text") or message.get("bytes") or b""


async def _write(ws: WebSocket, state: Parts, session: Session) -> None:
    """Send what is queued for the worker, packing whatever piled up into as few frames as fit."""
    queue = session.outbound
    while True:
        messages = [await queue.get()]
        while not queue.empty():
            messages.append(queue.get_nowait())
        for frame, _ in pack([encode(m) for m in messages if m is not None]):
            await _send(ws, state, frame.decode())
        if None in messages:
            raise _Closing(session.closing)


async def _beat(session: Session, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        session.send(Heartbeat(ts=datetime.now(UTC)))


async def _close_quietly(ws: WebSocket, reason: str, code: int = _POLICY_VIOLATION) -> None:
    with contextlib.suppress(RuntimeError, OSError):  # already closed by the peer
        await ws.close(code, reason[:120])


def _host(session: Session) -> dict[str, str]:
    return {f: getattr(session.host, f) for f in session.host.__struct_fields__}
