"""How fast a real bartos answers /healthz while something costly runs beside it (issue 17:
"/healthz answers within 100 ms while any of this runs").

    uv run python bench/healthz_under_load.py

Scenarios, each for a few seconds with /healthz probed every 20 ms: idle; backfill requests over
80 days of a 10-second schedule (691,200 slots; refused at the 10,001st) sent back to back; a
runaway query (SQLite, stopped at [query] seconds); 200 slow clients holding connections with
unfinished headers. Prints p50 / p99 / max latency per scenario and a JSON line.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(url: str, seconds: float) -> list[float]:
    """/healthz latencies (ms) every 20 ms for ``seconds``; a failed probe counts as 10 s."""
    found: list[float] = []
    with httpx.Client(timeout=10) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                ok = client.get(url).status_code == 200
            except httpx.HTTPError:
                ok = False
            found.append((time.perf_counter() - started) * 1000 if ok else 10_000.0)
            time.sleep(0.02)
    return found


def during(load: Callable[[threading.Event], None], url: str, seconds: float) -> list[float]:
    stop = threading.Event()
    worker = threading.Thread(target=load, args=(stop,), daemon=True)
    worker.start()
    time.sleep(0.3)  # the load is under way
    try:
        return probe(url, seconds)
    finally:
        stop.set()
        worker.join(15)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="healthz-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (root / "bartos.toml").write_text(
        f"[actix]\nip = '127.0.0.1'\nport = {port}\n[database]\nurl = 'sqlite:///{root}/b.db'\n"
        "[query]\nseconds = 5\n[limits]\nheader_seconds = 60\n"
        "[schedules.w1]\nschedules = [{ name = 'tick', on_calendar = '*:*:0/10', cmds = ['true'] }]\n"
    )
    env = {**os.environ, "HOME": str(root), "XDG_DATA_HOME": str(root / "d"), "XDG_STATE_HOME": str(root / "s")}
    server = subprocess.Popen([str(BIN / "bartos"), "-c", str(root / "bartos.toml"), "-t", str(root / "log")], env=env)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/v1/info", timeout=1).json()["cluster"]["role"] == "leader":
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        results = {name: during(load, f"{base}/healthz", 4.0) for name, load in scenarios(base, port).items()}
    finally:
        server.terminate()
        server.wait(30)
    print(f"{'scenario':<16}{'probes':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    summary = {}
    for name, values in results.items():
        p50, p99 = statistics.median(values), sorted(values)[int(len(values) * 0.99) - 1]
        summary[name] = {
            "probes": len(values),
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
            "max_ms": round(max(values), 1),
        }
        print(f"{name:<16}{len(values):>8}{p50:>9.1f}{p99:>9.1f}{max(values):>9.1f}")
    print(json.dumps({"bench": "healthz_under_load", "results": summary}))


def scenarios(base: str, port: int) -> dict[str, Callable[[threading.Event], None]]:
    def idle(stop: threading.Event) -> None:
        stop.wait()

    def backfill(stop: threading.Event) -> None:
        body = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-22T00:00:00Z"}
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                client.post(f"{base}/v1/schedules/w1/tick/backfill", json=body)

    def query(stop: threading.Event) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                client.post(f"{base}/v1/query", json={"sql": RUNAWAY})

    def slow_clients(stop: threading.Event) -> None:
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        stop.wait()
        for sock in held:
            sock.close()

    return {"idle": idle, "backfill": backfill, "runaway query": query, "200 slow clients": slow_clients}


if __name__ == "__main__":
    main()
