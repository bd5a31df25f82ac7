"""Encoding and decoding of protocol frames. Decoding errors become :class:`ProtocolError`."""

from __future__ import annotations

from typing import Any

import msgspec

from barto.protocol.messages import ToServer, ToWorker

MAX_FRAME_BYTES = 4 * 1024 * 1024

_encoder = msgspec.json.Encoder()
_to_server = msgspec.json.Decoder(ToServer)
_to_worker = msgspec.json.Decoder(ToWorker)


class ProtocolError(ValueError):
    """The peer sent a frame that is not a valid message for this direction."""


def encode(message: msgspec.Struct) -> bytes:
    """The JSON bytes of one frame."""
    return _encoder.encode(message)


def decode_to_server(frame: bytes | str) -> ToServer:
    """Decode a frame a worker sent.

    Raises:
        ProtocolError: when the frame is not JSON or not a known worker message.
    """
    message: ToServer = _decode(_to_server, frame)
    return message


def decode_to_worker(frame: bytes | str) -> ToWorker:
    """Decode a frame the server sent.

    Raises:
        ProtocolError: when the frame is not JSON or not a known server message.
    """
    message: ToWorker = _decode(_to_worker, frame)
    return message


def _decode(decoder: msgspec.json.Decoder[Any], frame: bytes | str) -> Any:
    try:
        return decoder.decode(frame)
    except msgspec.ValidationError as error:
        raise ProtocolError(f"invalid message: {error}") from None
    except msgspec.DecodeError as error:
        raise ProtocolError(f"not a JSON message: {error}") from None
