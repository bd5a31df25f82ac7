"""A synthetic file tree: directories whose entries and files whose bytes are computed when asked.

Both the 9P server (barto.ninep.server) and the FUSE mount (barto.cli.mount) serve a tree of
these nodes, so that the jobd namespace is written once. Nothing here knows about either.

A file is read through a :class:`Handle`, one per open: its bytes are taken once, at the first
read, so that a ``cat`` of a log that grows meanwhile reads one consistent text. A read at the
end of a file that ``grows`` looks again, and takes the new bytes only if the old ones are
their beginning, so that ``tail -f`` sees what was added and never a text that shifted under
its offset.
"""

from __future__ import annotations

import errno
import hashlib
from abc import ABC, abstractmethod

DIR_MODE = 0o555
READ_MODE = 0o444
WRITE_MODE = 0o222
READ_WRITE_MODE = 0o666


class FsError(Exception):
    """A refusal a file system can carry: an errno (all that 9P2000.L and FUSE carry) and a
    message (9P2000 and 9P2000.u carry it too; the server logs it)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code

    @property
    def message(self) -> str:
        return str(self)


def not_found(name: str) -> FsError:
    return FsError(errno.ENOENT, f"{name!r}: no such file or directory")


class Node:
    """A file or a directory at ``path`` (``/`` joined names from the root)."""

    mode: int = READ_MODE

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/"

    @property
    def ident(self) -> int:
        """A number that stays the file's own for as long as its path does (9P's qid.path)."""
        return int.from_bytes(hashlib.blake2b(self.path.encode(), digest_size=8).digest(), "little")

    @property
    def is_dir(self) -> bool:
        return isinstance(self, Dir)

    async def remove(self) -> None:
        """Remove this node (``rm``, ``rmdir``, 9P's Tremove)."""
        raise FsError(errno.EPERM, f"{self.path} cannot be removed")

    def child(self, name: str) -> str:
        return f"{self.path.rstrip('/')}/{name}"


class Dir(Node, ABC):
    """A directory; its entries are asked for each time it is listed."""

    mode = DIR_MODE

    @abstractmethod
    async def entries(self) -> list[Node]:
        """Every entry, in a stable order."""

    async def lookup(self, name: str) -> Node:
        """The entry called ``name``; a directory of many entries finds one without listing all.

        Raises:
            FsError: ENOENT when there is none.
        """
        for entry in await self.entries():
            if entry.name == name:
                return entry
        raise not_found(self.child(name))


class File(Node):
    """A file whose bytes are :meth:`content`; written by :meth:`write` when ``mode`` allows."""

    grows = False  # more bytes may come at its end while it is open (a log, a run's output)

    @property
    def readable(self) -> bool:
        return bool(self.mode & 0o444)

    @property
    def writable(self) -> bool:
        return bool(self.mode & 0o222)

    async def content(self) -> bytes:
        """The file's bytes now."""
        raise FsError(errno.EACCES, f"{self.path} is written, not read")

    async def opened(self, handle: Handle) -> bytes:
        """The bytes for ``handle``: its first snapshot, and each later look of a file that
        grows. A file whose window moves (a log of the last runs) keeps it where the open
        found it, in ``handle.anchor``, so that each look begins with the one before."""
        return await self.content()

    async def write(self, handle: Handle, offset: int, data: bytes) -> None:
        """Take ``data`` written at ``offset`` through ``handle``."""
        raise FsError(errno.EPERM, f"{self.path} is read-only")

    async def size(self) -> int:
        """The length :meth:`content` would have now (what ``stat`` shows; ``tail -f`` reads on
        a growth of it). A file that cannot be read is empty."""
        return len(await self.content()) if self.readable else 0


class Handle:
    """One open of a file: the bytes it reads, and what was written through it."""

    def __init__(self, file: File) -> None:
        self.file = file
        self.written = bytearray()  # for files that take a text in several writes
        self.anchor: object = None  # where the file's window was at the first look (see File.opened)
        self._bytes: bytes | None = None

    async def read(self, offset: int, count: int) -> bytes:
        """At most ``count`` bytes from ``offset`` of this open's snapshot."""
        if self._bytes is None or offset >= len(self._bytes):
            await self._look()
        assert self._bytes is not None
        return self._bytes[offset : offset + count]

    def cached(self, offset: int, count: int) -> bytes | None:
        """What :meth:`read` would answer, when it needs no look (None: it does)."""
        if self._bytes is None or offset >= len(self._bytes):
            return None
        return self._bytes[offset : offset + count]

    async def size(self) -> int:
        """The length of what this open reads, looked at again (``fstat`` in ``tail -f``)."""
        await self._look()
        assert self._bytes is not None
        return len(self._bytes)

    async def _look(self) -> None:
        if self._bytes is None:
            self._bytes = await self.file.opened(self)
        elif self.file.grows:
            fresh = await self.file.opened(self)
            if fresh.startswith(self._bytes):
                self._bytes = fresh

    async def write(self, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``; the count taken."""
        await self.file.write(self, offset, data)
        return len(data)


def one_line(data: bytes) -> str:
    """A written word or definition: UTF-8, one trailing newline dropped (``echo`` without
    ``-n`` works, unlike jobd), no NUL.

    Raises:
        FsError: EINVAL for bytes that are not such text.
    """
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise FsError(errno.EINVAL, "not UTF-8 text") from None
    if "\0" in text:
        raise FsError(errno.EINVAL, "a NUL byte in the text")
    return text[:-1] if text.endswith("\n") else text
