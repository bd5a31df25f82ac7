"""A standby's answers: API clients go to the leader, workers are refused and try their next URL.

Only the leader holds the scheduler, the connected workers and the live state, so a standby
serves nothing that depends on them. ``/healthz``, ``/openapi.json``, ``/v1/info`` and
``/metrics`` (a scraper asks each instance; ``barto_leader`` tells them apart) are its own;
every other request (the API's, the dashboard's) gets a ``307 Temporary Redirect`` to the same
path on the leader's ``advertise_url`` (method and body are kept; barto-cli follows it), or ``503`` with
``Retry-After`` while no instance leads (a standby takes over within ``lease_seconds``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from barto.errors import BartoError, Unavailable
from barto.server.cluster.lease import leader, not_leading
from barto.server.http.adapter import error_response
from barto.server.state import ServerState

_OWN_PATHS = ("/healthz", "/openapi.json", "/v1/info", "/v1/ws/worker", "/metrics")  # /metrics: each its own


class StandbyGate:
    """ASGI middleware: serves while this instance leads, else redirects or refuses. It learns
    the state to watch from the app's lifespan (:meth:`watch`), not from the request."""

    def __init__(self, app: ASGIApp, watched: Watched) -> None:
        self._app = app
        self._watched = watched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self._watched.state
        if scope["type"] != "http" or state is None or state.leading or scope["path"] in _OWN_PATHS:
            await self._app(scope, receive, send)
            return
        found = leader(state.leadership)
        if found is None:
            response = error_response(Unavailable("no_leader", not_leading(found)))
            response.headers["Retry-After"] = "2"
        else:
            query = f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
            response = error_response(BartoError("not_leader", not_leading(found)))
            response.status_code = 307
            response.headers["Location"] = f"{found.url}{scope['path']}{query}"
        await response(scope, receive, send)


class Watched:
    """The server state the gate reads (None until the store is open, and after the stop)."""

    def __init__(self) -> None:
        self.state: ServerState | None = None
