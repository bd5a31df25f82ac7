"""The RQ bridge's batched enqueue against the real Redis of this machine: it writes what RQ's
own ``enqueue_call(..., unique=True)`` writes, in one round trip, and keeps ids unique."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest
import redis
from rq import Queue

from barto.config.server import RqCall
from barto.server.rq import calls
from tests.conftest import require_or_skip

CALL = RqCall(func="tests.rqtasks.add", queue="batch", args=[1], kwargs={"b": 2}, timeout=30, result_ttl=60,
              failure_ttl=120, meta={"k": "v"}, description="d")  # fmt: skip
TIMES = {b"created_at", b"enqueued_at", b"last_heartbeat"}


@pytest.fixture
def conn() -> Iterator[redis.Redis]:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        require_or_skip(False, "Redis on 127.0.0.1:6379")
    client = redis.Redis(db=random.randint(1, 15))
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def test_a_batch_writes_what_rqs_own_enqueue_writes(conn: redis.Redis) -> None:
    assert calls.enqueue_many(conn, [calls.Enqueue(7, "ours", CALL, "x")]) == [True]
    Queue("batch", connection=conn).enqueue_call(
        CALL.func, args=CALL.args, kwargs=CALL.kwargs, timeout=CALL.timeout, result_ttl=CALL.result_ttl,
        failure_ttl=CALL.failure_ttl, description=CALL.description, job_id="theirs",
        meta={**CALL.meta, "barto_run_id": 7}, unique=True,
    )  # fmt: skip
    ours, theirs = conn.hgetall("rq:job:ours"), conn.hgetall("rq:job:theirs")
    assert set(ours) == set(theirs)
    assert {k: v for k, v in ours.items() if k not in TIMES} == {k: v for k, v in theirs.items() if k not in TIMES}
    assert conn.lrange("rq:queue:batch", 0, -1) == [b"ours", b"theirs"]
    assert conn.smembers("rq:queues") == {b"rq:queue:batch"}


def test_a_repeat_enqueues_only_what_is_not_there_one_script_call_an_item(conn: redis.Redis) -> None:
    items = [calls.Enqueue(i + 1, f"job-{i}", CALL, "x") for i in range(500)]
    before = _commands(conn)
    assert calls.enqueue_many(conn, items[:300]) == [True] * 300
    assert calls.enqueue_many(conn, items) == [False] * 300 + [True] * 200  # a retry after a partial failure
    assert conn.llen("rq:queue:batch") == 500
    evals = _commands(conn) - before
    assert evals == 800  # one script per item asked, nothing more per item


def _commands(conn: redis.Redis) -> int:
    stats = conn.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
