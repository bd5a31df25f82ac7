"""RQ: the queues of every ``[redis.<name>]`` the schedules of ``@rq`` enqueue into (docs/rq.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.config.server import Redis
from barto.errors import NotFound, Unavailable
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts
from barto.server.rq import calls

T = TypeVar("T")


@implements(ops.RQ_QUEUES)
async def queues(parts: Parts, _: r.Nothing) -> list[a.RqQueue]:
    """Each Redis's queues, asked now (a Redis that cannot be reached is an error naming it)."""
    found: list[a.RqQueue] = []
    for name, target in sorted(parts.config.redis.items()):
        found += [a.RqQueue(redis=name, **row) for row in await ask(name, target, calls.queues)]
    return found


@implements(ops.RQ_JOBS)
async def jobs(parts: Parts, request: r.RqJobs) -> list[a.RqJob]:
    """Jobs by queue and state, newest registry entries first as RQ keeps them (BTU's list-jobs)."""
    if request.redis is not None and request.redis not in parts.config.redis:
        raise NotFound("redis_not_found", f"no [redis.{request.redis}] in the server's config")
    found: list[a.RqJob] = []
    for name, target in sorted(parts.config.redis.items()):
        if request.redis not in (None, name) or len(found) >= request.limit:
            continue
        rows = await ask(name, target, calls.jobs, request.queue, request.state, request.limit - len(found))
        found += [a.RqJob(redis=name, **row) for row in rows]
    return found


async def ask(name: str, target: Redis, call: Callable[..., T], *args: Any) -> T:
    """``call(client, *args)`` on ``[redis.<name>]`` in a thread (RQ is synchronous).

    Raises:
        Unavailable: it cannot be reached.
    """
    client = calls.connect(target)
    try:
        return await asyncio.to_thread(call, client, *args)
    except calls.REDIS_ERRORS as error:
        raise Unavailable("redis_unavailable", f"cannot reach [redis.{name}]: {error}") from None
    finally:
        client.close()
