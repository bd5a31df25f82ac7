"""Turning an HTTP request into an operation's request and its answer (or error) into a response.

Every error an operation raises becomes ``{"error": {"code", "kind", "message"}}`` with the
status :data:`STATUS` gives its kind — the one table of the REST door.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from barto.api.answers import ControlReply, ErrorBody, Problem
from barto.api.operations import Operation
from barto.errors import (
    BartoError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TimedOut,
    TooLarge,
    TooSlow,
    Unauthenticated,
    Unavailable,
)
from barto.server.auth import SCOPE_KEY
from barto.server.http.doors import Door
from barto.server.operations import Core

STATUS: dict[type[BartoError], int] = {
    Invalid: 400,
    TooSlow: 408,
    TooLarge: 413,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
    TimedOut: 504,
    BartoError: 500,
}

_encoder = msgspec.json.Encoder()
_TRUE = ("1", "true")


def status_of(error: BartoError) -> int:
    """The HTTP status of an error, by the nearest kind in :data:`STATUS`."""
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


def json_response(payload: Any, status: int = 200) -> Response:
    """``payload`` (records, lists) as JSON."""
    return Response(_encoder.encode(payload), status_code=status, media_type="application/json")


def error_response(error: BartoError) -> Response:
    """The JSON body of an error, with its status."""
    body = ErrorBody(error=Problem(code=error.code, kind=error.kind, message=str(error)))
    return json_response(body, status_of(error))


def endpoint(door: Door, core: Core) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of ``door``."""

    async def serve(request: Request) -> Response:
        streaming = door.stream is not None and request.query_params.get(door.flag) in _TRUE
        operation = door.stream if door.stream is not None and streaming else door.operation
        who = request.scope.get(SCOPE_KEY)
        try:
            core.authorize(who, operation)  # before the body is read: a refused caller's body never is
            result = await core.call(who, operation, await decode(request, door, operation))
        except BartoError as error:
            return error_response(error)
        if operation.stream:
            return StreamingResponse(_ndjson(result), media_type="application/x-ndjson")
        return json_response(result, result.status if isinstance(result, ControlReply) else door.status)

    serve.__doc__ = operation_doc(door.operation)
    return serve


def operation_doc(operation: Operation) -> str:
    """The summary of an operation, for the endpoint's docstring."""
    return f"{operation.summary} ({operation.name}, role {operation.role})."


async def decode(request: Request, door: Door, operation: Operation) -> Any:
    """The operation's request from the path, the query string and the body.

    Raises:
        Invalid: for a malformed body, an unknown or duplicated field, or a value out of range.
    """
    data: dict[str, Any] = {}
    if door.method == "POST":
        data.update(await _body(request, door))
    lists = _list_fields(operation.request)
    for key in request.query_params:
        if key == door.flag and door.stream is not None:
            continue
        if door.method == "POST" and key not in door.query:
            raise Invalid("bad_parameter", f"unknown query parameter {key[:40]!r}")
        values = request.query_params.getlist(key)
        _put(data, key, values if key in lists else values[-1])
    for key, value in request.path_params.items():
        _put(data, key, value)
    try:
        return msgspec.convert(data, operation.request, strict=False)
    except msgspec.ValidationError as error:
        where = f"$.{door.body}" if door.body else None
        message = str(error).replace(where, "$") if where else str(error)
        raise Invalid("bad_request", f"invalid request: {message}") from None


async def _body(request: Request, door: Door) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {door.body: {}} if door.body else {}
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError as error:
        raise Invalid("bad_body", f"the body is not JSON: {error}") from None
    if not isinstance(decoded, dict):
        raise Invalid("bad_body", "the body must be a JSON object")
    return {door.body: decoded} if door.body else decoded


def _put(data: dict[str, Any], key: str, value: Any) -> None:
    if key in data:
        raise Invalid("bad_request", f"{key[:40]!r} is given twice (the path, the query or the body)")
    data[key] = value


@functools.cache
def _list_fields(kind: type) -> frozenset[str]:
    """The fields of a request that take a list (a query parameter given several times)."""
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    return frozenset(f.encode_name for f in info.fields if _is_list(f.type))


def _is_list(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_is_list(t) for t in kind.types)
    return isinstance(kind, msgspec.inspect.ListType)


async def _ndjson(items: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """One JSON document a line; None items are blank lines (a keep-alive clients skip)."""
    async for item in items:
        yield b"\n" if item is None else _encoder.encode(item) + b"\n"
