"""Starting real bartos/bartoc/barto-cli processes on loopback for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` (every 0.1 s, at most ``timeout`` s) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Barto:
    """One server, its workers and a CLI, all in ``root``; everything is stopped by :meth:`close`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BARTO")},
            "HOME": str(root),
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_STATE_HOME": str(root / "state"),
        }
        (root / "barto-cli.toml").write_text(f"[bartos]\nhost = '127.0.0.1'\nport = {self.port}\n")

    def server_config(self, schedules: str) -> Path:
        """Write bartos.toml with ``schedules`` (TOML text) and return its path."""
        path = self.root / "bartos.toml"
        head = (
            "heartbeat_seconds = 1\npeer_timeout_seconds = 5\n"
            f"[actix]\nip = '127.0.0.1'\nport = {self.port}\n[database]\nurl = 'sqlite:///{self.root}/b.db'\n"
        )
        path.write_text(head + schedules)
        return path

    def start_server(self, schedules: str) -> None:
        """Start bartos and wait until it answers /healthz."""
        config = self.server_config(schedules)
        self._spawn("bartos", "-c", str(config), "-t", str(self.root / "bartos.log"))
        wait_for(self._healthy, 20, "bartos to answer /healthz")

    def start_worker(self, name: str, **extra_env: str) -> None:
        """Start a bartoc named ``name`` and wait until the server lists it as connected."""
        path = self.root / f"{name}.toml"
        path.write_text(f"name = '{name}'\n[bartos]\nhost = '127.0.0.1'\nport = {self.port}\n")
        self._spawn("bartoc", "-c", str(path), "-t", str(self.root / f"{name}.log"), env=extra_env)
        wait_for(lambda: any(c["name"] == name and c["connected"] for c in self.cli_json("clients")), 20, name)

    def _spawn(self, program: str, *args: str, env: dict[str, str] | None = None) -> None:
        proc = subprocess.Popen(
            [str(BIN / program), *args],
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run barto-cli with the test's config."""
        command = [str(BIN / "barto-cli"), "-c", str(self.root / "barto-cli.toml"), *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=30, check=False)

    def cli_json(self, *args: str) -> Any:
        """Run a barto-cli command with --json and decode its output."""
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def runs(self, **filters: str) -> list[dict[str, Any]]:
        """``barto-cli runs --json`` with filters."""
        args = [a for key, value in filters.items() for a in (f"--{key}", value)]
        result: list[dict[str, Any]] = self.cli_json("runs", "--limit", "1000", *args)
        return result

    def close(self) -> None:
        """SIGTERM everything, then SIGKILL what did not stop within 10 s."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
