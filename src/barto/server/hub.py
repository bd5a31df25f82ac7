"""The connected workers: one live session per name, each with its own outbound queue."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from barto.protocol import Dispatch, HostInfo, Job, ToWorker


class Session:
    """One worker connection. Frames for it are queued here and written by its own task."""

    def __init__(self, name: str, version: str, host: HostInfo) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.version = version
        self.host = host
        self.outbound: asyncio.Queue[ToWorker] = asyncio.Queue()

    def send(self, message: ToWorker) -> None:
        """Queue a frame for this worker."""
        self.outbound.put_nowait(message)


class Hub:
    """Who is connected now. A second connection under a live name is refused, not swapped in."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self.counters: Counter[str] = Counter()

    def register(self, session: Session) -> bool:
        """Add ``session``; False when another live session holds that name."""
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

    def session(self, name: str) -> Session | None:
        """The live session of ``name``."""
        return self._sessions.get(name)

    def sessions(self) -> list[Session]:
        """All live sessions, by name."""
        return [self._sessions[name] for name in sorted(self._sessions)]

    def dispatch(self, worker: str, jobs: list[Job]) -> bool:
        """Send ``jobs`` to ``worker`` in one frame; False if it is not connected."""
        session = self._sessions.get(worker)
        if session is None:
            return False
        session.send(Dispatch(jobs=jobs))
        return True
