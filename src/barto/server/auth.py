"""Who may do what: bearer tokens with roles.

``read`` may ask (every GET, ``query``, ``tail``, and a worker's programs' status, pid and
tail); ``operate`` may also act on runs, schedules and programs (run-now, backfill, cancel,
pause, resume; start, stop, restart, signal a program); ``admin`` may do anything (schedules
from the API, cleanup, a worker's reload and shutdown). A ``worker`` token is a worker's
credential: it opens the worker endpoint for the worker of its name and nothing in the API.
barto's single ``api_key`` is an ``admin`` token that also opens the worker endpoint, as it did
in barto.

With neither ``api_key`` nor ``[tokens]`` the server is open, as barto was: fine on loopback,
which is the default address (docs/security.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from barto.config import ServerConfig
from barto.server.api import ApiError, error_response

log = logging.getLogger("barto.server.auth")

RANK = {"read": 1, "operate": 2, "admin": 3}
_OPEN_PATHS = ("/healthz", "/openapi.json")
_WORKER_PATH = "/v1/ws/worker"
_OPERATE = (
    *("/run", "/backfill", "/pause", "/resume", "/cancel"),  # runs and schedules
    *("/ctl/start", "/ctl/stop", "/ctl/restart", "/ctl/signal"),  # a worker's programs
)
_READ_POSTS = ("/v1/query", "/ctl/status", "/ctl/pid", "/ctl/tail")
SCOPE_KEY = "barto.principal"


@dataclass(frozen=True)
class Principal:
    """The holder of a token: its name in the config and its role."""

    name: str
    role: str
    legacy: bool = False  # barto's api_key: admin, and accepted on the worker endpoint too


def principals(config: ServerConfig) -> dict[bytes, Principal]:
    """Every accepted token, by the SHA-256 of its value (so lookups compare digests only)."""
    found = {_digest(token.token): Principal(name, token.role) for name, token in config.tokens.items()}
    if config.api_key:
        found[_digest(config.api_key)] = Principal("api_key", "admin", legacy=True)
    return found


def needed(method: str, path: str) -> str | None:
    """The role a request needs: None for open paths, "worker" for the worker endpoint."""
    if path in _OPEN_PATHS:
        return None
    if path == _WORKER_PATH:
        return "worker"
    if method in ("GET", "HEAD") or path.endswith(_READ_POSTS):
        return "read"
    return "operate" if path.endswith(_OPERATE) else "admin"


def refusal(who: Principal, role: str) -> str | None:
    """Why ``who`` may not do what needs ``role`` (None: it may)."""
    if role == "worker":
        return None if who.role == "worker" or who.legacy else f"token {who.name!r} is not a worker's"
    if who.role == "worker":
        return f"token {who.name!r} is a worker's credential; it cannot call the API"
    if RANK[who.role] < RANK[role]:
        return f"token {who.name!r} has role {who.role}; this needs {role}"
    return None


class AuthGate:
    """ASGI middleware: checks the bearer token of every HTTP and WebSocket request."""

    def __init__(self, app: ASGIApp, tokens: Mapping[bytes, Principal]) -> None:
        self._app = app
        self._tokens = dict(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        role = needed(scope.get("method", "GET"), scope["path"]) if scope["type"] in ("http", "websocket") else None
        if not self._tokens or role is None:
            await self._app(scope, receive, send)
            return
        who = self._tokens.get(_digest(_bearer(scope)))
        if who is None:
            await _deny(scope, receive, send, 401, "unauthorized", "missing or unknown bearer token")
        elif (why := refusal(who, role)) is not None:
            log.warning("refused %s %s: %s", scope.get("method", "WS"), scope["path"], why)
            await _deny(scope, receive, send, 403, "forbidden", why)
        else:
            scope[SCOPE_KEY] = who
            await self._app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    header: bytes = dict(scope["headers"]).get(b"authorization", b"")
    return header[7:].decode("latin-1") if header.startswith(b"Bearer ") else ""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.http.response.start", "status": status, "headers": []})
        await send({"type": "websocket.http.response.body", "body": message.encode()})
        return
    await error_response(ApiError(status, code, message))(scope, receive, send)
