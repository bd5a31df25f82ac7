"""Protocol v1: every message survives encode -> frame -> decode; packing keeps order and limits."""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from barto.model import StopReason, Stream
from barto.protocol import (
    Accepted,
    Ack,
    Cancel,
    Dispatch,
    Finished,
    Heartbeat,
    Hello,
    HostInfo,
    Job,
    Output,
    ProtocolError,
    Refused,
    Started,
    Welcome,
    decode_to_server,
    decode_to_worker,
    encode,
    pack,
)

_INTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
# hypothesis takes naive bounds and attaches the zone itself
_TIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001


def _strategy(kind: Any) -> st.SearchStrategy[Any]:
    """Values of a message field's type (msgspec structs are built field by field)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        return _bounded(args[0], next(m for m in args[1:] if isinstance(m, msgspec.Meta)))
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy(a) for a in args))
    if origin is list:
        return st.lists(_strategy(args[0]), max_size=4)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return _struct(kind)
    simple = {
        int: _INTS,
        str: st.text(max_size=20),
        float: _FLOATS,
        bool: st.booleans(),
        Stream: st.sampled_from(Stream),
        StopReason: st.sampled_from(StopReason),
    }
    return simple[kind] if kind is not type(None) else st.none()


def _bounded(kind: Any, meta: msgspec.Meta) -> st.SearchStrategy[Any]:
    """Values of an annotated type, within its bounds (so out-of-range ones are tested apart)."""
    if kind is datetime:
        return _TIMES
    low = meta.ge if meta.ge is not None else meta.gt
    if kind is int:
        return st.integers(min_value=int(low) if low is not None else None, max_value=int(meta.le or 2**63 - 1))
    return st.floats(min_value=low, max_value=meta.le, exclude_min=meta.gt is not None)


def _struct(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: _strategy(hints[f.name]) for f in msgspec.structs.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


TO_SERVER = st.one_of(*(_struct(c) for c in (Hello, Heartbeat, Accepted, Started, Output, Finished)))
TO_WORKER = st.one_of(*(_struct(c) for c in (Welcome, Refused, Heartbeat, Dispatch, Cancel, Ack)))


@given(TO_SERVER)
def test_worker_messages_round_trip(message: Any) -> None:
    assert decode_to_server(encode(message)) == [message]


@given(TO_WORKER)
def test_server_messages_round_trip(message: Any) -> None:
    assert decode_to_worker(encode(message)) == [message]


@given(st.lists(TO_SERVER, min_size=1, max_size=12), st.integers(min_value=64, max_value=2048))
def test_pack_keeps_order_and_the_size_limit(messages: list[Any], limit: int) -> None:
    encoded = [encode(m) for m in messages]
    frames = list(pack(encoded, limit))
    assert sum(count for _, count in frames) == len(messages)
    assert [m for frame, _ in frames for m in decode_to_server(frame)] == messages
    for frame, count in frames:
        assert len(frame) <= limit or count == 1  # only a message bigger than the limit travels alone


def test_output_numbers_its_lines() -> None:
    now = datetime.now(UTC)
    output = Output(run_id=3, seq=10, stream=Stream.STDERR, ts=now, lines=["a", "b", "c"])
    assert output.last == 12
    assert Output(run_id=3, seq=10, stream=Stream.STDOUT, ts=now, lines=[]).last == 9


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"{not json", "not a JSON message"),
        (b'{"type":"launch_missiles"}', "invalid message"),
        (b'{"type":"dispatch","jobs":[]}', "invalid message"),  # a server message, sent to the server
        (b'{"type":"started","run_id":1}', "invalid message"),  # a required field is missing
        (b'{"type":"started","run_id":1,"ts":"2026-01-01T00:00:00"}', "invalid message"),  # naive time
        (b'[{"type":"accepted","run_ids":[1]},{"type":"nope"}]', "invalid message"),  # one bad in a pack
    ],
)
def test_malformed_frames_are_protocol_errors(frame: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_to_server(frame)


_JOB = '"run_id":1,"schedule":"s","slot":"2026-01-01T00:00:00Z","attempt":1,"cmds":["true"]'


@pytest.mark.parametrize(
    "field",
    [
        '"run_id":0',
        '"run_id":9223372036854775808',  # one past a signed 64-bit column
        '"attempt":-1',
        '"timeout_seconds":0',
        '"timeout_seconds":-5',
        '"timeout_seconds":1e999',  # infinity, for a timer
        '"stop_signal":0',
        '"stop_signal":65',
        '"stop_wait_seconds":-1',
        '"stop_wait_seconds":1e300',
        '"max_output_bytes":-1',
    ],
)
def test_numbers_out_of_range_are_refused_at_the_decoder(field: str) -> None:
    job = "{" + ",".join(p for p in _JOB.split(",") if not p.startswith(field.split(":")[0])) + "," + field + "}"
    with pytest.raises(ProtocolError, match="invalid message"):
        decode_to_worker('{"type":"dispatch","jobs":[' + job + "]}")


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"ack","eid":-1}',
        '{"type":"ack","eid":99999999999999999999}',
        '{"type":"cancel","run_id":-3}',
        '{"type":"control","id":1e3,"request":{}}',
    ],
)
def test_server_messages_out_of_range_are_refused(frame: str) -> None:
    with pytest.raises(ProtocolError, match="invalid message"):
        decode_to_worker(frame)


def test_job_defaults_keep_old_dispatches_readable() -> None:
    job = b'{"run_id":1,"schedule":"s","slot":"2026-01-01T00:00:00Z","attempt":1,"cmds":["true"]}'
    frame = b'{"type":"dispatch","jobs":[' + job + b"]}"
    (dispatch,) = decode_to_worker(frame)
    assert isinstance(dispatch, Dispatch)
    assert dispatch.jobs == [
        Job(run_id=1, schedule="s", slot=datetime(2026, 1, 1, tzinfo=UTC), attempt=1, cmds=["true"])
    ]


def test_hostinfo_is_part_of_hello() -> None:
    host = HostInfo(hostname="h", os_name="Linux", os_version="x", kernel="6", python="3.11")
    hello = Hello(protocol=1, name="w", version="0.1.0", host=host)
    assert decode_to_server(encode(hello)) == [hello]
