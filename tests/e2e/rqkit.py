"""A Redis database of a test's own and stock RQ workers on it, for the RQ and BTU tests: the
locked rq (3.x) and rq 2.12 (the last 2.x), each as its own program."""

from __future__ import annotations

import random
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.e2e.harness import BIN, Barto, wait_for

ROOT = Path(__file__).parents[2]
WORKERS = {"rq3": [str(BIN / "rq")], "rq2": ["uvx", "--from", "rq==2.12.0", "rq"]}


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class Rq:
    """A Redis database of the test's own, and stock RQ workers on it."""

    def __init__(self, barto: Barto, port: int = 6379) -> None:
        self.barto, self.port = barto, port
        self.db = random.randint(1, 15)
        self.url = f"redis://127.0.0.1:{port}/{self.db}"
        self.redis = redis.Redis.from_url(self.url)

    def server(self, schedules: str, extra: str = "") -> None:
        self.barto.start_server(f'[schedules."@rq"]\nschedules = [\n{schedules}\n]\n',
                                f"[redis.default]\nurl = '{self.url}'\n{extra}")  # fmt: skip

    def work(self, kind: str = "rq3") -> subprocess.CompletedProcess[str]:
        """One burst of a stock worker: it runs what is queued, then exits."""
        command = [*WORKERS[kind], "worker", "--burst", "--url", self.url, "--path", str(ROOT), "default"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    def run(self, name: str) -> dict[str, Any]:
        made: dict[str, Any] = self.barto.cli_json("run-now", "-w", "@rq", name)
        return made

    def state(self, run_id: int) -> dict[str, Any]:
        return next(r for r in self.barto.runs(worker="@rq") if r["id"] == run_id)

    def ended(self, run_id: int) -> dict[str, Any]:
        final = ("succeeded", "failed", "cancelled", "missed", "lost")
        wait_for(lambda: self.state(run_id)["state"] in final, 30, f"run {run_id} to end")
        return self.state(run_id)

    def output(self, run_id: int) -> str:
        return "".join(line["data"] + "\n" for line in self.barto.cli_json("output", str(run_id)))

    def jobs(self) -> list[bytes]:
        return sorted(self.redis.scan_iter("rq:job:barto-*"))

    def close(self) -> None:
        self.redis.flushdb()
        self.redis.close()


def leads(port: int) -> bool:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=2)
    except httpx.TransportError:
        return False
    return answer.status_code == 200 and answer.json()["cluster"]["role"] == "leader"
