"""``barto-cli ctl``: control a worker's programs through its local socket (one command per call;
the interactive shell and ``--worker`` through the server come next, docs/programs.md)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from barto.cli import render

COMMANDS = ("status", "start", "stop", "restart", "signal", "pid", "tail", "shutdown")


def ctl(
    command: Annotated[str, typer.Argument(help=f"One of: {', '.join(COMMANDS)}.")],
    name: Annotated[str | None, typer.Argument(help="A program or process (default: all).")] = None,
    sock: Annotated[Path, typer.Option("--socket", "-s", help="bartoc's [unix_http_server] file.")] = Path(
        "/tmp/taskmaster.sock"
    ),
    signal: Annotated[str | None, typer.Option("--signal", help="For signal: a name or number.")] = None,
    tail_bytes: Annotated[int, typer.Option("--bytes", help="For tail: how much of the end.")] = 1600,
    as_json: Annotated[bool, typer.Option("--json", "-j", help="Print JSON.")] = False,
) -> None:
    """Send one command to a worker's control socket; exit 1 if it is refused."""
    request: dict[str, Any] = {"command": command, "target": "program" if name else "", "bytes": tail_bytes}
    if name:
        request["name"] = name
    if signal:
        request["signal"] = signal
    answer = _ask(sock, request)
    if answer.get("status") != 200:
        typer.echo(f"barto-cli: error: {answer.get('error', {}).get('message', answer)}", err=True)
        raise typer.Exit(1)
    _show(answer["content"], as_json)


def _ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(60)
            conn.connect(str(path))
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer: dict[str, Any] = json.loads(conn.makefile("rb").readline())
            return answer
    except (OSError, ValueError) as error:
        typer.echo(f"barto-cli: error: cannot talk to {path}: {error}", err=True)
        raise typer.Exit(1) from None


def _show(content: Any, as_json: bool) -> None:
    if as_json or not isinstance(content, list):
        if isinstance(content, dict) and not as_json and all(isinstance(v, str) for v in content.values()):
            for text in content.values():
                print(text, end="" if text.endswith("\n") else "\n")
            return
        render.emit_json(content)
        return
    rows = [
        (p["name"], p["state"], p["pid"] or "", _uptime(p["uptime_seconds"]), p["restarts"], p["description"])
        for p in content
    ]
    render.show(render.table(None, ("name", "state", "pid", "uptime", "restarts", "description"), rows))


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
