"""The leader lease and the instance list: what several bartos on one database agree through.

A lease is one row. Its holder bumps ``version`` at every renewal; every change is a compare-
and-set on the version it last saw, so of two instances racing, exactly one row update wins and
the database decides, as it does for slot claims. No clock of one machine is compared with the
clock of another: the timestamps here are for people (``barto-cli info``), and expiry is judged
by each standby on its own monotonic clock (see ``barto.server.cluster.lease``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from barto.model import Instance
from barto.store.tables import instances, leases


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """A lease row as read: ``holder`` None means released (free to take at once)."""

    name: str
    holder: str | None
    version: int
    acquired_at: datetime
    renewed_at: datetime


class Cluster:
    """Lease and instance rows. Every write is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def lease(self, name: str) -> Lease | None:
        """The lease as it is now; None before anyone ever took it."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(leases).where(leases.c.name == name))).first()
        return None if row is None else Lease(**row._asdict())

    async def take(self, name: str, holder: str, seen: Lease | None) -> Lease | None:
        """Become the holder if the lease is still exactly as ``seen`` (None: no row yet).

        Returns the new lease, or None when someone else changed it first.
        """
        now = datetime.now(UTC)
        if seen is None:
            lease = Lease(name=name, holder=holder, version=1, acquired_at=now, renewed_at=now)
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(leases.insert().values(**msgspec.structs.asdict(lease)))
            except IntegrityError:  # another instance inserted it first
                return None
            return lease
        changed = {"holder": holder, "version": seen.version + 1, "acquired_at": now, "renewed_at": now}
        return await self._swap(seen, changed)

    async def renew(self, held: Lease) -> Lease | None:
        """Extend a lease we hold; None when it is not ours any more (taken over)."""
        return await self._swap(held, {"version": held.version + 1, "renewed_at": datetime.now(UTC)})

    async def release(self, held: Lease) -> None:
        """Give a lease up so that a standby takes it at once (a clean stop)."""
        await self._swap(held, {"holder": None, "version": held.version + 1, "renewed_at": datetime.now(UTC)})

    async def _swap(self, seen: Lease, changes: dict[str, object]) -> Lease | None:
        """Compare-and-set on (name, holder, version)."""
        where = and_(leases.c.name == seen.name, leases.c.version == seen.version)
        where = and_(where, leases.c.holder == seen.holder if seen.holder else leases.c.holder.is_(None))
        async with self._engine.begin() as conn:
            result = await conn.execute(update(leases).where(where).values(**changes))
        return msgspec.structs.replace(seen, **changes) if result.rowcount == 1 else None

    async def seen(self, instance: Instance) -> None:
        """Record that ``instance`` is alive (inserted the first time)."""
        values = msgspec.structs.asdict(instance)
        async with self._engine.begin() as conn:
            found = await conn.execute(update(instances).where(instances.c.id == instance.id).values(**values))
            if found.rowcount == 0:
                await conn.execute(instances.insert().values(**values))

    async def gone(self, instance_id: str) -> None:
        """Remove an instance that stops cleanly."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(instances).where(instances.c.id == instance_id))

    async def forget(self, before: datetime) -> int:
        """Remove instances not seen since ``before`` (killed ones); returns how many."""
        async with self._engine.begin() as conn:
            return int((await conn.execute(delete(instances).where(instances.c.seen_at < before))).rowcount)

    async def instances(self) -> list[Instance]:
        """Every instance recorded, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(instances).order_by(instances.c.started_at, instances.c.id))
            return [Instance(**row._asdict()) for row in rows]
