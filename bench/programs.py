"""bartoc's program supervision against supervisord 4.3, same programs, same machine (issue 7).

1. 200 programs ``sleep 3600`` (startsecs = 0): time from launching the supervisor until all
   are RUNNING, then ``restart all`` until all are RUNNING again; the supervisor's RSS with its
   200 children.
2. 50 programs crash-looping (``sleep 0.2; exit 1``, startsecs = 0, autorestart = true): the
   supervisor's CPU over 10 s.

Both are asked over their own Unix sockets (bartoc's NDJSON control socket, supervisord's
XML-RPC), polled every 20 ms. Prints a table and one JSON line.

    uv run python bench/programs.py [--programs 200] [--crashers 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

BIN = Path(sys.executable).parent
COMMANDS = {"sleeper": "sleep 3600", "crasher": "sleep 0.2; exit 1"}


class Bartoc:
    """bartoc with only programs (no server) and its control socket."""

    def __init__(self, root: Path, kind: str, count: int) -> None:
        self.sock = root / "bartoc.sock"
        blocks = [
            f"[programs.p{i:03d}]\ncmd = '/bin/sh'\nargs = ['-c', '{COMMANDS[kind]}']\nstartsecs = 0\n"
            f"autorestart = true\nstdout = '/dev/null'\nredirect_stderr = true\n"
            for i in range(count)
        ]
        config = root / "bartoc.toml"
        config.write_text(
            f"name = 'bench'\n[bartos]\nport = 1\n[unix_http_server]\nfile = '{self.sock}'\n" + "".join(blocks)
        )
        env = {**os.environ, "XDG_STATE_HOME": str(root), "XDG_DATA_HOME": str(root)}
        self.proc = subprocess.Popen([str(BIN / "bartoc"), "-c", str(config), "-t", str(root / "bartoc.log")], env=env)

    def states(self) -> list[str]:
        return [p["state"] for p in self.ask({"command": "status"})] if self.sock.exists() else []

    def restart_all(self) -> None:
        self.ask({"command": "restart"})

    def ask(self, request: dict[str, Any]) -> Any:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(self.sock))
            conn.sendall(json.dumps(request).encode() + b"\n")
            return json.loads(conn.makefile("rb").readline())["content"]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


class Supervisord:
    """supervisord 4.3 with the same programs."""

    def __init__(self, root: Path, kind: str, count: int) -> None:
        self.sock = root / "supervisor.sock"
        programs = "".join(
            f"[program:p{i:03d}]\ncommand=/bin/sh -c '{COMMANDS[kind]}'\nstartsecs=0\nautorestart=true\n"
            f"stdout_logfile=/dev/null\nredirect_stderr=true\n"
            for i in range(count)
        )
        config = root / "supervisord.conf"
        config.write_text(
            f"[unix_http_server]\nfile={self.sock}\n[supervisord]\nnodaemon=true\nlogfile={root}/supervisord.log\n"
            f"pidfile={root}/supervisord.pid\nminfds=1024\n[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n" + programs
        )
        self.proc = subprocess.Popen([str(BIN / "supervisord"), "-c", str(config)], stdout=subprocess.DEVNULL)

    def rpc(self) -> Any:
        """A fresh XML-RPC proxy (a transport that saw an error cannot be used again)."""
        transport = SupervisorTransport(None, None, f"unix://{self.sock}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def states(self) -> list[str]:
        try:
            return [p["statename"] for p in self.rpc().supervisor.getAllProcessInfo()]
        except (OSError, xmlrpc.client.Fault, http.client.HTTPException):
            return []

    def restart_all(self) -> None:
        self.rpc().supervisor.stopAllProcesses()
        self.rpc().supervisor.startAllProcesses(False)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def until(check: Callable[[], bool], limit: float = 120) -> float:
    """Seconds until ``check`` holds (polled every 20 ms)."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > limit:
            raise TimeoutError("gave up waiting")
        time.sleep(0.02)
    return time.monotonic() - began


def running(states: list[str], count: int) -> bool:
    """Whether all ``count`` processes are RUNNING."""
    return len(states) == count and all(state == "RUNNING" for state in states)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steady(make: Callable[[Path, str, int], Any], count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        sup = make(Path(tmp), "sleeper", count)
        try:
            until(lambda: running(sup.states(), count))
            start = time.monotonic() - began
            rss = rss_mb(sup.proc.pid)
            restart_began = time.monotonic()
            sup.restart_all()
            until(lambda: running(sup.states(), count))
            restart = time.monotonic() - restart_began
        finally:
            sup.stop()
    return {"start_s": round(start, 3), "restart_s": round(restart, 3), "rss_mb": round(rss, 1)}


def crashing(make: Callable[[Path, str, int], Any], count: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sup = make(Path(tmp), "crasher", count)
        try:
            until(lambda: len(sup.states()) == count)
            before = cpu_seconds(sup.proc.pid)
            time.sleep(seconds)
            used = cpu_seconds(sup.proc.pid) - before
        finally:
            sup.stop()
    return round(100 * used / seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=200)
    parser.add_argument("--crashers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for name, make in (("bartoc", Bartoc), ("supervisord", Supervisord)):
        results[name] = steady(make, args.programs)
        results[name]["crash_loop_cpu_percent"] = crashing(make, args.crashers, args.seconds)
    print(f"{'':<28}{'bartoc':>12}{'supervisord 4.3':>18}")
    for key, label in (
        ("start_s", f"{args.programs} programs to RUNNING (s)"),
        ("restart_s", "restart all (s)"),
        ("rss_mb", f"RSS with {args.programs} children (MB)"),
        ("crash_loop_cpu_percent", f"CPU, {args.crashers} crash-looping (%)"),
    ):
        print(f"{label:<28}{results['bartoc'][key]:>12}{results['supervisord'][key]:>18}")
    print(json.dumps({"bench": "programs", **vars(args), "results": results}))


if __name__ == "__main__":
    main()
