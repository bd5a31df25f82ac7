"""What the dashboard shows at a glance, as operations any door may call: schedules with their
recent runs, one schedule's next fire times, and the fleet's timeline of slots per minute."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import msgspec

from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.errors import NotFound
from barto.model import FAILED_STATES, FINAL_STATES, RunRecord, RunState, percentile, run_seconds
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts
from barto.server.scheduling.scheduler import Entry
from barto.server.scheduling.slots import next_slot

# The timeline computes at most this many fire times ahead per schedule and in all: a page stays
# quick whatever the fleet holds (``truncated``). The past is counted by the database.
FIRES_PER_SCHEDULE = 20_000
FIRES_IN_ALL = 1_000_000
_AHEAD_KEPT_SECONDS = 10.0  # the fires ahead are computed again at most this often


@implements(ops.OVERVIEW)
async def overview(parts: Parts, request: r.Overview) -> a.Overview:
    """A page of the live schedules, by worker and name, each with its recent runs."""
    records = sorted(parts.term().scheduler.records(), key=lambda s: (s.worker, s.name))
    if request.worker is not None:
        records = [s for s in records if s.worker == request.worker]
    page = records[request.offset : request.offset + request.limit]
    recent = await parts.store.recent_runs([(s.worker, s.name) for s in page], request.recent)
    rows = [a.ScheduleSummary(schedule=s, recent=summarize(runs)) for s, runs in zip(page, recent, strict=True)]
    return a.Overview(total=len(records), offset=request.offset, rows=rows)


@implements(ops.DETAIL)
async def detail(parts: Parts, request: r.ScheduleDetail) -> a.Detail:
    """One schedule: its next fire times (whether or not it is paused) and its recent runs."""
    entry = parts.term().scheduler.find(request.worker, request.name)
    if entry is None:
        raise NotFound("schedule_not_found", f"no schedule named {request.name!r} for worker {request.worker!r}")
    name = entry.definition.name
    record = next(s for s in parts.term().scheduler.records() if (s.worker, s.name) == (entry.worker, name))
    (runs,) = await parts.store.recent_runs([(entry.worker, name)], request.recent)
    upcoming = list(_fires(entry, _now(parts), None, request.upcoming))
    return a.Detail(schedule=record, upcoming=upcoming, recent=summarize(runs))


@implements(ops.TIMELINE)
async def timeline(parts: Parts, request: r.Timeline) -> a.TimelineView:
    """Slots per worker and minute: the past ``hours`` as the store recorded them, the next
    ``hours`` as the calendars say (schedules that are enabled and not paused)."""
    now = _now(parts)
    minute, span = now.replace(second=0, microsecond=0), timedelta(hours=request.hours)
    behind_from = minute + _MINUTE - span
    past = await parts.store.slot_counts(behind_from, now + _MICROSECOND)
    behind = lanes_of(past, request.hours)
    fires = await _ahead(parts, now, span)
    ahead = lanes_of(_by_minute(fires, minute), request.hours)
    shown = [a.Fires(worker=f.worker, name=f.name, times=f.times[: a.FIRES_SHOWN], total=f.total, capped=f.capped)
             for f in fires]  # fmt: skip
    return a.TimelineView(
        now=now,
        hours=request.hours,
        behind_from=behind_from,
        ahead_from=minute,
        behind=behind,
        ahead=ahead,
        fires=shown,
        truncated=any(f.capped for f in fires),
    )


_MINUTE, _MICROSECOND = timedelta(minutes=1), timedelta(microseconds=1)
_ahead_kept: dict[tuple[int, datetime, timedelta], tuple[float, list[a.Fires]]] = {}


async def _ahead(parts: Parts, now: datetime, span: timedelta) -> list[a.Fires]:
    """Every firing schedule's times in [now, now + span) (all of them, not only the shown
    ones: the lanes count them), computed in slices that yield to the event loop, and kept for
    a few seconds (a timeline is looked at, not polled)."""
    scheduler = parts.term().scheduler
    key = (id(scheduler), now.replace(second=0, microsecond=0), span)
    kept = _ahead_kept.get(key)
    if kept is not None and time.monotonic() - kept[0] < _AHEAD_KEPT_SECONDS:
        return [_from(f, now) for f in kept[1]]
    found: list[a.Fires] = []
    budget = FIRES_IN_ALL
    for i, entry in enumerate(scheduler.firing()):
        if i % 200 == 199:
            await asyncio.sleep(0)
        cap = min(FIRES_PER_SCHEDULE, budget)
        times = list(_fires(entry, now, now + span, cap))
        budget -= len(times)
        found.append(
            a.Fires(
                worker=entry.worker, name=entry.definition.name, times=times, total=len(times), capped=len(times) >= cap
            )
        )
    _ahead_kept.clear()
    _ahead_kept[key] = (time.monotonic(), found)
    return found


def _from(fires: a.Fires, now: datetime) -> a.Fires:
    """``fires`` without the times that have passed since they were computed."""
    passed = bisect.bisect_right(fires.times, now)
    if not passed:
        return fires
    return msgspec.structs.replace(fires, times=fires.times[passed:], total=fires.total - passed)


def _fires(entry: Entry, after: datetime, until: datetime | None, limit: int) -> Iterable[datetime]:
    """Up to ``limit`` fire times of ``entry`` after ``after`` (and before ``until``)."""
    slot = next_slot(entry.spec, after, entry.label)
    for _ in range(limit):
        if slot is None or (until is not None and slot >= until):
            return
        yield slot
        slot = next_slot(entry.spec, slot, entry.label)


def _now(parts: Parts) -> datetime:
    return parts.term().scheduler.now()


def summarize(runs: Sequence[RunRecord]) -> a.Recent:
    """Success rate and duration percentiles of ``runs`` (those that ended, skipped ones aside:
    a skipped slot did not try)."""
    ended = [run for run in runs if run.state in FINAL_STATES and run.state != RunState.SKIPPED]
    succeeded = sum(run.state == RunState.SUCCEEDED for run in ended)
    durations = sorted(d for d in map(run_seconds, ended) if d is not None)
    return a.Recent(
        runs=list(runs),
        success_rate=succeeded / len(ended) if ended else None,
        p50_seconds=percentile(durations, 50),
        p95_seconds=percentile(durations, 95),
    )


def _by_minute(fires: Iterable[a.Fires], start: datetime) -> Iterable[tuple[str, int, str | None, int]]:
    for f in fires:
        for t in f.times:
            yield f.worker, int((t - start).total_seconds() // 60), None, 1


def lanes_of(counts: Iterable[tuple[str, int, str | None, int]], hours: int) -> list[a.Lane]:
    """Per worker, slots by minute (and how many were missed or failed) from (worker, minute,
    state, count) tuples."""
    width = hours * 60
    lanes: dict[str, a.Lane] = {}
    for worker, minute, state, n in counts:
        if not 0 <= minute < width:
            continue
        lane = lanes.get(worker)
        if lane is None:
            lane = lanes[worker] = a.Lane(worker=worker, counts=[0] * width, missed=[0] * width, failed=[0] * width)
        lane.counts[minute] += n
        if state == RunState.MISSED:
            lane.missed[minute] += n
        elif state in FAILED_STATES:
            lane.failed[minute] += n
    return [lanes[w] for w in sorted(lanes)]
