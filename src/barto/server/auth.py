"""Who is calling: bearer tokens and the principals they stand for.

This gate only *authenticates*: it finds the token's principal and puts it in the request's
scope, and refuses unknown tokens. What a principal may do is decided by each operation's
declared role (barto.api.operations, checked by barto.server.operations), never from the path.
The one exception is the worker endpoint, which is not an operation: it needs a ``worker`` token
(or barto's ``api_key``, which opens it as it did in barto).

With neither ``api_key`` nor ``[tokens]`` the server is open, as barto was: fine on loopback,
which is the default address (docs/security.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from barto.config import ServerConfig

log = logging.getLogger("barto.server.auth")

API_PREFIX = "/v1/"
WORKER_PATH = "/v1/ws/worker"
SCOPE_KEY = "barto.principal"


@dataclass(frozen=True)
class Principal:
    """The holder of a token: its name in the config and its role."""

    name: str
    role: str
    legacy: bool = False  # barto's api_key: admin, and accepted on the worker endpoint too


def principals(config: ServerConfig) -> dict[bytes, Principal]:
    """Every accepted token, by the SHA-256 of its value (so lookups compare digests only)."""
    found = {digest(token.token): Principal(name, token.role) for name, token in config.tokens.items()}
    if config.api_key:
        found[digest(config.api_key)] = Principal("api_key", "admin", legacy=True)
    return found


def worker_refusal(who: Principal) -> str | None:
    """Why ``who`` may not open the worker endpoint (None: it may)."""
    return None if who.role == "worker" or who.legacy else f"token {who.name!r} is not a worker's"


class AuthGate:
    """ASGI middleware: finds the principal of every HTTP and WebSocket request's bearer token.

    The API (paths under ``/v1/``) needs a known token (401), but for ``open_paths``. The other
    doors on the listener (the dashboard, ``/metrics``) pass with the principal found, if any,
    and decide themselves: the dashboard also knows its logins by their session cookie.
    """

    def __init__(self, app: ASGIApp, tokens: Mapping[bytes, Principal], open_paths: Collection[str]) -> None:
        self._app = app
        self._tokens = dict(tokens)
        self._open = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._tokens or scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        who = self._tokens.get(digest(_bearer(scope)))
        if who is not None:
            scope[SCOPE_KEY] = who
        path = scope["path"]
        if who is None and path.startswith(API_PREFIX) and path not in self._open:
            await _deny(scope, send, 401, "unauthorized", "missing or unknown bearer token")
        elif who is not None and path == WORKER_PATH and (why := worker_refusal(who)) is not None:
            log.warning("refused the worker endpoint: %s", why)
            await _deny(scope, send, 403, "forbidden", why)
        else:
            await self._app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    header: bytes = dict(scope["headers"]).get(b"authorization", b"")
    return header[7:].decode("latin-1") if header.startswith(b"Bearer ") else ""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _deny(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    kind = "unauthenticated" if status == 401 else "forbidden"
    body = msgspec.json.encode({"error": {"code": code, "kind": kind, "message": message}})
    if scope["type"] == "websocket":
        await send({"type": "websocket.http.response.start", "status": status, "headers": []})
        await send({"type": "websocket.http.response.body", "body": message.encode()})
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="bartos"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
