"""The bartos ASGI app: routes, the bearer-key gate, and a lifespan that owns every task."""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from barto.config import ServerConfig
from barto.config.server import ScheduleDef, validate_schedule
from barto.server import cleanup, openapi
from barto.server.api import ROUTES, ApiError, error_response, json_response
from barto.server.catalog import Catalog, Key, definition
from barto.server.hub import Hub
from barto.server.ingest import Ingest
from barto.server.reload import Loader, Reloader, schedule_rows
from barto.server.scheduler import Scheduler
from barto.server.state import ServerState
from barto.server.ws import worker_endpoint
from barto.store import Store, open_store

log = logging.getLogger("barto.server")

_RETENTION_EVERY = 3600.0
_SWEEP_EVERY = 30.0
_OPEN_PATHS = ("/healthz", "/openapi.json")


class BearerGate:
    """With ``api_key`` set, every request (HTTP and WebSocket) needs ``Authorization: Bearer <key>``."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self._app = app
        self._key = key.encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._key is None or scope["type"] not in ("http", "websocket") or scope["path"] in _OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        if header.startswith(b"Bearer ") and hmac.compare_digest(header[7:], self._key):
            await self._app(scope, receive, send)
            return
        response = json_response({"error": {"code": "unauthorized", "message": "missing or wrong API key"}}, 401)
        if scope["type"] == "websocket":
            await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
            await send({"type": "websocket.http.response.body", "body": b"unauthorized"})
            return
        await response(scope, receive, send)


def create_app(config: ServerConfig, *, config_path: Path, loader: Loader, env: Mapping[str, str]) -> ASGIApp:
    """The server application; its lifespan opens the store and runs the scheduler."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_store(config.database_url(env)) as store, asyncio.TaskGroup() as tg:
            state = await _start(config, store, config_path)
            app.state.barto = state
            reloader = Reloader(state, config_path, loader)
            tasks = [
                tg.create_task(state.ingest.run()),
                tg.create_task(state.scheduler.run()),
                tg.create_task(reloader.run()),
                tg.create_task(_retention(state)),
                tg.create_task(_sweep_lost(state)),
            ]
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, reloader.request)
            log.info("bartos ready: %d schedules, store %s", len(state.scheduler.records()), store.dialect)
            try:
                yield
            finally:
                loop.remove_signal_handler(signal.SIGHUP)
                for task in tasks:
                    task.cancel()

    routes = [
        *ROUTES,
        Route("/openapi.json", _openapi),
        WebSocketRoute("/v1/ws/worker", worker_endpoint),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={ApiError: _api_error})
    return BearerGate(app, config.api_key)


async def _start(config: ServerConfig, store: Store, config_path: Path) -> ServerState:
    await store.mark_all_disconnected()
    now = datetime.now(UTC)
    await store.release_future_claims(now)  # a previous process's, never sent
    if missed := await store.server_down(now):
        log.warning("%d claimed runs whose slot passed while no server ran are recorded as missed", missed)
    await store.replace_schedules(schedule_rows(config))
    catalog = Catalog(config.schedules, await _api_schedules(store, config))
    hub = Hub()
    scheduler = Scheduler(store, hub)
    scheduler.load(catalog.merged(), config.timezone, now, paused=await store.paused(), api=catalog.api_keys())
    window = timedelta(seconds=config.catchup_window_seconds)
    await scheduler.catch_up(await store.last_slots(), now, config.catchup, window)
    return ServerState(
        config=config,
        store=store,
        hub=hub,
        ingest=Ingest(store, on_finished=scheduler.ended),
        scheduler=scheduler,
        catalog=catalog,
        config_path=str(config_path),
    )


async def _api_schedules(store: Store, config: ServerConfig) -> dict[Key, ScheduleDef]:
    """The stored API schedules; one that no longer validates is skipped with an error logged."""
    found: dict[Key, ScheduleDef] = {}
    for worker, data in await store.api_schedules():
        try:
            schedule = definition(data)
            validate_schedule(schedule, worker, config.timezone)
        except (msgspec.ValidationError, ValueError) as error:
            log.error(
                "API schedule %s of worker %s is not valid any more, skipped: %s", data.get("name"), worker, error
            )
            continue
        found[(worker, schedule.name)] = schedule
    return found


async def _retention(state: ServerState) -> None:
    """Apply the retention policy every hour (barto only cleaned up when asked)."""
    while True:
        try:
            done = await cleanup.run(state.store, cleanup.policy(state.config), datetime.now(UTC))
        except Exception:
            log.exception("retention failed; trying again in an hour")
        else:
            if done.runs:
                log.info("retention: deleted %d runs and %d output lines", done.runs, done.output_rows)
        await asyncio.sleep(_RETENTION_EVERY)


async def _sweep_lost(state: ServerState) -> None:
    """Runs of workers gone for ``lost_after_seconds`` (as seen by this process) become lost."""
    lost_after = timedelta(seconds=state.config.lost_after_seconds)
    while True:
        await asyncio.sleep(min(lost_after.total_seconds() / 4, _SWEEP_EVERY))
        now = datetime.now(UTC)
        if now - state.started_at >= lost_after and (count := await state.store.lose_absent(now - lost_after)):
            log.warning("%d runs of workers gone for %s are recorded as lost or missed", count, lost_after)


async def _openapi(_: Request) -> Response:
    return json_response(openapi.document())


async def _api_error(_: Request, error: Any) -> Response:
    assert isinstance(error, ApiError)  # registered for ApiError only
    return error_response(error)
