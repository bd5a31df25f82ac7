"""The connected workers: one live session per name, each with its own outbound queue.

The hub also remembers, per worker, the runs it sent that the worker has not yet accepted: if
the connection breaks before the worker accepts them, the worker's next hello says whether it
has them (its outbox survives), and the ones it never received are recorded as missed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

from barto.protocol import Ack, Dispatch, HostInfo, Job, ToWorker
from barto.server.telemetry import Telemetry


class Session:
    """One worker connection. Frames for it are queued here and written by its own task."""

    def __init__(self, name: str, version: str, host: HostInfo, owed: int = 0, address: str | None = None) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.address = address  # the peer's IP address and port, as this server sees it
        self.backlog: int | None = None  # its outbox's unacknowledged events, as its last heartbeat said
        self.version = version
        self.host = host
        self.outbound: asyncio.Queue[ToWorker | None] = asyncio.Queue()  # None: close the connection
        # Runs are dispatched only once the hello is reconciled with the store and the events
        # the worker owed from before (up to eid ``owed``) are committed (docs/protocol.md).
        self.ready = False
        self.owed = owed
        self.caught_up = asyncio.Event()
        if owed == 0:
            self.caught_up.set()
        self.closing = ""  # why the server ends this session, once it does

    def send(self, message: ToWorker) -> None:
        """Queue a frame for this worker."""
        self.outbound.put_nowait(message)

    def ack(self, eid: int) -> None:
        """The worker's events up to ``eid`` are committed: tell it (and note when it has
        delivered what it owed)."""
        self.send(Ack(eid=eid))
        if eid >= self.owed:
            self.caught_up.set()

    def close(self, reason: str) -> None:
        """End the session once what is queued before this has been written."""
        self.ready = False
        self.closing = reason
        self.outbound.put_nowait(None)


class Hub:
    """Who is connected now. A second connection under a live name is refused, not swapped in."""

    def __init__(self, telemetry: Telemetry | None = None) -> None:
        self._telemetry = telemetry if telemetry is not None else Telemetry()
        self._sessions: dict[str, Session] = {}
        self._unaccepted: dict[str, set[int]] = {}
        self.counters: Counter[str] = Counter()

    def register(self, session: Session) -> bool:
        """Add ``session`` (not yet ready); False when another live session holds that name."""
        if session.name in self._sessions:
            return False
        self._sessions[session.name] = session
        return True

    def unregister(self, session: Session) -> None:
        """Remove ``session`` (a no-op if a different session holds the name)."""
        if self._sessions.get(session.name) is session:
            del self._sessions[session.name]

    def is_connected(self, name: str) -> bool:
        """Whether a worker of that name has a live session."""
        return name in self._sessions

    def is_ready(self, name: str) -> bool:
        """Whether ``name`` is connected and can be sent runs."""
        session = self._sessions.get(name)
        return session is not None and session.ready

    def is_settling(self, name: str) -> bool:
        """Whether ``name`` is connected but not ready yet (its hello is being reconciled, or it
        is still delivering the events it owed): runs for it wait rather than being missed."""
        session = self._sessions.get(name)
        return session is not None and not session.ready and not session.closing

    def session(self, name: str) -> Session | None:
        """The live session of ``name``."""
        return self._sessions.get(name)

    def sessions(self) -> list[Session]:
        """All live sessions, by name."""
        return [self._sessions[name] for name in sorted(self._sessions)]

    def close_all(self, reason: str) -> int:
        """End every session (this server stops leading); returns how many there were."""
        for session in self._sessions.values():
            session.close(reason)
        self._unaccepted.clear()
        return len(self._sessions)

    def dispatch(self, worker: str, jobs: list[Job]) -> bool:
        """Send ``jobs`` to ``worker`` in one frame; False if it is not connected (and ready)."""
        session = self._sessions.get(worker)
        if session is None or not session.ready:
            return False
        session.send(Dispatch(jobs=jobs))
        self._unaccepted.setdefault(worker, set()).update(job.run_id for job in jobs)
        now = datetime.now(UTC)
        for job in jobs:
            self._telemetry.dispatch_lateness.observe(max(0.0, (now - job.slot).total_seconds()))
        return True

    def accepted(self, worker: str, run_ids: list[int]) -> None:
        """``worker`` has these runs in its outbox now."""
        self._unaccepted.get(worker, set()).difference_update(run_ids)

    def unaccepted(self, worker: str) -> set[int]:
        """Take the runs sent to ``worker`` that it has not accepted (at its next hello)."""
        return self._unaccepted.pop(worker, set())
