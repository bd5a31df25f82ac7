"""Storing what workers report: batched transactions, then acknowledgements, then tail wake-ups.

A single writer drains every event that arrived while the previous transaction committed, so
one commit carries many lines (this is what makes 100,000 lines/s possible on SQLite). Only
after the commit does each session get one Ack: "committed up to eid N". A session's events
arrive and are committed in order, so one number acknowledges them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from barto.model import RunState, StopReason
from barto.protocol import Accepted, Ack, Finished, Output, Started, ToServer
from barto.server.hub import Session
from barto.store import Batch, Store
from barto.store.records import Finished as FinishedRow

log = logging.getLogger("barto.server.ingest")

_MAX_BATCH = 20_000  # events per transaction

_STOPPED = {
    StopReason.TIMEOUT: (RunState.TIMED_OUT, "timeout"),
    StopReason.CANCEL: (RunState.CANCELLED, "cancelled"),
    StopReason.SHUTDOWN: (RunState.CANCELLED, "worker shutdown"),
    StopReason.RESTART: (RunState.LOST, "worker restarted while the run was going"),
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

    def __init__(self, store: Store, on_finished: Callable[[list[int]], None] = lambda _: None) -> None:
        self._store = store
        self._on_finished = on_finished  # the scheduler may queue behind these runs, or retry them
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
            batch, acks = _collect(items)
            await self._store.apply(batch)
            for session, ack in acks:
                session.send(ack)
            if batch.finished:
                self._on_finished([row["run_id"] for row in batch.finished])
            self._committed.set()
            self._committed = asyncio.Event()


def _collect(items: list[tuple[Session, ToServer]]) -> tuple[Batch, list[tuple[Session, Ack]]]:
    batch = Batch(accepted=[], started=[], lines=[], finished=[])
    high: dict[str, tuple[Session, int]] = {}  # session id -> (session, highest eid)
    for session, event in items:
        match event:
            case Accepted(run_ids=ids):
                batch.accepted.extend({"run_id": i, "at": datetime.now(UTC), "session": session.id} for i in ids)
            case Started():
                batch.started.append({"run_id": event.run_id, "at": event.ts})
            case Output(run_id=run_id, seq=seq, stream=stream, ts=ts, lines=lines):
                batch.lines.append((run_id, seq, stream.value, ts, lines))
            case Finished():
                batch.finished.append(_finish_row(event))
            case _:
                continue
        high[session.id] = (session, max(event.eid, high.get(session.id, (session, 0))[1]))
    return batch, [(session, Ack(eid=eid)) for session, eid in high.values()]


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
