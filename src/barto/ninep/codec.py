"""The 9P wire format: 9P2000, 9P2000.u and 9P2000.L messages to bytes and back (pure).

Every message is ``size[4] type[1] tag[2] body``, little-endian, ``size`` counting itself.
A body is a sequence of fields, each one of a few kinds (integers of 1, 2, 4 or 8 bytes,
strings ``len[2] utf-8``, qids, counted data, stats, counted lists of names or qids); each
message type of each dialect is one row of :data:`SCHEMAS`, so the codec is one encoder and one
decoder over that table. A decoder never trusts a length: a frame that is short, long, or
announces more than it holds is a :class:`CodecError`, never an exception of another kind.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

NOTAG = 0xFFFF
NOFID = 0xFFFFFFFF
NONUNAME = 0xFFFFFFFF
HEADER = 7  # size[4] type[1] tag[2]
IOHDRSZ = 24  # what a Tread/Rread costs beyond its data: msize - IOHDRSZ is the largest read
MAX_WALK = 16  # names in one Twalk (and qids in one Rwalk)


class CodecError(ValueError):
    """A frame that is not a well-formed 9P message of the dialect."""


class Dialect(StrEnum):
    """The three versions a Tversion may name."""

    P2000 = "9P2000"
    U = "9P2000.u"
    L = "9P2000.L"


@dataclass(frozen=True)
class Qid:
    """A file's identity: its type (QTDIR, ...), version and a path unique on the server."""

    type: int
    version: int
    path: int


@dataclass(frozen=True)
class Stat:
    """A directory entry as 9P2000 (and, with the last four fields, 9P2000.u) sends it."""

    type: int
    dev: int
    qid: Qid
    mode: int
    atime: int
    mtime: int
    length: int
    name: str
    uid: str
    gid: str
    muid: str
    extension: str = ""
    n_uid: int = NONUNAME
    n_gid: int = NONUNAME
    n_muid: int = NONUNAME


@dataclass(frozen=True)
class Message:
    """One 9P message: its type number, tag, and body fields by name (as :data:`SCHEMAS` says)."""

    type: int
    tag: int
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    @property
    def name(self) -> str:
        """``Tread``, ``Rlerror``, ... (for logs)."""
        return NAMES.get(self.type, f"type{self.type}")


Schema = tuple[tuple[str, str], ...]  # (field name, kind): kinds 1 2 4 8 s Q d S ss qq

_COMMON: dict[int, tuple[str, Schema]] = {
    100: ("Tversion", (("msize", "4"), ("version", "s"))),
    101: ("Rversion", (("msize", "4"), ("version", "s"))),
    108: ("Tflush", (("oldtag", "2"),)),
    109: ("Rflush", ()),
    110: ("Twalk", (("fid", "4"), ("newfid", "4"), ("wnames", "ss"))),
    111: ("Rwalk", (("qids", "qq"),)),
    116: ("Tread", (("fid", "4"), ("offset", "8"), ("count", "4"))),
    117: ("Rread", (("data", "d"),)),
    118: ("Twrite", (("fid", "4"), ("offset", "8"), ("data", "d"))),
    119: ("Rwrite", (("count", "4"),)),
    120: ("Tclunk", (("fid", "4"),)),
    121: ("Rclunk", ()),
    122: ("Tremove", (("fid", "4"),)),
    123: ("Rremove", ()),
}
_PLAN9: dict[int, tuple[str, Schema]] = {
    102: ("Tauth", (("afid", "4"), ("uname", "s"), ("aname", "s"))),
    103: ("Rauth", (("aqid", "Q"),)),
    104: ("Tattach", (("fid", "4"), ("afid", "4"), ("uname", "s"), ("aname", "s"))),
    105: ("Rattach", (("qid", "Q"),)),
    107: ("Rerror", (("ename", "s"),)),
    112: ("Topen", (("fid", "4"), ("mode", "1"))),
    113: ("Ropen", (("qid", "Q"), ("iounit", "4"))),
    114: ("Tcreate", (("fid", "4"), ("name", "s"), ("perm", "4"), ("mode", "1"))),
    115: ("Rcreate", (("qid", "Q"), ("iounit", "4"))),
    124: ("Tstat", (("fid", "4"),)),
    125: ("Rstat", (("stat", "S"),)),
    126: ("Twstat", (("fid", "4"), ("stat", "S"))),
    127: ("Rwstat", ()),
}
_UNIX: dict[int, tuple[str, Schema]] = {
    102: ("Tauth", (("afid", "4"), ("uname", "s"), ("aname", "s"), ("n_uname", "4"))),
    104: ("Tattach", (("fid", "4"), ("afid", "4"), ("uname", "s"), ("aname", "s"), ("n_uname", "4"))),
    107: ("Rerror", (("ename", "s"), ("errno", "4"))),
    114: ("Tcreate", (("fid", "4"), ("name", "s"), ("perm", "4"), ("mode", "1"), ("extension", "s"))),
}
_LINUX: dict[int, tuple[str, Schema]] = {
    7: ("Rlerror", (("ecode", "4"),)),
    8: ("Tstatfs", (("fid", "4"),)),
    9: (
        "Rstatfs",
        (
            ("type", "4"),
            ("bsize", "4"),
            ("blocks", "8"),
            ("bfree", "8"),
            ("bavail", "8"),
            ("files", "8"),
            ("ffree", "8"),
            ("fsid", "8"),
            ("namelen", "4"),
        ),
    ),
    12: ("Tlopen", (("fid", "4"), ("flags", "4"))),
    13: ("Rlopen", (("qid", "Q"), ("iounit", "4"))),
    14: ("Tlcreate", (("fid", "4"), ("name", "s"), ("flags", "4"), ("mode", "4"), ("gid", "4"))),
    15: ("Rlcreate", (("qid", "Q"), ("iounit", "4"))),
    24: ("Tgetattr", (("fid", "4"), ("request_mask", "8"))),
    25: (
        "Rgetattr",
        (
            ("valid", "8"),
            ("qid", "Q"),
            ("mode", "4"),
            ("uid", "4"),
            ("gid", "4"),
            ("nlink", "8"),
            ("rdev", "8"),
            ("size", "8"),
            ("blksize", "8"),
            ("blocks", "8"),
            ("atime_sec", "8"),
            ("atime_nsec", "8"),
            ("mtime_sec", "8"),
            ("mtime_nsec", "8"),
            ("ctime_sec", "8"),
            ("ctime_nsec", "8"),
            ("btime_sec", "8"),
            ("btime_nsec", "8"),
            ("gen", "8"),
            ("data_version", "8"),
        ),
    ),
    26: (
        "Tsetattr",
        (
            ("fid", "4"),
            ("valid", "4"),
            ("mode", "4"),
            ("uid", "4"),
            ("gid", "4"),
            ("size", "8"),
            ("atime_sec", "8"),
            ("atime_nsec", "8"),
            ("mtime_sec", "8"),
            ("mtime_nsec", "8"),
        ),
    ),
    27: ("Rsetattr", ()),
    30: ("Txattrwalk", (("fid", "4"), ("newfid", "4"), ("name", "s"))),
    31: ("Rxattrwalk", (("size", "8"),)),
    40: ("Treaddir", (("fid", "4"), ("offset", "8"), ("count", "4"))),
    41: ("Rreaddir", (("data", "d"),)),
    50: ("Tfsync", (("fid", "4"),)),
    51: ("Rfsync", ()),
    72: ("Tmkdir", (("dfid", "4"), ("name", "s"), ("mode", "4"), ("gid", "4"))),
    73: ("Rmkdir", (("qid", "Q"),)),
    76: ("Tunlinkat", (("dirfid", "4"), ("name", "s"), ("flags", "4"))),
    77: ("Runlinkat", ()),
    102: _UNIX[102],
    103: _PLAN9[103],
    104: _UNIX[104],
    105: _PLAN9[105],
}

SCHEMAS: dict[Dialect, dict[int, tuple[str, Schema]]] = {
    Dialect.P2000: {**_COMMON, **_PLAN9},
    Dialect.U: {**_COMMON, **_PLAN9, **_UNIX},
    Dialect.L: {**_COMMON, **_LINUX},
}
NAMES = {number: name for table in SCHEMAS.values() for number, (name, _) in table.items()}
TYPES = {name: number for number, name in NAMES.items()}


def message(name: str, tag: int, **fields: Any) -> Message:
    """A message by name: ``message("Rread", 3, data=b"...")``."""
    return Message(TYPES[name], tag, fields)


# -- encoding ----------------------------------------------------------------------------------

_INTS = {"1": "<B", "2": "<H", "4": "<I", "8": "<Q"}


def encode(msg: Message, dialect: Dialect) -> bytes:
    """The frame of ``msg`` in ``dialect``.

    Raises:
        CodecError: the dialect has no such message, or a field is missing or out of range.
    """
    entry = SCHEMAS[dialect].get(msg.type)
    if entry is None:
        raise CodecError(f"{dialect} has no message type {msg.type}")
    out = bytearray(struct.pack("<IBH", 0, msg.type, msg.tag))
    for name, kind in entry[1]:
        if name not in msg.fields:
            raise CodecError(f"{entry[0]} needs {name}")
        _put(out, kind, msg.fields[name], dialect)
    struct.pack_into("<I", out, 0, len(out))
    return bytes(out)


def _put(out: bytearray, kind: str, value: Any, dialect: Dialect) -> None:
    try:
        if kind in _INTS:
            out += struct.pack(_INTS[kind], value)
        elif kind == "s":
            _string(out, value)
        elif kind == "Q":
            out += struct.pack("<BIQ", value.type, value.version, value.path)
        elif kind == "d":
            out += struct.pack("<I", len(value)) + bytes(value)
        elif kind == "S":
            body = stat_bytes(value, dialect)
            out += struct.pack("<H", len(body)) + body
        elif kind == "ss":
            out += struct.pack("<H", len(value))
            for item in value:
                _string(out, item)
        elif kind == "qq":
            out += struct.pack("<H", len(value))
            for qid in value:
                out += struct.pack("<BIQ", qid.type, qid.version, qid.path)
    except (struct.error, AttributeError, TypeError) as error:
        raise CodecError(f"cannot encode {value!r} as {kind}: {error}") from None


def _string(out: bytearray, text: str) -> None:
    raw = text.encode()
    if len(raw) > 0xFFFF:
        raise CodecError("a 9P string is at most 65,535 bytes")
    out += struct.pack("<H", len(raw)) + raw


def stat_bytes(stat: Stat, dialect: Dialect) -> bytes:
    """A stat record, its own ``size[2]`` first (as directory reads and Rstat carry it)."""
    out = bytearray(struct.pack("<HI", stat.type, stat.dev))
    out += struct.pack("<BIQ", stat.qid.type, stat.qid.version, stat.qid.path)
    out += struct.pack("<IIIQ", stat.mode, stat.atime, stat.mtime, stat.length)
    for text in (stat.name, stat.uid, stat.gid, stat.muid):
        _string(out, text)
    if dialect is Dialect.U:
        _string(out, stat.extension)
        out += struct.pack("<III", stat.n_uid, stat.n_gid, stat.n_muid)
    return struct.pack("<H", len(out)) + bytes(out)


def dirent_bytes(qid: Qid, offset: int, kind: int, name: str) -> bytes:
    """One 9P2000.L directory entry (Rreaddir data): ``qid offset[8] type[1] name[s]``."""
    out = bytearray(struct.pack("<BIQQB", qid.type, qid.version, qid.path, offset, kind))
    _string(out, name)
    return bytes(out)


# -- decoding ----------------------------------------------------------------------------------


def frame_size(header: bytes, msize: int) -> int:
    """The size a frame announces in its first four bytes, checked against ``msize``.

    Raises:
        CodecError: shorter than a header, or larger than ``msize``.
    """
    (size,) = struct.unpack("<I", header[:4])
    if size < HEADER or size > msize:
        raise CodecError(f"a frame of {size} bytes (the limit is {msize})")
    return int(size)


def header(frame: bytes) -> tuple[int, int]:
    """(type, tag) of a frame at least a header long: what an error reply to a message that
    does not decode still needs.

    Raises:
        CodecError: shorter than a header.
    """
    if len(frame) < HEADER:
        raise CodecError("a frame shorter than its header")
    _, kind, tag = struct.unpack_from("<IBH", frame)
    return int(kind), int(tag)


def decode(frame: bytes, dialect: Dialect) -> Message:
    """The message of one whole frame.

    Raises:
        CodecError: anything not a well-formed message of ``dialect`` (a short or long frame,
            an unknown type, a length past the end, a string that is not UTF-8).
    """
    if len(frame) < HEADER:
        raise CodecError("a frame shorter than its header")
    size, kind, tag = struct.unpack_from("<IBH", frame)
    if size != len(frame):
        raise CodecError(f"the frame says {size} bytes and has {len(frame)}")
    entry = SCHEMAS[dialect].get(kind)
    if entry is None:
        raise CodecError(f"{dialect} has no message type {kind}")
    reader = _Reader(frame, HEADER, dialect)
    fields = {name: reader.take(kind_) for name, kind_ in entry[1]}
    if reader.at != len(frame):
        raise CodecError(f"{entry[0]}: {len(frame) - reader.at} bytes left over")
    return Message(kind, tag, fields)


class _Reader:
    def __init__(self, frame: bytes, at: int, dialect: Dialect) -> None:
        self.frame, self.at, self.dialect = frame, at, dialect

    def _unpack(self, layout: str) -> tuple[Any, ...]:
        width = struct.calcsize(layout)
        if self.at + width > len(self.frame):
            raise CodecError("a field runs past the end of the frame")
        values = struct.unpack_from(layout, self.frame, self.at)
        self.at += width
        return values

    def _bytes(self, count: int) -> bytes:
        if self.at + count > len(self.frame):
            raise CodecError(f"{count} bytes announced, {len(self.frame) - self.at} there")
        data = self.frame[self.at : self.at + count]
        self.at += count
        return data

    def string(self) -> str:
        (length,) = self._unpack("<H")
        try:
            return self._bytes(length).decode()
        except UnicodeDecodeError:
            raise CodecError("a string that is not UTF-8") from None

    def qid(self) -> Qid:
        return Qid(*self._unpack("<BIQ"))

    def take(self, kind: str) -> Any:
        if kind in _INTS:
            return self._unpack(_INTS[kind])[0]
        if kind == "s":
            return self.string()
        if kind == "Q":
            return self.qid()
        if kind == "d":
            return self._bytes(self._unpack("<I")[0])
        if kind == "S":
            (length,) = self._unpack("<H")
            return parse_stat(self._bytes(length), self.dialect)
        if kind == "ss":
            (count,) = self._unpack("<H")
            if count > MAX_WALK:
                raise CodecError(f"{count} names in one walk (at most {MAX_WALK})")
            return [self.string() for _ in range(count)]
        (count,) = self._unpack("<H")  # qq
        if count > MAX_WALK:
            raise CodecError(f"{count} qids in one walk (at most {MAX_WALK})")
        return [self.qid() for _ in range(count)]


def parse_stat(raw: bytes, dialect: Dialect, *, sized: bool = True) -> Stat:
    """A stat record (with its own ``size[2]`` first when ``sized``).

    Raises:
        CodecError: when it is not one.
    """
    reader = _Reader(raw, 0, dialect)
    if sized:
        (length,) = reader._unpack("<H")
        if length != len(raw) - 2:
            raise CodecError(f"a stat of {length} bytes in {len(raw) - 2}")
    type_, dev = reader._unpack("<HI")
    qid = reader.qid()
    mode, atime, mtime, length_ = reader._unpack("<IIIQ")
    name, uid, gid, muid = (reader.string() for _ in range(4))
    extra: dict[str, Any] = {}
    if dialect is Dialect.U:
        extra["extension"] = reader.string()
        extra["n_uid"], extra["n_gid"], extra["n_muid"] = reader._unpack("<III")
    if reader.at != len(raw):
        raise CodecError("bytes left over after a stat")
    return Stat(type_, dev, qid, mode, atime, mtime, length_, name, uid, gid, muid, **extra)
