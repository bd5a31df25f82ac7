"""Two bartos on one PostgreSQL or MariaDB database: one leads, the other takes over when it dies.

Each run appends its (schedule, slot, attempt) to a file on its worker, so "ran twice" is seen
where it would happen, not only in the database whose UNIQUE claims we are testing around.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.e2e.harness import Barto, free_port, wait_for
from tests.e2e.proxy import Proxy

WORKERS = ("w1", "w2")
SETTLED = ("succeeded", "missed", "lost", "failed", "skipped")


def schedules(tmp: Path) -> str:
    """An every-second schedule per worker whose runs leave a trace in ``tmp``."""
    return "".join(
        f"[schedules.{w}]\nschedules = [{{ name = 'tick', on_calendar = '*:*:*', "
        f"cmds = ['echo $BARTO_SLOT $BARTO_ATTEMPT >> {tmp}/{w}.ran'] }}]\n"
        for w in WORKERS
    )


def cluster(port: int) -> dict[str, Any]:
    """``/v1/info``'s cluster part, straight from the instance on ``port`` (no redirect there)."""
    info: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=2).json()
    return dict(info["cluster"])


def leading(port: int) -> bool:
    """Whether the instance on ``port`` says it leads."""
    try:
        return bool(cluster(port)["role"] == "leader")
    except httpx.TransportError:
        return False


def start_pair(barto: Barto, tmp: Path, database_of_a: str = "") -> dict[str, int]:
    """Servers "a" (the leader: started first) and "b", and two workers that know both."""
    ports = {"a": barto.port, "b": free_port()}
    for name, port in ports.items():
        barto.start_server(schedules(tmp), name=name, port=port, database=database_of_a if name == "a" else "")
        if name == "a":
            wait_for(lambda: leading(ports["a"]), 15, "a to lead")
    urls = ", ".join(f"'ws://127.0.0.1:{port}'" for port in ports.values())
    for worker in WORKERS:
        barto.start_worker(worker, link=f"urls = [{urls}]")
    return ports


def slot(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(run["slot"])


def test_the_standby_takes_over_a_killed_leader_and_every_slot_runs_once(
    on_server_database: Barto, tmp_path: Path
) -> None:
    barto = on_server_database
    ports = start_pair(barto, tmp_path)
    barto.use_server(ports["b"])  # the CLI asks the standby, which sends it to the leader
    started = datetime.now(UTC)
    wait_for(lambda: barto.succeeded_since(WORKERS, started), 20, "a run on every worker")
    info = barto.cli("info")
    assert info.returncode == 0, info.stderr
    assert "leader: " in info.stdout
    assert "this server is the standby" in info.stdout
    assert sorted(i["role"] for i in cluster(ports["b"])["instances"]) == ["leader", "standby"]
    time.sleep(2)

    killed = time.monotonic()
    barto.kill("a")
    wait_for(lambda: leading(ports["b"]), 15, "b to take over")
    takeover = time.monotonic() - killed
    assert takeover <= 10, f"takeover took {takeover:.1f} s"
    resumed = datetime.now(UTC)
    wait_for(lambda: barto.succeeded_since(WORKERS, resumed), 30, "a run on every worker after the takeover")

    assert cluster(ports["b"])["leader"] == cluster(ports["b"])["instance"]
    end = datetime.now(UTC)
    for worker in WORKERS:
        assert_each_slot_once(barto, worker, tmp_path / f"{worker}.ran", end)


def assert_each_slot_once(barto: Barto, worker: str, trace: Path, end: datetime) -> None:
    """Every second from the first run to ``end`` has exactly one attempt-1 run, settled; none ran twice."""
    rows = wait_for(lambda: settled_rows(barto, worker, end), 30, f"{worker}'s runs to settle")
    slots = Counter(slot(r) for r in rows if r["attempt"] == 1)
    assert max(slots.values()) == 1, [s for s, n in slots.items() if n > 1]
    first, last = min(slots), max(slots)
    expected = {first + timedelta(seconds=i) for i in range(int((last - first).total_seconds()) + 1)}
    assert set(slots) == expected  # no second without its row
    ran = Counter(trace.read_text().split("\n"))
    del ran[""]
    assert max(ran.values()) == 1, [line for line, n in ran.items() if n > 1]
    succeeded = {slot(r) for r in rows if r["state"] == "succeeded"}
    assert {datetime.fromisoformat(line.split()[0]) for line in ran} >= succeeded
    reasons = Counter((r["state"], r["reason"]) for r in rows if r["state"] != "succeeded")
    # a run that ended while its worker moved reports on arrival: the slot after it may be skipped
    accounted = {("missed", "server down"), ("missed", "worker offline"), ("skipped", "overlap")}
    assert set(reasons) <= accounted, reasons


def settled_rows(barto: Barto, worker: str, end: datetime) -> list[dict[str, Any]]:
    """The runs of ``worker`` with a slot before ``end``, once all are settled (else [])."""
    rows = [r for r in barto.runs(worker=worker) if slot(r) < end]
    return rows if rows and all(r["state"] in SETTLED for r in rows) else []


def test_a_leader_stopped_cleanly_hands_over_at_once(on_server_database: Barto, tmp_path: Path) -> None:
    barto = on_server_database
    ports = start_pair(barto, tmp_path)
    barto.use_server(ports["b"])  # a write through the standby: a POST with a body, redirected
    manual = barto.cli_json("run-now", "tick", "--worker", "w1", "--force")
    assert manual["trigger"] == "manual"
    assert httpx.post(f"http://127.0.0.1:{ports['b']}/v1/runs/{manual['id']}/cancel").status_code == 307
    stopped = time.monotonic()
    barto.kill("a", signal.SIGTERM)
    wait_for(lambda: leading(ports["b"]), 10, "b to take over")
    assert time.monotonic() - stopped < 5  # released, not expired (the lease is 5 s)
    assert [i["role"] for i in cluster(ports["b"])["instances"]] == ["leader"]  # a left the list
    barto.use_server(ports["b"])
    resumed = datetime.now(UTC)
    wait_for(lambda: barto.succeeded_since(WORKERS, resumed), 20, "a run on every worker after the stop")


def test_a_leader_cut_off_from_the_database_steps_down_and_the_standby_takes_over(
    on_server_database: Barto, tmp_path: Path
) -> None:
    barto = on_server_database
    db_port = urlsplit(barto.database_url).port
    assert db_port is not None
    link = Proxy(free_port(), db_port)
    try:
        ports = start_pair(barto, tmp_path, barto.database_url.replace(f":{db_port}/", f":{link.port}/"))
        barto.use_server(ports["b"])
        started = datetime.now(UTC)  # once: a moment taken at every poll made it a race with the CLI's speed
        wait_for(lambda: barto.succeeded_since(WORKERS, started), 20, "a run on every worker")
        frozen = time.monotonic()
        link.freeze()  # a's database link goes silent: no error, no reset, nothing
        wait_for(lambda: leading(ports["b"]), 15, "b to take over")
        assert time.monotonic() - frozen <= 10
        assert "stepping down" in (tmp_path / "a.log").read_text()  # before b took over
        resumed = datetime.now(UTC)
        wait_for(lambda: barto.succeeded_since(WORKERS, resumed), 30, "a run on every worker after the takeover")
        link.restore()
        wait_for(lambda: cluster(ports["a"])["role"] == "standby", 20, "a back as a standby")
    finally:
        link.close()
    end = datetime.now(UTC)
    for worker in WORKERS:
        assert_each_slot_once(barto, worker, tmp_path / f"{worker}.ran", end)
