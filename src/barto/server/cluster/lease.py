"""Who schedules: the one bartos that holds the ``scheduler`` lease in the shared database.

The holder renews every ``lease_seconds / 5``. A standby reads the lease as often and takes it
over once it has seen the same (holder, version) for a whole ``lease_seconds`` on its own
monotonic clock — never by comparing clocks of two machines, the way Kubernetes' client-go
judges leases. The holder counts its lease valid until ``lease_seconds - tick`` after the start
of its last successful renewal; the renewal committed after that start, so the standby's wait
began later still, and the holder has stepped down by the time anyone takes over. If both ever
believe they lead (a process frozen past its lease), the UNIQUE slot claims still keep each slot
to one run; the lease only keeps the work in one place.

A clean stop releases the lease (holder NULL) and a standby takes it at its next look. On
SQLite the file lock already proves this process is alone, so it takes the lease at once and
keeps it however busy the file is (a renewal waiting behind a large ingest transaction is late,
not lost).

The lease has a connection pool of its own: a busy server's queries never keep it waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec

from barto.model import Instance
from barto.store.cluster import Cluster, Lease

log = logging.getLogger("barto.server.cluster.lease")

_STRAY_GRACE = 5.0  # seconds a stop waits for cancelled database calls to end
LEASE = "scheduler"
_FORGET_AFTER = timedelta(hours=1)  # a killed instance stays listed (as gone) this long

T = TypeVar("T")


class Expiry:
    """A standby's judgement of the lease: expired once unchanged for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._seen: tuple[str | None, int] | None = None
        self._since = 0.0

    def expired(self, lease: Lease, now: float) -> bool:
        """Whether ``lease``, read at monotonic time ``now``, may be taken over."""
        if lease.holder is None:
            return True
        if (lease.holder, lease.version) != self._seen:
            self._seen, self._since = (lease.holder, lease.version), now
            return False
        return now - self._since >= self._seconds


class Leadership:
    """This instance's side of the lease: acquire it, hold it while leading, release it on a stop."""

    def __init__(
        self,
        cluster: Cluster,
        me: Instance,
        seconds: float,
        *,
        exclusive: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.me = me
        self.seen: Lease | None = None  # the lease as last read or written
        self.leader: Instance | None = None  # its holder, as listed (where standbys send clients)
        self.tick = seconds / 5
        self._cluster = cluster
        self._seconds = seconds
        self._exclusive = exclusive
        self._clock = clock
        self._expiry = Expiry(seconds)
        self._held: Lease | None = None
        self._valid_until = 0.0
        self._stray: set[asyncio.Future[Any]] = set()  # database calls cancelled, still cleaning up

    @property
    def leading(self) -> bool:
        """Whether this instance holds a lease it renewed recently enough (on an exclusive store,
        where nobody else can take it, whether it holds it at all)."""
        return self._held is not None and (self._exclusive or self._clock() < self._valid_until)

    async def acquire(self) -> None:
        """Return once this instance holds the lease; until then, watch it as a standby."""
        while not await self.try_take():
            await asyncio.sleep(self.tick)

    async def hold(self, term: asyncio.Task[None]) -> None:
        """Renew the lease while ``term`` (the leader's work) runs; return when ``term`` ends, the
        lease was taken over, or it could not be renewed in time."""
        while not term.done():
            await asyncio.wait([term], timeout=self.tick)
            if term.done() or not await self.renew():
                return

    async def release(self) -> None:
        """Give the lease up (after the leader's work stopped) so that a standby takes it at once."""
        held, self._held = self._held, None
        if held is not None:
            try:
                await self._bounded(self._cluster.release(held))
            except Exception as error:  # the lease then expires on its own
                log.warning("could not release the lease: %s", _text(error))

    async def stop(self) -> None:
        """A clean stop: release the lease and leave the instance list."""
        await self.release()
        try:
            await self._bounded(self._cluster.gone(self.me.id))
        except Exception as error:
            log.warning("could not remove this instance from the list: %s", _text(error))
        if self._stray:  # cancelled calls still cleaning up: the store closes after them
            _, late = await asyncio.wait(set(self._stray), timeout=_STRAY_GRACE)
            if late:
                log.warning("%d database calls were still ending when bartos stopped", len(late))

    async def try_take(self) -> bool:
        """One look at the lease as a standby: take it if free or expired; True if now held."""
        started = self._clock()
        try:
            await self._bounded(self._cluster.seen(self._alive()))
            self.seen = seen = await self._bounded(self._cluster.lease(LEASE))
            await self._find_leader(seen)
            if seen is not None and not self._exclusive and not self._expiry.expired(seen, started):
                return False
            held = await self._bounded(self._cluster.take(LEASE, self.me.id, seen))
        except Exception as error:  # a standby keeps watching through database trouble
            log.warning("cannot read the leader lease: %s", _text(error))
            return False
        if held is None:
            return False
        self._taken(held, seen, started)
        return True

    async def _find_leader(self, lease: Lease | None) -> None:
        """Look the holder up in the instance list when it changed."""
        holder = None if lease is None else lease.holder
        if holder is None:
            self.leader = None
        elif self.leader is None or self.leader.id != holder:
            found = await self._bounded(self._cluster.instances())
            self.leader = next((i for i in found if i.id == holder), None)

    def _taken(self, held: Lease, before: Lease | None, started: float) -> None:
        self._held = self.seen = held
        self.leader = self.me
        self._valid_until = started + self._seconds - self.tick
        previous = "" if before is None or before.holder in (None, self.me.id) else f" from {before.holder}"
        level = logging.WARNING if previous else logging.INFO  # a takeover is news; a start is not
        log.log(level, "this instance (%s, %s) is now the leader%s", self.me.name, self.me.id, previous)

    async def renew(self) -> bool:
        """One renewal; False when the lease is lost (taken over, or not renewed in time)."""
        assert self._held is not None  # only called while holding
        started = self._clock()
        try:
            renewed = await self._bounded(self._cluster.renew(self._held))
            if renewed is None:
                renewed = await self._late(self._held)
        except Exception as error:  # keep trying until the lease runs out
            log.log(logging.DEBUG if self._exclusive else logging.WARNING, "cannot renew the lease: %s", _text(error))
            if not self.leading:
                log.error("lease not renewed for %.1f s: stepping down", self._seconds - self.tick)
                self._held = None
            return self._held is not None
        if renewed is None:
            log.error("the leader lease was taken over by another instance: stepping down")
            self._held = None
            return False
        self._held = self.seen = renewed
        self._valid_until = started + self._seconds - self.tick
        await self._bookkeeping()
        return True

    async def _late(self, held: Lease) -> Lease | None:
        """After a refused renewal: the lease as it is if it is still ours (an earlier renewal
        that timed out here committed after all), else None."""
        current = await self._bounded(self._cluster.lease(LEASE))
        return current if current is not None and current.holder == self.me.id else None

    async def _bounded(self, call: Awaitable[T]) -> T:
        """``call``, given at most one tick. A database that does not answer (a frozen link) must
        not hold up the lease's clock: the call is cancelled then, and kept (in ``_stray``)
        until its clean-up is over, which may take a while on a silent link; :meth:`stop` waits
        for those, bounded."""
        task = asyncio.ensure_future(call)
        self._stray.add(task)
        task.add_done_callback(_forget_stray(self._stray))
        done, _ = await asyncio.wait([task], timeout=self.tick)
        if not done:
            task.cancel()
            raise TimeoutError(f"the database did not answer within {self.tick:g} s")
        return task.result()

    async def _bookkeeping(self) -> None:
        """Keep this instance listed and drop the long-gone ones."""
        try:
            await self._bounded(self._cluster.seen(self._alive()))
            await self._bounded(self._cluster.forget(datetime.now(UTC) - _FORGET_AFTER))
        except Exception as error:
            log.warning("cannot update the instance list: %s", _text(error))

    def _alive(self) -> Instance:
        return msgspec.structs.replace(self.me, seen_at=datetime.now(UTC))


def _forget_stray(strays: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback: drop the finished call, reading its outcome so that none is reported as
    never retrieved."""

    def done(task: asyncio.Future[Any]) -> None:
        strays.discard(task)
        if not task.cancelled():
            task.exception()

    return done


def _text(error: Exception) -> str:
    """An error as a log phrase (a timeout's message may be empty)."""
    return str(error) or type(error).__name__


def leader(leadership: Leadership) -> Instance | None:
    """The instance holding the lease as this one last read it (None: nobody, or this one).
    Read from memory: a standby whose database is slow still answers at once."""
    found = leadership.leader
    return None if found is None or found.id == leadership.me.id else found


def not_leading(found: Instance | None) -> str:
    """Why a standby does not serve: who leads instead."""
    if found is None:
        return "this server is a standby and no instance leads at the moment; try again in a few seconds"
    return f"this server is a standby; the leader is {found.name} at {found.url}"
