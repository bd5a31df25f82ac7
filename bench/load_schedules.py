"""What it costs bartos to load N schedules: the config's validation, the first view of the
schedules (a standby's), and a takeover's view, with each calendar parsed once (handed over)
against parsed at every step (as before issue 16).

Run: uv run python bench/load_schedules.py [--schedules 20000]
Prints a table and one JSON line. In-process, on a SQLite store in a temporary directory; the
calendar parses are counted by wrapping ScheduleDef.spec (a measurement, not a behaviour).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from barto.config import load_server, source
from barto.config.server import Calendars, ScheduleDef
from barto.server.cluster.takeover import standby_view
from barto.server.gateway.hub import Hub
from barto.server.scheduling.scheduler import validated
from barto.store import open_store

EXPRESSIONS = ("*:0/5", "hourly", "Mon..Fri 09:00", "*-*-* 03:R:00", "daily")
PARSES = {"count": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=20_000)
    args = parser.parse_args()
    _count_parses()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config_file = root / "bartos.toml"
        config_file.write_text(_config(args.schedules))
        rows = [asyncio.run(_load(root, config_file, hand_over)) for hand_over in (False, True)]
    print(f"{'calendars':<12} {'check s':>8} {'view s':>8} {'takeover s':>11} {'total s':>8} {'parses':>8}")
    for row in rows:
        print(
            f"{row['calendars']:<12} {row['check']:>8.2f} {row['view']:>8.2f} {row['takeover']:>11.2f}"
            f" {row['total']:>8.2f} {row['parses']:>8}"
        )
    print(json.dumps({"bench": "load_schedules", "schedules": args.schedules, "rows": rows}))


def _config(count: int) -> str:
    lines = [f'  {{ name = "s{i}", on_calendar = "{EXPRESSIONS[i % 5]}", cmds = ["true"] }},' for i in range(count)]
    return "[schedules.w]\nschedules = [\n" + "\n".join(lines) + "\n]\n"


async def _load(root: Path, config_file: Path, hand_over: bool) -> dict[str, Any]:
    async with open_store(f"sqlite:///{root}/{hand_over}.db") as store:
        PARSES["count"] = 0
        started = time.perf_counter()
        calendars: Calendars = {}
        config = load_server(source("bartos", config_file, {}, {}), calendars=calendars)
        checked = time.perf_counter()
        given = validated(calendars) if hand_over else None
        view = await standby_view(config, store, Hub(), config.schedules, datetime.now(UTC), parsed=given)
        viewed = time.perf_counter()
        reuse = view.scheduler.parsed if hand_over else None
        await standby_view(config, store, Hub(), config.schedules, datetime.now(UTC), parsed=reuse)
        done = time.perf_counter()
    return {
        "calendars": "handed over" if hand_over else "parsed again",
        "check": round(checked - started, 3),
        "view": round(viewed - checked, 3),
        "takeover": round(done - viewed, 3),
        "total": round(done - started, 3),
        "parses": PARSES["count"],
    }


def _count_parses() -> None:
    parse = ScheduleDef.spec

    def counted(self: ScheduleDef, worker: str, default_tz: str) -> Any:
        PARSES["count"] += 1
        return parse(self, worker, default_tz)

    ScheduleDef.spec = counted  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
