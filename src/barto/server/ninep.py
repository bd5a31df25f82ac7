"""The 9P door: jobd's namespace (barto.jobd) served over 9P on ``[ninep]``'s address.

An attach whose ``aname`` is ``token:<secret>`` acts with that token's role; any other attach
is anonymous and gets ``[ninep] role`` (``none``: refused). Every read and write is an
operation called through :meth:`Core.call`, so 9P can do exactly what REST lets that role do.
9P has no encryption: the address defaults to loopback, and a token sent over another network
can be read on it (docs/jobd.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from barto.api.operations import Operation
from barto.api.requests import Request
from barto.config.server import Ninep
from barto.errors import Unavailable
from barto.jobd.fs import Dir, FsError
from barto.jobd.namespace import Namespace
from barto.ninep.server import Server
from barto.server.auth import Principal, digest
from barto.server.operations import Core

log = logging.getLogger("barto.ninep")

TOKEN_PREFIX = "token:"


class NinepDoor:
    """What one ``[ninep]`` section serves, and to whom."""

    def __init__(
        self, config: Ninep, core: Core, tokens: Mapping[bytes, Principal], standby: Callable[[], str | None]
    ) -> None:
        self._config, self._core, self._tokens = config, core, dict(tokens)
        self._standby = standby  # why this server does not serve now (a standby), or None
        self._server: Server | None = None
        self._listening: list[asyncio.Server] = []

    async def attach(self, uname: str, aname: str) -> Dir:
        """The root for a client attaching with ``aname``.

        Raises:
            FsError: EACCES for an unknown token, a worker's token, or an anonymous client
                where ``role = "none"``; EAGAIN on a standby, naming the leader.
        """
        who = self.principal(aname)
        if (why := self._standby()) is not None:
            raise FsError(errno.EAGAIN, why)

        async def call(operation: Operation, request: Request) -> Any:
            if (why := self._standby()) is not None:  # REST clients are sent to the leader; 9P cannot be
                raise Unavailable("not_leader", why)
            return await self._core.call(who, operation, request)

        log.info("9P attach as %s (%s)", who.name, who.role)
        return Namespace(call, worker=self._config.worker).root()

    def principal(self, aname: str) -> Principal:
        if aname.startswith(TOKEN_PREFIX):
            found = self._tokens.get(digest(aname[len(TOKEN_PREFIX) :]))
            if found is None:
                raise FsError(errno.EACCES, "unknown token")
            if found.role == "worker":
                raise FsError(errno.EACCES, f"token {found.name!r} is a worker's credential")
            return found
        if self._config.role == "none":
            raise FsError(errno.EACCES, "attach with aname token:<secret>; [ninep] role = none")
        return Principal("9p-anonymous", self._config.role)

    async def listen(self) -> None:
        """Bind the address (and the Unix socket) before the server says it is ready.

        Raises:
            OSError: naming what could not be bound.
        """
        config = self._config
        self._server = Server(self.attach, msize=config.msize, connections=config.connections)
        try:
            self._listening = [
                await asyncio.start_server(self._server.client, config.ip, config.port, reuse_address=True)
            ]
        except OSError as error:
            raise OSError(f"[ninep] {config.ip}:{config.port}: {error.strerror or error}") from None
        if config.unix_socket is not None:
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(config.unix_socket)
                self._listening.append(await asyncio.start_unix_server(self._server.client, config.unix_socket))
                os.chmod(config.unix_socket, 0o660)
            except OSError as error:
                raise OSError(f"[ninep] unix_socket {config.unix_socket}: {error.strerror or error}") from None
        for sockets in self._listening:
            for sock in sockets.sockets:
                log.info("9P listening on %s", sock.getsockname())

    async def serve(self) -> None:
        """Answer until cancelled; then every client's session ends, and the sockets close."""
        assert self._server is not None, "listen() first"
        try:
            await asyncio.Event().wait()
        finally:
            for sockets in self._listening:
                sockets.close()
            await self._server.close()
