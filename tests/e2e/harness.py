"""Starting real bartos/bartoc/barto-cli processes on loopback for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
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

    def __init__(self, root: Path, database_url: str | None = None) -> None:
        self.root = root
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        self.port = free_port()
        self.tls: ssl.SSLContext | None = None  # set: servers are checked over HTTPS with it
        self.procs: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BARTO")},
            "HOME": str(root),
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_STATE_HOME": str(root / "state"),
        }
        self.use_server(self.port)

    @property
    def db_path(self) -> Path:
        """The server's SQLite database."""
        return self.root / "b.db"

    def use_server(self, port: int, link: str = "") -> None:
        """Point barto-cli at the server listening on ``port`` (more ``[bartos]`` keys: ``link``)."""
        (self.root / "barto-cli.toml").write_text(f"[bartos]\nhost = '127.0.0.1'\nport = {port}\n{link}\n")

    def server_config(
        self, schedules: str, settings: str = "", *, name: str = "bartos", port: int = 0, database: str = ""
    ) -> Path:
        """Write ``name``.toml with top-level ``settings`` and ``schedules`` (TOML text); return its path."""
        path = self.root / f"{name}.toml"
        head = (
            f"heartbeat_seconds = 1\n{settings}\n[actix]\nip = '127.0.0.1'\nport = {port or self.port}\n"
            f"[database]\nurl = '{database or self.database_url}'\n"
        )
        path.write_text(head + schedules)
        return path

    def start_server(
        self,
        schedules: str | None = None,
        settings: str = "",
        *,
        name: str = "bartos",
        port: int = 0,
        database: str = "",
    ) -> None:
        """Start bartos (with the last config written when ``schedules`` is None) and wait for /healthz;
        a second server on the same database gets another ``name`` and ``port`` (and may reach the
        database by another URL: ``database``)."""
        config = self.root / f"{name}.toml"
        if schedules is not None:
            self.server_config(schedules, settings, name=name, port=port, database=database)
        self._spawn("bartos", "-c", str(config), "-t", str(self.root / f"{name}.log"), name=name)
        wait_for(lambda: self._alive(name) and self._healthy(port), 20, f"{name} to answer /healthz")

    def start_worker(
        self,
        name: str,
        *,
        port: int | None = None,
        wait: bool = True,
        settings: str = "",
        link: str = "",
        **extra_env: str,
    ) -> None:
        """Start a bartoc named ``name`` connecting to ``port`` (the server's by default), with extra
        top-level ``settings`` and ``[bartos]`` keys (``link``) as TOML lines; by default wait until
        the server lists it as connected."""
        path = self.root / f"{name}.toml"
        bartos = f"[bartos]\nhost = '127.0.0.1'\nport = {port or self.port}\n{link}\n"
        path.write_text(f"name = '{name}'\n{settings}\n{bartos}")
        self._spawn("bartoc", "-c", str(path), "-t", str(self.root / f"{name}.log"), env=extra_env, name=name)
        if wait:
            self.wait_connected(name)

    def wait_connected(self, name: str, timeout: float = 20) -> None:
        """Wait until the server lists ``name`` as connected."""
        wait_for(lambda: any(c["name"] == name and c["connected"] for c in self.cli_json("clients")), timeout, name)

    def wait_exit(self, name: str, timeout: float) -> tuple[int, str]:
        """Wait for the named process to exit on its own: (status, stderr)."""
        proc = self.named.pop(name)
        status = proc.wait(timeout)
        return status, proc.stderr.read().decode() if proc.stderr else ""

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Send ``signum`` to the named process ("bartos" or a worker name) and wait for it to end."""
        proc = self.named.pop(name)
        proc.send_signal(signum)
        proc.wait(30)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the server's database, read directly (what is stored, not what the API says)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)) as db:
            return db.execute(sql, params).fetchall()

    def _spawn(self, program: str, *args: str, env: dict[str, str] | None = None, name: str = "") -> None:
        proc = subprocess.Popen(
            [str(BIN / program), *args],
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        if name:
            self.named[name] = proc

    def _alive(self, name: str) -> bool:
        """Whether the named process still runs; fails the test at once (with its stderr) if not."""
        proc = self.named[name]
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"{name} exited with status {proc.returncode}: {stderr}")
        return True

    def _healthy(self, port: int = 0) -> bool:
        scheme = "https" if self.tls else "http"
        try:
            url = f"{scheme}://127.0.0.1:{port or self.port}/healthz"
            answer = httpx.get(url, timeout=1, verify=self.tls or True)
            return answer.status_code == 200
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

    def succeeded_since(self, workers: tuple[str, ...], moment: datetime) -> bool:
        """Whether each of ``workers`` has a succeeded run of a slot after ``moment``."""
        runs = self.runs(state="succeeded")
        return all(any(r["worker"] == w and datetime.fromisoformat(r["slot"]) > moment for r in runs) for w in workers)

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
