"""The REST API under ``/v1``: decode the request, ask the store or the scheduler, encode JSON.

Errors are ``{"error": {"code": ..., "message": ...}}`` with a fitting status.
"""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import barto
from barto.config.server import ScheduleDef, validate_schedule
from barto.model import FINAL_STATES, RunState
from barto.protocol import Cancel
from barto.server import cleanup as cleanups
from barto.server import updates
from barto.server.reload import schedule_row
from barto.server.scheduler import Entry
from barto.server.state import ServerState
from barto.store.readonly import NotASelectError, check_select

_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """An error the client caused or must know about, with its HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class CleanupRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``POST /v1/cleanup``; without ``older_than_days`` the retention setting applies."""

    older_than_days: float | None = None


class RunNowRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``POST .../run``: ``force`` runs it even while the previous run goes on."""

    force: bool = False


class BackfillRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``POST .../backfill``: the slots from ``from`` to ``to`` (RFC 3339, inclusive)."""

    from_: Annotated[datetime, msgspec.Meta(tz=True)] = msgspec.field(name="from")
    to: Annotated[datetime, msgspec.Meta(tz=True)]


class QueryRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``POST /v1/query``."""

    sql: str


def json_response(payload: Any, status: int = 200) -> Response:
    """Encode ``payload`` (records, lists, dicts) as JSON."""
    return Response(_encoder.encode(payload), status_code=status, media_type="application/json")


def error_response(error: ApiError) -> Response:
    """The JSON body of an error."""
    return json_response({"error": {"code": error.code, "message": str(error)}}, error.status)


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.barto
    return state


def int_param(request: Request, name: str, default: int, low: int = 0, high: int = 1_000_000) -> int:
    raw = request.query_params.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, "bad_parameter", f"{name} must be between {low} and {high}")
    return value


async def body_of(request: Request, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body() or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise ApiError(400, "bad_body", f"invalid request body: {error}") from None


async def health(_: Request) -> Response:
    """Liveness probe."""
    return json_response({"ok": True})


async def info(request: Request) -> Response:
    """Server version, uptime, store and counts."""
    state = state_of(request)
    now = datetime.now(UTC)
    return json_response(
        {
            "name": "bartos",
            "version": barto.__version__,
            "python": platform.python_version(),
            "started_at": state.started_at,
            "uptime_seconds": round((now - state.started_at).total_seconds(), 3),
            "database": state.store.dialect,
            "config": state.config_path,
            "connected_workers": len(state.hub.sessions()),
            "schedules": len(state.scheduler.records()),
            "counters": dict(state.hub.counters),
            "cluster": await _cluster(state, now),
        }
    )


async def _cluster(state: ServerState, now: datetime) -> dict[str, Any]:
    """Who leads, since when, and every instance sharing the database (as this one sees it)."""
    lease, me = state.leadership.seen, state.leadership.me
    grace = timedelta(seconds=3 * state.config.lease_seconds)
    members = [
        {
            **msgspec.structs.asdict(i),
            "role": "leader" if lease and i.id == lease.holder else "gone" if now - i.seen_at > grace else "standby",
            "seen_seconds_ago": round((now - i.seen_at).total_seconds(), 3),
        }
        for i in await state.store.cluster.instances()
    ]
    return {
        "instance": me.id,
        "role": "leader" if state.leading else "standby",
        "leader": lease.holder if lease else None,
        "lease_seconds": state.config.lease_seconds,
        "lease_age_seconds": round((now - lease.acquired_at).total_seconds(), 3) if lease and lease.holder else None,
        "renewed_seconds_ago": round((now - lease.renewed_at).total_seconds(), 3) if lease else None,
        "instances": members,
    }


async def clients(request: Request) -> Response:
    """Every worker seen, with whether it is connected now."""
    state = state_of(request)
    records = await state.store.workers()
    return json_response([msgspec.structs.replace(w, connected=state.hub.is_connected(w.name)) for w in records])


async def schedules(request: Request) -> Response:
    """The live schedules with their next fire times."""
    return json_response(state_of(request).scheduler.records())


def _entry(request: Request) -> Entry:
    worker, name = request.path_params["worker"], request.path_params["name"]
    entry = state_of(request).scheduler.find(worker, name)
    if entry is None:
        raise ApiError(404, "schedule_not_found", f"no schedule named {name!r} for worker {worker!r}")
    return entry


async def run_now(request: Request) -> Response:
    """A manual run of a schedule now. It follows the schedule's overlap policy unless ``force``:
    with ``skip`` the answer is the run recorded ``skipped``."""
    state = state_of(request)
    entry = _entry(request)
    body: RunNowRequest = await body_of(request, RunNowRequest)
    if not state.hub.is_connected(entry.worker):
        raise ApiError(409, "worker_offline", f"worker {entry.worker!r} is not connected")
    return json_response(await state.scheduler.run_now(entry, force=body.force), 201)


async def add_schedule(request: Request) -> Response:
    """Add (or replace) a schedule of a worker through the API. The config file's names are not ours."""
    state = state_of(request)
    worker = request.path_params["worker"]
    schedule: ScheduleDef = await body_of(request, ScheduleDef)
    _not_from_file(state, worker, schedule.name)
    try:
        validate_schedule(schedule, worker, state.config.timezone)
    except ValueError as error:
        raise ApiError(400, "bad_schedule", str(error)) from None
    await _save(state, worker, schedule)
    return json_response(_record_of(state, worker, schedule.name), 201)


async def remove_schedule(request: Request) -> Response:
    """Remove a schedule added through the API."""
    state = state_of(request)
    worker, name = request.path_params["worker"], request.path_params["name"]
    _not_from_file(state, worker, name)
    if not await state.store.delete_api_schedule(worker, name):
        raise ApiError(404, "schedule_not_found", f"no API schedule named {name!r} for worker {worker!r}")
    state.catalog.remove(worker, name)
    state.apply_schedules()
    return json_response({"removed": name, "worker": worker})


async def enable(request: Request) -> Response:
    """Let an API schedule fire (``enabled = true``)."""
    return await _set_enabled(request, True)


async def disable(request: Request) -> Response:
    """Keep an API schedule listed but never firing (``enabled = false``); pause works on any."""
    return await _set_enabled(request, False)


async def _set_enabled(request: Request, enabled: bool) -> Response:
    state = state_of(request)
    worker, name = request.path_params["worker"], request.path_params["name"]
    _not_from_file(state, worker, name)
    current = state.catalog.from_api(worker, name)
    if current is None:
        raise ApiError(404, "schedule_not_found", f"no API schedule named {name!r} for worker {worker!r}")
    await _save(state, worker, msgspec.structs.replace(current, enabled=enabled))
    return json_response(_record_of(state, worker, name))


async def _save(state: ServerState, worker: str, schedule: ScheduleDef) -> None:
    """Store an API schedule, then run it (the database first: what runs is what a restart keeps)."""
    row = schedule_row(worker, schedule, state.config.timezone, source="api")
    await state.store.put_api_schedule(row, msgspec.to_builtins(schedule))
    state.catalog.put(worker, schedule)
    state.apply_schedules()


def _not_from_file(state: ServerState, worker: str, name: str) -> None:
    if state.catalog.from_config(worker, name):
        raise ApiError(
            409,
            "defined_in_config",
            f"schedule {name!r} of worker {worker!r} is defined in the config file; edit the file",
        )


def _record_of(state: ServerState, worker: str, name: str) -> Any:
    return next(r for r in state.scheduler.records() if (r.worker, r.name) == (worker, name))


async def pause(request: Request) -> Response:
    """Stop firing a schedule until it is resumed (kept across restarts and reloads)."""
    entry = _entry(request)
    await state_of(request).scheduler.pause(entry)
    return json_response(_record(request, entry))


async def resume(request: Request) -> Response:
    """Fire a paused schedule again from its next slot; the paused stretch is not made up."""
    entry = _entry(request)
    await state_of(request).scheduler.resume(entry)
    return json_response(_record(request, entry))


def _record(request: Request, entry: Entry) -> Any:
    return _record_of(state_of(request), entry.worker, entry.definition.name)


async def backfill(request: Request) -> Response:
    """Runs for the past slots of a schedule in [from, to] that have not succeeded, one at a time."""
    body: BackfillRequest = await body_of(request, BackfillRequest)
    if body.to < body.from_:
        raise ApiError(400, "bad_body", "'to' is before 'from'")
    try:
        created = await state_of(request).scheduler.backfill(_entry(request), body.from_, body.to)
    except ValueError as error:
        raise ApiError(400, "too_many_slots", str(error)) from None
    return json_response(created, 201)


async def cancel(request: Request) -> Response:
    """Stop a run: its worker sends the stop signal to the run's process group, waits, then KILLs.

    A run no worker has accepted yet is cancelled at once; the run ends ``cancelled`` either way.
    """
    state = state_of(request)
    found = await _run_or_404(request)
    if found.state in FINAL_STATES:
        raise ApiError(409, "run_finished", f"run {found.id} already ended ({found.state})")
    session = state.hub.session(found.worker)
    if found.state != RunState.PENDING and session is None:
        raise ApiError(409, "worker_offline", f"worker {found.worker!r} is not connected; cannot stop run {found.id}")
    if session is not None:
        session.send(Cancel(run_id=found.id))
    if found.state == RunState.PENDING:
        await state.store.settle_pending([found.id], RunState.CANCELLED, "cancelled")
    return json_response(await state.store.run(found.id), 202)


async def runs(request: Request) -> Response:
    """Runs, newest first, filtered by schedule, worker and state."""
    states = [s for s in request.query_params.getlist("state") if s]
    unknown = [s for s in states if s not in RunState.__members__.values()]
    if unknown:
        raise ApiError(400, "bad_parameter", f"unknown state {unknown[0]!r}")
    found = await state_of(request).store.runs(
        schedule=request.query_params.get("schedule"),
        worker=request.query_params.get("worker"),
        states=states,
        limit=int_param(request, "limit", 50, 1, 100_000),
    )
    return json_response(found)


async def run(request: Request) -> Response:
    """One run."""
    return json_response(await _run_or_404(request))


async def _run_or_404(request: Request) -> Any:
    try:
        run_id = int(request.path_params["run_id"])
    except ValueError:
        raise ApiError(400, "bad_parameter", "a run id is an integer") from None
    found = await state_of(request).store.run(run_id)
    if found is None:
        raise ApiError(404, "run_not_found", f"no run with id {run_id}")
    return found


async def output(request: Request) -> Response:
    """A run's output lines after ``after``; with ``follow=1`` a live NDJSON stream until the run ends."""
    found = await _run_or_404(request)
    after = int_param(request, "after", 0, 0, 2**31)
    if request.query_params.get("follow") in ("1", "true"):
        return StreamingResponse(_follow(state_of(request), found.id, after), media_type="application/x-ndjson")
    return json_response(await state_of(request).store.output(found.id, after=after))


async def _follow(state: ServerState, run_id: int, after: int) -> AsyncIterator[bytes]:
    while True:
        lines = await state.store.output(run_id, after=after, limit=10_000)
        for line in lines:
            yield _encoder.encode(line) + b"\n"
        after = lines[-1].seq if lines else after
        if not lines:
            current = await state.store.run(run_id)
            if current is None or current.state in FINAL_STATES:
                return
            await state.ingest.wait_commit(1.0)


async def failed(request: Request) -> Response:
    """Runs that failed, timed out or were lost, newest first."""
    return json_response(await state_of(request).store.failed(int_param(request, "limit", 1000, 1, 100_000)))


async def worker_schedules(request: Request) -> Response:
    """Names of the schedules that ran on a worker (barto's ``list -n``)."""
    return json_response(await state_of(request).store.schedule_names(request.path_params["worker"]))


async def worker_updates(request: Request) -> Response:
    """barto's ``updates``: parse the newest successful run that has updates of that kind."""
    state = state_of(request)
    kind = request.query_params.get("kind", "")
    parser = updates.PARSERS.get(kind)
    if parser is None:
        raise ApiError(400, "bad_parameter", f"kind must be one of {', '.join(updates.PARSERS)}")
    for candidate in await state.store.latest_successes(request.path_params["worker"]):
        report = parser([line.data for line in await state.store.output(candidate.id)])
        if not updates.is_empty(report):
            return json_response({"run": candidate, "kind": kind, "report": report})
    return json_response({"run": None, "kind": kind, "report": parser([])})


async def cleanup(request: Request) -> Response:
    """Apply the retention policy now (or delete everything finished more than ``older_than_days``
    ago). With ``?progress=1`` the answer is NDJSON: the total first, then a line per batch."""
    state = state_of(request)
    body: CleanupRequest = await body_of(request, CleanupRequest)
    if body.older_than_days is not None and body.older_than_days < 0:
        raise ApiError(400, "bad_body", "older_than_days must not be negative")
    retention = cleanups.policy(state.config, body.older_than_days)
    if request.query_params.get("progress") in ("1", "true"):
        sweep = cleanups.sweep(state.store, retention, datetime.now(UTC))
        return StreamingResponse(_ndjson(sweep), media_type="application/x-ndjson")
    return json_response(await cleanups.run(state.store, retention, datetime.now(UTC)))


async def _ndjson(items: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for item in items:
        yield msgspec.json.encode(item) + b"\n"


async def query(request: Request) -> Response:
    """Run one SELECT on a read-only connection."""
    body: QueryRequest = await body_of(request, QueryRequest)
    try:
        sql = check_select(body.sql)
    except NotASelectError as error:
        raise ApiError(400, "not_a_select", str(error)) from None
    try:
        columns, rows = await state_of(request).store.query(sql)
    except Exception as error:  # the database's own message is the useful answer here
        raise ApiError(400, "query_failed", str(getattr(error, "orig", error))) from None
    return json_response({"columns": columns, "rows": [[_plain(v) for v in row] for row in rows]})


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


ROUTES = [
    Route("/healthz", health),
    Route("/v1/info", info),
    Route("/v1/clients", clients),
    Route("/v1/schedules", schedules),
    Route("/v1/schedules/{worker}", add_schedule, methods=["POST"]),
    Route("/v1/schedules/{worker}/{name}", remove_schedule, methods=["DELETE"]),
    Route("/v1/schedules/{worker}/{name}/enable", enable, methods=["POST"]),
    Route("/v1/schedules/{worker}/{name}/disable", disable, methods=["POST"]),
    Route("/v1/schedules/{worker}/{name}/run", run_now, methods=["POST"]),
    Route("/v1/schedules/{worker}/{name}/backfill", backfill, methods=["POST"]),
    Route("/v1/schedules/{worker}/{name}/pause", pause, methods=["POST"]),
    Route("/v1/schedules/{worker}/{name}/resume", resume, methods=["POST"]),
    Route("/v1/runs", runs),
    Route("/v1/runs/{run_id}", run),
    Route("/v1/runs/{run_id}/output", output),
    Route("/v1/runs/{run_id}/cancel", cancel, methods=["POST"]),
    Route("/v1/failed", failed),
    Route("/v1/workers/{worker}/schedules", worker_schedules),
    Route("/v1/workers/{worker}/updates", worker_updates),
    Route("/v1/cleanup", cleanup, methods=["POST"]),
    Route("/v1/query", query, methods=["POST"]),
]
