"""Where bartos listens, and with which TLS settings.

With ``[actix.tls]`` the server speaks HTTPS/WSS there (TLS 1.2 or newer) and, unlike barto,
does not also open the plaintext ``[actix]`` port: a TLS deployment with a plaintext side door
is not one. ``[actix] plaintext = true`` opens it anyway, with a warning at every start.
With ``client_ca_cert`` every TLS client must present a certificate signed by that CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from barto import runner
from barto.config import ServerConfig
from barto.config.server import Limits, Tls
from barto.protocol import MAX_FRAME_BYTES
from barto.server.guard import GuardedHttp, Peers, Releasing, raise_open_files

log = logging.getLogger("barto.server")


@dataclass(frozen=True)
class Listener:
    """A bound socket, and its TLS settings (None: plain HTTP)."""

    sock: socket.socket
    tls: Tls | None


def listeners(config: ServerConfig) -> list[Listener]:
    """The sockets to serve, TLS first (its server runs the app's lifespan)."""
    tls, actix = config.actix.tls, config.actix
    found = [Listener(_listen(tls.ip, tls.port), tls)] if tls else []
    if tls is None or actix.plaintext:
        if tls is not None:
            log.warning(
                "[actix] plaintext = true: plain HTTP on %s:%d next to TLS; anyone who can reach it "
                "can read and send there",
                actix.ip,
                actix.port,
            )
        found.append(Listener(_listen(actix.ip, actix.port), None))
    for listener in found:
        ip, port = listener.sock.getsockname()[:2]
        log.info("listening on %s://%s:%d", "https" if listener.tls else "http", ip, port)
    return found


async def serve(asgi: ASGIApp, found: list[Listener], limits: Limits, register: Callable[[runner.Stop], None]) -> None:
    """Serve every listener until stopped; the first runs the lifespan, the others start after it.
    ``limits`` hold for all listeners together."""
    raise_open_files(limits.connections + 256)  # the database, logs and workers' files beside them
    peers = Peers(limits)
    servers = [_server(asgi, listener.tls, peers, lifespan=i == 0) for i, listener in enumerate(found)]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    register(stop)
    try:
        async with asyncio.TaskGroup() as tg:
            first = tg.create_task(servers[0].serve(sockets=[found[0].sock]))
            while len(servers) > 1 and not servers[0].started and not first.done():
                await asyncio.sleep(0.05)
            for server, listener in list(zip(servers, found, strict=True))[1:]:
                tg.create_task(server.serve(sockets=[listener.sock]))
    finally:
        for listener in found:
            listener.sock.close()


class _LoggedHandshake(ssl.SSLObject):
    """A TLS connection whose failed handshake is logged. The TLS layer refuses a client without
    a certificate (or with one from another CA) before any of our code runs, and asyncio reports
    such failures only in its debug mode: this is where the refusal becomes a log line."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as error:
            log.warning("refused a TLS client: %s", error.reason or error)
            raise


class _PeerCertWebSockets(Releasing, WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, plus the verified client certificate in the scope, as
    ``scope["extensions"]["tls"]["client_cert"]`` (the dict of ``SSLSocket.getpeercert()``).

    uvicorn does not implement the ASGI TLS extension yet (Kludex/uvicorn#3132 is open); the
    worker gateway needs the certificate to bind a worker's name to it.
    """

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        ssl_object = self.transport.get_extra_info("ssl_object")
        if ssl_object is not None and hasattr(self, "scope"):  # the app task has not run yet
            self.scope["extensions"]["tls"] = {"client_cert": ssl_object.getpeercert() or None}


def _server(asgi: ASGIApp, tls: Tls | None, peers: Peers, *, lifespan: bool) -> uvicorn.Server:
    # No permessage-deflate: compressing every output frame cost more CPU than the whole ingest.
    settings = uvicorn.Config(
        asgi,
        http=functools.partial(GuardedHttp, peers=peers),  # type: ignore[arg-type]
        timeout_keep_alive=peers.limits.idle_seconds,
        timeout_graceful_shutdown=peers.limits.drain_seconds,
        log_config=None,
        access_log=False,
        ws_max_size=MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        lifespan="on" if lifespan else "off",
        ws=_PeerCertWebSockets,
        **_tls_settings(tls),
    )
    settings.load()
    if settings.ssl is not None:
        settings.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        settings.ssl.sslobject_class = _LoggedHandshake
    server = uvicorn.Server(settings)
    # The runner owns the signals: a stop lets uvicorn drain connections and run the lifespan's exit.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server


def _tls_settings(tls: Tls | None) -> dict[str, Any]:
    if tls is None:
        return {}
    return {
        "ssl_certfile": tls.cert_file_path,
        "ssl_keyfile": tls.key_file_path,
        "ssl_ca_certs": tls.client_ca_cert,
        "ssl_cert_reqs": ssl.CERT_REQUIRED if tls.client_ca_cert else ssl.CERT_NONE,
    }


def _listen(ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    sock.listen(1024)
    return sock
