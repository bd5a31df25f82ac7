"""Schedules: list, add/remove/enable/disable the API's own, run now, backfill, pause, resume."""

from __future__ import annotations

import msgspec

from barto import rules
from barto.api import operations as ops
from barto.api import requests as r
from barto.api.answers import Removed
from barto.config._load import KeyedError
from barto.config.server import ScheduleDef, validate_schedule
from barto.errors import Conflict, Invalid, NotFound
from barto.model import RunRecord, ScheduleRecord
from barto.server.operations._impl import implements
from barto.server.reload import schedule_row
from barto.server.scheduling.scheduler import Entry
from barto.server.state import ServerState


@implements(ops.SCHEDULES)
async def listing(state: ServerState, _: r.Nothing) -> list[ScheduleRecord]:
    """The live schedules with their next fire times."""
    return state.scheduler.records()


@implements(ops.ADD)
async def add(state: ServerState, request: r.AddSchedule) -> ScheduleRecord:
    """Add (or replace) a schedule of a worker. The config file's names are not ours to change."""
    worker, schedule = request.worker, request.schedule
    rules.check_name("worker", worker)
    _not_from_file(state, worker, schedule.name)
    try:
        validate_schedule(schedule, worker, state.config.timezone)
    except KeyedError as error:
        where = ".".join(str(p) for p in error.path)
        raise Invalid("bad_schedule", f"{where}: {error}" if where else str(error)) from None
    await _save(state, worker, schedule)
    return _record_of(state, worker, schedule.name)


@implements(ops.REMOVE)
async def remove(state: ServerState, request: r.ScheduleRef) -> Removed:
    """Remove an API schedule (any stored name, even one from before the naming rules)."""
    worker, name = request.worker, request.name
    _not_from_file(state, worker, name)
    if not await state.store.delete_api_schedule(worker, name):
        raise NotFound("schedule_not_found", f"no API schedule named {name!r} for worker {worker!r}")
    state.catalog.remove(worker, name)
    state.apply_schedules()
    return Removed(removed=name, worker=worker)


@implements(ops.ENABLE)
async def enable(state: ServerState, request: r.ScheduleRef) -> ScheduleRecord:
    """Let an API schedule fire (``enabled = true``)."""
    return await _set_enabled(state, request, True)


@implements(ops.DISABLE)
async def disable(state: ServerState, request: r.ScheduleRef) -> ScheduleRecord:
    """Keep an API schedule listed but never firing (``enabled = false``); pause works on any."""
    return await _set_enabled(state, request, False)


async def _set_enabled(state: ServerState, request: r.ScheduleRef, enabled: bool) -> ScheduleRecord:
    worker, name = request.worker, request.name
    _not_from_file(state, worker, name)
    current = state.catalog.from_api(worker, name)
    if current is None:
        raise NotFound("schedule_not_found", f"no API schedule named {name!r} for worker {worker!r}")
    await _save(state, worker, msgspec.structs.replace(current, enabled=enabled))
    return _record_of(state, worker, name)


@implements(ops.RUN_NOW)
async def run_now(state: ServerState, request: r.RunNow) -> RunRecord:
    """A manual run now. It follows the overlap policy unless ``force``: with ``skip`` the answer
    is the run recorded ``skipped``."""
    entry = _entry(state, request)
    if not state.hub.is_connected(entry.worker):
        raise Conflict("worker_offline", f"worker {entry.worker!r} is not connected")
    return await state.scheduler.run_now(entry, force=request.force)


@implements(ops.BACKFILL)
async def backfill(state: ServerState, request: r.Backfill) -> list[RunRecord]:
    """Runs for the past slots in [from, to] that have not succeeded, one at a time."""
    if request.to < request.from_:
        raise Invalid("bad_range", "'to' is before 'from'")
    entry = _entry(state, request)
    try:
        return await state.scheduler.backfill(entry, request.from_, request.to)
    except ValueError as error:
        raise Invalid("too_many_slots", str(error)) from None


@implements(ops.PAUSE)
async def pause(state: ServerState, request: r.ScheduleRef) -> ScheduleRecord:
    """Stop firing a schedule until it is resumed (kept across restarts and reloads)."""
    entry = _entry(state, request)
    await state.scheduler.pause(entry)
    return _record_of(state, entry.worker, entry.definition.name)


@implements(ops.RESUME)
async def resume(state: ServerState, request: r.ScheduleRef) -> ScheduleRecord:
    """Fire a paused schedule again from its next slot; the paused stretch is not made up."""
    entry = _entry(state, request)
    await state.scheduler.resume(entry)
    return _record_of(state, entry.worker, entry.definition.name)


def _entry(state: ServerState, request: r.ScheduleRef) -> Entry:
    entry = state.scheduler.find(request.worker, request.name)
    if entry is None:
        raise NotFound("schedule_not_found", f"no schedule named {request.name!r} for worker {request.worker!r}")
    return entry


async def _save(state: ServerState, worker: str, schedule: ScheduleDef) -> None:
    """Store an API schedule, then run it (the database first: what runs is what a restart keeps)."""
    row = schedule_row(worker, schedule, state.config.timezone, source="api")
    await state.store.put_api_schedule(row, msgspec.to_builtins(schedule))
    state.catalog.put(worker, schedule)
    state.apply_schedules()


def _not_from_file(state: ServerState, worker: str, name: str) -> None:
    if state.catalog.from_config(worker, name):
        raise Conflict(
            "defined_in_config", f"schedule {name!r} of worker {worker!r} is defined in the config file; edit the file"
        )


def _record_of(state: ServerState, worker: str, name: str) -> ScheduleRecord:
    return next(r for r in state.scheduler.records() if (r.worker, r.name) == (worker, name))
