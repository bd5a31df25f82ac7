"""The leader lease and the instance list on each backend, and the leadership rules over them.

Time is a hand-moved monotonic clock; the database is real, so the compare-and-set that decides
between two instances is the one production runs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from barto.model import Instance
from barto.server.cluster.lease import LEASE, Expiry, Leadership
from barto.store import Store
from barto.store.cluster import Lease

pytestmark = pytest.mark.anyio

SECONDS = 5.0


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def instance(name: str, seen: datetime | None = None) -> Instance:
    at = seen or datetime.now(UTC)
    return Instance(id=f"id-{name}", name=name, url=f"http://{name}:1", pid=1, version="0", started_at=at, seen_at=at)


def leads(side: Leadership) -> bool:
    """``side.leading``, read afresh (the clock moves between two reads)."""
    return side.leading


def leadership(store: Store, name: str, clock: Clock, *, exclusive: bool = False) -> Leadership:
    return Leadership(store.cluster, instance(name), SECONDS, exclusive=exclusive, clock=clock)


async def test_the_lease_changes_hands_only_from_the_version_one_saw(store: Store) -> None:
    cluster = store.cluster
    first = await cluster.take(LEASE, "a", None)
    assert first is not None
    assert await cluster.take(LEASE, "b", None) is None  # the row exists: inserted by "a"
    renewed = await cluster.renew(first)
    assert renewed is not None
    assert renewed.version == first.version + 1
    assert await cluster.renew(first) is None  # a stale view renews nothing
    taken = await cluster.take(LEASE, "b", renewed)
    assert taken is not None
    assert taken.holder == "b"
    assert await cluster.renew(renewed) is None  # "a" learns it lost the lease
    await cluster.release(taken)
    free = await cluster.lease(LEASE)
    assert free is not None
    assert free.holder is None
    assert (await cluster.take(LEASE, "a", free)) is not None


async def test_of_two_instances_taking_the_same_lease_at_once_exactly_one_wins(store: Store) -> None:
    cluster = store.cluster
    seen = await cluster.take(LEASE, "old", None)
    assert seen is not None
    results = await asyncio.gather(*(cluster.take(LEASE, name, seen) for name in ("a", "b", "c")))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await cluster.lease(LEASE)) == winners[0]


async def test_instances_are_listed_refreshed_and_forgotten(store: Store) -> None:
    cluster = store.cluster
    long_ago = datetime.now(UTC) - timedelta(days=1)
    await cluster.seen(instance("a", long_ago))
    await cluster.seen(instance("b"))
    await cluster.seen(instance("b"))  # an update, not a second row
    assert [i.name for i in await cluster.instances()] == ["a", "b"]
    assert await cluster.forget(datetime.now(UTC) - timedelta(hours=1)) == 1
    await cluster.gone("id-b")
    assert await cluster.instances() == []


async def test_a_standby_takes_over_only_after_a_whole_lease_without_renewal(store: Store) -> None:
    clock = Clock()
    a, b = leadership(store, "a", clock), leadership(store, "b", clock)
    assert await a.try_take()
    assert leads(a)
    assert not await b.try_take()  # first sight of a's lease
    clock.now += SECONDS - 1
    assert await a.renew()
    assert not await b.try_take()  # renewed: b's wait starts again
    clock.now += SECONDS - 0.5
    assert not await b.try_take()
    assert not leads(a)  # a did not renew within lease - tick: it counts itself out first
    clock.now += 0.5
    assert await b.try_take()
    assert leads(b)
    assert not await a.renew()  # taken over: a steps down for good
    assert not leads(a)


async def test_a_released_lease_is_taken_at_the_next_look(store: Store) -> None:
    clock = Clock()
    a, b = leadership(store, "a", clock), leadership(store, "b", clock)
    assert await a.try_take()
    await a.stop()
    assert await b.try_take()
    assert [i.name for i in await store.cluster.instances()] == ["b"]


async def test_on_an_exclusive_store_the_lease_of_a_dead_process_is_taken_at_once(store: Store) -> None:
    clock = Clock()
    assert await leadership(store, "dead", clock).try_take()
    assert await leadership(store, "restarted", clock, exclusive=True).try_take()


def test_expiry_counts_from_the_first_sight_of_each_version() -> None:
    expiry = Expiry(SECONDS)
    at = datetime.now(UTC)
    lease = Lease(name=LEASE, holder="a", version=7, acquired_at=at, renewed_at=at)
    assert not expiry.expired(lease, 10.0)
    assert not expiry.expired(lease, 14.9)
    assert expiry.expired(lease, 15.0)
    newer = Lease(name=LEASE, holder="a", version=8, acquired_at=at, renewed_at=at)
    assert not expiry.expired(newer, 15.0)
    assert expiry.expired(Lease(name=LEASE, holder=None, version=9, acquired_at=at, renewed_at=at), 15.0)
