"""The bartos ASGI app: routes, the bearer-key gate, and a lifespan that owns every task."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp

import barto
from barto.config import ServerConfig
from barto.protocol.keys import decode_key
from barto.protocol.signing import Signer
from barto.server import openapi, program_api
from barto.server.api import ROUTES, ApiError, error_response, json_response
from barto.server.auth import AuthGate, principals
from barto.server.hub import Hub
from barto.server.ingest import Ingest
from barto.server.leader import Leadership
from barto.server.leading import lead_forever, standby_view
from barto.server.reload import Loader, Reloader
from barto.server.standby import StandbyGate
from barto.server.state import ServerState
from barto.server.ws import worker_endpoint
from barto.store import Store, open_store
from barto.store.cluster import Instance

log = logging.getLogger("barto.server")


def create_app(config: ServerConfig, *, config_path: Path, loader: Loader, env: Mapping[str, str]) -> ASGIApp:
    """The server application; its lifespan opens the store, then stands by or leads."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_store(config.database_url(env)) as store:
            state = await _start(config, store, config_path)
            app.state.barto = state
            try:
                async with asyncio.TaskGroup() as tg:
                    reloader = Reloader(state, config_path, loader)
                    tasks = [
                        tg.create_task(state.ingest.run()),
                        tg.create_task(reloader.run()),
                        tg.create_task(lead_forever(state)),
                    ]
                    loop = asyncio.get_running_loop()
                    loop.add_signal_handler(signal.SIGHUP, reloader.request)
                    log.info("bartos ready (instance %s, store %s)", state.leadership.me.name, store.dialect)
                    try:
                        yield
                    finally:
                        loop.remove_signal_handler(signal.SIGHUP)
                        for task in tasks:
                            task.cancel()
            finally:  # the leader's work has stopped: a standby may take over at once
                await state.leadership.stop()

    routes = [
        *ROUTES,
        *program_api.ROUTES,
        Route("/openapi.json", _openapi),
        WebSocketRoute("/v1/ws/worker", worker_endpoint),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(StandbyGate)],
        exception_handlers={ApiError: _api_error},
    )
    return AuthGate(app, principals(config))


async def _start(config: ServerConfig, store: Store, config_path: Path) -> ServerState:
    """This process's parts, as a standby: the leader's work starts once it holds the lease."""
    now = datetime.now(UTC)
    hub = Hub()
    catalog, scheduler = await standby_view(config, store, hub, config.schedules, now)
    state = ServerState(
        config=config,
        store=store,
        hub=hub,
        ingest=Ingest(store, on_finished=lambda run_ids: state.scheduler.ended(run_ids), counters=hub.counters),
        scheduler=scheduler,
        catalog=catalog,
        leadership=Leadership(
            store.cluster, _instance(config, now), config.lease_seconds, exclusive=store.dialect == "sqlite"
        ),
        config_path=str(config_path),
        signer=Signer(decode_key(config.signing_key)) if config.signing_key else None,
        programs=dict(config.programs),
    )
    if state.signer is not None:
        log.info("frames to workers are signed (key fingerprint %s)", state.signer.fingerprint)
    return state


def _instance(config: ServerConfig, now: datetime) -> Instance:
    """This process as listed for the others: a fresh id per start (a restart is a new instance)."""
    return Instance(
        id=str(uuid.uuid4()),
        name=f"{socket.gethostname()}:{config.actix.port}",
        url=config.own_url(),
        pid=os.getpid(),
        version=barto.__version__,
        started_at=now,
        seen_at=now,
    )


async def _openapi(_: Request) -> Response:
    return json_response(openapi.document())


async def _api_error(_: Request, error: Any) -> Response:
    assert isinstance(error, ApiError)  # registered for ApiError only
    return error_response(error)
