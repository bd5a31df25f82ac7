"""N RQ schedules due in the same second: from the slot until all N jobs are in their queue.

Run: uv run python bench/rq_burst.py [--jobs 10000] [--rounds 1]
Prints a table and one JSON line. Each tool gets a private redis-server (127.0.0.1, a free port,
nothing saved) flushed before it, N jobs of ``tests.rqtasks.add`` on queue ``bench`` due at the
next minute (cron ``* * * * *``), and is timed from that minute until ``LLEN rq:queue:bench``
reaches N (polled every 2 ms). Redis's own counters say what each cost: commands, and socket
reads (``total_reads_processed``: one per request the server read, so a pipeline read in one
go counts once; the bench's own polls are taken off).

- barto: bartos (SQLite) with N schedules of ``[schedules."@rq"]``; the leader claims each slot
  in SQL, then enqueues with unique job ids (RQ's own unique-enqueue script, 1,000 a pipeline).
- rq cron: RQ's own ``rq cron`` (CronScheduler, rq 3), N ``cron.register(...)`` in its config.
- rq-scheduler: ``rqscheduler -i 1`` (rq-scheduler with rq 2.12, through uvx), N ``Scheduler.cron``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.e2e.harness import BIN, Barto, free_port, wait_for  # noqa: E402

QUEUE = "bench"
FUNC = "tests.rqtasks.add"
POLL = 0.002
SCHEDULER_WITH = ["uvx", "--quiet", "--from", "rq-scheduler==0.14.0", "--with", "rq==2.12.0"]


class Redis:
    """A private redis-server for one tool."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(root)], stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port)
        wait_for(self._up, 10, "redis-server")

    def _up(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False

    def counters(self) -> tuple[int, int]:
        stats = self.client.info("stats")
        return int(stats["total_commands_processed"]), int(stats["total_reads_processed"])

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


def next_minute(margin: float) -> datetime:
    """The next minute boundary at least ``margin`` seconds away."""
    now = datetime.now(UTC)
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return boundary if (boundary - now).total_seconds() >= margin else boundary + timedelta(minutes=1)


def watch(db: Redis, count: int, slot: datetime, timeout: float) -> dict[str, float]:
    """Wait for the slot, then for ``count`` jobs in the queue: seconds after the slot, and the
    commands and reads Redis served meanwhile (the polls taken off)."""
    while datetime.now(UTC) < slot - timedelta(seconds=0.5):
        time.sleep(0.05)
    before, polls = db.counters(), 1
    deadline = time.monotonic() + timeout
    while (queued := db.client.llen(f"rq:queue:{QUEUE}")) < count:
        polls += 1
        if time.monotonic() > deadline:
            raise SystemExit(f"only {queued} of {count} jobs queued {timeout:.0f} s after the slot")
        time.sleep(POLL)
    done = datetime.now(UTC)
    after = db.counters()
    polls += 1  # counters() itself
    jobs = sum(1 for _ in db.client.scan_iter("rq:job:*", count=10_000))
    return {
        "seconds": (done - slot).total_seconds(),
        "commands": after[0] - before[0] - polls,
        "reads": after[1] - before[1] - polls,
        "queued": float(db.client.llen(f"rq:queue:{QUEUE}")),
        "job_hashes": float(jobs),
    }


def barto(db: Redis, count: int, root: Path) -> dict[str, float]:
    rq = f'rq = {{ func = "{FUNC}", queue = "{QUEUE}", args = [1, 2] }}'
    lines = [f'  {{ name = "j{i:06d}", cron = "* * * * *", {rq} }},' for i in range(count)]
    (root / "barto").mkdir()
    env = Barto(root / "barto")
    try:
        env.start_server('[schedules."@rq"]\nschedules = [\n' + "\n".join(lines) + "\n]\n",
                         f"[redis.default]\nurl = '{db.url}'\n")  # fmt: skip
        wait_for(lambda: _listed(env) == count, 120, "bartos to lead")
        return watch(db, count, next_minute(5), 120)
    finally:
        env.close()


def _listed(env: Barto) -> int:
    """How many schedules of @rq the leader lists (0 while it is not leading yet)."""
    try:
        return len(env.cli_json("schedules", "--worker", "@rq"))
    except AssertionError:  # 503: a standby until it holds the lease
        return 0


def rq_cron(db: Redis, count: int, root: Path) -> dict[str, float]:
    config = root / "cron_config.py"
    config.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom rq import cron\nfrom tests.rqtasks import add\n"
        f"for i in range({count}):\n    cron.register(add, {QUEUE!r}, args=(1, 2), cron='* * * * *', name=f'j{{i}}')\n"
    )
    slot = next_minute(15)  # the scheduler computes its next times when it starts
    return _peer([str(BIN / "rq"), "cron", str(config), "--url", db.url], db, count, slot, root)


def rq_scheduler(db: Redis, count: int, root: Path) -> dict[str, float]:
    setup = root / "schedule_them.py"
    setup.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom redis import Redis\nfrom rq_scheduler import Scheduler\n"
        f"s = Scheduler(queue_name={QUEUE!r}, connection=Redis(port={db.port}))\n"
        f"for i in range({count}):\n    s.cron('* * * * *', func={FUNC!r}, args=[1, 2], queue_name={QUEUE!r})\n"
    )
    subprocess.run([*SCHEDULER_WITH, "python", str(setup)], check=True, cwd=root, timeout=600)
    return _peer([*SCHEDULER_WITH, "rqscheduler", "--url", db.url, "-i", "1"], db, count, next_minute(5), root)


def _peer(command: list[str], db: Redis, count: int, slot: datetime, root: Path) -> dict[str, float]:
    """Run a peer's scheduler process through the slot."""
    proc = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return watch(db, count, slot, 300)
    finally:
        proc.terminate()
        proc.wait(30)


TOOLS: dict[str, Callable[[Redis, int, Path], dict[str, float]]] = {
    "barto": barto,
    "rq cron (rq 3.0)": rq_cron,
    "rq-scheduler 0.14": rq_scheduler,
}


def measure(count: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    found: dict[str, list[dict[str, float]]] = {name: [] for name in TOOLS}
    for _ in range(rounds):
        for name, tool in TOOLS.items():
            if name.startswith("rq-scheduler") and not shutil.which("uvx"):
                continue
            with tempfile.TemporaryDirectory(prefix="barto-bench-rq-") as tmp:
                db = Redis(Path(tmp))
                try:
                    found[name].append(tool(db, count, Path(tmp)))
                finally:
                    db.close()
    return found


def report(count: int, found: dict[str, list[dict[str, float]]]) -> None:
    medians = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in found.items() if runs
    }
    ours = medians["barto"]["seconds"]
    print(f"{count:,} RQ jobs due at the same minute: slot -> all {count:,} in the queue (median of rounds)")
    print(f"{'tool':22} {'seconds':>9} {'vs barto':>9} {'commands':>10} {'reads':>8} {'queued':>8} {'hashes':>8}")
    for name, m in medians.items():
        print(f"{name:22} {m['seconds']:>9.3f} {m['seconds'] / ours:>8.1f}x {m['commands']:>10,.0f} "
              f"{m['reads']:>8,.0f} {m['queued']:>8,.0f} {m['job_hashes']:>8,.0f}")  # fmt: skip
    print("target: barto <= 1 s, faster than both peers")
    print(json.dumps({"jobs": count, "medians": medians, "rounds": found}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    report(args.jobs, measure(args.jobs, args.rounds))


if __name__ == "__main__":
    main()
