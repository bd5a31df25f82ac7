"""Dispatch latency, spawn cost and throughput of bartos + one bartoc, end to end, on SQLite.

Run: uv run python bench/dispatch.py [--runs 1000] [--lines 1000000]
Prints a table and one JSON line. Real processes on 127.0.0.1, as a user would run them:

- dispatch: N schedules due in the same second on one worker; from the slot to the server
  receiving the worker's `accepted` for the last of them (runs.dispatched_at). Peer: APScheduler
  3.x, N cron-triggered jobs in one process, from the slot to the last job call.
- spawn: from the slot to the last of the N `/bin/true` runs started (a process exists), against
  the raw time to spawn N `/bin/true` with subprocess.Popen in this process, in the same run;
  and against what any scheduler that runs commands through a shell and captures their output
  must pay at least: N `/bin/sh -c /bin/true` with stdout and stderr piped.
- runs/s: N divided by the time from the slot until all N runs are stored as succeeded.
- lines/s: one job printing L lines; L divided by the time from its start until the run is
  stored as finished (the last Output is committed before the Finished row).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.harness import Barto, wait_for

WORKER = "bench"
POLL = 0.02  # seconds between "is it stored yet?" queries
FINAL = ("succeeded", "failed", "timed_out", "lost", "missed", "skipped", "cancelled")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def raw_spawn(count: int, argv: list[str], capture: bool) -> float:
    """Seconds to start ``count`` processes back to back (then reap them)."""
    pipe = subprocess.PIPE if capture else None
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe, start_new_session=True)
        for _ in range(count)
    ]
    elapsed = time.perf_counter() - t0
    for proc in procs:
        proc.communicate()
    return elapsed


def apscheduler_dispatch(count: int) -> float:
    """Seconds from a cron slot to the last of ``count`` APScheduler jobs being called."""

    async def main() -> float:
        calls: list[float] = []

        async def job() -> None:
            calls.append(time.time())

        slot = math.ceil(time.time()) + 2
        when = datetime.fromtimestamp(slot, UTC)
        scheduler = AsyncIOScheduler(timezone="UTC")
        trigger = CronTrigger(hour=when.hour, minute=when.minute, second=when.second, timezone="UTC")
        for i in range(count):
            scheduler.add_job(job, trigger, id=str(i), misfire_grace_time=60, max_instances=count)
        scheduler.start()
        for _ in range(200):
            if len(calls) == count:
                break
            await asyncio.sleep(0.05)
        scheduler.shutdown(wait=False)
        return max(calls) - slot

    return asyncio.run(main())


class Api:
    """The few REST calls the benchmark needs."""

    def __init__(self, port: int) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=30)

    def count(self, sql: str) -> int:
        response = self.http.post("/query", json={"sql": sql})
        response.raise_for_status()
        return int(response.json()["rows"][0][0])

    def runs(self, limit: int) -> list[dict[str, Any]]:
        response = self.http.get("/runs", params={"worker": WORKER, "limit": limit})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def schedules(self) -> int:
        return len(self.http.get("/schedules").raise_for_status().json())

    def run_now(self, name: str) -> int:
        return int(self.http.post(f"/schedules/{WORKER}/{name}/run").raise_for_status().json()["id"])

    def run(self, run_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get(f"/runs/{run_id}").raise_for_status().json()
        return result


def schedules_toml(count: int, slot: datetime, lines: int) -> str:
    """``count`` /bin/true schedules due at ``slot``, and a chatty one that only runs on demand."""
    at = slot.strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = [f'  {{ name = "true{i:04d}", on_calendar = "{at}", cmds = ["/bin/true"] }},' for i in range(count)]
    rows.append(f'  {{ name = "chatty", on_calendar = "2099-01-01", cmds = ["seq 1 {lines}"] }},')
    return f"[schedules.{WORKER}]\nschedules = [\n" + "\n".join(rows) + "\n]\n"


def stored_at(api: Api, sql: str, expected: int, limit: float) -> float:
    """Wall-clock time at which ``sql`` (a count) first reaches ``expected``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if api.count(sql) >= expected:
            return time.time()
        time.sleep(POLL)
    raise SystemExit(f"gave up after {limit} s waiting for: {sql}")


def burst(barto: Barto, api: Api, count: int, lines: int) -> dict[str, float]:
    """Load ``count`` schedules due in one second, let them fire, and time dispatch, spawn, storage."""
    slot = datetime.fromtimestamp(math.ceil(time.time()) + 4, UTC)
    barto.server_config(schedules_toml(count, slot, lines))
    wait_for(lambda: api.schedules() == count + 1, 10, "the server to load the schedules")
    if datetime.now(UTC) >= slot - timedelta(seconds=0.5):
        raise SystemExit("the schedules loaded too late for their slot; the machine is too busy")
    done = stored_at(api, "SELECT count(*) FROM runs WHERE state = 'succeeded'", count, 120)
    runs = api.runs(count + 10)
    if len(runs) != count or any(r["state"] != "succeeded" for r in runs):
        raise SystemExit(f"expected {count} succeeded runs, got {len(runs)}")
    base = slot.timestamp()
    return {
        "dispatch_s": max(_time(r["dispatched_at"]).timestamp() for r in runs) - base,
        "spawn_s": max(_time(r["started_at"]).timestamp() for r in runs) - base,
        "stored_s": done - base,
    }


def chatty(api: Api, lines: int) -> float:
    """Lines per second from one job printing ``lines`` lines, until its run is stored as finished."""
    run_id = api.run_now("chatty")
    done = stored_at(api, f"SELECT count(*) FROM runs WHERE id = {run_id} AND finished_at IS NOT NULL", 1, 300)
    run = api.run(run_id)
    stored = api.count(f"SELECT count(*) FROM run_output WHERE run_id = {run_id}")
    if run["state"] != "succeeded" or run["lines"] != lines or stored != lines:
        raise SystemExit(f"chatty run incomplete: {run['state']}, {run['lines']} lines, {stored} stored")
    return lines / (done - _time(run["started_at"]).timestamp())


def measure(count: int, lines: int) -> dict[str, float]:
    """Every figure of the table, in one run of bartos + bartoc."""
    with tempfile.TemporaryDirectory(prefix="barto-bench-") as tmp:
        barto = Barto(Path(tmp))
        try:
            barto.start_server("")
            barto.start_worker(WORKER, SHELL="/bin/sh")
            api = Api(barto.port)
            figures = burst(barto, api, count, lines)
            figures["lines_per_s"] = chatty(api, lines)
        finally:
            barto.close()
    figures["raw_spawn_s"] = min(raw_spawn(count, ["/bin/true"], capture=False) for _ in range(3))
    figures["raw_shell_spawn_s"] = min(raw_spawn(count, ["/bin/sh", "-c", "/bin/true"], capture=True) for _ in range(3))
    figures["apscheduler_s"] = apscheduler_dispatch(count)
    return figures


def report(count: int, lines: int, f: dict[str, float]) -> None:
    """The table, then the JSON line."""
    ratio = f["spawn_s"] / f["raw_spawn_s"]
    shell_ratio = f["spawn_s"] / f["raw_shell_spawn_s"]
    rows = [
        ("dispatch: slot -> last accepted", f"{f['dispatch_s'] * 1000:.1f} ms", "<= 30 ms",
         f"APScheduler 3.11: {f['apscheduler_s'] * 1000:.1f} ms"),
        (f"spawn: slot -> last of {count} started", f"{f['spawn_s'] * 1000:.0f} ms", "<= 1.3x raw",
         f"raw Popen x{count}: {f['raw_spawn_s'] * 1000:.0f} ms ({ratio:.2f}x)"),
        ("", "", "", f"raw sh -c + pipes x{count}: {f['raw_shell_spawn_s'] * 1000:.0f} ms ({shell_ratio:.2f}x)"),
        ("runs completed + stored", f"{count / f['stored_s']:,.0f} /s", ">= 500 /s", ""),
        (f"output lines stored ({lines:,} lines)", f"{f['lines_per_s']:,.0f} /s", ">= 100,000 /s", ""),
    ]  # fmt: skip
    print(f"{'measure':40} {'barto':>14} {'target':>14}  peer / baseline")
    for name, value, target, peer in rows:
        print(f"{name:40} {value:>14} {target:>14}  {peer}")
    print(
        json.dumps(
            {
                "runs": count,
                "lines": lines,
                **{k: round(v, 6) for k, v in f.items()},
                "spawn_ratio": ratio,
                "shell_spawn_ratio": shell_ratio,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    report(args.runs, args.lines, measure(args.runs, args.lines))


if __name__ == "__main__":
    main()
