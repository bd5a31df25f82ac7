"""The server's operations, implemented once; every door calls :meth:`Core.call` and nothing
below it.

``call`` decides authorization from the operation's declared role (barto.api.operations), never
from how the door spelled the request, then runs the implementation. Implementations raise only
barto.errors kinds; a door maps those to its own words in one table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from barto.api.operations import OPERATIONS, RANK, Operation, Role
from barto.api.requests import Request
from barto.errors import Forbidden, Unauthenticated, Unavailable
from barto.server.auth import Principal
from barto.server.operations import alerts, btu, maintenance, metrics, overview, programs, rq, runs, schedules
from barto.server.operations._impl import IMPLEMENTATIONS
from barto.server.operations._parts import Parts

__all__ = ["Core", "Parts", "refusal"]

_ = (alerts, btu, maintenance, metrics, overview, programs, rq, runs, schedules)  # imported for their registrations


def refusal(who: Principal | None, role: Role) -> str | None:
    """Why ``who`` may not call what needs ``role`` (None: it may). ``who`` None is an open
    server (no tokens configured): everything is allowed, as in barto."""
    if who is None or role is Role.OPEN:
        return None
    if who.role == "worker":
        return f"token {who.name!r} is a worker's credential; it cannot call the API"
    if RANK[Role(who.role)] < RANK[role]:
        return f"token {who.name!r} has role {who.role}; this needs {role}"
    return None


class Core:
    """The operations of one bartos process."""

    def __init__(self, *, open_server: bool) -> None:
        self._parts: Parts | None = None  # set by :meth:`serve` once the store is open
        self._open = open_server  # no tokens configured: every caller may do everything, as in barto
        missing = set(OPERATIONS) - set(IMPLEMENTATIONS)
        if missing:  # a declaration without an implementation is a bug found at start, not at call
            raise RuntimeError(f"operations declared but not implemented: {sorted(missing)}")

    def serve(self, parts: Parts | None) -> None:
        """Do the operations with ``parts`` from now on (None: refuse them, the server is stopping)."""
        self._parts = parts

    def authorize(self, who: Principal | None, operation: Operation) -> None:
        """Refuse ``who`` unless its role is enough for ``operation``.

        Raises:
            Unauthenticated: no caller, on a server with tokens.
            Forbidden: with why.
        """
        if who is None and not self._open and operation.role is not Role.OPEN:
            raise Unauthenticated("unauthorized", "missing or unknown bearer token")
        if (why := refusal(who, operation.role)) is not None:
            raise Forbidden("forbidden", why)

    async def call(self, who: Principal | None, operation: Operation, request: Request) -> Any:
        """Authorize, then do ``operation`` (a stream operation's answer is an async iterator)."""
        self.authorize(who, operation)
        if not isinstance(request, operation.request):
            raise TypeError(f"{operation.name} takes {operation.request.__name__}, not {type(request).__name__}")
        implementation: Callable[[Parts, Any], Awaitable[Any]] = IMPLEMENTATIONS[operation.name]
        if self._parts is None:
            raise Unavailable("not_serving", "the server is starting or stopping")
        # A stream operation checks its request here, then answers with the iterator to follow.
        return await implementation(self._parts, request)
