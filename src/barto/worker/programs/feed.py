"""What the server hears about this worker's programs, and how much of it.

Three streams, each bounded so that a crash-looping or chatty program cannot flood the link or
the server's database:

- states: the current status of each process that changed, coalesced (only the latest counts);
  every session starts with a snapshot of all of them, so the server's view is always whole.
- transitions (the server's history): each process may report about one a second, in bursts
  of 20; the ones left out are counted on the next one it reports. At most 1,000 wait while
  the server is unreachable.
- output: forwarded best effort, at most :data:`OUTPUT_RATE` bytes a second; at most
  :data:`OUTPUT_BUFFER` bytes wait, and what is left out is counted per process.

None of this goes through the outbox: the programs' log files are the record, on the worker.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from barto.model import Stream
from barto.protocol import (
    ProgramEvents,
    ProgramMessage,
    ProgramOutput,
    ProgramStates,
    ProgramStatus,
    ProgramTransition,
)
from barto.worker.programs.machine import State
from barto.worker.programs.supervisor import Child

OUTPUT_RATE = 128 * 1024  # bytes a second
OUTPUT_BUFFER = 256 * 1024
_EVENTS_WAITING = 1000
_BURST = 20.0  # transitions a process may report at once; then one a second


class _Bucket:
    """A token bucket: ``_BURST`` tokens, one more each second."""

    def __init__(self, now: float) -> None:
        self._tokens = _BURST
        self._at = now

    def take(self, now: float) -> bool:
        self._tokens = min(_BURST, self._tokens + (now - self._at))
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Feed:
    """Collects program news as it happens; :meth:`take` hands it to the sender."""

    def __init__(
        self, statuses: Callable[[], list[ProgramStatus]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._statuses = statuses  # every process now
        self._clock = clock
        self._dirty: dict[str, ProgramStatus] = {}
        self._snapshot = True
        self._events: deque[ProgramTransition] = deque()
        self._buckets: dict[str, _Bucket] = {}
        self._suppressed: Counter[str] = Counter()
        self._output: deque[ProgramOutput] = deque()
        self._output_bytes = 0
        self._dropped: Counter[str] = Counter()
        self._news = asyncio.Event()

    def changed(self, child: Child, previous: State, state: State) -> None:
        """A process moved from ``previous`` to ``state`` (a Supervisor hook)."""
        status = child.snapshot(time.time())
        self._dirty[child.name] = status
        now = self._clock()
        if (self._buckets.get(child.name) or self._buckets.setdefault(child.name, _Bucket(now))).take(now):
            self._event(status, previous, state)
        else:
            self._suppressed[child.name] += 1
        self._news.set()

    def programs_changed(self) -> None:
        """Programs were added or removed: the next message is a whole snapshot."""
        self._snapshot = True
        self._news.set()

    def output(self, name: str, stream: str, lines: list[str]) -> None:
        """Lines a process wrote (a Supervisor hook); the oldest waiting go when over budget."""
        message = ProgramOutput(name=name, stream=Stream(stream), ts=datetime.now(UTC), lines=lines)
        self._output.append(message)
        self._output_bytes += _size(message)
        while self._output_bytes > OUTPUT_BUFFER and len(self._output) > 1:
            old = self._output.popleft()
            self._output_bytes -= _size(old)
            self._dropped[old.name] += _size(old)
        self._news.set()

    def connected(self) -> None:
        """A session begins: it starts with a whole snapshot."""
        self._snapshot = True
        self._news.set()

    async def take(self) -> list[ProgramMessage]:
        """What to send now (waits for news), in order: states, transitions, output."""
        await self._news.wait()
        self._news.clear()
        messages: list[ProgramMessage] = []
        if self._snapshot:
            self._snapshot, self._dirty = False, {}
            messages.append(ProgramStates(snapshot=True, programs=self._statuses()))
        elif self._dirty:
            messages.append(ProgramStates(snapshot=False, programs=list(self._dirty.values())))
            self._dirty = {}
        if self._events:
            messages.append(ProgramEvents(events=list(self._events)))
            self._events.clear()
        return messages + self._take_output()

    async def pace(self, sent: list[ProgramMessage]) -> None:
        """Hold the sender after ``sent`` so that output stays under :data:`OUTPUT_RATE` on average."""
        await asyncio.sleep(sum(_size(m) for m in sent if isinstance(m, ProgramOutput)) / OUTPUT_RATE)

    def _event(self, status: ProgramStatus, previous: State, state: State) -> None:
        self._events.append(
            ProgramTransition(
                name=status.name,
                program=status.program,
                state=state.value,
                previous=previous.value,
                at=datetime.now(UTC),
                pid=status.pid,
                description=status.description,
                exit_status=status.exit_status,
                suppressed=self._suppressed.pop(status.name, 0),
            )
        )
        if len(self._events) > _EVENTS_WAITING:
            self._suppressed[self._events.popleft().name] += 1

    def _take_output(self) -> list[ProgramMessage]:
        """Waiting output, consecutive lines of one stream merged, each carrying what was
        dropped before it."""
        taken: list[ProgramMessage] = []
        while self._output:
            message = self._output.popleft()
            last = taken[-1] if taken else None
            if isinstance(last, ProgramOutput) and (last.name, last.stream) == (message.name, message.stream):
                taken[-1] = msgspec.structs.replace(last, ts=message.ts, lines=last.lines + message.lines)
            else:
                taken.append(msgspec.structs.replace(message, dropped=self._dropped.pop(message.name, 0)))
        self._output_bytes = 0
        return taken


def _size(message: ProgramOutput) -> int:
    return sum(len(line) + 1 for line in message.lines)
