"""A standby's answers: API clients go to the leader, workers are refused and try their next URL.

Only the leader holds the scheduler, the connected workers and the live state, so a standby
serves nothing that depends on them. ``/healthz``, ``/openapi.json`` and ``/v1/info`` are its
own; every other API request gets a ``307 Temporary Redirect`` to the same path on the leader's
``advertise_url`` (method and body are kept; barto-cli follows it), or ``503`` with
``Retry-After`` while no instance leads (a standby takes over within ``lease_seconds``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from barto.errors import BartoError, Unavailable
from barto.server.http.adapter import error_response
from barto.server.state import ServerState
from barto.store.cluster import Instance

_OWN_PATHS = ("/healthz", "/openapi.json", "/v1/info", "/v1/ws/worker")


def leader(state: ServerState) -> Instance | None:
    """The instance holding the lease as this one last read it (None: nobody, or this one).
    Read from memory: a standby whose database is slow still answers at once."""
    found = state.leadership.leader
    return None if found is None or found.id == state.leadership.me.id else found


def reason(found: Instance | None) -> str:
    """Why a standby does not serve: who leads instead."""
    if found is None:
        return "this server is a standby and no instance leads at the moment; try again in a few seconds"
    return f"this server is a standby; the leader is {found.name} at {found.url}"


class StandbyGate:
    """ASGI middleware (inside the Starlette app, so the state is reachable from the scope)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ServerState | None = getattr(scope["app"].state, "barto", None) if "app" in scope else None
        if scope["type"] != "http" or state is None or state.leading or scope["path"] in _OWN_PATHS:
            await self._app(scope, receive, send)
            return
        found = leader(state)
        if found is None:
            response = error_response(Unavailable("no_leader", reason(found)))
            response.headers["Retry-After"] = "2"
        else:
            query = f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
            response = error_response(BartoError("not_leader", reason(found)))
            response.status_code = 307
            response.headers["Location"] = f"{found.url}{scope['path']}{query}"
        await response(scope, receive, send)
