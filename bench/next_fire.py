"""Next-fire throughput: barto.calendar against cronsim and croniter.

Run: uv run python bench/next_fire.py  — prints a table and one JSON line.
Each engine iterates N successive fire times from the same start (iteration is how a
scheduler uses them); rates are next-fire computations per second, best of 3. A second table
walks backwards (prev_before; cronsim's reverse iteration, croniter's get_prev).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from cronsim import CronSim

from barto.calendar import parse

CRON = ["*/5 * * * *", "0 9 * * 1-5", "30 2 1,15 * *", "0 0 29 2 *"]
SYSTEMD = ["Mon..Fri *-*-* 09:00", "*-*-* *:0/5", "*-*~01 00:00", "daily Europe/Berlin"]
START = datetime(2025, 10, 20, 12, 34, 56, tzinfo=UTC)
N = 500


def ours(expr: str, *, backwards: bool = False, n: int = N) -> Callable[[], None]:
    spec = parse(expr)
    step = spec.prev_before if backwards else spec.next_after

    def run() -> None:
        t: datetime | None = START
        for _ in range(n):
            t = step(t) if t else None

    return run


def with_cronsim(expr: str, *, backwards: bool = False, n: int = N) -> Callable[[], None]:
    def run() -> None:
        it = CronSim(expr, START, reverse=backwards)
        for _ in range(n):
            next(it)

    return run


def with_croniter(expr: str, *, backwards: bool = False, n: int = N) -> Callable[[], None]:
    def run() -> None:
        it = croniter(expr, START)
        step = it.get_prev if backwards else it.get_next
        for _ in range(n):
            step(datetime)

    return run


PREV = ["*/5 * * * *", "0 9 * * 1-5", "daily Europe/Berlin"]
N_PREV = 100


def rate(run: Callable[[], None], n: int = N) -> float:
    best = min(_timed(run) for _ in range(3))
    return n / best


def _timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    rows: list[dict[str, Any]] = []
    for expr in CRON:
        rows.append({"expr": expr, "barto": rate(ours(expr)), "cronsim": rate(with_cronsim(expr)),
                     "croniter": rate(with_croniter(expr))})  # fmt: skip
    for expr in SYSTEMD:
        rows.append({"expr": expr, "barto": rate(ours(expr)), "cronsim": None, "croniter": None})
    print(f"{'expression':<24} {'barto/s':>10} {'cronsim/s':>10} {'croniter/s':>10} "
          f"{'vs cronsim':>10} {'vs croniter':>11}")  # fmt: skip
    for r in rows:
        cs, ci = r["cronsim"], r["croniter"]
        ratio = f"{r['barto'] / cs:>9.1f}x {r['barto'] / ci:>10.1f}x" if cs and ci else ""
        peers = f"{cs:>10,.0f} {ci:>10,.0f}" if cs and ci else f"{'-':>10} {'-':>10}"
        print(f"{r['expr']:<24} {r['barto']:>10,.0f} {peers} {ratio}")
    back: list[dict[str, Any]] = []
    for expr in PREV:
        cron = len(expr.split()) == 5  # the peers read cron only
        walks = {"barto": ours, "cronsim": with_cronsim, "croniter": with_croniter}
        back.append({"expr": expr} | {
            name: rate(walk(expr, backwards=True, n=N_PREV), N_PREV) if cron or name == "barto" else None
            for name, walk in walks.items()
        })  # fmt: skip
    print(f"\n{'prev_before':<24} {'barto/s':>10} {'cronsim/s':>10} {'croniter/s':>10}")
    for r in back:
        peers = f"{r['cronsim']:>10,.0f} {r['croniter']:>10,.0f}" if r["cronsim"] else f"{'-':>10} {'-':>10}"
        print(f"{r['expr']:<24} {r['barto']:>10,.0f} {peers}")
    print(json.dumps({"bench": "calendar", "n": N, "rows": rows, "prev": back}))


if __name__ == "__main__":
    main()
