"""BTU's Unix socket, as BTU Scheduler served it to Frappe's web servers, and our control beside it.

BTU's requests (../shared/reference/jobd-btu.md §4.2): one JSON object per connection, no
framing (Frappe's client sends it and waits for the answer with the socket open),
``{"request_type": "ping" | "create_task_schedule" | "cancel_task_schedule", "request_content":
<Task Schedule name>}``, at most 1 KiB; the answer is BTU's own plain text, then the connection
closes. ``create_task_schedule`` reads that one row of the table now; ``cancel_task_schedule``
stops exactly that schedule (BTU stopped every name it was a prefix of). Where BTU answered
nothing (bad JSON, a missing name) the answer says what was wrong, and it is logged.

Our control: a connection whose first object has ``"op"`` instead takes one request per line,
``{"op": "<operation>", "request": {...}}``, and answers each on a line, ``{"ok": true,
"answer": ...}`` or ``{"ok": false, "error": {"kind", "code", "message"}}``: any operation of the
server (barto.api.operations), as ``admin``. Whoever may connect is the local administrator:
the socket is mode 0775 (owner and group may connect) and takes ``socket_group``, as BTU's did.
On a standby every change is refused, naming the leader; ``ping`` is still answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
import stat
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from barto.api import requests as r
from barto.api.operations import OPERATIONS, Operation
from barto.config.btu import BtuSettings
from barto.errors import BartoError, Invalid, TooLarge, Unavailable
from barto.server.auth import Principal
from barto.server.operations import Core

log = logging.getLogger("barto.server.btusocket")

BTU_MAX = 1024  # BTU read one request of at most this many bytes
LINE_MAX = 1024 * 1024  # one control request
FIRST_SECONDS = 5.0  # to begin the first request (BTU's client times out after 5 s)
QUIET_SECONDS = 1.0  # of silence in the middle of a request that does not parse yet
IDLE_SECONDS = 300.0  # between control requests
CONNECTIONS = 64
LOCAL_ADMIN = Principal("btu-socket", "admin")
_decoder = json.JSONDecoder()
T = TypeVar("T", bound=r.Request)


class BtuSocket:
    """The socket of one ``[btu]``."""

    def __init__(self, settings: BtuSettings, core: Core, standby: Callable[[], str | None]) -> None:
        self._settings, self._core, self._standby = settings, core, standby
        self._slots = asyncio.Semaphore(CONNECTIONS)
        self._server: asyncio.Server | None = None

    async def listen(self) -> None:
        """Bind the socket (before the server says it is ready: a path that cannot be bound
        stops the start with the reason, instead of a server without its socket).

        Raises:
            OSError: naming the path.
        """
        path = self._settings.socket_path
        try:
            _remove_stale(path)
            self._server = await asyncio.start_unix_server(self._client, path, limit=LINE_MAX + 1)
            os.chmod(path, 0o775)
        except OSError as error:
            raise OSError(f"[btu] socket_path {path}: {error.strerror or error}") from None
        if self._settings.socket_group is not None:
            try:
                os.chown(path, -1, grp.getgrnam(self._settings.socket_group).gr_gid)
            except (KeyError, PermissionError) as error:
                log.error("cannot give %s to group %s: %s", path, self._settings.socket_group, error)
        log.info("BTU socket on %s", path)

    async def serve(self) -> None:
        """Answer until cancelled; then the socket file is removed."""
        assert self._server is not None, "listen() first"
        try:
            async with self._server:
                await self._server.serve_forever()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._settings.socket_path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._slots.locked():
            writer.close()
            return
        async with self._slots:
            try:
                await self._converse(reader, writer)
            except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
                pass
            except Exception:  # a bug answers as one and ends only its connection
                log.exception("BTU socket: a request failed")
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first, rest = await _first(reader)
        except ValueError as error:
            log.warning("BTU socket: %s", error)
            await _say(writer, f"Client message is not a BTU request: {error}")
            return
        if isinstance(first, dict) and "op" in first and "request_type" not in first:
            await self._control(first, rest, reader, writer)
            return
        await _say(writer, await self._btu(first))

    # -- BTU's requests ----------------------------------------------------------------------

    async def _btu(self, message: Any) -> str:
        if not isinstance(message, dict) or not isinstance(message.get("request_type"), str):
            log.warning("BTU socket: not a request: %.200r", message)
            return 'Client message is not a BTU request: expected {"request_type": ..., "request_content": ...}'
        kind, content = message["request_type"], message.get("request_content")
        if kind == "ping":
            return "pong"
        if kind not in ("create_task_schedule", "cancel_task_schedule"):
            log.warning("BTU socket: unhandled request_type %.200r", kind)
            return f"Client message has an unhandled 'request_type': {kind}"
        if not isinstance(content, str) or not content:
            log.warning("BTU socket: %s without a Task Schedule name", kind)
            return f"Client message '{kind}' needs 'request_content': the Task Schedule's name"
        try:
            if kind == "create_task_schedule":
                return await self._create(content)
            await self._call(OPERATIONS["btu.cancel"], _decode({"name": content}, r.BtuRef), missing_ok=True)
            return f"Successfully cancelled BTU Task Schedule {content} in Python RQ."
        except BartoError as error:
            log.warning("BTU socket: %s %.200s: %s", kind, content, error)
            return f"BTU Scheduler could not {kind.split('_')[0]} Task Schedule {content}: {error}"

    async def _create(self, name: str) -> str:
        report = await self._call(OPERATIONS["btu.refresh"], _decode({"schedule": name}, r.BtuRefresh))
        if name in report.skipped:
            return f"BTU Scheduler cannot schedule Task Schedule {name}: {report.skipped[name]}"
        if name in report.removed or not (report.added or report.changed or report.unchanged):
            return f"BTU Scheduler found no enabled Task Schedule {name}; it is not scheduled."
        return f"BTU Scheduler now re-processing Task Schedule {name} in Python RQ."

    async def _call(self, operation: Operation, request: r.Request, *, missing_ok: bool = False) -> Any:
        if (why := self._standby()) is not None:
            raise Unavailable("not_leader", why)
        try:
            return await self._core.call(LOCAL_ADMIN, operation, request)
        except BartoError as error:
            if missing_ok and error.kind == "not_found":
                return None
            raise

    # -- our control ---------------------------------------------------------------------------

    async def _control(self, first: dict[str, Any], rest: bytes, reader: Any, writer: asyncio.StreamWriter) -> None:
        await self._reply(writer, first)
        pending = rest
        while True:
            head, newline, pending = pending.partition(b"\n")
            if not newline:  # no whole line is here yet: read one
                try:
                    more = await asyncio.wait_for(reader.readline(), IDLE_SECONDS)
                except ValueError:  # longer than the reader's limit
                    await self._reply(writer, TooLarge(f"a request line is at most {LINE_MAX} bytes"))
                    return
                if not more:  # the client is done
                    if head.strip():
                        await self._reply(writer, _parse(head))
                    return
                pending = head + more
            elif head.strip():
                await self._reply(writer, _parse(head))

    async def _reply(self, writer: asyncio.StreamWriter, message: Any) -> None:
        writer.write(msgspec.json.encode(await self._answer(message)) + b"\n")
        await writer.drain()

    async def _answer(self, message: Any) -> dict[str, Any]:
        try:
            if isinstance(message, BartoError):
                raise message
            if not isinstance(message, dict) or not isinstance(message.get("op"), str):
                raise Invalid("bad_request", 'a request is {"op": "<operation>", "request": {...}}')
            operation = OPERATIONS.get(message["op"])
            if operation is None:
                raise Invalid("unknown_operation", f"no operation {message['op'][:80]!r}")
            if operation.stream:
                raise Invalid("stream_operation", f"{operation.name} follows over time: use REST for it")
            answer = await self._call(operation, _decode(message.get("request") or {}, operation.request))
            return {"ok": True, "answer": msgspec.to_builtins(answer)}
        except BartoError as error:
            return _error(error)


async def _first(reader: asyncio.StreamReader) -> tuple[Any, bytes]:
    """The first JSON value sent, and what came after it. BTU's client sends no delimiter and
    waits with the socket open, so a value is taken as soon as it parses; what does not parse
    after a second of silence is not JSON.

    Raises:
        ValueError: not JSON, past the size limit, or the client closed before a whole value.
    """
    buffer, problem = b"", "nothing was sent"
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), QUIET_SECONDS if buffer else FIRST_SECONDS)
        except TimeoutError:
            raise ValueError(problem) from None
        buffer += chunk
        limit = LINE_MAX if b'"op"' in buffer and b'"request_type"' not in buffer else BTU_MAX
        if len(buffer) > limit:
            raise ValueError(f"more than {limit} bytes")
        body = buffer.lstrip()
        probe = body.rstrip(b"\0").rstrip()  # BTU stripped trailing NULs
        if probe[:1] and probe[:1] not in b'{["-0123456789tfn':
            raise ValueError(f"not JSON: it begins {probe[:20]!r}")
        if probe:
            try:
                text = body.decode("utf-8")
                value, end = _decoder.raw_decode(text)
            except UnicodeDecodeError:
                raise ValueError("not UTF-8") from None
            except ValueError as error:
                problem = f"not JSON: {error}"
            else:
                return value, text[end:].encode()
        if not chunk:
            raise ValueError(problem)


def _parse(line: bytes) -> Any:
    """One control line as JSON (an error to answer when it is not)."""
    try:
        return json.loads(line)
    except ValueError as error:
        return Invalid("bad_json", f"not JSON: {error}")


def _decode(data: Any, kind: type[T]) -> T:
    """A request as every door decodes it: typed and bounded (barto.api.requests).

    Raises:
        Invalid: naming the field.
    """
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as error:
        raise Invalid("bad_request", str(error)) from None


async def _say(writer: asyncio.StreamWriter, text: str) -> None:
    writer.write(text.encode())
    await writer.drain()


def _error(error: BartoError) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": error.kind, "code": error.code, "message": str(error)}}


def _remove_stale(path: str) -> None:
    """Remove a socket left by a process that died (never a file that is not a socket)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket; not removing it")
    os.unlink(path)
