"""Storing what workers report: batched transactions, then acknowledgements, then tail wake-ups.

A single writer drains every event that arrived while the previous transaction committed, so
one commit carries many lines (this is what makes 100,000 lines/s possible on SQLite). Only
after the commit does each session get one Ack: "committed up to eid N". A session's events
arrive and are committed in order, so one number acknowledges them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import msgspec

from barto.model import ProgramEvent, Reason, RunState, StopReason
from barto.protocol import Accepted, Finished, Output, ProgramEvents, ProgramTransition, RunEvent, Started, ToServer
from barto.server.gateway.hub import Session
from barto.server.telemetry import Telemetry
from barto.store import Batch, Store
from barto.store.records import Finished as FinishedRow

log = logging.getLogger("barto.server.gateway.ingest")

_MAX_BATCH = 20_000  # events per transaction
_OWNERS_KEPT = 200_000  # run -> worker entries remembered; then forgotten all at once
_RUN_EVENTS = (Accepted, Started, Output, Finished)

_STOPPED = {
    StopReason.TIMEOUT: (RunState.TIMED_OUT, Reason.TIMEOUT),
    StopReason.CANCEL: (RunState.CANCELLED, Reason.CANCELLED),
    StopReason.SHUTDOWN: (RunState.CANCELLED, Reason.WORKER_SHUTDOWN),
    StopReason.RESTART: (RunState.LOST, Reason.WORKER_RESTARTED),
}


def final_state(event: Finished) -> RunState:
    """The state a finished run ends in."""
    if event.stopped is not None:
        return _STOPPED[event.stopped][0]
    return RunState.SUCCEEDED if event.exit_code == 0 and event.error is None else RunState.FAILED


def _reason(event: Finished) -> str | None:
    if event.error:
        return event.error
    if event.stopped is not None:
        return _STOPPED[event.stopped][1]
    return None if event.signal is None else f"killed by signal {event.signal}"


class Ingest:
    """Owns the event queue and the writer loop."""

    def __init__(
        self,
        store: Store,
        on_finished: Callable[[list[int]], None] = lambda _: None,  # see :attr:`on_finished`
        counters: Counter[str] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._store = store
        self._telemetry = telemetry if telemetry is not None else Telemetry()
        # Told the ids of runs that ended: the scheduler may queue behind them, or retry them.
        # The leader's term sets it to its scheduler's and clears it when the term ends.
        self.on_finished = on_finished
        self._counters = counters if counters is not None else Counter()
        self._owners: dict[int, str] = {}  # run id -> its worker (never changes, so never stale)
        self._queue: asyncio.Queue[tuple[Session, ToServer]] = asyncio.Queue()
        self._committed = asyncio.Event()

    def put(self, session: Session, event: ToServer) -> None:
        """Queue an event from ``session`` for storage."""
        self._queue.put_nowait((session, event))

    async def wait_commit(self, timeout: float) -> None:
        """Return after the next commit, or after ``timeout`` seconds."""
        event = self._committed
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass

    async def run(self) -> None:
        """Write batches until cancelled."""
        while True:
            items = [await self._queue.get()]
            while len(items) < _MAX_BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            await self._learn_owners(items)
            batch, acks = _collect(items, self._owners, self._counters)
            started = time.perf_counter()
            await self._store.apply(batch)
            self._telemetry.ingest_batch.observe(time.perf_counter() - started)
            for row in batch.finished:
                self._telemetry.run_duration.observe(max(0.0, (row["finished_at"] - row["started_at"]).total_seconds()))
            for session, eid in acks:
                session.ack(eid)
            if batch.finished:
                self.on_finished([row["run_id"] for row in batch.finished])
            self._committed.set()
            self._committed = asyncio.Event()

    async def _learn_owners(self, items: list[tuple[Session, ToServer]]) -> None:
        """Look up the workers of the runs in ``items`` not seen before (one query per batch)."""
        unknown = {run_id for _, event in items for run_id in _run_ids(event)}.difference(self._owners)
        if unknown:
            if len(self._owners) > _OWNERS_KEPT:
                self._owners.clear()
            self._owners.update(await self._store.run_workers(unknown))


def _run_ids(event: ToServer) -> list[int]:
    match event:
        case Accepted(run_ids=ids):
            return ids
        case Started() | Output() | Finished():
            return [event.run_id]
    return []


def _collect(
    items: list[tuple[Session, ToServer]], owners: Mapping[int, str], counters: Counter[str]
) -> tuple[Batch, list[tuple[Session, int]]]:
    """The batch to store and the eid to acknowledge to each session. An event about a run
    that is not the sending worker's (another worker's, or none at all) is acknowledged but not
    stored: a worker reports only its own runs, whatever it sends. Program state changes are
    stored under the sending worker's name (they carry no eid: nothing to acknowledge)."""
    batch = Batch(accepted=[], started=[], lines=[], finished=[], program_events=[])
    high: dict[str, tuple[Session, int]] = {}  # session id -> (session, highest eid)
    refused: dict[str, set[int]] = {}  # worker -> runs it reported that are not its own
    for session, event in items:
        if isinstance(event, ProgramEvents):
            batch.program_events.extend(_program_event(session.name, e) for e in event.events)
        if not isinstance(event, _RUN_EVENTS):
            continue
        high[session.id] = (session, max(event.eid, high.get(session.id, (session, 0))[1]))
        if foreign := [r for r in _run_ids(event) if owners.get(r) != session.name]:
            counters["foreign_events"] += 1
            refused.setdefault(session.name, set()).update(foreign)
            if (kept := _without(event, foreign)) is None:
                continue
            event = kept
        _add(batch, session, event)
    for worker, runs in refused.items():  # once per batch: a flood of them is one line
        log.warning("worker %s reported runs that are not its own, ignored: %s", worker, sorted(runs)[:20])
    return batch, list(high.values())


def _without(event: RunEvent, foreign: list[int]) -> RunEvent | None:
    """``event`` without the runs in ``foreign`` (None when nothing is left)."""
    if isinstance(event, Accepted) and (ids := [i for i in event.run_ids if i not in foreign]):
        return msgspec.structs.replace(event, run_ids=ids)
    return None


def _add(batch: Batch, session: Session, event: RunEvent) -> None:
    match event:
        case Accepted(run_ids=ids):
            batch.accepted.extend({"run_id": i, "at": datetime.now(UTC), "session": session.id} for i in ids)
        case Started():
            batch.started.append({"run_id": event.run_id, "at": event.ts})
        case Output(run_id=run_id, seq=seq, stream=stream, ts=ts, lines=lines, flags=flags):
            whole = flags if len(flags) == len(lines) else []  # flags for other lines: none
            batch.lines.append((run_id, seq, stream.value, ts, lines, whole))
        case Finished():
            batch.finished.append(_finish_row(event))


def _program_event(worker: str, event: ProgramTransition) -> ProgramEvent:
    return ProgramEvent(worker=worker, **msgspec.structs.asdict(event))


def _finish_row(event: Finished) -> FinishedRow:
    return {
        "run_id": event.run_id,
        "state": final_state(event).value,
        "reason": _reason(event),
        "exit_code": event.exit_code,
        "signal": event.signal,
        "lines": event.lines,
        "started_at": event.started_at,
        "finished_at": event.finished_at,
    }
