"""``barto-cli mount DIR``: jobd's namespace as a FUSE file system (docs/jobd.md).

The tree is barto.jobd's, the same one the server's 9P door serves; here its operations go over
the REST API with the CLI's own token and TLS settings. Going over REST rather than being a 9P
client of the server: 9P has no encryption and would need the token sent in the clear, and a
server's 9P listener is off by default and on loopback; REST is always there, over TLS where
the server has it, and the mount then needs no more than ``barto-cli`` does.

libfuse calls the methods below from its own threads; each runs the tree's coroutine on one
event loop in a thread of ours and waits for it. Every file is opened with ``direct_io``: the
kernel neither caches its bytes nor trusts the size it last saw, so each read is live.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import mfusepy

from barto.cli.rest import Rest
from barto.config import CliConfig
from barto.jobd.fs import Dir, File, FsError, Handle, Node
from barto.jobd.namespace import Namespace

log = logging.getLogger("barto.cli.mount")
T = TypeVar("T")
# What libfuse 3's fuse_main gives back when its loop ended on SIGINT, SIGTERM or SIGHUP (it
# unmounts first): the loop's "error" is the signal's number, and any error there is 8.
SIGNALLED = 8


class JobdFuse(mfusepy.Operations):  # type: ignore[misc]
    """FUSE callbacks over a tree of barto.jobd.fs nodes."""

    use_ns = True

    def __init__(self, root: Dir, loop: asyncio.AbstractEventLoop) -> None:
        self._root, self._loop = root, loop
        self._handles: dict[int, Handle] = {}
        self._next = 1
        self._lock = threading.Lock()
        self._uid, self._gid = os.getuid(), os.getgid()
        self._since = time.time_ns()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
        except FsError as error:
            log.debug("refused: %s", error)
            raise mfusepy.FuseOSError(error.errno) from None

    async def _node(self, path: str) -> Node:
        node: Node = self._root
        for name in (part for part in path.split("/") if part):
            if not isinstance(node, Dir):
                raise FsError(errno.ENOTDIR, f"{node.path} is not a directory")
            node = await node.lookup(name)
        return node

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        handle = self._handles.get(fh.fh) if fh is not None else None  # an fstat: of that open
        return self._run(self._attributes(path, handle))

    async def _attributes(self, path: str, handle: Handle | None) -> dict[str, Any]:
        node = await self._node(path)
        size = await handle.size() if handle is not None else await node.size() if isinstance(node, File) else 0
        kind = stat.S_IFDIR if node.is_dir else stat.S_IFREG
        when = self._since
        return {
            "st_mode": kind | node.mode,
            "st_nlink": 2 if node.is_dir else 1,
            "st_size": size,
            "st_uid": self._uid,
            "st_gid": self._gid,
            "st_atime": when,
            "st_mtime": when,
            "st_ctime": when,
        }

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", *self._run(self._names(path))]

    async def _names(self, path: str) -> list[str]:
        node = await self._node(path)
        if not isinstance(node, Dir):
            raise FsError(errno.ENOTDIR, f"{path} is not a directory")
        return [entry.name for entry in await node.entries()]

    def open(self, path: str, fi: Any) -> int:
        node = self._run(self._node(path))
        if not isinstance(node, File):
            raise mfusepy.FuseOSError(errno.EISDIR)
        access = fi.flags & os.O_ACCMODE
        if (access != os.O_RDONLY and not node.writable) or (access != os.O_WRONLY and not node.readable):
            raise mfusepy.FuseOSError(errno.EACCES)
        with self._lock:
            number, self._next = self._next, self._next + 1
            self._handles[number] = Handle(node)
        fi.fh, fi.direct_io = number, 1
        return 0

    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        return self._run(self._handles[fi.fh].read(offset, size))

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        return self._run(self._handles[fi.fh].write(offset, data))

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        """``>`` truncates before it writes: accepted (and nothing done) on a writable file."""
        node = self._run(self._node(path))
        if length != 0 or not isinstance(node, File) or not node.writable:
            raise mfusepy.FuseOSError(errno.EPERM)
        return 0

    def release(self, path: str, fi: Any) -> int:
        with self._lock:
            self._handles.pop(fi.fh, None)
        return 0

    def unlink(self, path: str) -> int:
        self._run(self._remove(path))
        return 0

    def rmdir(self, path: str) -> int:
        self._run(self._remove(path))
        return 0

    async def _remove(self, path: str) -> None:
        await (await self._node(path)).remove()

    def utimens(self, path: str, times: Any = None) -> int:
        return 0  # touch: accepted, nothing kept

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_namemax": 255}


def mount(config: CliConfig, directory: str, *, worker: str | None) -> None:
    """Mount the namespace on ``directory`` until it is unmounted (``fusermount3 -u``, Ctrl-C).

    ``worker``: the one whose jobs ``/clone`` and ``/jobs`` hold.
    """
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="barto-mount-loop", daemon=True)
    runner.start()
    rest = asyncio.run_coroutine_threadsafe(_rest(config), loop).result()
    try:
        root = Namespace(rest.call, worker=worker).root()
        try:
            mfusepy.FUSE(JobdFuse(root, loop), directory, foreground=True, raw_fi=True, fsname="barto")
        except RuntimeError as error:
            if error.args != (SIGNALLED,):
                raise
    finally:
        asyncio.run_coroutine_threadsafe(rest.aclose(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=5)


async def _rest(config: CliConfig) -> Rest:
    return Rest(config)  # made on the loop that will use it
