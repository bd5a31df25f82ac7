"""``barto-cli ctl``: control a worker's programs, through its local socket or (``--worker``)
through the server, one command per call or in an interactive shell (docs/programs.md)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from barto.api.answers import ControlReply
from barto.cli import complete, options, render
from barto.cli.client import Client, CliError, segment
from barto.cli.shell import Shell, interact
from barto.config import ConfigError, load_cli, source
from barto.config.cli import Taskmasterctl
from barto.protocol import ProgramStatus

COMMANDS = ("status", "start", "stop", "restart", "signal", "pid", "tail", "reload", "shutdown")
_REMOTE_SECONDS = 130.0  # the server waits up to 120 s for the worker (a stop takes stopwaitsecs)

Ask = Callable[[dict[str, Any]], dict[str, Any]]


def ctl(  # noqa: PLR0913 - the socket, the worker, and one option per command that needs one
    ctx: typer.Context,
    command: Annotated[str | None, typer.Argument(help=f"One of: {', '.join(COMMANDS)}; none: a shell.")] = None,
    name: Annotated[
        str | None, typer.Argument(help="A program or process (default: all).", autocompletion=complete.programs)
    ] = None,
    sock: Annotated[
        Path | None, typer.Option("--socket", "-s", help="bartoc's socket (default: [taskmasterctl] serverurl).")
    ] = None,
    signal: Annotated[str | None, typer.Option("--signal", help="For signal: a name or number.")] = None,
    tail_bytes: Annotated[int, typer.Option("--bytes", help="For tail: how much of the end.")] = 1600,
    worker: Annotated[
        str | None,
        typer.Option(
            "--worker", "-w", help="Through the server, to this worker's programs.", autocompletion=complete.workers
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", "-j", help="Print JSON.")] = False,
) -> None:
    """Control a worker's programs through its local socket, or with --worker through the
    server: one command, or with none an interactive shell (history, tab completion of commands
    and program names)."""
    settings = _settings(ctx)
    path = sock or Path(settings.serverurl.removeprefix("unix://"))
    ask: Ask = _through(options.client(ctx), worker) if worker else lambda request: _ask(path, request)
    if command is None:
        interact(Shell(ask, lambda content: _show(content, False), COMMANDS, settings.prompt), Path(settings.history))
        return
    request: dict[str, Any] = {"command": command, "target": "program" if name else "", "bytes": tail_bytes}
    if name:
        request["name"] = name
    if signal:
        request["signal"] = signal
    try:
        answer = ask(request)
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


def _through(client: Client, worker: str) -> Ask:
    """Requests to ``worker`` through the server (its refusals come back as the socket's would)."""

    def ask(request: dict[str, Any]) -> dict[str, Any]:
        body = {key: request[key] for key in ("name", "signal", "bytes") if request.get(key) is not None}
        path = f"/v1/workers/{segment(worker)}/ctl/{segment(request['command'])}"
        try:
            answer = client.post(path, ControlReply, body, timeout=_REMOTE_SECONDS)
        except CliError as error:
            return {"status": 400, "error": {"message": str(error)}}
        found: dict[str, Any] = msgspec.to_builtins(answer)  # the socket's shape: the shell reads both alike
        return found

    return ask


def _show(content: Any, as_json: bool) -> None:
    if as_json or not isinstance(content, list):
        if isinstance(content, dict) and not as_json and all(isinstance(v, str) for v in content.values()):
            for text in content.values():
                print(text, end="" if text.endswith("\n") else "\n")
            return
        render.emit_json(content)
        return
    try:
        processes = msgspec.convert(content, list[ProgramStatus])
    except msgspec.ValidationError:  # not a status list after all: show it as it came
        render.emit_json(content)
        return
    render.show(render.table(None, render.PROCESS_COLUMNS, render.process_rows(processes)))
