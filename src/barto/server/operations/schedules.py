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
from barto.server.operations._parts import Parts
from barto.server.scheduling.scheduler import Entry


@implements(ops.SCHEDULES)
async def listing(parts: Parts, request: r.ScheduleList) -> list[ScheduleRecord]:
    """The live schedules with their next fire times (only one worker's are built for it)."""
    if request.worker is None:
        return parts.term().scheduler.records()
    return parts.term().scheduler.page(request.worker, 0, parts.term().scheduler.count())[1]


@implements(ops.ADD)
async def add(parts: Parts, request: r.AddSchedule) -> ScheduleRecord:
    """Add (or replace) a schedule of a worker. The config file's names are not ours to change."""
    worker, schedule = request.worker, request.schedule
    rules.check_name("worker", worker)
    _not_from_file(parts, worker, schedule.name)
    if not request.replace and parts.term().catalog.from_api(worker, schedule.name) is not None:
        raise Conflict("schedule_exists", f"worker {worker!r} already has a schedule named {schedule.name!r}")
    await _check_and_save(parts, worker, schedule)
    return _record_of(parts, worker, schedule.name)


@implements(ops.COMMANDS)
async def commands(parts: Parts, request: r.Commands) -> ScheduleRecord:
    """New commands for an API schedule; its calendar and every other setting stay."""
    worker, name = request.worker, request.name
    _not_from_file(parts, worker, name)
    current = parts.term().catalog.from_api(worker, name)
    if current is None:
        raise NotFound("schedule_not_found", f"no API schedule named {name!r} for worker {worker!r}")
    await _check_and_save(parts, worker, msgspec.structs.replace(current, cmds=request.cmds), stored=True)
    return _record_of(parts, worker, name)


async def _check_and_save(parts: Parts, worker: str, schedule: ScheduleDef, *, stored: bool = False) -> None:
    """Validate (``stored``: a name already kept stays, grandfathered), then save."""
    try:
        validate_schedule(schedule, worker, parts.config.timezone, stored=stored)
    except KeyedError as error:
        where = ".".join(str(p) for p in error.path)
        raise Invalid("bad_schedule", f"{where}: {error}" if where else str(error)) from None
    if worker == rules.RQ_WORKER and schedule.redis not in parts.config.redis:
        raise Invalid("bad_schedule", f"redis: no [redis.{schedule.redis}] in the server's config")
    await _save(parts, worker, schedule)


@implements(ops.REMOVE)
async def remove(parts: Parts, request: r.ScheduleRef) -> Removed:
    """Remove an API schedule (any stored name, even one from before the naming rules)."""
    worker, name = request.worker, request.name
    _not_from_file(parts, worker, name)
    if not await parts.term().drop_api(parts.store, worker, [name], parts.config.timezone):
        raise NotFound("schedule_not_found", f"no API schedule named {name!r} for worker {worker!r}")
    return Removed(removed=name, worker=worker)


@implements(ops.ENABLE)
async def enable(parts: Parts, request: r.ScheduleRef) -> ScheduleRecord:
    """Let an API schedule fire (``enabled = true``)."""
    return await _set_enabled(parts, request, True)


@implements(ops.DISABLE)
async def disable(parts: Parts, request: r.ScheduleRef) -> ScheduleRecord:
    """Keep an API schedule listed but never firing (``enabled = false``); pause works on any."""
    return await _set_enabled(parts, request, False)


async def _set_enabled(parts: Parts, request: r.ScheduleRef, enabled: bool) -> ScheduleRecord:
    worker, name = request.worker, request.name
    _not_from_file(parts, worker, name)
    current = parts.term().catalog.from_api(worker, name)
    if current is None:
        raise NotFound("schedule_not_found", f"no API schedule named {name!r} for worker {worker!r}")
    await _save(parts, worker, msgspec.structs.replace(current, enabled=enabled))
    return _record_of(parts, worker, name)


@implements(ops.RUN_NOW)
async def run_now(parts: Parts, request: r.RunNow) -> RunRecord:
    """A manual run now. It follows the overlap policy unless ``force``: with ``skip`` the answer
    is the run recorded ``skipped``."""
    entry = _entry(parts, request)
    if not parts.hub.is_connected(entry.worker):
        raise Conflict("worker_offline", f"worker {entry.worker!r} is not connected")
    return await parts.term().scheduler.run_now(entry, force=request.force)


@implements(ops.BACKFILL)
async def backfill(parts: Parts, request: r.Backfill) -> list[RunRecord]:
    """Runs for the past slots in [from, to] that have not succeeded, one at a time."""
    if request.to < request.from_:
        raise Invalid("bad_range", "'to' is before 'from'")
    entry = _entry(parts, request)
    try:
        return await parts.term().scheduler.backfill(entry, request.from_, request.to)
    except ValueError as error:
        raise Invalid("too_many_slots", str(error)) from None


@implements(ops.PAUSE)
async def pause(parts: Parts, request: r.ScheduleRef) -> ScheduleRecord:
    """Stop firing a schedule until it is resumed (kept across restarts and reloads)."""
    entry = _entry(parts, request)
    await parts.term().scheduler.pause(entry)
    return _record_of(parts, entry.worker, entry.definition.name)


@implements(ops.RESUME)
async def resume(parts: Parts, request: r.ScheduleRef) -> ScheduleRecord:
    """Fire a paused schedule again from its next slot; the paused stretch is not made up."""
    entry = _entry(parts, request)
    await parts.term().scheduler.resume(entry)
    return _record_of(parts, entry.worker, entry.definition.name)


def _entry(parts: Parts, request: r.ScheduleRef) -> Entry:
    entry = parts.term().scheduler.find(request.worker, request.name)
    if entry is None:
        raise NotFound("schedule_not_found", f"no schedule named {request.name!r} for worker {request.worker!r}")
    return entry


async def _save(parts: Parts, worker: str, schedule: ScheduleDef) -> None:
    await parts.term().put_api(parts.store, worker, [schedule], parts.config.timezone)


def _not_from_file(parts: Parts, worker: str, name: str) -> None:
    if parts.term().catalog.from_config(worker, name):
        raise Conflict(
            "defined_in_config", f"schedule {name!r} of worker {worker!r} is defined in the config file; edit the file"
        )


def _record_of(parts: Parts, worker: str, name: str) -> ScheduleRecord:
    entry = parts.term().scheduler.find(worker, name)
    assert entry is not None  # just saved, paused or resumed: it is live
    return parts.term().scheduler.record(entry)
