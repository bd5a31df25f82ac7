"""The programs of every worker as the server knows them now: each process's latest status, the
recent output of each (the last :data:`TAIL_LINES` lines), and control requests on their way.

All of it in memory and rebuilt from what workers send: each session starts with a snapshot
of the worker's processes, so a restarted (or new leading) server knows them again within a
moment of the workers' reconnecting. The history of state changes is in the database instead
(``program_events``, written by ingest).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Any

import msgspec

from barto.api.answers import TailLine
from barto.protocol import Control, ControlReply, ProgramOutput, ProgramStates, ProgramStatus
from barto.server.gateway.hub import Session

TAIL_LINES = 1000  # kept per process


class Fleet:
    """See the module docstring. One per server process."""

    def __init__(self) -> None:
        self._status: dict[str, dict[str, tuple[ProgramStatus, float]]] = {}  # worker -> process -> (status, when)
        self._tails: dict[tuple[str, str], deque[TailLine]] = {}
        self._seq = itertools.count(1)
        self._grew = asyncio.Event()
        self._asked: dict[int, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)

    # -- from workers ----------------------------------------------------------------------

    def states(self, worker: str, message: ProgramStates) -> None:
        """A worker's processes changed (or, ``snapshot``, these are all of them)."""
        now = time.time()
        known = {} if message.snapshot else self._status.get(worker, {})
        self._status[worker] = known | {p.name: (p, now) for p in message.programs}

    def output(self, worker: str, message: ProgramOutput) -> None:
        """Lines a process wrote; a gap the worker left out is marked with a line of its own."""
        tail = self._tails.setdefault((worker, message.name), deque(maxlen=TAIL_LINES))
        gap = [(f"[barto: {message.dropped} bytes of output were not forwarded]", "barto")] if message.dropped else []
        for text, stream in gap + [(line, message.stream.value) for line in message.lines]:
            tail.append(TailLine(seq=next(self._seq), name=message.name, stream=stream, ts=message.ts, text=text))
        self._grew.set()
        self._grew = asyncio.Event()

    def answered(self, worker: str, reply: ControlReply) -> None:
        """A worker answered a control request (one it was asked, or it is ignored)."""
        asked = self._asked.get(reply.id)
        if asked is not None and asked[0] == worker and not asked[1].done():
            asked[1].set_result(reply.response)

    def gone(self, worker: str) -> None:
        """A worker's session ended: its unanswered control requests get their answer now."""
        for name, answer in self._asked.values():
            if name == worker and not answer.done():
                answer.set_result({"status": 502, "error": {"message": f"worker {worker!r} disconnected"}})

    # -- for the API -----------------------------------------------------------------------

    def listing(self, worker: str | None = None) -> list[dict[str, Any]]:
        """Every process of every worker (or of ``worker``), by worker then name; uptimes are
        counted on the server's clock from the moment each status arrived."""
        now = time.time()
        rows: list[dict[str, Any]] = []
        for name in sorted(self._status if worker is None else [worker] if worker in self._status else []):
            for status, received in sorted(self._status[name].values(), key=lambda item: item[0].name):
                row = msgspec.to_builtins(status)
                if status.uptime_seconds is not None:
                    row["uptime_seconds"] = round(status.uptime_seconds + now - received, 3)
                rows.append({"worker": name, **row})
        return rows

    def knows(self, worker: str, name: str) -> bool:
        """Whether ``name`` is a process or program of ``worker``."""
        return any(name in (s.name, s.program) for s, _ in self._status.get(worker, {}).values())

    def tail(self, worker: str, name: str, after: int, limit: int) -> list[TailLine]:
        """The last ``limit`` lines after ``after`` of process ``name`` (a program's name: of
        all its processes), oldest first."""
        names = {s.name for s, _ in self._status.get(worker, {}).values() if name in (s.name, s.program)} | {name}
        lines = [line for n in names for line in self._tails.get((worker, n), ()) if line.seq > after]
        return sorted(lines, key=lambda line: line.seq)[-limit:]

    async def wait_tail(self, worker: str, name: str, after: int, limit: int, timeout: float) -> list[TailLine]:
        """:meth:`tail`, waiting up to ``timeout`` seconds for a first line."""
        deadline = time.monotonic() + timeout
        while not (lines := self.tail(worker, name, after, limit)) and (left := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    await self._grew.wait()
            except TimeoutError:
                break
        return lines

    async def ask(self, session: Session, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a control request to the worker of ``session`` and wait for its answer.

        Raises:
            TimeoutError: no answer within ``timeout`` seconds.
        """
        request_id = next(self._ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._asked[request_id] = (session.name, answer)
        try:
            session.send(Control(id=request_id, request=request))
            async with asyncio.timeout(timeout):
                return await answer
        finally:
            del self._asked[request_id]
