"""The dashboard door (``/``): server-rendered pages over the operations layer, a login with the
API's tokens, and a small script of our own for what is live. Every asset is served from here:
no build step, no CDN. docs/dashboard.md shows the pages."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from barto.server.auth import Principal
from barto.server.operations import Core
from barto.server.web.pages import Dashboard
from barto.server.web.render import STATIC, environment

__all__ = ["routes"]


def routes(core: Core, tokens: Mapping[bytes, Principal]) -> list[BaseRoute]:
    """The dashboard's routes; ``tokens`` are the API's (a login takes one of them)."""
    board = Dashboard(core, tokens, environment())
    page = board.handler
    get = [
        ("/", board.fleet),
        ("/workers/{worker}", board.worker),
        ("/schedules", board.schedules),
        ("/schedules/{worker}/{name}", board.schedule),
        ("/runs", board.runs),
        ("/runs/{run_id}", board.run),
        ("/runs/{run_id}/live", board.live),
        ("/failures", board.failures),
        ("/timeline", board.timeline),
    ]
    post = [
        ("/schedules/{worker}/{name}/{action}", board.schedule_action),
        ("/runs/{run_id}/cancel", board.cancel),
        ("/workers/{worker}/programs/{name}/{action}", board.program_action),
    ]
    return [
        Route("/login", board.login_form, methods=["GET"]),
        Route("/login", board.login, methods=["POST"]),
        Route("/logout", board.logout, methods=["POST"]),
        *(Route(path, page(handler), methods=["GET"]) for path, handler in get),
        *(Route(path, page(handler), methods=["POST"]) for path, handler in post),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
