"""The dashboard's pages on a big store: 1,000,000 runs and 10,000,000 output lines.

Run: uv run python bench/dashboard.py [--runs 1000000] [--lines-per-run 10] [--backends postgresql,sqlite]
Prints a table and one JSON line. Each backend gets a fresh database loaded by bench/store.py's
loader (100 workers x 100 schedules, runs one minute apart, 10 % failed), shifted so that the
runs end an hour ago: all of them fall in the timeline's past 24 hours, its worst case. The
server's config holds the same 10,000 schedules (five calendars between them). Each page is
asked of the bartos app itself, in this process (no HTTP client in the figures): the time to
its first body byte and to its last, median of 5 after one cold look (also printed: the
timeline's first look counts the whole past day; later ones count the last hour and take the
rest from that count for 10 minutes). Target: every page <= 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import store as loader  # bench/store.py: its data set and loader
from tests.databases import create_database, drop_database
from tests.inprocess import _lifespan

from barto.config import load_server, source
from barto.server.app import create_app
from barto.store import open_store

CALENDARS = ("hourly", "*:0/15", "daily", "*-*-* 03:00", "Mon..Fri 09:00")


def pages(runs: int) -> list[str]:
    mid = runs // 2
    return [
        "/", "/schedules", "/schedules?offset=5000", "/schedules/w42/s7", "/workers/w42", "/runs",
        "/runs?worker=w42&state=failed", f"/runs?before={mid}", f"/runs/{mid}", "/failures", "/timeline",
    ]  # fmt: skip


def config(url: str) -> str:
    """10,000 schedules, as the loaded runs name them."""
    groups = []
    for w in range(loader.WORKERS):
        items = ", ".join(
            f'{{ name = "s{s}", on_calendar = "{CALENDARS[(w + s) % len(CALENDARS)]}", cmds = ["true"] }}'
            for s in range(loader.SCHEDULES)
        )
        groups.append(f"[schedules.w{w}]\nschedules = [{items}]\n")
    return f'lease_seconds = 5\ncatchup = "none"\n[database]\nurl = "{url}"\n' + "".join(groups)


async def hit(app: Any, target: str) -> tuple[float, float, int]:
    """(ms to the first body byte, ms to the last, status) of GET ``target`` on the ASGI app."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 40000), "server": ("bench", 80),
    }  # fmt: skip
    status, first, sent = 0, 0.0, asyncio.Event()

    async def receive() -> dict[str, Any]:
        if sent.is_set():
            await asyncio.sleep(3600)  # no disconnect while the page is written
        sent.set()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, first
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not first:
            first = time.perf_counter()

    start = time.perf_counter()
    await app(scope, receive, send)
    return (first - start) * 1000, (time.perf_counter() - start) * 1000, status


async def measure(app: Any, target: str, repeat: int) -> tuple[float, float, float]:
    """(first byte, full: medians of ``repeat`` warm looks; the first, cold look, in full)."""
    cold = (await hit(app, target))[1]
    firsts, fulls = [], []
    for _ in range(repeat):
        first, full, status = await hit(app, target)
        if status != 200:
            raise RuntimeError(f"{target}: HTTP {status}")
        firsts.append(first)
        fulls.append(full)
    return statistics.median(firsts), statistics.median(fulls), cold


async def bench(backend: str, runs: int, per_run: int, repeat: int, tmp: Path) -> dict[str, Any]:
    url = await create_database(backend, tmp)
    try:
        async with open_store(url):
            pass  # migrated by barto itself
        span = timedelta(minutes=runs // (loader.WORKERS * loader.SCHEDULES))
        loader.START = datetime.now(UTC).replace(second=0, microsecond=0) - span - timedelta(hours=1)
        t0 = time.perf_counter()
        await loader.load(backend, url, runs, per_run)
        loaded = time.perf_counter() - t0
        path = tmp / f"{backend}.toml"
        path.write_text(config(url))
        src = source("bartos", path, {}, {})
        app = create_app(load_server(src, serving=True), config_path=path, loader=lambda: load_server(src), env={})
        async with _lifespan(app):
            for _ in range(600):  # until it leads (a standby answers 503 or redirects)
                if (await hit(app, "/"))[2] == 200:
                    break
                await asyncio.sleep(0.1)
            figures = {target: await measure(app, target, repeat) for target in pages(runs)}
        return {"load_s": round(loaded, 1), "pages": {k: [round(v, 1) for v in f] for k, f in figures.items()}}
    finally:
        await drop_database(backend, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--lines-per-run", type=int, default=10)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="barto-dashboard-") as tmp:
        for backend in args.backends.split(","):
            print(f"loading {args.runs:,} runs, {args.runs * args.lines_per_run:,} lines into {backend} ...",
                  file=sys.stderr)  # fmt: skip
            results[backend] = asyncio.run(bench(backend, args.runs, args.lines_per_run, args.repeat, Path(tmp)))
    print(f"{'ms: first byte / full (median); cold':<36}" + "".join(f"{b:>32}" for b in results))
    for target in pages(args.runs):
        cells = "".join("{:>10,.1f} / {:>9,.1f}; {:>9,.1f}".format(*results[b]["pages"][target]) for b in results)
        print(f"{target:<36}{cells}   <= 150")
    print(json.dumps({"runs": args.runs, "lines": args.runs * args.lines_per_run, "results": results}))


if __name__ == "__main__":
    main()
