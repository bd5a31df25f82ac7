"""``barto-cli ctl``: control a worker's programs through its local socket (one command per call;
the interactive shell and ``--worker`` through the server come next, docs/programs.md)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from barto.cli import render
from barto.cli.shell import Shell, interact
from barto.config import ConfigError, load_cli, source
from barto.config.cli import Taskmasterctl

COMMANDS = ("status", "start", "stop", "restart", "signal", "pid", "tail", "shutdown")


def ctl(
    ctx: typer.Context,
    command: Annotated[str | None, typer.Argument(help=f"One of: {', '.join(COMMANDS)}; none: a shell.")] = None,
    name: Annotated[str | None, typer.Argument(help="A program or process (default: all).")] = None,
    sock: Annotated[
        Path | None, typer.Option("--socket", "-s", help="bartoc's socket (default: [taskmasterctl] serverurl).")
    ] = None,
    signal: Annotated[str | None, typer.Option("--signal", help="For signal: a name or number.")] = None,
    tail_bytes: Annotated[int, typer.Option("--bytes", help="For tail: how much of the end.")] = 1600,
    as_json: Annotated[bool, typer.Option("--json", "-j", help="Print JSON.")] = False,
) -> None:
    """Control a worker's programs through its local socket: one command, or with none an
    interactive shell (history, tab completion of commands and program names)."""
    settings = _settings(ctx)
    path = sock or Path(settings.serverurl.removeprefix("unix://"))
    if command is None:
        shell = Shell(
            lambda request: _ask(path, request), lambda content: _show(content, False), COMMANDS, settings.prompt
        )
        interact(shell, Path(settings.history))
        return
    request: dict[str, Any] = {"command": command, "target": "program" if name else "", "bytes": tail_bytes}
    if name:
        request["name"] = name
    if signal:
        request["signal"] = signal
    try:
        answer = _ask(path, request)
    except OSError as error:
        typer.echo(f"barto-cli: error: {error}", err=True)
        raise typer.Exit(1) from None
    if answer.get("status") != 200:
        typer.echo(f"barto-cli: error: {answer.get('error', {}).get('message', answer)}", err=True)
        raise typer.Exit(1)
    _show(answer["content"], as_json)


def _settings(ctx: typer.Context) -> Taskmasterctl:
    """``[taskmasterctl]`` of barto-cli's config (its defaults without a config file)."""
    root = ctx.find_root().params
    try:
        return load_cli(source("barto-cli", root.get("config_absolute_path"), {})).taskmasterctl
    except ConfigError as error:
        typer.echo(f"barto-cli: error: {error}", err=True)
        raise typer.Exit(2) from None


def _ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """One request, one answer.

    Raises:
        OSError: when the socket cannot be reached or answers nothing usable.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(60)
            conn.connect(str(path))
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer: dict[str, Any] = json.loads(conn.makefile("rb").readline())
            return answer
    except (OSError, ValueError) as error:
        raise OSError(f"cannot talk to {path}: {error}") from None


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
