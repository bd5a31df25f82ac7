"""barto's wire protocol v1: message types and their JSON codec. Pure: no I/O."""

from __future__ import annotations

from barto.protocol.codec import MAX_FRAME_BYTES, ProtocolError, decode_to_server, decode_to_worker, encode, pack
from barto.protocol.messages import (
    PROTOCOL_VERSION,
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
    Programs,
    Refused,
    Rejection,
    RunEvent,
    Started,
    ToServer,
    ToWorker,
    Welcome,
)

__all__ = [
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "Accepted",
    "Ack",
    "Cancel",
    "Dispatch",
    "Finished",
    "Heartbeat",
    "Hello",
    "HostInfo",
    "Job",
    "Output",
    "Programs",
    "ProtocolError",
    "Refused",
    "Rejection",
    "RunEvent",
    "Started",
    "ToServer",
    "ToWorker",
    "Welcome",
    "decode_to_server",
    "decode_to_worker",
    "encode",
    "pack",
]
