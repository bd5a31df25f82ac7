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

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp

import barto
from barto.config import ServerConfig
from barto.config.btu import settings
from barto.config.server import Calendars
from barto.model import Instance, RunRecord
from barto.protocol.keys import decode_key
from barto.protocol.signing import Signer
from barto.server import http, metrics, web
from barto.server.alerting import Alerting
from barto.server.auth import AuthGate, Principal, principals
from barto.server.btu.source import BtuSource
from barto.server.btusocket import BtuSocket
from barto.server.cluster.lease import Leadership, leader, not_leading
from barto.server.cluster.takeover import lead_forever, standby_view
from barto.server.gateway.hub import Hub
from barto.server.gateway.ingest import Ingest
from barto.server.gateway.ws import Parts, WorkerEndpoint
from barto.server.guard import RequestGuard
from barto.server.ninep import NinepDoor
from barto.server.operations import Core
from barto.server.operations import Parts as OperationParts
from barto.server.reload import Loader, Reloader
from barto.server.scheduling.scheduler import validated
from barto.server.standby import StandbyGate, Watched
from barto.server.state import ServerState
from barto.server.telemetry import Telemetry
from barto.store import Store, open_store

log = logging.getLogger("barto.server")


def create_app(
    config: ServerConfig,
    *,
    config_path: Path,
    loader: Loader,
    env: Mapping[str, str],
    calendars: Calendars | None = None,
) -> ASGIApp:
    """The server application; its lifespan opens the store, then stands by or leads.
    ``calendars``: what the config's validation parsed, taken over instead of parsed again."""
    tokens = principals(config)
    core = Core(open_server=not tokens)
    workers = WorkerEndpoint()
    watched = Watched()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_store(
            config.database_url(env), query_url=config.query.url, concurrent_queries=config.query.concurrent
        ) as store:
            state = await _start(config, store, config_path, calendars or {})
            watched.state = state
            core.serve(_operation_parts(state))
            workers.serve_with(_gateway_parts(state))
            try:
                async with asyncio.TaskGroup() as tg:
                    reloader = Reloader(state, config_path, loader)
                    tasks = [
                        tg.create_task(state.ingest.run()),
                        tg.create_task(reloader.run()),
                        tg.create_task(lead_forever(state)),
                    ]
                    for door in _socket_doors(config, core, tokens, state):
                        await door.listen()  # before "ready": a door that cannot listen stops the start
                        tasks.append(tg.create_task(door.serve()))
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
                core.serve(None)
                workers.serve_with(None)
                watched.state = None
                await state.leadership.stop()

    app = Starlette(
        routes=[
            *http.routes(core),
            WebSocketRoute("/v1/ws/worker", workers.serve),
            *metrics.routes(core, open_to_all=config.metrics.open),
            *web.routes(core, tokens),
        ],
        lifespan=lifespan,
        middleware=[Middleware(StandbyGate, watched=watched)],
        exception_handlers=http.exception_handlers(),
    )
    return RequestGuard(AuthGate(app, tokens, http.OPEN_PATHS), config.limits)


async def _start(config: ServerConfig, store: Store, config_path: Path, calendars: Calendars) -> ServerState:
    """This process's parts, as a standby: the leader's work starts once it holds the lease."""
    now = datetime.now(UTC)
    telemetry = Telemetry()
    telemetry.watch(store.engine)
    hub = Hub(telemetry)
    term = await standby_view(config, store, hub, config.schedules, now, parsed=validated(calendars))
    calendars.clear()  # taken over by the scheduler: not held twice
    state = ServerState(
        config=config,
        store=store,
        hub=hub,
        ingest=Ingest(store, counters=hub.counters, telemetry=telemetry),
        term=term,
        leadership=Leadership(
            store.cluster, _instance(config, now), config.lease_seconds, exclusive=store.dialect == "sqlite"
        ),
        config_path=str(config_path),
        alerting=Alerting(dict(config.alerts), store, hub),
        signer=Signer(decode_key(config.signing_key)) if config.signing_key else None,
        programs=dict(config.programs),
        telemetry=telemetry,
        btu=BtuSource(settings(config.btu, None), config.timezone) if config.btu is not None else None,
    )
    state.alerting.timeout_of = lambda run: _timeout_of(state, run)
    if state.signer is not None:
        log.info("frames to workers are signed (key fingerprint %s)", state.signer.fingerprint)
    return state


def _socket_doors(
    config: ServerConfig, core: Core, tokens: Mapping[bytes, Principal], state: ServerState
) -> list[NinepDoor | BtuSocket]:
    """The doors with listeners of their own: 9P, BTU's socket."""
    doors: list[NinepDoor | BtuSocket] = []
    if config.ninep is not None:
        doors.append(NinepDoor(config.ninep, core, tokens, lambda: _standing(state)))
    if state.btu is not None:
        doors.append(BtuSocket(state.btu.settings, core, lambda: _standing(state)))
    return doors


def _standing(state: ServerState) -> str | None:
    """Why this server does not serve the operations now (a standby: who leads), or None."""
    return None if state.leading else not_leading(leader(state.leadership))


def _timeout_of(state: ServerState, run: RunRecord) -> float | None:
    """The timeout of a run's schedule as the scheduler holds it now (None: none, or gone)."""
    entry = state.term.scheduler.find(run.worker, run.schedule)
    return entry.definition.timeout if entry is not None else None


def _operation_parts(state: ServerState) -> OperationParts:
    """The operations' parts; what changes with each term is read through functions."""
    return OperationParts(
        config=state.config,
        config_path=state.config_path,
        started_at=state.started_at,
        store=state.store,
        hub=state.hub,
        fleet=state.fleet,
        ingest=state.ingest,
        leadership=state.leadership,
        telemetry=state.telemetry,
        alerting=state.alerting,
        btu=state.btu,
        term=lambda: state.term,
        leading=lambda: state.leading,
    )


def _gateway_parts(state: ServerState) -> Parts:
    """The worker endpoint's parts; what changes with each term is read through functions."""
    return Parts(
        config=state.config,
        store=state.store,
        hub=state.hub,
        fleet=state.fleet,
        ingest=state.ingest,
        signer=state.signer,
        leading=lambda: state.leading,
        leader=lambda: leader(state.leadership),
        programs_of=state.programs_of,
        wake=lambda: state.term.scheduler.wake(),
    )


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
