"""RQ: the queues of every ``[redis.<name>]`` the schedules of ``@rq`` enqueue into (docs/rq.md)."""

from __future__ import annotations

import asyncio

from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.errors import Unavailable
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts
from barto.server.rq import calls


@implements(ops.RQ_QUEUES)
async def queues(parts: Parts, _: r.Nothing) -> list[a.RqQueue]:
    """Each Redis's queues, asked now (a Redis that cannot be reached is an error naming it)."""
    found: list[a.RqQueue] = []
    for name, target in sorted(parts.config.redis.items()):
        client = calls.connect(target)
        try:
            rows = await asyncio.to_thread(calls.queues, client)
        except calls.REDIS_ERRORS as error:
            raise Unavailable("redis_unavailable", f"cannot reach [redis.{name}]: {error}") from None
        finally:
            client.close()
        found += [a.RqQueue(redis=name, **row) for row in rows]
    return found
