"""Schedules that enqueue Python RQ jobs, on a real bartos, the real Redis of this machine (a
database of its own per test) and stock ``rq worker --burst`` processes running the functions
of tests/rqtasks.py: the locked rq (3.x) and rq 2.12 (the last 2.x), each as its own program."""

from __future__ import annotations

import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_or_skip
from tests.e2e.harness import Barto, free_port, wait_for
from tests.e2e.rqkit import Rq, leads, reachable

NEVER = "2099-01-01 00:00:00"


def entry(name: str, func: str, args: str = "[]", calendar: str = NEVER, **keys: object) -> str:
    """One RQ schedule as a TOML inline table (``keys``: more schedule keys, ``rq_<key>``: more
    keys of its ``rq``)."""
    rq = "".join(f", {k[3:]} = {v}" for k, v in keys.items() if k.startswith("rq_"))
    rest = "".join(f", {k} = {v!r}" for k, v in keys.items() if not k.startswith("rq_"))
    return f'  {{ name = "{name}", on_calendar = "{calendar}"{rest}, rq = {{ func = "{func}", args = {args}{rq} }} }},'


@pytest.mark.parametrize("kind", ["rq3", "rq2"])
def test_a_run_is_one_rq_job_and_its_result_is_its_output(rq: Rq, kind: str) -> None:
    if kind == "rq2":
        require_or_skip(bool(shutil.which("uvx")), "uvx, to run rq 2.12")
    rq.server(entry("add", "tests.rqtasks.add", "[2, 3]"))
    run = rq.run("add")
    wait_for(lambda: rq.state(run["id"])["state"] == "dispatched", 20, "the job to be enqueued")
    assert len(rq.jobs()) == 1
    assert _queue(rq) == {"redis": "default", "queue": "default", "queued": 1, "finished": 0}
    rq.work(kind)
    ended = rq.ended(run["id"])
    assert (ended["state"], ended["exit_code"]) == ("succeeded", 0)
    assert rq.output(run["id"]) == "5\n"
    assert len(rq.jobs()) == 1
    assert _queue(rq) == {"redis": "default", "queue": "default", "queued": 0, "finished": 1}
    assert [r["id"] for r in rq.barto.cli_json("rq", "runs")] == [run["id"]]
    assert [s["name"] for s in rq.barto.cli_json("schedules", "--worker", "@rq")] == ["add"]


def _queue(rq: Rq) -> dict[str, Any]:
    """``barto-cli rq``'s one queue, as what it waits for and what it finished."""
    (queue,) = rq.barto.cli_json("rq")
    return {k: queue[k] for k in ("redis", "queue", "queued", "finished")}


def test_a_failing_function_and_a_timeout_fail_with_rqs_reason(rq: Rq) -> None:
    rq.server(entry("boom", "tests.rqtasks.boom") + "\n" + entry("slow", "tests.rqtasks.sleepy", "[30]", rq_timeout=1))
    boom, slow = rq.run("boom"), rq.run("slow")
    wait_for(lambda: len(rq.jobs()) == 2, 20, "both jobs enqueued")
    rq.work()
    failed = rq.ended(boom["id"])
    assert (failed["state"], failed["exit_code"]) == ("failed", 1)
    assert failed["reason"] == "ZeroDivisionError: division by zero, on purpose"
    assert "Traceback" in rq.output(boom["id"])
    timed = rq.ended(slow["id"])
    assert timed["state"] == "failed"
    assert "JobTimeoutException" in timed["reason"]


def test_slots_fire_as_jobs_and_a_queued_one_can_be_cancelled(rq: Rq) -> None:
    every_second = "*:*:0/1"
    tick = entry("tick", "tests.rqtasks.add", "[1, 1]", every_second, overlap="allow")
    rq.server(tick + "\n" + entry("once", "tests.rqtasks.add", "[1, 2]", every_second))
    wait_for(lambda: len(rq.jobs()) >= 4, 20, "slots enqueued")
    once = rq.barto.runs(worker="@rq", schedule="once")
    assert {r["state"] for r in once[1:]} <= {"dispatched", "skipped"}  # overlap: judged on the queued job's run
    assert sum(r["state"] == "dispatched" for r in once) == 1
    queued = [r for r in rq.barto.runs(worker="@rq", schedule="tick") if r["state"] == "dispatched"]
    assert queued
    assert rq.barto.cli("cancel", str(queued[0]["id"])).returncode == 0
    assert rq.ended(queued[0]["id"])["state"] == "cancelled"
    for name in ("tick", "once"):
        assert rq.barto.cli("pause", "-w", "@rq", name).returncode == 0
    rq.work()
    runs = [r for r in rq.barto.runs(worker="@rq") if r["state"] != "skipped"]
    done = [r for r in runs if r["state"] == "succeeded"]
    assert done
    assert len({(r["schedule"], r["slot"]) for r in runs}) == len(runs)  # one run a slot
    assert len(rq.jobs()) == len(runs)  # one job a run


def test_a_redis_that_is_down_makes_runs_wait_then_miss(barto: Barto, tmp_path: Path) -> None:
    require_or_skip(bool(shutil.which("redis-server")), "redis-server")
    port = free_port()
    rq = Rq(barto, port)
    waits = entry("later", "tests.rqtasks.add", "[4, 4]", queue_ttl=120)
    rq.server(waits + "\n" + entry("never", "tests.rqtasks.add", "[0, 0]", queue_ttl=2))
    later, never = rq.run("later"), rq.run("never")
    assert rq.ended(never["id"])["reason"] == "redis unavailable"
    assert rq.state(later["id"])["state"] == "pending"  # still waiting for its Redis
    down = rq.barto.cli("rq")
    assert down.returncode == 1
    assert "cannot reach [redis.default]" in down.stderr
    assert "(HTTP 503)" in down.stderr
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, cwd=tmp_path)  # fmt: skip
    try:
        wait_for(lambda: reachable(port), 10, "the private redis-server")
        wait_for(lambda: rq.state(later["id"])["state"] == "dispatched", 20, "the waiting run to be enqueued")
        rq.work()
        assert rq.ended(later["id"])["state"] == "succeeded"
        assert rq.output(later["id"]) == "8\n"
    finally:
        rq.redis.close()
        server.terminate()
        server.wait(10)


def test_a_leader_killed_while_slots_fire_enqueues_each_slot_once(on_postgresql: Barto) -> None:
    require_or_skip(reachable(6379), "Redis on 127.0.0.1:6379")
    barto, rq = on_postgresql, Rq(on_postgresql)
    rq.redis.flushdb()
    try:
        # catchup "all": the slots of the failover's gap are run too, so that a "server down"
        # below could only be a slot a had claimed and b recorded missed instead of enqueuing it.
        tick = entry("tick", "tests.rqtasks.add", "[1, 1]", "*:*:0/1", overlap="allow", catchup="all")
        config = f'[schedules."@rq"]\nschedules = [\n{tick}\n]\n'
        ports = {"a": barto.port, "b": free_port()}
        for name, port in ports.items():
            barto.start_server(config, f"lease_seconds = 2\n[redis.default]\nurl = '{rq.url}'\n", name=name, port=port)
            if name == "a":
                wait_for(lambda: len(rq.jobs()) >= 2, 20, "a to enqueue")
        barto.kill("a", signal.SIGKILL)  # whatever it was doing: claiming, enqueuing, recording
        barto.use_server(ports["b"])
        wait_for(lambda: leads(ports["b"]), 20, "b to lead")
        killed = datetime.now(UTC)
        wait_for(lambda: any(datetime.fromisoformat(r["slot"]) > killed for r in rq.barto.runs(worker="@rq")), 20,
                 "b to fire")  # fmt: skip
        assert barto.cli("pause", "-w", "@rq", "tick").returncode == 0
        rq.work()
        runs = rq.barto.runs(worker="@rq")
        slots = [r["slot"] for r in runs]
        assert len(slots) == len(set(slots))  # one run a slot, whoever claimed it
        enqueued = [r for r in runs if r["state"] != "missed"]
        assert len(rq.jobs()) == len(enqueued)  # one job a run: none twice, none of a missed slot
        assert all(r["state"] == "succeeded" for r in enqueued)
        assert not [r for r in runs if r["reason"] == "server down"]  # a's claimed slots were enqueued by b
    finally:
        rq.close()
