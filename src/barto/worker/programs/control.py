"""The local control socket of the taskmaster seed: NDJSON over a Unix socket.

One request per line, ``{"command": "stop", "target": "program", "name": "nginx"}`` (no
target: every program), one response per line, ``{"status": 200, "content": ...}`` or
``{"status": 4xx, "error": {"message": ...}}``. A malformed line gets a 400 and the connection
stays open. Commands: ``status``, ``start``, ``stop``, ``restart``, ``signal`` (with
``"signal": "HUP"``), ``pid``, ``tail`` (with ``"bytes"``, default 1600, as supervisorctl),
``reload`` (reads the config file again and applies only the differences: changed programs
restart, unchanged ones keep running; a config that does not load changes nothing),
``shutdown`` (stops bartoc, programs first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from barto.config import ConfigError
from barto.config.common import parse_signal
from barto.config.programs import ProgramDef
from barto.worker.programs.supervisor import Supervisor

log = logging.getLogger("barto.worker.control")

_LINE_LIMIT = 64 * 1024
_TAIL_BYTES = 1600


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One control request."""

    command: str
    target: str = ""
    name: str | None = None
    signal: str | None = None
    bytes: int = _TAIL_BYTES


class Refusal(Exception):
    """A request that cannot be done: its HTTP-like status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Control:
    """Serves the control socket for one supervisor."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        shutdown: Callable[[], None],
        reread: Callable[[], Mapping[str, ProgramDef]],
    ) -> None:
        self._supervisor = supervisor
        self._shutdown = shutdown
        self._reread = reread
        self._commands: dict[str, Callable[[Request], Awaitable[Any]]] = {
            "status": self._status,
            "start": self._start,
            "stop": self._stop,
            "restart": self._restart,
            "signal": self._signal,
            "pid": self._pid,
            "tail": self._tail,
            "reload": self._reload,
            "shutdown": self._stop_bartoc,
        }

    async def serve(self, path: Path, chmod: int, chown: str | None) -> None:
        """Listen on ``path`` until cancelled (a stale socket file is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = await asyncio.start_unix_server(self._client, path, limit=_LINE_LIMIT)
        os.chmod(path, chmod)
        if chown:
            user, _, group = chown.partition(":")
            if group:
                shutil.chown(path, user or None, group)
            else:
                shutil.chown(path, user)
        log.info("control socket at %s", path)
        try:
            async with server:
                await server.serve_forever()
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def answer(self, line: bytes) -> dict[str, Any]:
        """The response to one request line (from the socket)."""
        try:
            request = msgspec.json.decode(line, type=Request)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as error:
            return _malformed(error)
        return await self._do(request)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """The response to one request (from the server: ``barto-cli ctl --worker``)."""
        try:
            return await self._do(msgspec.convert(request, Request))
        except msgspec.ValidationError as error:
            return _malformed(error)

    async def _do(self, request: Request) -> dict[str, Any]:
        handler = self._commands.get(request.command)
        try:
            if handler is None:
                raise Refusal(400, f"unknown command {request.command!r} (one of {', '.join(self._commands)})")
            return {"status": 200, "content": await handler(request)}
        except Refusal as refusal:
            return {"status": refusal.status, "error": {"message": str(refusal)}}
        except Exception as error:  # a bug answers 500; it never takes bartoc (and its programs) down
            log.exception("control request %s failed", request.command)
            return {"status": 500, "error": {"message": f"internal error in bartoc: {type(error).__name__}: {error}"}}

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                response = await self.answer(line) if line.strip() else None
                if response is not None:
                    writer.write(msgspec.json.encode(response) + b"\n")
                    await writer.drain()
        except (ConnectionError, ValueError) as error:  # ValueError: a line over the limit
            log.warning("control connection dropped: %s", error)
        finally:
            writer.close()

    def _name(self, request: Request) -> str | None:
        name = request.name or (request.target if request.target not in ("", "program", "all") else None)
        if name is not None:
            try:
                self._supervisor.children(name)
            except KeyError:
                raise Refusal(404, f"no program or process named {name!r}") from None
        return name

    async def _status(self, request: Request) -> Any:
        return self._supervisor.status(self._name(request))

    async def _start(self, request: Request) -> Any:
        name = self._name(request)
        if name is None:
            self._supervisor.start_all()
        else:
            await self._supervisor.start(name)
        return self._supervisor.status(name)

    async def _stop(self, request: Request) -> Any:
        name = self._name(request)
        await (self._supervisor.stop_all() if name is None else self._supervisor.stop(name))
        return self._supervisor.status(name)

    async def _restart(self, request: Request) -> Any:
        await self._stop(request)
        return await self._start(request)

    async def _signal(self, request: Request) -> Any:
        try:
            signum = parse_signal(request.signal or "")
        except ValueError as error:
            raise Refusal(400, str(error)) from None
        name = self._name(request)
        for program in self._targets(name):
            await self._supervisor.signal(program, signum)
        return self._supervisor.status(name)

    async def _pid(self, request: Request) -> Any:
        name = self._name(request)
        if name is None:
            return {"pid": os.getpid()}
        return {s["name"]: s["pid"] for s in self._supervisor.status(name)}

    async def _tail(self, request: Request) -> Any:
        name = self._name(request)
        if name is None:
            raise Refusal(400, "tail needs a program or process name")
        return {
            child.name: _last_bytes(self._supervisor.stdout_of(child), request.bytes)
            for child in self._supervisor.children(name)
        }

    async def _reload(self, _: Request) -> Any:
        try:
            programs = self._reread()
        except ConfigError as error:
            raise Refusal(400, f"the config does not load, nothing changed: {error}") from None
        return await self._supervisor.update(programs)

    async def _stop_bartoc(self, _: Request) -> Any:
        self._shutdown()
        return {"message": "bartoc is stopping (programs first)"}

    def _targets(self, name: str | None) -> list[str]:
        return [name] if name is not None else self._supervisor.programs()


def _malformed(error: Exception) -> dict[str, Any]:
    return {"status": 400, "error": {"message": f"malformed request: {error}"}}


def _last_bytes(path: Path, count: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - max(0, count)))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
