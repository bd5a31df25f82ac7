"""The RQ bridge's batched enqueue against the real Redis of this machine: it writes what RQ's
own ``enqueue_call(..., unique=True)`` writes, in one round trip, and keeps ids unique."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from rq.job import Job

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
    ours = [calls.Enqueue(7, "ours-7", CALL, "x"), calls.Enqueue(8, "ours-8", CALL, "y")]
    assert calls.enqueue_many(conn, ours) == [True, True]  # the second made from the first's shape
    assert calls.enqueue(conn, calls.Enqueue(0, "single", CALL, "z"))
    for run_id, description in ((7, CALL.description), (8, CALL.description)):
        Queue("batch", connection=conn).enqueue_call(
            CALL.func, args=CALL.args, kwargs=CALL.kwargs, timeout=CALL.timeout, result_ttl=CALL.result_ttl,
            failure_ttl=CALL.failure_ttl, description=description, job_id=f"theirs-{run_id}",
            meta={**CALL.meta, "barto_run_id": run_id}, unique=True,
        )  # fmt: skip
        mine, theirs = conn.hgetall(f"rq:job:ours-{run_id}"), conn.hgetall(f"rq:job:theirs-{run_id}")
        assert set(mine) == set(theirs)
        assert {k: v for k, v in mine.items() if k not in TIMES} == {k: v for k, v in theirs.items() if k not in TIMES}
    assert Job.fetch("ours-8", connection=conn).meta == {"k": "v", "barto_run_id": 8}
    assert conn.lrange("rq:queue:batch", 0, -1) == [b"ours-7", b"ours-8", b"single", b"theirs-7", b"theirs-8"]
    assert conn.smembers("rq:queues") == {b"rq:queue:batch"}


def test_jobs_of_one_call_differ_in_their_description(conn: redis.Redis) -> None:
    bare = RqCall(func="tests.rqtasks.add", queue="batch", args=[1, 2])
    calls.enqueue_many(
        conn, [calls.Enqueue(1, "a", bare, "barto s slot-a"), calls.Enqueue(2, "b", bare, "barto s slot-b")]
    )
    assert [Job.fetch(i, connection=conn).description for i in "ab"] == ["barto s slot-a", "barto s slot-b"]


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
