"""The worker's outbox: every run event is on disk before it is sent, and leaves only when acked.

Events are numbered by ``eid`` (growing forever, across restarts: SQLite's AUTOINCREMENT never
reuses a number). :meth:`Outbox.add` numbers and encodes an event at once; a writer task saves
what piled up in one transaction (so a thousand lines cost one commit) and only then offers the
events to the sender. The server acknowledges "committed up to eid N"; rows up to N are then
deleted. After a reconnect the sender starts again from the last acknowledged eid, so anything
in flight when the link broke is sent again; the server ignores what it already has.

Memory stays bounded: recently saved events are kept for the sender up to :data:`_CACHE_BYTES`;
older unacknowledged ones are read back from the file in pages. The file also remembers which
runs were executing (table ``active``), so that a worker killed mid-run reports them as lost
when it starts again instead of leaving them ``running`` forever.

All SQLite work happens on one dedicated thread: ordered, and never on the event loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from barto.errors import Unavailable
from barto.protocol import Accepted, Finished, RunEvent, encode
from barto.worker.process import start_ticks

log = logging.getLogger("barto.worker")

_CACHE_BYTES = 8 * 1024 * 1024  # saved, unacknowledged events kept in memory for the sender
_PAGE_BYTES = 1024 * 1024  # at most this much is handed to the sender at once

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (eid INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS active (run_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS groups (run_id INTEGER PRIMARY KEY, pgid INTEGER NOT NULL, ticks INTEGER);
-- run_id > 0: a run's process group; run_id = -pgid: a supervised program's (docs/programs.md)
"""

LOOK_UP = -1  # ticks: to be read from /proc by the I/O thread
T = TypeVar("T")
Item = tuple[int, bytes]  # (eid, encoded event)


class OutboxError(Unavailable):
    """The outbox file cannot be used (locked by another bartoc, unreadable, not SQLite)."""

    code = "outbox_unavailable"


class _Unsaved(msgspec.Struct):
    """Events numbered and encoded but not yet on disk, with what they do to ``active``."""

    rows: list[tuple[int, int, bytes]] = msgspec.field(default_factory=list)
    began: list[int] = msgspec.field(default_factory=list)
    ended: list[int] = msgspec.field(default_factory=list)
    groups: list[tuple[int, int, int | None]] = msgspec.field(default_factory=list)  # (run, pgid, ticks)
    released: list[int] = msgspec.field(default_factory=list)  # groups rows to forget (programs reaped)


class Outbox:
    """One bartoc's outbox file. Use :meth:`open`; the loop-side methods are not thread-safe."""

    def __init__(
        self,
        db: sqlite3.Connection,
        lock: int,
        next_eid: int,
        first_eid: int,
        interrupted: list[int],
        leftovers: list[tuple[int, int | None]],
        holding: dict[int, int],
    ) -> None:
        self._db = db
        self._lock = lock
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._next = next_eid
        self._unsaved = _Unsaved()
        self._saved = next_eid - 1  # every eid up to this one is on disk
        self._acked = first_eid - 1  # the server has committed everything up to here
        self._deleted = self._acked
        self._cache: list[Item] = []  # saved and not acknowledged, contiguous eids
        self._cache_bytes = 0
        self._changed = asyncio.Event()
        self._saved_more = asyncio.Event()
        self._acked_more = asyncio.Event()
        self.interrupted = interrupted  # runs that were executing when the previous process died
        self.leftovers = leftovers  # their process groups: (pgid, start ticks of the leader)
        # run -> the eid after whose ack the server has all of it (0: not known yet)
        self._holding = holding | dict.fromkeys(interrupted, 0)

    @classmethod
    def open(cls, path: Path) -> Outbox:
        """Open (or create) the outbox at ``path``, locked against a second bartoc.

        Raises:
            OutboxError: when another process holds it or it is not a usable SQLite file.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(path)
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)
            next_eid = _next_eid(db)
            (first,) = db.execute("SELECT MIN(eid) FROM events").fetchone()
            interrupted = [row[0] for row in db.execute("SELECT run_id FROM active ORDER BY run_id")]
            leftovers = [(pgid, ticks) for pgid, ticks in db.execute("SELECT pgid, ticks FROM groups")]
            holding = dict(db.execute("SELECT run_id, MAX(eid) FROM events WHERE run_id != 0 GROUP BY run_id"))
        except sqlite3.Error as error:
            os.close(lock)
            raise OutboxError(f"outbox {path}: {error}") from None
        return cls(db, lock, next_eid, first or next_eid, interrupted, leftovers, holding)

    def close(self) -> None:
        """Finish pending I/O and release the file."""
        self._io.shutdown(wait=True)
        self._db.close()
        os.close(self._lock)

    # -- the loop side ---------------------------------------------------------------------

    def add(self, event: RunEvent) -> None:
        """Number ``event`` and queue it for saving (then sending)."""
        eid, self._next = self._next, self._next + 1
        body = encode(msgspec.structs.replace(event, eid=eid))
        run_id = 0 if isinstance(event, Accepted) else event.run_id
        self._unsaved.rows.append((eid, run_id, body))
        if isinstance(event, Accepted):
            self._unsaved.began.extend(event.run_ids)
            self._holding.update(dict.fromkeys(event.run_ids, 0))
        elif isinstance(event, Finished):
            self._unsaved.ended.append(event.run_id)
            self._holding[event.run_id] = eid
        self._changed.set()

    def holds(self, run_id: int) -> bool:
        """Whether this worker has the run: accepted, and its end not yet committed by the server.
        (In memory: asked at every dispatch.)"""
        return run_id in self._holding

    def track(self, run_id: int, pgid: int, ticks: int | None = LOOK_UP) -> None:
        """Remember the process group a run's command runs in (until the run's end is saved),
        so that a bartoc started after this one dies can stop what it left running. The group
        leader's start time (``ticks``, which tells it from a later process with its pid) is
        read by the I/O thread unless given: /proc reads of a process that is just exec'ing
        are slow, and a supervisor starts hundreds at once."""
        self._unsaved.groups.append((run_id, pgid, ticks))
        self._changed.set()

    def track_program(self, pgid: int) -> None:
        """Remember a supervised program's process group until it is reaped, so that a bartoc
        started after this one was killed stops what it left running (as for runs)."""
        self.track(-pgid, pgid)

    def untrack_program(self, pgid: int) -> None:
        """The program's process was reaped (and its group killed if bartoc was stopping)."""
        self._unsaved.released.append(-pgid)
        self._changed.set()

    def ack(self, eid: int) -> None:
        """The server has committed every event up to ``eid``. An acknowledgement past the
        last saved event cannot be true (only saved events are sent): it is ignored, so that a
        confused or hostile server cannot make the worker forget events it never had."""
        if eid <= self._acked:
            return
        if eid > self._saved:
            log.warning("the server acknowledged event %d, past the last one saved (%d): ignored", eid, self._saved)
            return
        self._acked = eid
        cut = 0
        while cut < len(self._cache) and self._cache[cut][0] <= eid:
            self._cache_bytes -= len(self._cache[cut][1])
            cut += 1
        del self._cache[:cut]
        for run_id in [r for r, last in self._holding.items() if 0 < last <= eid]:
            del self._holding[run_id]
        self._changed.set()
        self._acked_more.set()

    @property
    def acked(self) -> int:
        """The highest eid the server has committed: events are deleted up to it, so at start
        it is the one before the oldest event left in the file."""
        return self._acked

    @property
    def owed(self) -> int:
        """The highest eid numbered and not yet committed by the server (0: it has them all).
        Sent in the hello: the server lets this worker's runs wait until it has committed it."""
        last = self._next - 1
        return last if last > self._acked else 0

    @property
    def backlog(self) -> int:
        """How many events are numbered and not yet acknowledged by the server."""
        return max(0, self._next - 1 - self._acked)

    @property
    def idle(self) -> bool:
        """Nothing waits to be saved and everything saved has been acknowledged."""
        return not self._unsaved.rows and not self._unsaved.groups and self._acked >= self._saved

    async def settled(self) -> None:
        """Return once everything added so far has been saved and acknowledged."""
        await self.flush()
        while not self.idle:
            self._acked_more.clear()
            await self._acked_more.wait()

    async def keep(self) -> None:
        """The writer: save what was added, delete what was acknowledged; until cancelled."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            await self.flush()

    async def flush(self) -> None:
        """Save what was added and delete what was acknowledged, now."""
        unsaved, self._unsaved = self._unsaved, _Unsaved()
        acked = self._acked
        await self._call(self._write, unsaved, acked if acked > self._deleted else 0)
        self._deleted = max(self._deleted, acked)
        if unsaved.rows:
            self._remember(unsaved.rows)
            self._saved = unsaved.rows[-1][0]
            self._saved_more.set()

    def _remember(self, rows: list[tuple[int, int, bytes]]) -> None:
        """Keep saved events in memory for the sender, dropping the oldest beyond the budget.

        Saved eids are contiguous and only the front is ever dropped, so the cache stays a
        contiguous run of eids ending at the last one saved.
        """
        fresh = [(eid, body) for eid, _, body in rows if eid > self._acked]
        self._cache.extend(fresh)
        self._cache_bytes += sum(len(body) for _, body in fresh)
        cut = 0
        while self._cache_bytes > _CACHE_BYTES and cut < len(self._cache) - 1:
            self._cache_bytes -= len(self._cache[cut][1])
            cut += 1
        del self._cache[:cut]

    async def after(self, eid: int) -> list[Item]:
        """Saved events numbered above ``eid``, in order (at least one; waits for it)."""
        while self._saved <= eid:
            self._saved_more.clear()
            await self._saved_more.wait()
        if self._cache and self._cache[0][0] <= eid + 1 <= self._cache[-1][0]:
            return _page(self._cache[eid + 1 - self._cache[0][0] :])
        return await self._call(self._read, eid)

    async def known_runs(self) -> list[int]:
        """Runs this outbox still knows: executing, or with events not yet acknowledged."""
        unsaved = [run_id for _, run_id, _ in self._unsaved.rows if run_id] + self._unsaved.began
        on_disk = await self._call(self._runs)
        return sorted(set(on_disk).union(unsaved))

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    # -- the I/O thread --------------------------------------------------------------------

    def _write(self, unsaved: _Unsaved, acked: int) -> None:
        with self._db:  # one transaction
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO events (eid, run_id, body) VALUES (?, ?, ?)", unsaved.rows)
            self._db.executemany("INSERT OR IGNORE INTO active (run_id) VALUES (?)", [(r,) for r in unsaved.began])
            groups = [
                (run, pgid, start_ticks(pgid) if ticks == LOOK_UP else ticks) for run, pgid, ticks in unsaved.groups
            ]
            self._db.executemany("INSERT OR REPLACE INTO groups VALUES (?, ?, ?)", groups)
            ended = [(r,) for r in unsaved.ended]
            self._db.executemany("DELETE FROM active WHERE run_id = ?", ended)
            self._db.executemany("DELETE FROM groups WHERE run_id = ?", ended + [(k,) for k in unsaved.released])
            if acked:
                self._db.execute("DELETE FROM events WHERE eid <= ?", (acked,))

    def _read(self, eid: int) -> list[Item]:
        rows: list[Item] = []
        size = 0
        for row in self._db.execute("SELECT eid, body FROM events WHERE eid > ? ORDER BY eid", (eid,)):
            rows.append(row)
            size += len(row[1])
            if size >= _PAGE_BYTES:
                break
        return rows

    def _runs(self) -> list[int]:
        query = "SELECT run_id FROM active UNION SELECT DISTINCT run_id FROM events WHERE run_id != 0"
        return [row[0] for row in self._db.execute(query)]


def _page(items: list[Item]) -> list[Item]:
    """The first items of ``items`` up to :data:`_PAGE_BYTES` (at least one)."""
    size = 0
    for i, (_, body) in enumerate(items):
        size += len(body)
        if size >= _PAGE_BYTES:
            return items[: i + 1]
    return items


def _next_eid(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return (row[0] if row else 0) + 1


def _lock(path: Path) -> int:
    """An exclusive lock on ``path``.lock, held for the life of the process."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutboxError(f"outbox {path} is in use by another bartoc (each worker needs its own -r file)") from None
    return fd
