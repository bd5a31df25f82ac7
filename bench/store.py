"""Store queries at scale: 1 million runs and 10 million output lines, on each backend.

Run: uv run python bench/store.py [--runs 1000000] [--lines-per-run 10] [--backends postgresql,mariadb,sqlite]
Prints a table and one JSON line. Each backend gets a fresh database (tests/databases.py: the
real servers of this machine), migrated by barto, then bulk-loaded with the drivers' fastest
paths (COPY on PostgreSQL, multi-row INSERT on MariaDB, executemany on SQLite): 100 workers x
100 schedules, runs one minute apart, 10 % of them failed, N lines each. Then the queries behind
barto-cli's commands are timed through barto's own Store (median of 5, warm):

- failed:     the 1,000 newest failed runs (`barto-cli failed`)
- list:       a worker's schedule names (`barto-cli list -n W`)
- runs:       the 50 newest runs of one schedule (`barto-cli runs --schedule X --limit 50`)
- output:     every line of one run (`barto-cli output RUN`)
- going:      unfinished runs, asked at every slot (overlap)
- retention:  finding the runs older than a cutoff (1 % of them), then deleting them with their
              output in batches (one batch timed: the longest a write transaction holds ingest off)
Target: each query <= 100 ms on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncmy
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.databases import MARIADB, PG, create_database, drop_database

from barto.store import Retention, Store, open_store

WORKERS, SCHEDULES = 100, 100
START = datetime(2025, 1, 1, tzinfo=UTC)
CHUNK = 50_000


def run_rows(count: int) -> Iterator[tuple[Any, ...]]:
    """(id, uuid, schedule, worker, slot, attempt, trigger, state, exit_code, lines, created, finished)."""
    for i in range(1, count + 1):
        key = i % (WORKERS * SCHEDULES)
        slot = START + timedelta(minutes=i // (WORKERS * SCHEDULES))
        failed = i % 10 == 0
        yield (
            i, f"00000000-0000-4000-8000-{i:012d}", f"s{key % SCHEDULES}", f"w{key // SCHEDULES}", slot, 1,
            "schedule", "failed" if failed else "succeeded", 1 if failed else 0, 0, slot, slot + timedelta(seconds=5),
        )  # fmt: skip


def line_rows(runs: int, per_run: int) -> Iterator[tuple[Any, ...]]:
    """(run_id, seq, stream, ts, data)."""
    for run_id in range(1, runs + 1):
        ts = START + timedelta(minutes=run_id // (WORKERS * SCHEDULES))
        for seq in range(1, per_run + 1):
            yield run_id, seq, "stdout", ts, f"run {run_id} line {seq}: some ordinary output of a job"


RUN_COLUMNS = (
    "id", "uuid", "schedule", "worker", "slot", "attempt", "trigger", "state", "exit_code", "lines",
    "created_at", "finished_at",
)  # fmt: skip
LINE_COLUMNS = ("run_id", "seq", "stream", "ts", "data")


def chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def naive(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Aware datetimes as naive UTC, as barto stores them."""
    return [tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row) for row in rows]


async def load(backend: str, url: str, runs: int, per_run: int) -> None:
    """Bulk-load the dataset through the backend's fastest driver path."""
    name = url.rsplit("/", 1)[1]
    if backend == "postgresql":
        conn = await asyncpg.connect(**{**PG, "database": name})
        try:
            for table, columns, rows in _tables(runs, per_run):
                for batch in chunks(rows):
                    await conn.copy_records_to_table(table, records=naive(batch), columns=list(columns))
            await conn.execute("SELECT setval('runs_id_seq', (SELECT max(id) FROM runs)); ANALYZE")
        finally:
            await conn.close()
    elif backend == "mariadb":
        conn = await asyncmy.connect(**MARIADB, database=name)
        try:
            async with conn.cursor() as cursor:
                for table, columns, rows in _tables(runs, per_run):
                    quoted = ", ".join(f"`{c}`" for c in columns)  # `trigger` and `lines` are reserved words
                    sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})"
                    for batch in chunks(rows):
                        await cursor.executemany(sql, naive(batch))
                        await conn.commit()
                await cursor.execute("ANALYZE TABLE runs, run_output")
        finally:
            conn.close()
    else:
        import sqlite3

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        for table, columns, rows in _tables(runs, per_run):
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))})"
            for batch in chunks(rows):
                db.executemany(
                    sql, [tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in r) for r in naive(batch)]
                )
                db.commit()
        db.close()  # no ANALYZE: barto never runs it on SQLite, and its average-based statistics would
        # make the planner scan the table for the rare unfinished states instead of using the index


def _text(value: Any) -> Any:
    """SQLite stores barto's times as ISO text."""
    return value.isoformat(" ") if isinstance(value, datetime) else value


def _tables(runs: int, per_run: int) -> list[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]]:
    return [("runs", RUN_COLUMNS, run_rows(runs)), ("run_output", LINE_COLUMNS, line_rows(runs, per_run))]


async def timed(call: Callable[[], Awaitable[Any]], repeat: int = 5) -> float:
    """Median milliseconds of ``call`` after one warm-up."""
    await call()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def queries(store: Store, runs: int) -> dict[str, float]:
    mid = runs // 2
    figures = {
        "failed": await timed(lambda: store.failed(1000)),
        "list": await timed(lambda: store.schedule_names("w42")),
        "runs": await timed(lambda: store.runs(schedule="s7", limit=50)),
        "output": await timed(lambda: store.output(mid)),
        "going": await timed(lambda: store.going(["w42"], set())),
    }
    span = timedelta(minutes=runs / (WORKERS * SCHEDULES))
    cutoff = START + max(span / 100, timedelta(seconds=10))  # about the oldest 1 %
    policy = Retention(max_age=datetime.now(UTC) - cutoff, max_age_failed=datetime.now(UTC) - cutoff)
    t0 = time.perf_counter()
    expired = await store.expired(policy, datetime.now(UTC))
    figures["retention_find"] = (time.perf_counter() - t0) * 1000
    batches = []
    deleting = store.delete_runs(expired)
    while True:
        t0 = time.perf_counter()
        try:
            await anext(deleting)
        except StopAsyncIteration:
            break
        batches.append((time.perf_counter() - t0) * 1000)
    figures["retention_batch_max"] = max(batches, default=0.0)
    figures["retention_deleted_runs"] = len(expired)
    return figures


async def bench(backend: str, runs: int, per_run: int, tmp: Path) -> dict[str, float]:
    url = await create_database(backend, tmp)
    try:
        async with open_store(url):
            pass  # migrated by barto itself
        t0 = time.perf_counter()
        await load(backend, url, runs, per_run)
        loaded = time.perf_counter() - t0
        async with open_store(url) as store:
            figures = await queries(store, runs)
        return {"load_s": round(loaded, 1), **{k: round(v, 2) for k, v in figures.items()}}
    finally:
        await drop_database(backend, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--lines-per-run", type=int, default=10)
    parser.add_argument("--backends", default="postgresql,mariadb,sqlite")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="barto-store-") as tmp:
        for backend in args.backends.split(","):
            print(
                f"loading {args.runs:,} runs and {args.runs * args.lines_per_run:,} lines into {backend} ...",
                file=sys.stderr,
            )
            results[backend] = asyncio.run(bench(backend, args.runs, args.lines_per_run, Path(tmp)))
    keys = list(next(iter(results.values())))
    print(f"{'ms (median of 5)':<24}" + "".join(f"{b:>14}" for b in results) + "   target")
    for key in keys:
        target = "<= 100" if key in ("failed", "list", "runs", "output", "going", "retention_find") else ""
        print(f"{key:<24}" + "".join(f"{results[b][key]:>14,.2f}" for b in results) + f"   {target}")
    print(json.dumps({"runs": args.runs, "lines": args.runs * args.lines_per_run, "results": results}))


if __name__ == "__main__":
    main()
