"""Chaos: every-second schedules on three workers while the server is killed and links are cut.

Run: uv run python bench/chaos.py [--seconds 300] [--kills 5] [--cuts 5] [--gigabytes 1]
Prints a table and one JSON line. Real processes on 127.0.0.1: bartos on SQLite, three bartocs,
each behind its own TCP proxy (tests/e2e/proxy.py). During the window the server is killed with
SIGKILL ``--kills`` times (down 3 s each, then restarted on the same database) and every
worker's link is cut ``--cuts`` times (2 s each). Each schedule prints 20 lines per run. After
the window the server stays up until nothing is left between states, then the database is read:

- slots: every second of the window, per worker; unaccounted = slots with no run row (goal 0);
- duplicates: slots with more than one attempt-1 run (goal 0);
- lost lines: lines missing from succeeded runs (goal 0), and runs whose stored count differs;
- left between states: runs still pending/dispatched/running after the settle (goal 0);
- worker RSS: the peak resident set (VmHWM) of the bartoc that ran a job writing ``--gigabytes``
  GB of output (after the chaos window, so that it does not starve the schedules).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.harness import Barto, free_port, wait_for
from tests.e2e.proxy import Proxy

WORKERS = ("w1", "w2", "w3")
LINES = 20
SETTLE = 90.0  # seconds to wait for every run to reach a final state


def config(gigabytes: float) -> str:
    blocks = []
    for worker in WORKERS:
        big = f"head -c {int(gigabytes * 1e9)} /dev/zero | tr '\\\\0' x | fold -w 100"
        blocks.append(
            f"[schedules.{worker}]\nschedules = [\n"
            f'  {{ name = "tick", on_calendar = "*:*:*", cmds = ["seq 1 {LINES}"] }},\n'
            f'  {{ name = "big", on_calendar = "2099-01-01", cmds = ["{big}"] }},\n]\n'
        )
    return "\n".join(blocks)


def faults(seconds: float, kills: int, cuts: int) -> list[tuple[float, str, str]]:
    """(offset in seconds, action, target), spread evenly and staggered across the window."""
    plan = [((i + 0.5) * seconds / kills, "kill", "bartos") for i in range(kills)]
    for w, worker in enumerate(WORKERS):
        plan += [((i + 0.25 + 0.15 * w) * seconds / cuts, "cut", worker) for i in range(cuts)]  # none if cuts == 0
    return sorted(plan)


def chaos(barto: Barto, proxies: dict[str, Proxy], seconds: float, kills: int, cuts: int) -> tuple[datetime, datetime]:
    start = datetime.now(UTC)
    t0 = time.monotonic()
    for offset, action, target in faults(seconds, kills, cuts):
        time.sleep(max(0.0, t0 + offset - time.monotonic()))
        if action == "kill":
            barto.kill("bartos")
            time.sleep(3)
            barto.start_server()
        else:
            proxies[target].cut()
            time.sleep(2)
            proxies[target].restore()
        print(f"  {time.monotonic() - t0:6.1f} s  {action} {target}", file=sys.stderr)
    time.sleep(max(0.0, t0 + seconds - time.monotonic()))
    return start, datetime.now(UTC)


def settle(barto: Barto, end: datetime) -> int:
    """Wait for every run of a slot before ``end`` to reach a final state; returns how many did not."""

    def between() -> list[tuple[object, ...]]:
        rows = barto.rows("SELECT id, slot FROM runs WHERE state IN ('pending', 'dispatched', 'running')")
        return [r for r in rows if _time(r[1]) <= end]

    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline and between():
        time.sleep(0.5)
    return len(between())


def _time(text: object) -> datetime:
    return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)


def account(barto: Barto, start: datetime, end: datetime) -> dict[str, int]:
    """Count slots, runs, duplicates, unaccounted slots and lost lines in [start, end]."""
    first = start.replace(microsecond=0) + timedelta(seconds=2)  # the first whole second surely scheduled
    expected = {(w, first + timedelta(seconds=i)) for w in WORKERS for i in range(int((end - first).total_seconds()))}
    rows = barto.rows("SELECT id, worker, slot, attempt, state, lines, reason FROM runs WHERE schedule = 'tick'")
    window = [r for r in rows if first <= _time(r[2]) < first + timedelta(seconds=len(expected) // len(WORKERS))]
    per_slot = Counter((r[1], _time(r[2])) for r in window if r[3] == 1)
    stored = dict(barto.rows("SELECT run_id, count(*) FROM run_output GROUP BY run_id"))
    succeeded = [r for r in window if r[4] == "succeeded"]
    states = Counter(r[4] + (f" ({r[6]})" if r[6] else "") for r in window)  # with the reason
    return {
        "slots": len(expected),
        "runs": len(window),
        "unaccounted": len(expected - set(per_slot)),
        "duplicates": sum(1 for n in per_slot.values() if n > 1),
        "lost_lines": sum(max(0, LINES - stored.get(r[0], 0)) for r in succeeded),
        "line_count_mismatch": sum(1 for r in succeeded if stored.get(r[0], 0) != r[5]),
        **{f"state_{s}": n for s, n in sorted(states.items())},
    }


def big_job_rss(barto: Barto, gigabytes: float) -> tuple[float, float, float]:
    """Run the ``big`` job on w1; return (seconds it took, w1's RSS before it, w1's peak RSS), MB."""
    before = _memory(barto.named["w1"].pid, "VmRSS")
    run_id = barto.cli_json("run-now", "big", "--worker", "w1")["id"]
    t0 = time.monotonic()
    wait_for(lambda: barto.rows("SELECT finished_at FROM runs WHERE id = ?", run_id)[0][0], 600, "the 1 GB job")
    return time.monotonic() - t0, before, _memory(barto.named["w1"].pid, "VmHWM")


def _memory(pid: int, field: str) -> float:
    """A memory figure of /proc/PID/status in MB (VmRSS: now, VmHWM: the peak so far)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:"))) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--cuts", type=int, default=5)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="barto-chaos-") as tmp:
        barto = Barto(Path(tmp))
        proxies = {w: Proxy(free_port(), barto.port) for w in WORKERS}
        try:
            barto.start_server(config(args.gigabytes))
            for worker, proxy in proxies.items():
                barto.start_worker(worker, port=proxy.port)
            start, end = chaos(barto, proxies, args.seconds, args.kills, args.cuts)
            left = settle(barto, end)
            figures = account(barto, start, end)
            seconds, rss_before, rss = big_job_rss(barto, args.gigabytes)
            for worker in WORKERS:
                barto.kill(worker, signal.SIGTERM)
        finally:
            barto.close()
            for proxy in proxies.values():
                proxy.close()
    result = {
        **figures,
        "left_between_states": left,
        "big_job_s": round(seconds, 1),
        "worker_rss_before_mb": round(rss_before, 1),
        "worker_peak_rss_mb": round(rss, 1),
    }
    result.update(seconds=args.seconds, kills=args.kills, cuts_per_worker=args.cuts, gigabytes=args.gigabytes)
    print(f"{'measure':<28}{'value':>12}  goal")
    goals = {"unaccounted": 0, "duplicates": 0, "lost_lines": 0, "line_count_mismatch": 0, "left_between_states": 0}
    for key, value in result.items():
        goal = goals.get(key, "")
        if key == "worker_peak_rss_mb":
            goal = "<= 100"
        print(f"{key:<28}{value:>12}  {goal}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
