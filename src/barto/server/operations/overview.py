"""What the dashboard shows at a glance, as operations any door may call: schedules with their
recent runs, one schedule's next fire times, and the fleet's timeline of slots per minute."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import msgspec

from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.calendar import Spec
from barto.errors import NotFound
from barto.model import FAILED_STATES, FINAL_STATES, RunState, percentile
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
    total, page = parts.term().scheduler.page(request.worker, request.offset, request.limit)
    recent = await parts.store.recent_slots([(s.worker, s.name) for s in page], request.recent)
    rows = [a.ScheduleSummary(schedule=s, recent=summarize(slots)) for s, slots in zip(page, recent, strict=True)]
    return a.Overview(total=total, offset=request.offset, rows=rows)


@implements(ops.DETAIL)
async def detail(parts: Parts, request: r.ScheduleDetail) -> a.Detail:
    """One schedule: its next fire times (whether or not it is paused) and its recent runs."""
    entry = parts.term().scheduler.find(request.worker, request.name)
    if entry is None:
        raise NotFound("schedule_not_found", f"no schedule named {request.name!r} for worker {request.worker!r}")
    record = parts.term().scheduler.record(entry)
    (runs,) = await parts.store.recent_slots([(entry.worker, entry.definition.name)], request.recent)
    upcoming = list(_fires(entry, _now(parts), None, request.upcoming))
    return a.Detail(schedule=record, upcoming=upcoming, recent=summarize(runs))


@implements(ops.TIMELINE)
async def timeline(parts: Parts, request: r.Timeline) -> a.TimelineView:
    """Slots per worker and minute: the past ``hours`` as the store recorded them, the next
    ``hours`` as the calendars say (schedules that are enabled and not paused)."""
    now = _now(parts)
    minute, span = now.replace(second=0, microsecond=0), timedelta(hours=request.hours)
    behind_from = minute + _MINUTE - span
    past = await _past(parts, behind_from, now)
    ahead = await _ahead(parts, now, span)
    soonest = sorted((f for f in ahead.fires if f.times), key=lambda f: (f.times[0], f.worker, f.name))
    return a.TimelineView(
        now=now,
        hours=request.hours,
        behind_from=behind_from,
        ahead_from=minute,
        behind=lanes_of(past, request.hours),
        ahead=lanes_of(ahead.counts(minute), request.hours),
        fires=[_shown(f, now) for f in soonest[: request.schedules]],
        truncated=any(f.capped for f in ahead.fires),
    )


_MINUTE, _MICROSECOND = timedelta(minutes=1), timedelta(microseconds=1)
# The past's minutes older than this are taken from the last full count (kept this long): runs
# of an hour ago have ended, mostly, and a busy fleet's day is millions of rows to count again.
_SETTLED = timedelta(hours=1)
_PAST_KEPT_SECONDS = 600.0


class _Counted(msgspec.Struct, kw_only=True):
    """A count of the past up to ``until`` (one store's), made at ``at`` (monotonic)."""

    store: int
    at: float
    until: datetime
    rows: list[tuple[str, datetime, str, int]]  # (worker, minute, state, runs)


_past_kept: list[_Counted] = []


async def _past(parts: Parts, since: datetime, now: datetime) -> list[tuple[str, int, str | None, int]]:
    """(worker, minute from ``since``, state, runs) of the slots in [since, now]: the settled
    minutes from the last full count while it is recent (at most :data:`_PAST_KEPT_SECONDS`;
    later results of runs that old show then), the last hour and more counted now."""
    kept = _past_kept[0] if _past_kept else None
    fresh = time.monotonic()
    if kept is None or kept.store != id(parts.store) or fresh - kept.at > _PAST_KEPT_SECONDS or kept.until < since:
        until = max(since, now.replace(second=0, microsecond=0) - _SETTLED)
        rows = [(w, since + m * _MINUTE, st, n) for w, m, st, n in await parts.store.slot_counts(since, until)]
        kept = _Counted(store=id(parts.store), at=fresh, until=until, rows=rows)
        _past_kept[:] = [kept]
    recent = await parts.store.slot_counts(kept.until, now + _MICROSECOND)
    base = int((kept.until - since).total_seconds() // 60)
    older = [(w, int((at - since).total_seconds() // 60), st, n) for w, at, st, n in kept.rows if at >= since]
    return [*older, *((w, base + m, st, n) for w, m, st, n in recent)]


class _Ahead(msgspec.Struct, frozen=True, kw_only=True):
    """The fires ahead: every firing schedule's (its list is its calendar's, shared), and how
    many schedules of each worker share each calendar (the lanes add calendars, not fires)."""

    fires: list[a.Fires]
    shared: dict[tuple[str, Spec], int]
    walked: dict[Spec, list[datetime]]

    def counts(self, start: datetime) -> Iterable[tuple[str, int, str | None, int]]:
        per_minute = {
            spec: Counter(int((t - start).total_seconds() // 60) for t in times) for spec, times in self.walked.items()
        }
        for (worker, spec), schedules in self.shared.items():
            for minute, n in per_minute[spec].items():
                yield worker, minute, None, n * schedules


_ahead_kept: dict[tuple[int, datetime, timedelta], tuple[float, _Ahead]] = {}


async def _ahead(parts: Parts, now: datetime, span: timedelta) -> _Ahead:
    """Every firing schedule's times in [now, now + span), kept for a few seconds (a timeline
    is looked at, not polled). Computed in a thread, so the scheduler's loop keeps its slots
    while a big fleet is walked."""
    scheduler = parts.term().scheduler
    key = (id(scheduler), now.replace(second=0, microsecond=0), span)
    kept = _ahead_kept.get(key)
    if kept is not None and time.monotonic() - kept[0] < _AHEAD_KEPT_SECONDS:
        return kept[1]
    found = await asyncio.to_thread(_walk, scheduler.firing(), now, span)
    _ahead_kept.clear()
    _ahead_kept[key] = (time.monotonic(), found)
    return found


def _walk(entries: list[Entry], now: datetime, span: timedelta) -> _Ahead:
    """The fires of ``entries``: each distinct calendar (specs are values: many schedules share
    ``hourly``) is walked once, within :data:`FIRES_PER_SCHEDULE` and :data:`FIRES_IN_ALL`."""
    walked: dict[Spec, tuple[list[datetime], bool]] = {}
    shared: Counter[tuple[str, Spec]] = Counter()
    budget = FIRES_IN_ALL
    fires = []
    for entry in entries:
        if entry.spec not in walked:
            cap = min(FIRES_PER_SCHEDULE, budget)
            times = list(_fires(entry, now, now + span, cap))
            budget -= len(times)
            walked[entry.spec] = (times, len(times) >= cap)
        times, capped = walked[entry.spec]
        shared[(entry.worker, entry.spec)] += 1
        fires.append(a.Fires(worker=entry.worker, name=entry.definition.name, times=times, total=len(times),
                             capped=capped))  # fmt: skip
    return _Ahead(fires=fires, shared=dict(shared), walked={spec: times for spec, (times, _) in walked.items()})


def _shown(fires: a.Fires, now: datetime) -> a.Fires:
    """``fires`` as the answer lists it: the first few that have not passed, and how many in all."""
    passed = bisect.bisect_right(fires.times, now)
    upcoming = fires.times[passed:]
    return msgspec.structs.replace(fires, times=upcoming[: a.FIRES_SHOWN], total=len(upcoming))


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


def summarize(rows: Sequence[tuple[int, datetime, str, str | None, float | None]]) -> a.Recent:
    """Success rate and duration percentiles of a schedule's recent runs, as (id, slot, state,
    reason, seconds) rows: those that ended, skipped ones aside (a skipped slot did not try)."""
    slots = [a.Slot(id=i, slot=at, state=RunState(state), reason=why, seconds=lasted)
             for i, at, state, why, lasted in rows]  # fmt: skip
    ended = [s for s in slots if s.state in FINAL_STATES and s.state != RunState.SKIPPED]
    succeeded = sum(s.state == RunState.SUCCEEDED for s in ended)
    durations = sorted(s.seconds for s in ended if s.seconds is not None)
    return a.Recent(
        runs=slots,
        success_rate=succeeded / len(ended) if ended else None,
        p50_seconds=percentile(durations, 50),
        p95_seconds=percentile(durations, 95),
    )


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
