"""Failover of two bartos sharing one PostgreSQL or MariaDB database (issue 5).

Per database: servers "a" and "b", workers w1 and w2 that know both URLs, an every-second schedule
per worker. Each round kills the leader with SIGKILL and measures

- takeover: until the other instance says it leads (``/v1/info``, polled every 50 ms);
- service back: until every worker has a succeeded run of a slot after the kill;

then starts the killed server again (it becomes the standby) and lets things settle. Real
processes, default ``lease_seconds`` (5). Prints a table and one JSON line.

    uv run python bench/failover.py [--kills 5] [--databases postgresql mariadb]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.databases import create_database, drop_database
from tests.e2e.harness import Barto, free_port, wait_for

WORKERS = ("w1", "w2")
SCHEDULES = "".join(
    f"[schedules.{w}]\nschedules = [{{ name = 'tick', on_calendar = '*:*:*', cmds = ['true'] }}]\n" for w in WORKERS
)


def role(port: int) -> str:
    """What the instance on ``port`` says it is ("gone" if it does not answer)."""
    try:
        info = httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=1).json()
    except httpx.TransportError:
        return "gone"
    return str(info["cluster"]["role"])


def one_round(barto: Barto, ports: dict[str, int]) -> tuple[float, float]:
    """Kill the leader; (takeover seconds, service-back seconds); the killed one restarts."""
    leader = next(name for name, port in ports.items() if role(port) == "leader")
    standby = next(name for name in ports if name != leader)
    barto.use_server(ports[standby])
    killed_at, killed = time.monotonic(), datetime.now(UTC)
    barto.kill(leader)
    deadline = killed_at + 60
    while role(ports[standby]) != "leader" and time.monotonic() < deadline:
        time.sleep(0.05)
    takeover = time.monotonic() - killed_at
    wait_for(lambda: barto.succeeded_since(WORKERS, killed), 60, "runs on every worker after the takeover")
    service = time.monotonic() - killed_at
    barto.start_server(name=leader, port=ports[leader])
    time.sleep(3)
    return takeover, service


def measure(database: str, kills: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = asyncio.run(create_database(database, Path(tmp)))
        barto = Barto(Path(tmp), database_url=url)
        try:
            ports = {"a": barto.port, "b": free_port()}
            for name, port in ports.items():
                barto.start_server(SCHEDULES, name=name, port=port)
                time.sleep(1)  # "a" takes the lease first
            urls = ", ".join(f"'ws://127.0.0.1:{port}'" for port in ports.values())
            for worker in WORKERS:
                barto.start_worker(worker, link=f"urls = [{urls}]")
            time.sleep(3)
            rounds = [one_round(barto, ports) for _ in range(kills)]
        finally:
            barto.close()
            asyncio.run(drop_database(database, url))
    takeovers, services = [r[0] for r in rounds], [r[1] for r in rounds]
    return {
        "database": database,
        "kills": kills,
        "takeover_median_s": round(statistics.median(takeovers), 2),
        "takeover_max_s": round(max(takeovers), 2),
        "service_back_median_s": round(statistics.median(services), 2),
        "service_back_max_s": round(max(services), 2),
        "takeovers_s": [round(t, 2) for t in takeovers],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--databases", nargs="+", default=["postgresql", "mariadb"])
    args = parser.parse_args()
    results = [measure(database, args.kills) for database in args.databases]
    print(f"{'database':<12}{'takeover median':>17}{'max':>8}{'service back median':>21}{'max':>8}  each takeover")
    for r in results:
        print(
            f"{r['database']:<12}{r['takeover_median_s']:>15.2f} s{r['takeover_max_s']:>6.2f} s"
            f"{r['service_back_median_s']:>19.2f} s{r['service_back_max_s']:>6.2f} s  {r['takeovers_s']}"
        )
    print(json.dumps({"bench": "failover", "lease_seconds": 5, "results": results}))


if __name__ == "__main__":
    main()
