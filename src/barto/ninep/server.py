"""A 9P server (9P2000, 9P2000.u and 9P2000.L) for a synthetic tree of barto.jobd.fs nodes.

One :class:`Connection` per client: a version negotiation, then a table of fids, each bound to
a node (and, once opened, to a :class:`~barto.jobd.fs.Handle` or a snapshot of a directory's
entries). Each request runs as its own task, so that a slow one (a log of many runs) does not
hold up the others and a Tflush can cancel it; at most :data:`IN_FLIGHT` run at once, beyond
which the connection stops reading. What the server refuses is an error reply, never a hang:
an undecodable message is answered on its tag; only a frame whose size is a lie (or larger
than the negotiated msize) closes the connection, since nothing after it can be trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import stat as st
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from barto.jobd.fs import Dir, File, FsError, Handle, Node
from barto.ninep import codec
from barto.ninep.codec import IOHDRSZ, NOFID, CodecError, Dialect, Message, Qid, Stat

log = logging.getLogger("barto.ninep")

Attach = Callable[[str, str], Awaitable[Dir]]  # (uname, aname) -> the root that client sees
IN_FLIGHT = 32
WRITE_BUFFER = 256 * 1024  # replies waiting for a slow reader beyond this: wait for it to read
TREAD, TREAD_SIZE = 116, 23  # size[4] type[1] tag[2] fid[4] offset[8] count[4]
FIRST_MSIZE = 8192  # what a frame may be before Tversion has set the msize
FRAME_SECONDS = 30.0  # once a frame has begun, the rest of it must come within this
QTDIR, QTFILE = 0x80, 0x00
DMDIR = 0x80000000
OTRUNC, L_TRUNC = 0x10, 0o1000
SETATTR_SIZE = 0x8
SETATTR_TIMES = 0x10 | 0x20 | 0x40 | 0x80 | 0x100  # atime, mtime, ctime, and their _SET forms
GETATTR_BASIC = 0x7FF
DT_DIR, DT_REG = 4, 8


@dataclass
class Fid:
    """A client's handle: the walk from its attach's root to a node, and what opening it made."""

    trail: list[Node]  # root first, the node itself last: ``..`` goes back along it
    handle: Handle | None = None
    entries: list[Node] | None = None  # a directory's entries, as they were when it was opened
    dir_offset: int = 0  # 9P2000 directory reads: where the next one must start ...
    dir_index: int = 0  # ... and the entry it starts with
    opened: bool = False

    @property
    def node(self) -> Node:
        return self.trail[-1]


@dataclass
class Connection:
    """One client's session."""

    attach: Attach
    max_msize: int
    dialect: Dialect | None = None
    msize: int = FIRST_MSIZE
    fids: dict[int, Fid] = field(default_factory=dict)
    tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer requests until the client goes or sends a frame that cannot be framed."""
        slots = asyncio.Semaphore(IN_FLIGHT)
        try:
            async with asyncio.TaskGroup() as tg:
                while (frame := await _frame(reader, self.msize)) is not None:
                    if (reply := self._at_once(frame)) is not None:
                        self._send(writer, reply)
                        if writer.transport.get_write_buffer_size() > WRITE_BUFFER:
                            await writer.drain()  # a client that does not read its replies stops being read
                        continue
                    await slots.acquire()
                    task = tg.create_task(self._answer(frame, writer, slots))
                    with contextlib.suppress(CodecError):
                        self.tasks[codec.header(frame)[1]] = task
        except (CodecError, ConnectionError, TimeoutError) as error:
            log.info("9P client dropped: %s", error)
        finally:
            for task in self.tasks.values():
                task.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, frame: bytes, writer: asyncio.StreamWriter, slots: asyncio.Semaphore) -> None:
        kind, tag = codec.header(frame)
        try:
            reply = await self._reply(frame, kind, tag)
        except asyncio.CancelledError:  # flushed: the Rflush is the answer
            return
        finally:
            slots.release()
            if self.tasks.get(tag) is asyncio.current_task():
                del self.tasks[tag]
        if reply is not None:
            self._send(writer, codec.encode(reply, self.dialect or Dialect.P2000))
            if writer.transport.get_write_buffer_size() > WRITE_BUFFER:
                with contextlib.suppress(ConnectionError):
                    await writer.drain()

    def _send(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        if not writer.is_closing():
            writer.write(frame)

    def _at_once(self, frame: bytes) -> bytes | None:
        """The Rread of a Tread that its open's snapshot answers, made here without a task
        (the hot path: a ``cat`` is a run of these); None for every other frame."""
        if len(frame) != TREAD_SIZE or frame[4] != TREAD or self.dialect is None:
            return None
        tag, number, offset, count = struct.unpack_from("<HIQI", frame, 5)
        fid = self.fids.get(number)
        if fid is None or fid.handle is None or not fid.handle.file.readable:
            return None
        data = fid.handle.cached(offset, min(count, self.iounit()))
        if data is None:
            return None
        return struct.pack("<IBHI", 11 + len(data), TREAD + 1, tag, len(data)) + data

    async def _reply(self, frame: bytes, kind: int, tag: int) -> Message | None:
        try:
            if kind == codec.TYPES["Tversion"]:
                return self._version(codec.decode(frame, Dialect.P2000))
            if self.dialect is None:
                raise FsError(errno.EPROTO, "Tversion first")
            msg = codec.decode(frame, self.dialect)
            handler = _HANDLERS.get(msg.name)
            if handler is None:
                raise FsError(errno.EOPNOTSUPP, f"{msg.name} is not served here")
            return await handler(self, msg)
        except CodecError as error:
            return self._error(
                tag, FsError(errno.EOPNOTSUPP if "no message type" in str(error) else errno.EINVAL, str(error))
            )
        except FsError as error:
            return self._error(tag, error)
        except Exception:  # a bug: said in the log, answered as an I/O error, the session goes on
            log.exception("9P: a request failed")
            return self._error(tag, FsError(errno.EIO, "internal error (the server's log says more)"))

    def _error(self, tag: int, error: FsError) -> Message:
        log.debug("9P error on tag %d: %s", tag, error)
        if self.dialect is Dialect.L:
            return codec.message("Rlerror", tag, ecode=error.errno)
        if self.dialect is Dialect.U:
            return codec.message("Rerror", tag, ename=error.message, errno=error.errno)
        return codec.message("Rerror", tag, ename=error.message)

    def _version(self, msg: Message) -> Message:
        asked: str = msg["version"]
        dialect = next((d for d in (Dialect.L, Dialect.U) if asked == d.value), None)
        if dialect is None and asked.startswith("9P2000"):
            dialect = Dialect.P2000
        self.fids.clear()  # a Tversion starts the session anew
        if dialect is None or msg["msize"] < 256:
            self.dialect = Dialect.P2000 if dialect is None else dialect
            return codec.message("Rversion", msg.tag, msize=min(msg["msize"], self.max_msize), version="unknown")
        self.dialect, self.msize = dialect, min(msg["msize"], self.max_msize)
        return codec.message("Rversion", msg.tag, msize=self.msize, version=dialect.value)

    # -- fids ------------------------------------------------------------------------------

    def fid(self, number: int) -> Fid:
        found = self.fids.get(number)
        if found is None:
            raise FsError(errno.EBADF, f"fid {number} is not in use")
        return found

    def new_fid(self, number: int, fid: Fid) -> None:
        if number in self.fids or number == NOFID:
            raise FsError(errno.EBADF, f"fid {number} is in use")
        self.fids[number] = fid

    def iounit(self) -> int:
        return self.msize - IOHDRSZ

    async def qid(self, node: Node) -> Qid:
        return Qid(QTDIR if node.is_dir else QTFILE, 0, node.ident)

    async def stat(self, node: Node, fid: Fid | None = None) -> Stat:
        size = await _size(fid) if fid is not None else await node.size() if isinstance(node, File) else 0
        mode = (DMDIR if node.is_dir else 0) | node.mode
        when = int(self.started)
        name = node.name
        return Stat(0, 0, await self.qid(node), mode, when, when, size, name, "barto", "barto", "barto")


# -- handlers ---------------------------------------------------------------------------------


async def _auth(c: Connection, msg: Message) -> Message:
    raise FsError(errno.ENOENT, "no authentication: attach with aname token:<secret>")


async def _attach(c: Connection, msg: Message) -> Message:
    if msg["afid"] != NOFID:
        raise FsError(errno.EINVAL, "no authentication fids here")
    root = await c.attach(msg["uname"], msg["aname"])
    c.new_fid(msg["fid"], Fid([root]))
    return codec.message("Rattach", msg.tag, qid=await c.qid(root))


async def _walk(c: Connection, msg: Message) -> Message:
    start = c.fid(msg["fid"])  # an open fid may be walked from too, as diod's tools do
    if msg["newfid"] != msg["fid"] and msg["newfid"] in c.fids:
        raise FsError(errno.EBADF, f"fid {msg['newfid']} is in use")
    trail, qids = list(start.trail), list[Qid]()
    for name in msg["wnames"]:
        try:
            trail = await _step(trail, name)
        except FsError:
            if not qids:
                raise
            break
        qids.append(await c.qid(trail[-1]))
    if len(qids) == len(msg["wnames"]):
        c.fids[msg["newfid"]] = Fid(trail)
    return codec.message("Rwalk", msg.tag, qids=qids)


async def _step(trail: list[Node], name: str) -> list[Node]:
    here = trail[-1]
    if not isinstance(here, Dir):
        raise FsError(errno.ENOTDIR, f"{here.path} is not a directory")
    if name == "..":
        return trail[:-1] or trail
    if name in ("", "."):  # not special in 9P; clients that send them mean "here"
        return trail
    if "/" in name or "\0" in name:
        raise FsError(errno.ENOENT, f"{name!r}: no such file or directory")
    return [*trail, await here.lookup(name)]


async def _open(c: Connection, msg: Message) -> Message:
    mode = msg["mode"]
    return await _open_as(c, msg, access=mode & 3, truncate=bool(mode & OTRUNC), reply="Ropen")


async def _lopen(c: Connection, msg: Message) -> Message:
    flags = msg["flags"]
    return await _open_as(c, msg, access=flags & 3, truncate=bool(flags & L_TRUNC), reply="Rlopen")


async def _open_as(c: Connection, msg: Message, *, access: int, truncate: bool, reply: str) -> Message:
    fid = c.fid(msg["fid"])
    if fid.opened:
        raise FsError(errno.EBUSY, "the fid is open already")
    node = fid.node
    writes, reads = access in (1, 2), access in (0, 2, 3)
    if isinstance(node, Dir):
        if writes or truncate:
            raise FsError(errno.EISDIR, f"{node.path} is a directory")
        fid.entries = await node.entries()
    elif isinstance(node, File):
        if (writes or truncate) and not node.writable:
            raise FsError(errno.EACCES, f"{node.path} is read-only")
        if reads and access != 3 and not node.readable and not writes:
            raise FsError(errno.EACCES, f"{node.path} is written, not read")
        fid.handle = Handle(node)
    fid.opened = True
    return codec.message(reply, msg.tag, qid=await c.qid(node), iounit=c.iounit())


async def _read(c: Connection, msg: Message) -> Message:
    fid = c.fid(msg["fid"])
    count = min(msg["count"], c.iounit())
    if fid.entries is not None:
        if c.dialect is Dialect.L:
            raise FsError(errno.EISDIR, "9P2000.L reads a directory with Treaddir")
        return codec.message("Rread", msg.tag, data=await _dir_read(c, fid, msg["offset"], count))
    if fid.handle is None:
        raise FsError(errno.EBADF, "the fid is not open")
    if not fid.handle.file.readable:
        raise FsError(errno.EACCES, f"{fid.node.path} is written, not read")
    return codec.message("Rread", msg.tag, data=await fid.handle.read(msg["offset"], count))


async def _dir_read(c: Connection, fid: Fid, offset: int, count: int) -> bytes:
    """Whole stat records from where the last read stopped (9P2000 allows no other offset)."""
    assert fid.entries is not None
    if offset == 0:
        fid.dir_offset = fid.dir_index = 0
    elif offset != fid.dir_offset:
        raise FsError(errno.EINVAL, f"a directory is read from 0 or {fid.dir_offset}, not {offset}")
    out = bytearray()
    while fid.dir_index < len(fid.entries):
        record = codec.stat_bytes(await c.stat(fid.entries[fid.dir_index]), c.dialect or Dialect.P2000)
        if len(out) + len(record) > count:
            if not out:
                raise FsError(errno.EINVAL, f"a count of {count} cannot hold one entry")
            break
        out += record
        fid.dir_index += 1
    fid.dir_offset += len(out)
    return bytes(out)


async def _readdir(c: Connection, msg: Message) -> Message:
    fid = c.fid(msg["fid"])
    if fid.entries is None:
        raise FsError(errno.ENOTDIR, "Treaddir of a fid that is not an open directory")
    count, out = min(msg["count"], c.iounit()), bytearray()
    for index in range(msg["offset"], len(fid.entries)):
        entry = fid.entries[index]
        kind = DT_DIR if entry.is_dir else DT_REG
        record = codec.dirent_bytes(await c.qid(entry), index + 1, kind, entry.name)
        if len(out) + len(record) > count:
            break
        out += record
    return codec.message("Rreaddir", msg.tag, data=bytes(out))


async def _write(c: Connection, msg: Message) -> Message:
    fid = c.fid(msg["fid"])
    if fid.handle is None or not fid.handle.file.writable:
        raise FsError(errno.EBADF if fid.handle is None else errno.EPERM, f"{fid.node.path} is not open for writing")
    data: bytes = msg["data"][: c.iounit()]
    return codec.message("Rwrite", msg.tag, count=await fid.handle.write(msg["offset"], data))


async def _clunk(c: Connection, msg: Message) -> Message:
    c.fid(msg["fid"])
    del c.fids[msg["fid"]]
    return codec.message("Rclunk", msg.tag)


async def _remove(c: Connection, msg: Message) -> Message:
    fid = c.fid(msg["fid"])
    del c.fids[msg["fid"]]  # a Tremove clunks, whether or not the remove is done
    await fid.node.remove()
    return codec.message("Rremove", msg.tag)


async def _unlinkat(c: Connection, msg: Message) -> Message:
    trail = await _step(c.fid(msg["dirfid"]).trail, msg["name"])
    await trail[-1].remove()
    return codec.message("Runlinkat", msg.tag)


async def _stat(c: Connection, msg: Message) -> Message:
    fid = c.fid(msg["fid"])
    return codec.message("Rstat", msg.tag, stat=await c.stat(fid.node, fid))


async def _size(fid: Fid) -> int:
    """What a stat shows as the length: of the open's snapshot when open (it grows as
    ``tail -f`` reads it), else of the file now."""
    if fid.handle is not None:
        return await fid.handle.size()
    return await fid.node.size() if isinstance(fid.node, File) else 0


async def _wstat(c: Connection, msg: Message) -> Message:
    """Only a truncation to 0 (what ``>`` sends) and "change nothing" (a sync) are accepted."""
    node, change = c.fid(msg["fid"]).node, msg["stat"]
    untouched = change.name == "" and change.mode == 0xFFFFFFFF and change.mtime == 0xFFFFFFFF
    truncates = change.length == 0
    if not untouched or not (truncates or change.length == 0xFFFFFFFFFFFFFFFF):
        raise FsError(errno.EPERM, f"{node.path}: only truncation is allowed")
    if truncates and not (isinstance(node, File) and node.writable):
        raise FsError(errno.EPERM, f"{node.path} is read-only")
    return codec.message("Rwstat", msg.tag)


async def _getattr(c: Connection, msg: Message) -> Message:
    fid = c.fid(msg["fid"])
    node = fid.node
    size = await _size(fid)
    kind = st.S_IFDIR if node.is_dir else st.S_IFREG
    seconds = int(c.started)
    times = {
        f"{t}_{part}": seconds if part == "sec" else 0
        for t in ("atime", "mtime", "ctime", "btime")
        for part in ("sec", "nsec")
    }
    return codec.message(
        "Rgetattr",
        msg.tag,
        valid=GETATTR_BASIC,
        qid=await c.qid(node),
        mode=kind | node.mode,
        uid=0,
        gid=0,
        nlink=2 if node.is_dir else 1,
        rdev=0,
        size=size,
        blksize=4096,
        blocks=(size + 511) // 512,
        gen=0,
        data_version=0,
        **times,
    )


async def _setattr(c: Connection, msg: Message) -> Message:
    """A truncation to 0 on a writable file, and times (``touch``), are accepted; nothing changes."""
    node, valid = c.fid(msg["fid"]).node, msg["valid"]
    if valid & ~(SETATTR_SIZE | SETATTR_TIMES):
        raise FsError(errno.EPERM, f"{node.path}: only truncation is allowed")
    if valid & SETATTR_SIZE and (msg["size"] != 0 or not (isinstance(node, File) and node.writable)):
        raise FsError(errno.EPERM, f"{node.path} cannot be resized")
    return codec.message("Rsetattr", msg.tag)


async def _statfs(c: Connection, msg: Message) -> Message:
    c.fid(msg["fid"])
    return codec.message(
        "Rstatfs",
        msg.tag,
        type=0x01021997,
        bsize=4096,
        blocks=0,
        bfree=0,
        bavail=0,
        files=0,
        ffree=0,
        fsid=0,
        namelen=255,
    )


async def _xattrwalk(c: Connection, msg: Message) -> Message:
    c.fid(msg["fid"])
    raise FsError(errno.EOPNOTSUPP, "no extended attributes")


async def _fsync(c: Connection, msg: Message) -> Message:
    c.fid(msg["fid"])
    return codec.message("Rfsync", msg.tag)


async def _create(c: Connection, msg: Message) -> Message:
    raise FsError(errno.EPERM, "files are made by writing to clone, not created")


async def _flush(c: Connection, msg: Message) -> Message:
    task = c.tasks.get(msg["oldtag"])
    if task is not None and task is not asyncio.current_task():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return codec.message("Rflush", msg.tag)


_HANDLERS: dict[str, Callable[[Connection, Message], Awaitable[Message]]] = {
    "Tauth": _auth,
    "Tattach": _attach,
    "Tflush": _flush,
    "Twalk": _walk,
    "Topen": _open,
    "Tlopen": _lopen,
    "Tcreate": _create,
    "Tlcreate": _create,
    "Tmkdir": _create,
    "Tread": _read,
    "Treaddir": _readdir,
    "Twrite": _write,
    "Tclunk": _clunk,
    "Tremove": _remove,
    "Tunlinkat": _unlinkat,
    "Tstat": _stat,
    "Twstat": _wstat,
    "Tgetattr": _getattr,
    "Tsetattr": _setattr,
    "Tstatfs": _statfs,
    "Txattrwalk": _xattrwalk,
    "Tfsync": _fsync,
}


async def _frame(reader: asyncio.StreamReader, msize: int) -> bytes | None:
    """The next whole frame (None: the client closed between frames).

    Raises:
        CodecError: a size past ``msize`` or under a header; TimeoutError: a frame begun and
            not finished in :data:`FRAME_SECONDS`.
    """
    try:
        first = await reader.readexactly(4)
    except asyncio.IncompleteReadError:
        return None
    size = codec.frame_size(first, msize)
    try:
        async with asyncio.timeout(FRAME_SECONDS):
            return first + await reader.readexactly(size - 4)
    except asyncio.IncompleteReadError:
        return None


class Server:
    """Accepts clients on the sockets it is given, at most ``connections`` at once."""

    def __init__(self, attach: Attach, *, msize: int, connections: int) -> None:
        self._attach, self._msize = attach, msize
        self._room = connections
        self._clients: set[asyncio.Task[Any]] = set()

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, from accept to close; past the limit it is closed at once."""
        if len(self._clients) >= self._room:
            log.warning("9P: %d clients already; closing a new one", self._room)
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await Connection(self._attach, self._msize).serve(reader, writer)
        finally:
            self._clients.discard(task)

    async def close(self) -> None:
        """Cancel every client's session and wait for each to end."""
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
