"""The REST door (``/v1``, ``/healthz``, ``/openapi.json``): thin adapters from HTTP to the
operations layer. What a route may do and who may call it is the operation's declaration."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from barto.errors import BartoError, Invalid, NotFound
from barto.server.http import openapi
from barto.server.http.adapter import endpoint, error_response, json_response
from barto.server.http.doors import DOORS, OPEN_PATHS
from barto.server.operations import Core

__all__ = ["OPEN_PATHS", "exception_handlers", "routes"]


def routes(core: Core) -> list[BaseRoute]:
    """A route per door, and the OpenAPI document."""
    found: list[BaseRoute] = [Route(d.path, endpoint(d, core), methods=[d.method]) for d in DOORS]
    found.append(Route("/openapi.json", _openapi, methods=["GET"]))
    return found


async def _openapi(_: Request) -> Response:
    return json_response(openapi.document())


async def _http_error(_: Request, error: Any) -> Response:
    """Starlette's own 404 and 405 (no such route, wrong method), as JSON errors like ours."""
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        return error_response(NotFound("no_such_path", "no such path in this API (see /openapi.json)"))
    if error.status_code == 405:
        response = error_response(Invalid("method_not_allowed", f"{error.detail}"))
        response.status_code = 405
        response.headers.update(error.headers or {})
        return response
    return error_response(BartoError("http_error", str(error.detail)))


def exception_handlers() -> dict[Any, Any]:
    """Starlette's exception handlers: its HTTP errors as ours."""
    return {HTTPException: _http_error}
