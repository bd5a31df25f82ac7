"""The 9P codec: every message of every dialect survives a round trip, frames written by hand
from the protocol's definition decode as they should, and no malformed frame makes the decoder
raise anything but CodecError."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barto.ninep.codec import (
    MAX_WALK,
    NOTAG,
    SCHEMAS,
    CodecError,
    Dialect,
    Message,
    Qid,
    Stat,
    decode,
    dirent_bytes,
    encode,
    frame_size,
    header,
    message,
    parse_stat,
    stat_bytes,
)

U8, U16, U32, U64 = (st.integers(0, 2**bits - 1) for bits in (8, 16, 32, 64))
TEXT = st.text(max_size=40).filter(lambda t: len(t.encode()) < 200)
QIDS = st.builds(Qid, U8, U32, U64)


def stats(dialect: Dialect) -> st.SearchStrategy[Stat]:
    extra: dict[str, Any] = {}
    if dialect is Dialect.U:
        extra = {"extension": TEXT, "n_uid": U32, "n_gid": U32, "n_muid": U32}
    return st.builds(Stat, U16, U32, QIDS, U32, U32, U32, U64, TEXT, TEXT, TEXT, TEXT, **extra)


def field_values(kind: str, dialect: Dialect) -> st.SearchStrategy[Any]:
    return {
        "1": U8, "2": U16, "4": U32, "8": U64, "s": TEXT, "Q": QIDS, "d": st.binary(max_size=300),
        "S": stats(dialect), "ss": st.lists(TEXT, max_size=MAX_WALK), "qq": st.lists(QIDS, max_size=MAX_WALK),
    }[kind]  # fmt: skip


def messages(dialect: Dialect) -> st.SearchStrategy[Message]:
    def one(number: int) -> st.SearchStrategy[Message]:
        schema = SCHEMAS[dialect][number][1]
        body = st.fixed_dictionaries({name: field_values(kind, dialect) for name, kind in schema})
        return st.builds(Message, st.just(number), U16, body)

    return st.sampled_from(sorted(SCHEMAS[dialect])).flatmap(one)


@pytest.mark.parametrize("dialect", list(Dialect))
@settings(max_examples=250, deadline=None)
@given(data=st.data())
def test_every_message_of_every_dialect_round_trips(dialect: Dialect, data: st.DataObject) -> None:
    msg = data.draw(messages(dialect))
    frame = encode(msg, dialect)
    assert frame_size(frame[:4], len(frame)) == len(frame)
    assert decode(frame, dialect) == msg
    assert header(frame) == (msg.type, msg.tag)


def test_frames_written_from_the_protocol_definition() -> None:
    # Tversion, tag NOTAG, msize 8192, "9P2000": size[4]=19 type=100 tag=ffff msize=8192 len=6
    tversion = bytes.fromhex("1300000064ffff002000000600") + b"9P2000"
    assert decode(tversion, Dialect.P2000) == message("Tversion", NOTAG, msize=8192, version="9P2000")
    # Rread, tag 1, "hi": size 13 = 7 + count[4] + 2
    assert encode(message("Rread", 1, data=b"hi"), Dialect.L) == bytes.fromhex("0d00000075010002000000") + b"hi"
    # Rlerror ENOENT (2), tag 7
    assert encode(message("Rlerror", 7, ecode=2), Dialect.L) == bytes.fromhex("0b00000007070002000000")
    # Twalk fid 1 -> newfid 2 over "jobs", "x"
    walk = bytes.fromhex("1a0000006e0300010000000200000002000400") + b"jobs" + b"\x01\x00x"
    assert decode(walk, Dialect.U) == message("Twalk", 3, fid=1, newfid=2, wnames=["jobs", "x"])
    # Tattach .u: fid afid uname aname n_uname
    attach = encode(message("Tattach", 0, fid=0, afid=0xFFFFFFFF, uname="nobody", aname="", n_uname=65534), Dialect.U)
    assert attach[-4:] == struct.pack("<I", 65534)
    assert len(attach) == 7 + 4 + 4 + 2 + 6 + 2 + 0 + 4


def test_stat_and_readdir_records() -> None:
    stat = Stat(0, 0, Qid(0x80, 0, 9), 0x800001ED, 1, 2, 0, "jobs", "barto", "barto", "barto")
    raw = stat_bytes(stat, Dialect.P2000)
    assert struct.unpack("<H", raw[:2])[0] == len(raw) - 2
    assert parse_stat(raw, Dialect.P2000) == stat
    u = stat_bytes(stat, Dialect.U)
    assert len(u) == len(raw) + 2 + 12  # an empty extension and three numeric ids
    entry = dirent_bytes(Qid(0, 1, 2), 3, 0, "ctl")
    assert entry == struct.pack("<BIQQB", 0, 1, 2, 3, 0) + b"\x03\x00ctl"


@pytest.mark.parametrize(
    ("frame", "dialect"),
    [
        (b"", Dialect.L),
        (b"\x07\x00\x00\x00", Dialect.L),  # shorter than its header
        (bytes.fromhex("08000000640000"), Dialect.L),  # says 8, has 7
        (bytes.fromhex("07000000ff0000"), Dialect.L),  # type 255
        (bytes.fromhex("07000000070000"), Dialect.P2000),  # Rlerror is not 9P2000
        (bytes.fromhex("0b000000750000ffffffff"), Dialect.L),  # Rread of 4 GiB in 4 bytes
        (bytes.fromhex("0d000000640000002000000500") + b"9P", Dialect.L),  # a string past the end
        (bytes.fromhex("0f000000640000002000000200") + b"\xff\xfe", Dialect.L),  # not UTF-8
        (bytes.fromhex("110000006e000001000000020000001100"), Dialect.L),  # 17 names in one walk
        (bytes.fromhex("0c0000007800000100000000"), Dialect.L),  # Tclunk with a byte too many
    ],
)
def test_malformed_frames_are_codec_errors(frame: bytes, dialect: Dialect) -> None:
    with pytest.raises(CodecError):
        decode(frame, dialect)


def test_a_frame_larger_than_msize_is_refused_before_it_is_read() -> None:
    with pytest.raises(CodecError):
        frame_size(struct.pack("<I", 8193), 8192)
    with pytest.raises(CodecError):
        frame_size(struct.pack("<I", 3), 8192)


@pytest.mark.parametrize("dialect", list(Dialect))
@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_the_decoder_raises_only_codec_errors(dialect: Dialect, data: st.DataObject) -> None:
    """Mutations of valid frames (a byte changed, cut, lengthened, a size rewritten) and plain
    noise: the answer is a message or a CodecError, never another exception."""
    frame = bytearray(encode(data.draw(messages(dialect)), dialect))
    how = data.draw(st.sampled_from(["flip", "cut", "grow", "size", "noise"]))
    if how == "flip" and len(frame) > 0:
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(U8)
    elif how == "cut":
        frame = frame[: data.draw(st.integers(0, len(frame)))]
    elif how == "grow":
        frame += data.draw(st.binary(min_size=1, max_size=20))
    elif how == "size":
        struct.pack_into("<I", frame, 0, data.draw(U32))
    else:
        frame = bytearray(data.draw(st.binary(max_size=64)))
    with contextlib.suppress(CodecError):
        decode(bytes(frame), dialect)


def test_encoding_refuses_what_9p_cannot_carry() -> None:
    with pytest.raises(CodecError):
        encode(message("Rlerror", 1, ecode=2**32), Dialect.L)
    with pytest.raises(CodecError):
        encode(message("Rerror", 1, ename="x"), Dialect.L)  # .L speaks Rlerror
    with pytest.raises(CodecError):
        encode(message("Tversion", 1, msize=1), Dialect.L)  # no version field
    with pytest.raises(CodecError):
        encode(message("Rerror", 1, ename="x" * 70_000), Dialect.P2000)
