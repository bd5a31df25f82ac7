"""The API of supervised programs (docs/programs.md): the fleet view, the history of state
changes, recent output, and control requests relayed to a worker's control socket.

``POST /v1/workers/{worker}/ctl/{command}`` takes what the socket takes (``name``, ``signal``,
``bytes``) and answers what the worker answered, with its status. Roles (server/auth.py):
status, pid and tail need ``read``; start, stop, restart and signal ``operate``; reload and
shutdown ``admin``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from barto.server.api import ApiError, body_of, int_param, json_response, state_of
from barto.server.fleet import Fleet

CONTROL_SECONDS = 120.0  # a stop waits for stopwaitsecs of every process it stops
_encoder = msgspec.json.Encoder()


class CtlRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST .../ctl/{command}``."""

    name: str | None = None
    signal: str | None = None
    bytes: int | None = None


async def programs(request: Request) -> Response:
    """Every supervised process of every worker (``?worker=``: of one), with its worker's link."""
    state = state_of(request)
    rows = state.fleet.listing(request.query_params.get("worker"))
    return json_response([{**row, "connected": state.hub.is_connected(row["worker"])} for row in rows])


async def events(request: Request) -> Response:
    """State changes, oldest first: the newest ``limit`` (of ``worker``, of ``name``)."""
    query = request.query_params
    limit = int_param(request, "limit", 100, 1, 100_000)
    return json_response(await state_of(request).store.program_events(query.get("worker"), query.get("name"), limit))


async def tail(request: Request) -> Response:
    """The last lines of a process (``limit``, after ``after``); ``follow=1``: NDJSON, for ever."""
    fleet = state_of(request).fleet
    worker, name = request.path_params["worker"], request.path_params["name"]
    if not fleet.knows(worker, name):
        raise ApiError(404, "program_not_found", f"worker {worker!r} has reported no program or process {name!r}")
    after, limit = int_param(request, "after", 0), int_param(request, "limit", 100, 1, 10_000)
    if request.query_params.get("follow") in ("1", "true"):
        return StreamingResponse(_follow(fleet, worker, name, after, limit), media_type="application/x-ndjson")
    return json_response(fleet.tail(worker, name, after, limit))


async def _follow(fleet: Fleet, worker: str, name: str, after: int, limit: int) -> AsyncIterator[bytes]:
    while True:
        lines = await fleet.wait_tail(worker, name, after, limit, 15.0)
        for line in lines:
            yield _encoder.encode(line) + b"\n"
        after = lines[-1].seq if lines else after
        if not lines:
            yield b"\n"  # keeps the connection (and its proxies) alive; clients skip blank lines


async def ctl(request: Request) -> Response:
    """Relay one control request to a worker and answer with its response."""
    state = state_of(request)
    worker, command = request.path_params["worker"], request.path_params["command"]
    body: CtlRequest = await body_of(request, CtlRequest)
    session = state.hub.session(worker)
    if session is None:
        raise ApiError(409, "worker_offline", f"worker {worker!r} is not connected")
    ask: dict[str, Any] = {"command": command, **{k: v for k, v in msgspec.to_builtins(body).items() if v is not None}}
    try:
        answer = await state.fleet.ask(session, ask, CONTROL_SECONDS)
    except TimeoutError:
        raise ApiError(504, "worker_silent", f"worker {worker!r} did not answer in {CONTROL_SECONDS:g} s") from None
    return json_response(answer, int(answer.get("status", 502)))


ROUTES = [
    Route("/v1/programs", programs),
    Route("/v1/programs/events", events),
    Route("/v1/workers/{worker}/programs/{name}/tail", tail),
    Route("/v1/workers/{worker}/ctl/{command}", ctl, methods=["POST"]),
]
